// `kpm login` on a device that already has a vault of its own (docs/PROTOCOL.md "A device with its
// own vault"):
//  - the account holds another profile's vault (made on another device): the two cannot sync
//    together. Without --merge the sign-in is undone and exits 7; with --merge this device's
//    entries are brought into the account's vaults: both vaults are opened (this device's master
//    password, then the account's), the account's vaults are fetched into a new folder, this
//    device's entries added there (a vault of the same name takes them, a name already taken by
//    another entry gets " (2)"), sent, and only then the folders are swapped. The old keyring and
//    vaults stay in data/merge-backup-<time>/ until the merge has synced;
//  - this device's vault syncs with another account: never mixed into this one (exit 7), or merged
//    like above if this account has a vault of its own.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, fromBase64, utf8, wipe } from '../../crypto/bytes.js';
import { decodeKeyring } from '../../vault/format.js';
import { openAccountKey, readKeyring, unlockKeyring } from '../../vault/keyring.js';
import { KpmError, EXIT, wrongPassword } from '../../core/errors.js';
import { blobsDir } from '../../vault/blobs.js';
import { normalizeName, type EntryPayload } from '../../vault/entry.js';
import { ensureDir } from '../../core/fsutil.js';
import { Session } from '../../vault/session.js';
import type { KpmPaths } from '../../core/paths.js';
import type { SyncStateT, TokensT } from '../../protocol/schemas.js';
import { MERGE_HINT, accountProfileId, ownVaultConflict } from '../../sync/profilecheck.js';
import { loadProfileState, saveKeyringEnvelope } from '../../sync/state.js';
import { parseKeyringEnvelope, tampered, verifyKeyringEnvelope } from '../../sync/envelope.js';
import { accountPublicKey } from '../../crypto/sign.js';
import { MERGE_BACKUP_PREFIX, writeBackupInfo } from '../../sync/mergebackup.js';

type Http = typeof import('../../sync/http.js');
type Api = InstanceType<Http['ApiClient']>;

export type DeviceVaultCheck =
  | { kind: 'ok' }
  /** this device's own vault; the account holds another profile's (its keyring envelope) */
  | { kind: 'own-vault'; keyringBody: string }
  /** this device's vault syncs with another account; keyringBody: this account's, if it holds another profile's vault */
  | { kind: 'other-account'; keyringBody?: string; accountHasVault: boolean };

/** What the account holds, compared with this device's vault (nothing is written). */
export async function checkDeviceVault(paths: KpmPaths, api: Api, t: TokensT): Promise<DeviceVaultCheck> {
  if (!fs.existsSync(paths.keyring)) return { kind: 'ok' };
  const st = await api.call<SyncStateT>('syncState', { token: t.accessToken });
  const local = readKeyring(paths).profileId;
  const remote = accountProfileId(st);
  const other = remote !== undefined && !bytesEqual(remote, local);
  const ps = loadProfileState(paths);
  if (ps && ps.accountId !== t.account.id) return { kind: 'other-account', accountHasVault: st.keyring !== null, ...(other ? { keyringBody: st.keyring!.body } : {}) };
  if (other) return { kind: 'own-vault', keyringBody: st.keyring!.body };
  return { kind: 'ok' };
}

/** The refusal of a sign-in that would mix two vaults (exit 7). */
export function refusal(c: Exclude<DeviceVaultCheck, { kind: 'ok' }>, email: string, previousEmail?: string): KpmError {
  if (c.kind === 'own-vault') {
    const e = ownVaultConflict();
    return new KpmError(`${e.message.replace('the account', `the account ${email}`)}; you are not signed in`, EXIT.conflict, e.hint);
  }
  const was = previousEmail ? ` (${previousEmail})` : '';
  return new KpmError(
    `this device's vault syncs with another account${was}: signing in to ${email} would mix the two accounts' keys; you are not signed in to ${email}`,
    EXIT.conflict,
    c.keyringBody ? MERGE_HINT.replace("the account's vaults", `the vaults of ${email}`) : `use another KPM_HOME for ${email}${previousEmail ? `, or sign in to ${previousEmail} again` : ''}`,
  );
}

export interface MergePasswords {
  /** this device's master password */
  local(): Promise<string>;
  /** the master password of the account's vault */
  account(): Promise<string>;
}

