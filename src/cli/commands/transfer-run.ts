// kpm import / kpm export, the work (the options: ./transfer.ts): other password managers' files in,
// kpm's (or theirs) out. Parsing and writing formats is in src/transfer/ (pure); this file reads
// files, asks for passwords, and writes.
import * as fs from 'node:fs';
import type { OptionValues } from 'commander';
import { basename, dirname, join } from 'node:path';
import { EXIT, KpmError, locked, notFound, usageError, wrongPassword } from '../../core/errors.js';
import { DEFAULT_VAULT } from '../../vault/session.js';
import { blobsDir, decryptBytes, encryptBytes, removeBlob, setFiles, type StoredFile } from '../../vault/blobs.js';
import { ensureDir, FILE_MODE, writeFileAtomic } from '../../core/fsutil.js';
import type { EntryPayload } from '../../vault/entry.js';
import type { VaultApi } from '../../agent/api.js';
import type { EntryView } from '../../vault/session.js';
import type { SharedExportFiles } from '../shared.js';
import {
  EXPORT_FORMATS, FileFormatError, IMPORT_FORMATS, parseImport, uniqueNames, where, type ImportedEntry, type ImportFormat, type ImportIssue, type ParseResult,
} from '../../transfer/index.js';
import { decryptExport, encryptExport, isEncryptedExport, parseKpmJsonDoc, toKpmJson } from '../../transfer/kpmjson.js';
import { BitwardenPasswordError, decryptBitwardenJson, isPasswordProtectedBitwarden, parseBitwardenJson, toBitwardenExport, type ExportNote } from '../../transfer/bitwarden.js';
import { detectFormat } from '../../transfer/detect.js';
import { KdbxCredentialsError, parseKdbx, toKdbx } from '../../transfer/kdbx.js';
import { toKeepassXml } from '../../transfer/keepass.js';
import { toCsv } from '../../transfer/csv.js';
import { parseJsonText, decodeText } from '../../transfer/model.js';
import { info, isInteractive, json, readStdinText, warn } from '../io.js';
import { askNewSecret, askSecret, needTerminal } from '../prompt.js';
import { openApi, requireVault, unlockProfile } from '../unlock.js';
import { ctx } from '../context.js';

/** Entries per addMany call are limited by size (the agent takes requests up to 64 MiB). */
const BATCH_BYTES = 32 << 20;
const PROGRESS_MIN_ENTRIES = 1000;

interface SecretOpts {
  passwordStdin?: boolean;
  exportPasswordStdin?: boolean;
}

/** Secrets from stdin: the master password on line 1 (--password-stdin), the export password next. */
async function stdinSecrets(o: SecretOpts): Promise<{ master?: string; exportPw?: string }> {
  if (!o.passwordStdin && !o.exportPasswordStdin) return {};
  const lines = (await readStdinText('passwords', false)).split(/\r?\n/);
  return { master: o.passwordStdin ? lines[0] : undefined, exportPw: o.exportPasswordStdin ? lines[o.passwordStdin ? 1 : 0] : undefined };
}

async function exportPassword(o: SecretOpts, forWriting: boolean, label = 'Export password'): Promise<string> {
  const given = (await stdinSecrets(o)).exportPw ?? (process.env.KPM_EXPORT_PASSWORD || undefined);
  let pw = given;
  if (pw === undefined) {
    needTerminal(label === 'Export password' ? 'an export password' : `the ${label.toLowerCase()}`, 'pass it with --export-password-stdin or KPM_EXPORT_PASSWORD');
    pw = forWriting ? await askNewSecret(label, `${label} (again)`) : await askSecret(label);
  }
  if (!pw) throw usageError('the export password must not be empty');
  if (forWriting && [...pw].length < 8) throw usageError('the export password must be at least 8 characters long');
  return pw;
}

function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (!value) throw usageError(`${flag} is required`, `one of: ${allowed.join(', ')}`);
  if (!(allowed as readonly string[]).includes(value)) throw usageError(`unknown ${flag} "${value}"`, `one of: ${allowed.join(', ')}`);
  return value as T;
}

