// What a sync did, in words (for `kpm sync`, `kpm unlock` and the automatic sync). No I/O.
import type { SyncReport } from './engine.js';

export function describeSyncReport(r: SyncReport): string[] {
  const pulled = r.vaults.reduce((n, v) => n + v.pulled, 0);
  const pushed = r.vaults.reduce((n, v) => n + v.pushed, 0);
  const lines = [`Synced: ${pushed} change${pushed === 1 ? '' : 's'} sent, ${pulled} received${r.keyring === 'updated' ? '; the master password was changed on another device: use the new one from now on' : ''}.`];
  for (const v of r.vaults) {
    if (v.created) lines.push(`  vault "${v.name}" arrived from another device`);
    if (v.removed) lines.push(`  vault "${v.name}" was removed on another device`);
    if (v.skipped) lines.push(`  vault "${v.name}": skipped, ${v.skipped}`);
    for (const c of v.conflicts) lines.push(`  ${conflictText(c)}`);
    for (const n of v.renamed) lines.push(`  two new entries had one name: renamed ${n}`);
    if (v.filesSent || v.filesReceived) lines.push(`  vault "${v.name}": ${v.filesSent ?? 0} document file${v.filesSent === 1 ? '' : 's'} sent, ${v.filesReceived ?? 0} received`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines;
}

/** One entry changed on two devices, in words (also for the note of an automatic sync). */
export function conflictText(c: { name: string; kept: 'local' | 'remote' | 'merged' }): string {
  if (c.kept === 'merged') return `"${c.name}" was changed on two devices in different fields: both changes are kept (earlier versions in \`kpm history "${c.name}"\`)`;
  return `"${c.name}" was changed on two devices: the ${c.kept === 'local' ? 'change made here' : "other device's change"} (the later one) wins; the other is in \`kpm history "${c.name}"\``;
}

/** What `kpm sync` says of each shared vault it pulled and verified (docs/SHARING.md). */
export function describeSharedRows(rows: { name: string; owner: string; role: string | undefined; entries: number; revision: number; epoch: number }[]): string[] {
  return rows.map((x) => `shared vault "${x.name}" (${x.owner}, ${x.role}): ${x.entries} entr${x.entries === 1 ? 'y' : 'ies'}, revision ${x.revision}, membership epoch ${x.epoch}, verified`);
}