export interface MergeResult {
  added: number;
  same: number;
  renamed: string[];
  /** vaults of this device that were not merged (own password, locked) */
  notMerged: string[];
  /** entries in this device's trash (not carried over) */
  trashed: number;
  synced: boolean;
  syncError?: string;
  /** where this device's old vault is kept, if it is */
  backup?: string;
}

async function stopAgent(paths: KpmPaths): Promise<void> {
  const { agentCall, agentStatus } = await import('../../agent/client.js');
  if (!(await agentStatus(paths))) return;
  await agentCall(paths, 'lock', []).catch(() => undefined);
  for (let i = 0; i < 100 && (await agentStatus(paths)); i++) await new Promise((ok) => setTimeout(ok, 50));
}

/** Opens the account's keyring envelope with its master password and checks its MAC (nothing is written). */
async function checkAccountPassword(bytes: Uint8Array, password: string): Promise<void> {
  const env = parseKeyringEnvelope(bytes);
  let kr;
  try {
    kr = decodeKeyring(env.keyring);
  } catch (e) {
    if (e instanceof KpmError) throw tampered(`the account's keyring is unusable (${e.message})`);
    throw e;
  }
  const pw = utf8.encode(password);
  let ak: Uint8Array;
  try {
    ak = await openAccountKey(kr, pw);
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.wrongPassword) throw wrongPassword("wrong master password for the account's vault");
    throw e;
  } finally {
    wipe(pw);
  }
  try {
    verifyKeyringEnvelope(accountPublicKey(ak), bytes);
  } finally {
    wipe(ak);
  }
}

const content = (p: EntryPayload) => JSON.stringify([p.type, p.fields, p.custom, p.tags, p.files ?? []]);

function freeName(name: string, taken: Set<string>): string {
  if (!taken.has(normalizeName(name))) return name;
  let n = 2;
  while (taken.has(normalizeName(`${name} (${n})`))) n++;
  return `${name} (${n})`;
}

/** Adds every live entry of `from` to `to` (see the top of this file); their document files are copied along. */
async function importEntries(from: Session, to: Session, fromPaths: KpmPaths, toPaths: KpmPaths, r: MergeResult): Promise<void> {
  for (const info of from.listVaults()) {
    if (info.locked) {
      r.notMerged.push(info.name);
      continue;
    }
    r.trashed += from.trash(info.name).length;
    const existing = to.listVaults();
    let target = existing.find((v) => normalizeName(v.name) === normalizeName(info.name));
    if (target?.locked) target = undefined;
    const targetName = target ? target.name : freeName(info.name, new Set(existing.map((v) => normalizeName(v.name))));
    if (!target) await to.createVault(targetName);
    const present = new Map(to.entries({ vault: targetName }).map((e) => [normalizeName(e.payload.name), e.payload]));
    const taken = new Set(present.keys());
    const payloads: EntryPayload[] = [];
    for (const e of from.entries({ vault: info.name })) {
      const p = e.payload;
      const there = present.get(normalizeName(p.name));
      if (there && content(there) === content(p)) {
        r.same++;
        continue;
      }
      const name = freeName(p.name, taken);
      taken.add(normalizeName(name));
      if (name !== p.name) r.renamed.push(`"${p.name}" → "${name}"`);
      for (const f of p.files ?? []) {
        const src = join(blobsDir(fromPaths), f.blob);
        const dst = join(blobsDir(toPaths), f.blob);
        if (fs.existsSync(src) && !fs.existsSync(dst)) {
          ensureDir(blobsDir(toPaths));
          fs.copyFileSync(src, dst);
        }
      }
      payloads.push({ ...p, name });
    }
    if (payloads.length) await to.addMany(targetName, payloads);
    r.added += payloads.length;
  }
}

const MOVED = ['keyring.kpm', 'vaults', 'sync', 'session.json'];

/** Swaps this device's old profile (to `backup`) for the merged one in `fresh`. */
function swapIn(paths: KpmPaths, fresh: string, backup: string): void {
  ensureDir(backup);
  for (const n of MOVED) if (fs.existsSync(join(paths.data, n))) fs.renameSync(join(paths.data, n), join(backup, n));
  for (const n of MOVED) if (fs.existsSync(join(fresh, n))) fs.renameSync(join(fresh, n), join(paths.data, n));
  const blobs = join(fresh, 'blobs');
  if (fs.existsSync(blobs)) {
    ensureDir(blobsDir(paths));
    for (const b of fs.readdirSync(blobs)) if (!fs.existsSync(join(blobsDir(paths), b))) fs.renameSync(join(blobs, b), join(blobsDir(paths), b));
  }
  fs.rmSync(fresh, { recursive: true, force: true });
}