function readInput(file: string): Uint8Array {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw usageError(`${file} is not a regular file`);
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such file: ${file}`);
    throw e;
  }
}

async function parseFile(file: string, format: ImportFormat, bytes: Uint8Array, o: SecretOpts & { keyFile?: string; password?: boolean }): Promise<ParseResult> {
  const name = basename(file);
  try {
    if (format === 'kdbx') {
      const keyFile = o.keyFile ? readInput(o.keyFile) : undefined;
      const pw = o.password === false ? undefined : await exportPassword(o, false, 'Database password');
      try {
        return await parseKdbx(bytes, pw, keyFile);
      } catch (e) {
        if (e instanceof KdbxCredentialsError) throw wrongPassword(`${name}: ${e.message}`);
        throw e;
      }
    }
    if (format === 'bitwarden-json') {
      const doc = parseJsonText(decodeText(bytes), 'Bitwarden JSON');
      if (!isPasswordProtectedBitwarden(doc)) return parseBitwardenJson(decodeText(bytes));
      try {
        return parseBitwardenJson(await decryptBitwardenJson(doc, await exportPassword(o, false, 'Bitwarden file password')));
      } catch (e) {
        if (e instanceof BitwardenPasswordError) throw wrongPassword(`${name}: ${e.message}`);
        throw e;
      }
    }
    if (format === 'kpm-json') {
      const doc = parseJsonText(decodeText(bytes), 'kpm JSON');
      if (isEncryptedExport(doc)) return parseKpmJsonDoc(parseJsonText(await decryptExport(doc, await exportPassword(o, false)), 'kpm JSON'));
      return parseKpmJsonDoc(doc);
    }
    return parseImport(format, bytes);
  } catch (e) {
    if (e instanceof FileFormatError) throw usageError(`${name}: ${e.line !== undefined ? `line ${e.line}: ` : ''}${e.message}`, 'nothing was imported');
    if (e instanceof KpmError) throw e;
    // S12: whatever else a hostile file makes a parser throw (a stack overflow, a range error) is
    // still a refused file, never "unexpected error".
    throw usageError(`${name}: cannot be read as ${format}: ${(e as Error)?.message ?? String(e)}`, 'nothing was imported');
  }
}

/** --format, or the format the content shows (said on stderr). */
function importFormat(file: string, given: string | undefined, bytes: Uint8Array): { format: ImportFormat; detected: boolean } {
  if (given) return { format: choice('--format', given, IMPORT_FORMATS), detected: false };
  const d = detectFormat(bytes);
  if (!d.format) throw usageError(`${basename(file)}: cannot tell the format: the file looks like ${d.why}`, `give --format: one of ${IMPORT_FORMATS.join(', ')}`);
  info(`${basename(file)}: detected format ${d.format} (${d.why}); --format overrides`);
  return { format: d.format, detected: true };
}

/** A progress bar on stderr, only on a terminal and only for large imports. */
async function progress(total: number): Promise<{ update(n: number): void; stop(): void }> {
  if (!process.stderr.isTTY || total < PROGRESS_MIN_ENTRIES) return { update() {}, stop() {} };
  const mod = await import('cli-progress');
  const { SingleBar, Presets } = (mod as unknown as { default?: typeof mod }).default ?? mod; // a CommonJS module
  const bar = new SingleBar({ stream: process.stderr, format: 'importing [{bar}] {value}/{total} entries', hideCursor: true, clearOnComplete: false }, Presets.legacy);
  bar.start(total, 0);
  return { update: (n) => bar.update(n), stop: () => bar.stop() };
}

/** Splits payloads into batches of at most BATCH_BYTES of JSON each. */
function batches<T extends { payload: EntryPayload }>(items: T[]): T[][] {
  const out: T[][] = [[]];
  let size = 0;
  for (const p of items) {
    const n = Buffer.byteLength(JSON.stringify(p.payload));
    if (size + n > BATCH_BYTES && out[out.length - 1].length) out.push([]), (size = 0);
    out[out.length - 1].push(p);
    size += n;
  }
  return out;
}

const issueJson = (i: ImportIssue) => ({ record: i.record, ...(i.line !== undefined ? { line: i.line } : {}), message: i.message });

/** `kpm import FILE` (the options: ./transfer.ts). */
export async function runImport(file: string, o: OptionValues): Promise<void> {
    const bytes = readInput(file);
    const { format, detected } = importFormat(file, o.format, bytes);
    const res = await parseFile(file, format, bytes, o);
    const name = basename(file);
    if (res.errors.length && !o.continueOnError) {
      const more = res.errors.length - 1;
      for (const e of res.errors.slice(1, 20)) info(`${name}: ${where(e)}: ${e.message}`);
      throw usageError(`${name}: ${where(res.errors[0])}: ${res.errors[0].message}`, `${more ? `and ${more} more malformed record${more === 1 ? '' : 's'}; ` : ''}nothing was imported (--continue-on-error imports the good ones)`);
    }
    for (const e of res.errors) warn(`${name}: ${where(e)}: ${e.message} (not imported)`);
    for (const s of res.skipped) info(`${name}: ${where(s)}: skipped: ${s.message}`);
    const defaultVault = (await (await import('../../settings/load.js')).loadSettings(ctx().paths)).default_vault ?? DEFAULT_VAULT;
    for (const c of res.changed) info(`${name}: ${where(c)}: changed: ${c.message}`);
    // A kpm export keeps each entry's vault unless --vault puts them all into one.
    const groups = new Map<string, ImportedEntry[]>();
    for (const e of res.entries) {
      const v = o.vault ?? e.vault ?? defaultVault;
      const key = [...groups.keys()].find((k) => k.toLowerCase() === v.toLowerCase()) ?? v;
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    if (!groups.size) groups.set(o.vault ?? defaultVault, []);
    let renames: ReturnType<typeof uniqueNames> = [];
    let filesStored = 0;
    const created: string[] = [];
    if (!o.dryRun) {
      const api = await openApi(ctx().paths, { passwordStdin: o.passwordStdin });
      try {
        const vaults = await api.listVaults();
        const find = (v: string) => vaults.find((x) => x.name.toLowerCase() === v.toLowerCase());
        for (const v of groups.keys()) {
          const info = find(v);
          if (info?.locked) throw locked(`vault "${info.name}" has its own password and is locked`, `run \`kpm vault unlock "${info.name}"\`, then import again; nothing was imported`);
          if (!info && (o.vault || v === defaultVault)) throw notFound(`no vault named "${v}"`, 'see `kpm vault list`; nothing was imported');
        }
        for (const v of groups.keys()) {
          if (find(v)) continue;
          await api.createVault(v); // a vault of the kpm export that this profile lacks
          created.push(v);
        }
        for (const [v, entries] of groups) renames.push(...uniqueNames(entries, (await api.list({ vault: v })).map((x) => x.name)));
        filesStored = await write(api, groups);
      } finally {
        await api.close();
      }
    } else for (const entries of groups.values()) renames.push(...uniqueNames(entries, []));
    const vaultNames = [...groups.keys()];
    const summary = {
      vault: vaultNames[0], vaults: vaultNames.map((v) => ({ vault: v, imported: groups.get(v)!.length, created: created.includes(v) })),
      format, detected, dryRun: Boolean(o.dryRun), imported: res.entries.length, files: filesStored,
      renamed: renames, skipped: res.skipped.map(issueJson), changed: res.changed.map(issueJson), errors: res.errors.map(issueJson),
    };
    if (o.json) return json(summary);
    for (const v of created) info(`Created vault "${v}" (it is in the kpm export).`);
    const parts = [
      renames.length && `${renames.length} renamed (duplicate names)`,
      filesStored && `${filesStored} file${filesStored === 1 ? '' : 's'} stored`,
      res.skipped.length && `${res.skipped.length} skipped, listed above`,
      res.changed.length && `${res.changed.length} changed, listed above`,
      res.errors.length && `${res.errors.length} malformed record${res.errors.length === 1 ? '' : 's'} left out`,
    ].filter(Boolean);
    const into = vaultNames.length === 1 ? vaultNames[0] : vaultNames.map((v) => `${v} (${groups.get(v)!.length})`).join(', ');
    info(`${o.dryRun ? 'Would import' : 'Imported'} ${res.entries.length} entr${res.entries.length === 1 ? 'y' : 'ies'} into ${into}${parts.length ? ` (${parts.join(', ')})` : ''}.`);
}

