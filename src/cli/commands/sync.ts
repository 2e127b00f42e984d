// kpm sync: one vault across every device of the account (docs/PROTOCOL.md "Sync").
// history and restore (the versions each entry went through): history.ts.
import type { Command } from 'commander';
import { EXIT, KpmError, usageError } from '../../core/errors.js';
import type { SyncReport } from '../../sync/engine.js';
import { info, json, warn } from '../io.js';
import { describeSyncReport } from '../../sync/report.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';

const api = (o: { passwordStdin?: boolean }) => openApi(ctx().paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(ctx().paths)).autolock);

export function printSyncReport(r: SyncReport, asJson: boolean): void {
  if (asJson) return json(r);
  for (const l of describeSyncReport(r)) info(l);
}

export function register(program: Command): void {
  program
    .command('sync')
    .description('send this device\'s changes to the kpm server and fetch the other devices\' (needs `kpm login`)')
    .option('--json', 'print what moved as JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText(
      'after',
      `
Sync also runs by itself after every change and on unlock (setting sync=auto; \`kpm config set sync manual\`
turns that off; --offline skips it for one command). The server only ever sees encrypted entries; whatever
it sends back is checked, and anything altered, dropped, replayed or rolled back stops the sync with exit 8.

Examples:
  kpm sync
  kpm sync --json
  printf %s "$MASTER" | kpm sync --password-stdin`,
    )
    .action(async (o) => {
      if (process.env.KPM_OFFLINE === '1') throw usageError('`kpm sync` and --offline contradict each other');
      const a = await api(o);
      const { shared: agentRows, sharedNotes, ...r } = await a.sync();
      const { describeSharedRows } = await import('../../sync/report.js');
      // shared vaults (docs/SHARING.md): pulled and verified against their signed memberships, by the
      // agent that holds them (src/agent/sharedhold.ts), or here
      if (a.viaAgent) {
        for (const n of sharedNotes ?? []) warn(n);
        if (o.json) return json(agentRows ? { ...r, shared: agentRows } : r);
        printSyncReport(r, false);
        for (const l of describeSharedRows(agentRows ?? [])) info(l);
        return;
      }
      const sh = await import('../shared.js');
      const shared = await sh.openShared(ctx().paths, a, { refresh: true, discover: true });
      try {
        if (shared?.offline) throw new KpmError('shared vaults: the server could not be reached', EXIT.network);
        const { sharedSyncRow } = await import('../../share/view.js');
        const rows = (shared?.vaults ?? []).map(sharedSyncRow);
        if (o.json) return json(shared ? { ...r, shared: rows } : r);
        printSyncReport(r, false);
        for (const l of describeSharedRows(rows)) info(l);
      } finally {
        await shared?.done();
      }
    });
}