/**
 * `kpm login --merge`: brings this device's entries into the account's vaults. Until the folders
 * are swapped at the end nothing of this device changes; a failure before leaves it as it was.
 */
export async function mergeAtLogin(h: Http, paths: KpmPaths, api: Api, t: TokensT, keyringBody: string, ask: MergePasswords): Promise<MergeResult> {
  const localPw = await ask.local();
  let mine: Session;
  const lpw = utf8.encode(localPw);
  try {
    mine = await Session.open(paths, await unlockKeyring(paths, lpw));
  } catch (e) {
    if (e instanceof KpmError && e.exitCode === EXIT.wrongPassword) throw wrongPassword("wrong master password for this device's vault");
    throw e;
  } finally {
    wipe(lpw);
  }
  const fresh = join(paths.data, 'merge-new');
  let theirs: Session | undefined;
  try {
    const accountPw = await ask.account();
    const bytes = fromBase64(keyringBody);
    await checkAccountPassword(bytes, accountPw);
    await stopAgent(paths); // it holds this device's old vault
    fs.rmSync(fresh, { recursive: true, force: true });
    const fp: KpmPaths = { ...paths, data: fresh, keyring: join(fresh, 'keyring.kpm'), vaults: join(fresh, 'vaults') };
    ensureDir(fresh);
    h.saveSession(fp, { server: api.base.toString().replace(/\/$/, ''), ...t, ...(api.insecure ? { insecure: true } : {}) });
    saveKeyringEnvelope(fp, bytes);
    const { installDownloadedKeyring } = await import('../../sync/newdevice.js');
    const apw = utf8.encode(accountPw);
    try {
      await installDownloadedKeyring(fp, apw, t.account.id);
      theirs = await Session.open(fp, await unlockKeyring(fp, apw));
    } finally {
      wipe(apw);
    }
    const { syncNow } = await import('../../sync/run.js');
    await syncNow(theirs); // the account's vaults, checked like any sync
    const r: MergeResult = { added: 0, same: 0, renamed: [], notMerged: [], trashed: 0, synced: false };
    await importEntries(mine, theirs, paths, fp, r);
    try {
      await syncNow(theirs);
      r.synced = true;
    } catch (e) {
      if (!(e instanceof KpmError) || e.exitCode !== EXIT.network) throw e;
      r.syncError = e.message; // merged here; sent with the next sync
    }
    mine.close();
    theirs.close();
    const backup = join(paths.data, `${MERGE_BACKUP_PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`);
    swapIn(paths, fresh, backup);
    const keep = r.notMerged.length > 0 || r.trashed > 0;
    writeBackupInfo(backup, { v: 1, removeWhenSynced: !keep, account: t.account.email, at: new Date().toISOString() });
    if (r.synced && !keep) fs.rmSync(backup, { recursive: true, force: true });
    else r.backup = backup;
    return r;
  } catch (e) {
    mine.close();
    theirs?.close();
    fs.rmSync(fresh, { recursive: true, force: true });
    throw e;
  }
}

export function describeMerge(r: MergeResult): string[] {
  const lines = [`${r.added} entr${r.added === 1 ? 'y' : 'ies'} of this device's vault are now in the account's vaults${r.same ? ` (${r.same} already there, unchanged)` : ''}; this device now uses the account's master password.`];
  for (const n of r.renamed) lines.push(`  the name was taken: ${n}`);
  if (r.notMerged.length) lines.push(`  not merged (own password, locked): ${r.notMerged.map((n) => `"${n}"`).join(', ')}`);
  if (r.trashed) lines.push(`  ${r.trashed} entr${r.trashed === 1 ? 'y' : 'ies'} in this device's trash were not carried over`);
  if (!r.synced) lines.push(`  not synced yet (${r.syncError}): the merged entries go out with the next \`kpm sync\``);
  if (r.backup) lines.push(`  this device's old vault is kept in ${r.backup}${r.notMerged.length || r.trashed ? ' (remove it when you no longer need it)' : ' until the merge has synced'}`);
  return lines;
}