/** `kpm export` (the options: ./transfer.ts). */
export async function runExport(o: OptionValues): Promise<void> {
    const format = choice('--format', o.format, EXPORT_FORMATS);
    if (format === 'kdbx' && !o.output) throw usageError('--format kdbx needs -o FILE (a KeePass database is not written to stdout)');
    if (o.encrypted && format !== 'kpm-json' && format !== 'kdbx' && format !== 'bitwarden-json') {
      throw usageError(`--encrypted works only with --format kpm-json or bitwarden-json`, format === 'keepass-xml' ? 'KeePass XML is never encrypted; --format kdbx writes a password-protected KeePass database' : 'CSV cannot be encrypted');
    }
    if (o.json && !o.output) throw usageError('--json needs -o FILE (without it, stdout carries the export)');
    if (o.output && !o.force && fs.existsSync(o.output)) throw usageError(`${o.output} exists`, 'use --force to overwrite it');
    const { paths } = ctx();
    requireVault(paths);
    const { master } = await stdinSecrets(o);
    const pw = master ?? (process.env.KPM_MASTER_PASSWORD || undefined) ?? (isInteractive() ? await askSecret('Master password (to confirm the export)') : undefined);
    if (pw === undefined) throw locked('export needs the master password, even when kpm is unlocked', 'pass it with --password-stdin or KPM_MASTER_PASSWORD, or run on a terminal');
    const profile = await unlockProfile(paths, pw); // verifies it against the keyring (exit 5 if wrong)
    const exportPw = format === 'kdbx' ? await exportPassword(o, true, 'Database password') : o.encrypted ? await exportPassword(o, true) : undefined;
    const api = await openExportApi(paths, profile);
    let views, lockedVaults: string[];
    let sharedVaults: string[] = [];
    let sharedFiles = new Map<EntryView, SharedExportFiles>();
    // KDBX and KeePass XML hold attachments: their bytes go into the export; other formats leave them out.
    const carriesFiles = format === 'kdbx' || format === 'keepass-xml';
    try {
      lockedVaults = o.vault ? [] : (await api.listVaults()).filter((v) => v.locked).map((v) => v.name);
      if (lockedVaults.length && !o.skipLocked) {
        throw locked(
          `${lockedVaults.map((v) => `vault "${v}"`).join(', ')} ${lockedVaults.length === 1 ? 'is' : 'are'} locked (own password) and cannot be exported`,
          `unlock with \`kpm vault unlock NAME\`, or pass --skip-locked to export the rest; nothing was written`,
        );
      }
      // the shared vaults this account can read, each as a vault of its own named "NAME (shared)"
      const sh = await import('../shared.js');
      // a shared vault's files: downloaded and verified against the writer's signed record (exit 8, nothing written)
      ({ entries: views, sharedVaults, sharedFiles } = await sh.entriesWithShared(paths, api, o.vault, { fileBytes: carriesFiles }));
    } finally {
      await api.close();
    }
    if (sharedVaults.length) info(`export: shared vault${sharedVaults.length === 1 ? '' : 's'} ${sharedVaults.map((n) => `"${n}"`).join(', ')} included, each as a vault "NAME (shared)"${format === 'csv' || format === 'bitwarden-json' ? ` (${format} has no vaults: its entries are mixed with yours)` : ''}`);
    for (const v of lockedVaults) warn(`vault "${v}" is locked (own password): its entries are NOT in the export`);
    let withFiles = 0;
    const dir = blobsDir(paths);
    const entries = views.map((v) => {
      const { files, ...payload } = v.payload as EntryPayload & { files?: StoredFile[] };
      const shared = sharedFiles.get(v);
      const bytes = !carriesFiles ? [] : shared ? shared.bytes! : (files ?? []).map((f) => ({ name: f.name, bytes: decryptBytes(f, fs.readFileSync(join(dir, f.blob))) }));
      if (!carriesFiles) withFiles += shared ? shared.count : (files?.length ?? 0);
      return { vault: v.vault, payload: payload as EntryPayload, files: bytes };
    });
    let notes: ExportNote[] = [];
    let data: string | Uint8Array;
    if (format === 'kpm-json') data = toKpmJson(entries);
    else if (format === 'csv') data = toCsv(entries.map((e) => e.payload));
    else if (format === 'kdbx') ({ bytes: data, notes } = await toKdbx(entries, exportPw!));
    else if (format === 'keepass-xml') data = toKeepassXml(entries);
    else ({ text: data, notes } = toBitwardenExport(entries.map((e) => e.payload)));
    for (const n of notes) info(`export: "${n.entry}": ${n.message}`);
    const encrypted = exportPw !== undefined;
    // bitwarden-json --encrypted: Bitwarden's own password-protected format (src/transfer/bitwarden-encrypted.ts)
    if (encrypted && typeof data === 'string') data = format === 'bitwarden-json' ? await (await import('../../transfer/bitwarden-encrypted.js')).encryptBitwardenJson(data, exportPw) : await encryptExport(data, exportPw);
    else if (!encrypted) warn(`the export is NOT encrypted: anyone who can read ${o.output ?? 'it'} can read every password`);
    if (withFiles) warn(`${withFiles} attached file${withFiles === 1 ? ' is' : 's are'} not part of the export (use \`kpm doc get\`)`);
    if (!o.output) return void process.stdout.write(data);
    writeOutput(o.output, data, Boolean(o.force));
    if (o.json) return json({ exported: entries.length, format, encrypted, file: o.output, filesNotExported: withFiles, lockedVaultsSkipped: lockedVaults, sharedVaults, changed: notes });
    const extra = [lockedVaults.length && `${lockedVaults.length} locked vault${lockedVaults.length === 1 ? '' : 's'} left out`, notes.length && `${notes.length} changed, listed above`].filter(Boolean);
    info(`Exported ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (${format}${encrypted && format !== 'kdbx' ? ', encrypted' : ''}) to ${o.output}${extra.length ? ` (${extra.join(', ')})` : ''}.`);
}

/** Stores imported files (1PUX documents, KeePass attachments) as blobs, then adds every entry
 *  (one addMany commit per vault and batch); the blobs are removed if that fails. */
async function write(api: VaultApi, groups: Map<string, ImportedEntry[]>): Promise<number> {
  const dir = blobsDir(ctx().paths);
  const stored: StoredFile[] = [];
  const all = [...groups.values()].flat();
  const bar = await progress(all.length);
  try {
    for (const e of all) {
      if (!e.files?.length) continue;
      ensureDir(dir);
      const taken = new Set<string>();
      const files = e.files.map((f) => {
        let enc;
        try {
          enc = encryptBytes(f.bytes, uniqueFileName(f.name, taken));
        } catch (err) {
          if (!(err instanceof KpmError)) throw err;
          enc = encryptBytes(f.bytes, uniqueFileName('document', taken));
        }
        writeFileAtomic(join(dir, enc.file.blob), enc.blob);
        stored.push(enc.file);
        return enc.file;
      });
      setFiles(e.payload, files);
    }
    let done = 0;
    for (const [vault, entries] of groups) {
      for (const batch of batches(entries)) {
        if (!batch.length) continue;
        // An entry with a history starts as its oldest version; each newer one is an update, the
        // last being the entry as it is now (so `kpm history NAME` lists the old passwords).
        const first = batch.map((e) => (e.history?.length ? { ...e.history[0], name: e.payload.name } : e.payload));
        const { ids } = await api.addMany(vault, first);
        for (let i = 0; i < batch.length; i++) {
          const e = batch[i];
          if (!e.history?.length) continue;
          let version = 1;
          for (const p of [...e.history.slice(1), e.payload]) await api.update(vault, ids[i], version++, p === e.payload ? p : { ...p, name: e.payload.name });
        }
        bar.update((done += batch.length));
      }
    }
  } catch (e) {
    for (const f of stored) removeBlob(dir, f.blob);
    throw e;
  } finally {
    bar.stop();
  }
  return stored.length;
}

/** File names are unique (case-insensitively) within an entry: "a.txt", "a (2).txt", … */
function uniqueFileName(name: string, taken: Set<string>): string {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  let n = name;
  for (let i = 2; taken.has(n.toLowerCase()); i++) n = `${stem} (${i})${ext}`;
  taken.add(n.toLowerCase());
  return n;
}

async function openExportApi(paths: ReturnType<typeof ctx>['paths'], profile: Awaited<ReturnType<typeof unlockProfile>>): Promise<VaultApi> {
  const [{ agentApi, agentStatus }, { Session }, { sessionApi }] = await Promise.all([import('../../agent/client.js'), import('../../vault/session.js'), import('../../agent/local.js')]);
  if (await agentStatus(paths)) {
    profile.accountKey.fill(0);
    return agentApi(paths); // the agent also has the data vaults unlocked there
  }
  return sessionApi(await Session.open(paths, profile));
}

/** Creates FILE 0600 (never over an existing one unless `force`, then atomically replaced through a random temporary name). */
function writeOutput(file: string, content: string | Uint8Array, force: boolean): void {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  if (force) {
    try {
      return writeFileAtomic(file, data);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such directory: ${dirname(file)}`);
      throw e;
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', FILE_MODE); // never follows or reuses an existing file
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KpmError(`${file} exists`, EXIT.usage, 'use --force to overwrite it');
    if (code === 'ENOENT') throw notFound(`no such directory: ${dirname(file)}`);
    throw e;
  }
  try {
    fs.fchmodSync(fd, FILE_MODE);
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
