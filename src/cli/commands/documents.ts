// kpm doc …, attach, attachments: documents and file attachments. Files are encrypted and decrypted
// here, in the CLI process, as chunked streams (src/vault/blobs.ts); the agent or an in-process
// session only stores the entry, whose payload holds each file's key, name, type, size and hash.
// In a shared vault (docs/SHARING.md "Files in shared vaults") a file is sealed for the vault and
// its epoch (src/share/blobs.ts), sent to the server, and named by the writer's signed record;
// reading fetches it and checks it against that record before anything is written.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { checkName, normalizeName, type EntryPayload } from '../../vault/entry.js';
import { EXIT, KpmError, notFound, usageError } from '../../core/errors.js';
import { ensureDir } from '../../core/fsutil.js';
import {
  blobsDir, checkFileName, decryptBlobToFile, decryptBlobToStream, encryptFileToBlob, filesOf, removeBlob, setFiles, type Progress, type StoredFile,
} from '../../vault/blobs.js';
import type { VaultApi } from '../../agent/api.js';
import type { EntryView } from '../../vault/session.js';
import { info, isInteractive, json, out } from '../io.js';
import { formatSize, printFiles } from '../format.js';
import { askConfirm } from '../prompt.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';
import type { OpenedVault, SharedVersion } from '../../share/client.js';
import type { SharedFile } from '../../share/blobs.js';
import type { Shared } from '../shared.js';
import { tokenMode } from '../tokenapi.js';
import type { FetchedFile, TokenFiles } from '../tokenfiles.js';

const PROGRESS_MIN_BYTES = 4 << 20;
const MASTER_STDIN = 'read the master password from stdin (when not unlocked)';
const collect = (v: string, prev: string[] = []) => [...prev, v];

const api = (o: { passwordStdin?: boolean }): Promise<VaultApi> => {
  const { paths } = ctx();
  return openApi(paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(paths)).autolock);
};

/** A one-line progress bar on stderr, only on a terminal and only for files over 4 MiB. */
function progressBar(label: string, size: number): { update?: Progress; end(): void } {
  if (!process.stderr.isTTY || size <= PROGRESS_MIN_BYTES) return { end() {} };
  let last = 0, drawn = false;
  const name = label.length > 30 ? label.slice(0, 29) + '…' : label;
  const draw = (done: number, total: number) => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(frac * 24);
    process.stderr.write(`\r${name} [${'#'.repeat(filled)}${'-'.repeat(24 - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatSize(done)} / ${formatSize(total)}\x1b[K`);
    drawn = true;
  };
  return {
    update: (done, total) => {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done, total);
    },
    end: () => drawn && process.stderr.write('\n'),
  };
}

/** The files to add must exist, be regular files, and have names not taken in the entry (nor given twice). */
function checkNewFiles(paths: string[], existing: { name: string }[]): void {
  const taken = new Set(existing.map((f) => f.name.toLowerCase()));
  for (const p of paths) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) throw notFound(`no such file: ${p}`);
    if (!st.isFile()) throw usageError(`${p} is not a regular file`);
    const name = checkFileName(basename(p)).toLowerCase();
    if (taken.has(name)) {
      const clash = existing.some((f) => f.name.toLowerCase() === name);
      throw new KpmError(`a file named "${basename(p)}" is ${clash ? 'already stored in this entry' : 'given twice'}`, clash ? EXIT.conflict : EXIT.usage);
    }
    taken.add(name);
  }
}

/** Encrypts files into new blobs; if one fails, the blobs made so far are removed. */
async function storeFiles(paths: string[], existing: StoredFile[] = []): Promise<StoredFile[]> {
  checkNewFiles(paths, existing);
  const dir = blobsDir(ctx().paths);
  const stored: StoredFile[] = [];
  try {
    for (const p of paths) {
      const bar = progressBar(basename(p), fs.statSync(p).size);
      try {
        stored.push(await encryptFileToBlob(dir, p, bar.update));
      } finally {
        bar.end();
      }
    }
  } catch (e) {
    discard(stored);
    throw e;
  }
  return stored;
}

const discard = (files: StoredFile[]) => files.forEach((f) => removeBlob(blobsDir(ctx().paths), f.blob));

/** The files of an entry that `--file` names (all of them without it). */
function selectFiles<F extends { name: string } = StoredFile>(v: EntryView, names: string[] | undefined, files: F[] = filesOf(v.payload) as unknown as F[]): F[] {
  if (files.length === 0) throw notFound(`entry "${v.payload.name}" has no files`, 'add some with `kpm attach`');
  if (!names?.length) return files;
  return names.map((n) => {
    const want = n.normalize('NFC');
    const f = files.find((x) => x.name === want) ?? files.find((x) => x.name.toLowerCase() === want.toLowerCase());
    if (!f) throw notFound(`entry "${v.payload.name}" has no file "${n}"`, `its files: ${files.map((x) => x.name).join(', ')}`);
    return f;
  });
}

/** Where each file goes: `-o` is a file for one file, else a directory (default: the current one). */
function destinations(files: { name: string }[], output: string | undefined): string[] {
  const target = output ?? '.';
  const st = fs.statSync(target, { throwIfNoEntry: false });
  const isDir = st?.isDirectory() || output === undefined || target.endsWith(sep) || target.endsWith('/');
  if (!isDir) {
    if (files.length > 1) throw usageError(`the entry has ${files.length} files; -o must name a directory`, 'or pick one with --file NAME');
    return [resolve(target)];
  }
  if (!st) ensureDir(target);
  const dests = files.map((f) => resolve(target, checkFileName(f.name)));
  if (new Set(dests).size !== dests.length) throw usageError('two files of the entry have the same name; fetch them one at a time with --file and -o FILE');
  return dests;
}

/** `-o -`, or no -o with stdout not a terminal (`kpm doc get NAME > out`): the file goes to stdout. */
function toStdout(output: string | undefined): boolean {
  return output === '-' || (output === undefined && !process.stdout.isTTY);
}

/** Decrypts one file to stdout. The whole file is checked before the first byte is written (exit 8 shows nothing). */
/** One file to stdout: checked whole before the first byte is written, with bounded memory. */
async function writeToStdout(dir: string, f: StoredFile): Promise<void> {
  await decryptBlobToStream(dir, f, (bytes) => new Promise<void>((res, rej) => process.stdout.write(bytes, (e) => (e ? rej(e) : res()))));
}

function fileJson(f: Pick<StoredFile, 'name' | 'type' | 'size'>) {
  return { name: f.name, type: f.type, size: f.size };
}

async function notExisting(a: VaultApi, name: string, vault?: string): Promise<void> {
  try {
    const v = await a.get(name, vault);
    if (normalizeName(v.payload.name) === normalizeName(name)) {
      throw new KpmError(`an entry named "${v.payload.name}" already exists in vault "${v.vault}"`, EXIT.conflict, 'choose another name, or add files to it with `kpm attach`', 'name_taken');
    }
  } catch (e) {
    if (!(e instanceof KpmError) || e.exitCode !== EXIT.notFound) throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared vaults (docs/SHARING.md "Files in shared vaults")

const shl = () => import('../shared.js');

/** `--vault` naming a shared vault (and no vault of your own: that wins), for a write; null otherwise. */
async function sharedWriteTarget(a: VaultApi, vault: string | undefined): Promise<{ s: Shared; v: OpenedVault } | null> {
  if (vault === undefined || (await a.listVaults()).some((x) => x.name === vault)) return null;
  const sh = await shl();
  // a device that never ran a share command asks the server once, as `kpm token create --vault` does
  const s = await sh.openShared(ctx().paths, a, { refresh: true, discover: true });
  const v = sh.sharedTarget(s, vault);
  if (!v) {
    await s?.done();
    return null;
  }
  return { s: s!, v };
}

/** Seals and sends files for shared vault `v` (refused with exit 9 before anything is sent for a reader). */
async function sendSharedFiles(s: Shared, v: OpenedVault, paths: string[], existing: { name: string }[]): Promise<SharedFile[]> {
  const { ShareClient } = await import('../../share/client.js');
  ShareClient.checkWritable(v, s.client.me.email);
  checkNewFiles(paths, existing);
  const sent: SharedFile[] = [];
  for (const p of paths) {
    const bar = progressBar(basename(p), fs.statSync(p).size);
    try {
      sent.push(await s.client.uploadFile(v, blobsDir(ctx().paths), p, bar.update));
    } finally {
      bar.end();
    }
  }
  return sent;
}

/**
 * Fetches every file first and checks each against the writer's signed record (size, chunk count,
 * SHA-256: exit 8 on any difference, nothing written), then decrypts them: to stdout, or each to a
 * temporary file renamed into place once every chunk opened.
 */
/** Where `doc get` writes `files`: stdout (one file only) or their destinations, none already there without --force (exit 2). */
function outputsFor(files: { name: string }[], o: { output?: string; force?: boolean }): { stdout: boolean; dests: string[] } {
  const stdout = toStdout(o.output);
  if (stdout && files.length > 1) throw usageError(`the entry has ${files.length} files and stdout takes one`, 'pick one with --file NAME, or write them to a directory with -o DIR');
  const dests = stdout ? [] : destinations(files, o.output);
  if (!o.force) {
    const there = dests.filter((d) => fs.existsSync(d));
    if (there.length) throw usageError(`${there.join(', ')} already exist${there.length === 1 ? 's' : ''}`, 'use --force to overwrite');
  }
  return { stdout, dests };
}

async function getSharedFiles(s: Shared, v: OpenedVault, files: SharedFile[], o: { output?: string; force?: boolean }): Promise<void> {
  const { shareFrame } = await import('../../share/blobs.js');
  const { fromHex } = await import('../../crypto/bytes.js');
  const { decryptFramedToFile, decryptFramedToStream } = await import('../../vault/blobs.js');
  const { stdout, dests } = outputsFor(files, o);
  const dir = blobsDir(ctx().paths);
  const got: Awaited<ReturnType<Shared['client']['downloadFile']>>[] = [];
  try {
    for (const f of files) got.push(await s.client.downloadFile(v, dir, f));
    const frame = (f: SharedFile) => shareFrame(fromHex(v.id), f.epoch, fromHex(f.blob));
    if (stdout) return await decryptFramedToStream(got[0].fd, got[0].key, frame(files[0]), files[0], (bytes) => new Promise<void>((res, rej) => process.stdout.write(bytes, (e) => (e ? rej(e) : res()))));
    for (let i = 0; i < files.length; i++) {
      const bar = progressBar(files[i].name, files[i].size);
      try {
        await decryptFramedToFile(got[i].fd, got[i].key, frame(files[i]), files[i], dests[i], { force: o.force }, bar.update);
      } finally {
        bar.end();
      }
      info(`Wrote ${dests[i]} (${formatSize(files[i].size)}).`);
    }
  } finally {
    for (const g of got) g.remove();
  }
}

// ---------------------------------------------------------------------------------------------
// Service tokens (KPM_TOKEN: README "Service tokens", src/cli/tokenfiles.ts): the reads only, with
// the output and exit codes of a device; the writes are refused (exit 9) by the token commands' hook.

async function withTokenFiles<T>(fn: (tf: TokenFiles) => Promise<T>): Promise<T> {
  const { tokenApi } = await import('../tokenapi.js');
  const a = await tokenApi();
  try {
    return await fn(await a.files());
  } finally {
    await a.close();
  }
}

/**
 * `kpm doc get` with a token: every file fetched into a private temporary folder and checked against
 * its verified record (size, transfer chunks, a shared file's SHA-256), then every chunk's AEAD
 * (several files: all of them before the first is written); each written to a temporary file
 * renamed into place, or to stdout after a first full pass. Exit 8 with nothing written otherwise.
 */
async function tokenDocGet(name: string, o: { output?: string; file?: string[]; force?: boolean; vault?: string }): Promise<void> {
  const { decryptFramedToFile, decryptFramedToStream, verifyFramed } = await import('../../vault/blobs.js');
  await withTokenFiles(async (tf) => {
    const found = tf.find(name, o.vault);
    const files = selectFiles(found.view, o.file, found.files);
    const { stdout, dests } = outputsFor(files, o);
    // the sealed blobs only (ciphertext), in a new 0700 folder of TMPDIR, removed at the end
    const dir = fs.mkdtempSync(join(tmpdir(), 'kpm-token-'));
    const got: FetchedFile[] = [];
    try {
      for (const f of files) got.push(await tf.fetch(f, dir));
      if (stdout) return await decryptFramedToStream(got[0].fd, got[0].key, got[0].frame, files[0], (bytes) => new Promise<void>((res, rej) => process.stdout.write(bytes, (e) => (e ? rej(e) : res()))));
      if (got.length > 1) for (const g of got) await verifyFramed(g.fd, g.key, g.frame, g.file);
      for (let i = 0; i < files.length; i++) {
        const bar = progressBar(files[i].name, files[i].size);
        try {
          await decryptFramedToFile(got[i].fd, got[i].key, got[i].frame, files[i], dests[i], { force: o.force }, bar.update);
        } finally {
          bar.end();
        }
        info(`Wrote ${dests[i]} (${formatSize(files[i].size)}).`);
      }
    } finally {
      for (const g of got) g.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** `kpm doc list` with a token: the documents (with --all, every entry with files) of its vault. */
async function tokenDocList(o: { all?: boolean; vault?: string; json?: boolean }): Promise<void> {
  const docs = await withTokenFiles(async (tf) => tf.all({ vault: o.vault, type: o.all ? undefined : 'document' }).filter((d) => d.view.payload.type === 'document' || d.files.length > 0));
  if (o.json) return json(docs.map((d) => docJson(d.view, d.files)));
  if (docs.length === 0) return info(o.all ? 'No documents or attachments.' : 'No documents.');
  for (const { view: v, files } of docs) {
    out(`${v.payload.name}${v.payload.type !== 'document' ? ` (${v.payload.type})` : ''}${v.vault !== 'Personal' ? `  [${v.vault}]` : ''}`);
    printFiles(files, '  ');
  }
}

/** `kpm attachments` with a token. */
async function tokenAttachments(entry: string, o: { vault?: string; json?: boolean }): Promise<void> {
  const found = await withTokenFiles(async (tf) => tf.find(entry, o.vault));
  if (o.json) return json(found.files.map(fileJson));
  if (found.files.length === 0) return info(`${found.view.payload.name} has no attachments.`);
  printFiles(found.files);
}

/** The version of a shared entry a lookup found. */
const sharedVersion = (hit: { v: OpenedVault; id: string }): SharedVersion => hit.v.entries.get(hit.id)!;

export function register(program: Command): void {
  const doc = program
    .command('doc')
    .description('documents: files (scans, PDFs, keys) stored encrypted as entries')
    .addHelpText('after', '\nExamples:\n  kpm doc add passport scan-front.jpg scan-back.jpg\n  kpm doc list\n  kpm doc get passport -o ~/Desktop/\n  kpm doc rm passport\n  kpm doc add contract contract.pdf --vault Team   (a shared vault: every member reads it)');

  doc
    .command('add <name> <files...>')
    .description('store files as a new document entry (each file encrypted in chunks with its own key)')
    .option('--notes <text>', 'notes')
    .option('--vault <name>', 'vault (default: the default_vault setting, Personal); a shared vault: the files are sealed for its members')
    .option('--json', 'print the new document (without keys) as JSON')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm doc add passport passport.pdf\n  kpm doc add "tax 2025" return.pdf receipts.zip --vault Family\n  kpm doc add ssh-keys ~/.ssh/id_ed25519 ~/.ssh/id_ed25519.pub --notes "laptop"')
    .action(async (name: string, paths: string[], o) => {
      const n = checkName(name);
      const a = await api(o);
      const now = new Date().toISOString();
      const p: EntryPayload = { type: 'document', name: n, fields: o.notes ? { notes: o.notes } : {}, custom: [], tags: [], created: now, updated: now };
      const target = await sharedWriteTarget(a, o.vault);
      if (target) {
        const { s, v } = target;
        try {
          const sh = await shl();
          const { ShareClient } = await import('../../share/client.js');
          ShareClient.checkWritable(v, s.client.me.email); // a reader: exit 9, nothing sent
          if (sh.findShared(s, n, v.name).length) throw new KpmError(`an entry named "${n}" already exists in shared vault "${v.name}"`, EXIT.conflict, 'choose another name, or add files to it with `kpm attach`', 'name_taken');
          const files = await sendSharedFiles(s, v, paths, []);
          const view = await sh.writeShared(s, v, await sh.toSharedEntry(p), { files });
          if (o.json) return json(docJson(view, files));
          const total = files.reduce((k, f) => k + f.size, 0);
          return info(`Added document ${v.name}/${n} (shared vault): ${files.length} file${files.length === 1 ? '' : 's'}, ${formatSize(total)}.`);
        } finally {
          await s.done();
        }
      }
      const vault = o.vault ?? (await loadSettings(ctx().paths)).default_vault;
      await notExisting(a, n, vault);
      const files = await storeFiles(paths);
      setFiles(p, files);
      let v: EntryView;
      try {
        v = await a.add(vault, p);
      } catch (e) {
        discard(files);
        throw e;
      }
      if (o.json) return json(docJson(v));
      const total = files.reduce((s, f) => s + f.size, 0);
      info(`Added document ${v.vault}/${v.payload.name}: ${files.length} file${files.length === 1 ? '' : 's'}, ${formatSize(total)}.`);
    });

  doc
    .command('get <name>')
    .description("write a document's files (or any entry's attachments) to disk, mode 0600; never overwrites without --force")
    .option('-o, --output <path>', 'a file (one file), a directory, or - for stdout (default: the current directory on a terminal, stdout when stdout is redirected)')
    .option('--file <filename>', 'only this file of the entry (repeatable)', collect)
    .option('--force', 'overwrite existing files')
    .option('--vault <name>', 'look only in this vault')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm doc get passport                       (into the current directory)\n  kpm doc get passport -o ~/Desktop/\n  kpm doc get passport --file scan-front.jpg -o /tmp/front.jpg\n  kpm doc get passport --file scan-front.jpg > front.jpg   (stdout, like -o -)\n  kpm doc get github --file recovery-codes.txt   (an attachment of a login)')
    .action(async (name: string, o) => {
      if (tokenMode()) return tokenDocGet(name, o);
      const a = await api(o);
      const sh = await shl();
      await sh.withShared(ctx().paths, a, o.vault, false, async (s) => {
        const found = await sh.entryAnywhere(a, s, name, o.vault);
        if (found.shared) return getSharedFiles(s!, found.shared.v, selectFiles(found.view, o.file, sharedVersion(found.shared).files), o);
        const v = found.view;
        const files = selectFiles(v, o.file);
        if (toStdout(o.output)) {
          if (files.length > 1) throw usageError(`the entry has ${files.length} files and stdout takes one`, 'pick one with --file NAME, or write them to a directory with -o DIR');
          return writeToStdout(blobsDir(ctx().paths), files[0]);
        }
        const dests = destinations(files, o.output);
        if (!o.force) {
          const there = dests.filter((d) => fs.existsSync(d));
          if (there.length) throw usageError(`${there.join(', ')} already exist${there.length === 1 ? 's' : ''}`, 'use --force to overwrite');
        }
        const dir = blobsDir(ctx().paths);
        for (let i = 0; i < files.length; i++) {
          const bar = progressBar(files[i].name, files[i].size);
          try {
            await decryptBlobToFile(dir, files[i], dests[i], { force: o.force }, bar.update);
          } finally {
            bar.end();
          }
          info(`Wrote ${dests[i]} (${formatSize(files[i].size)}).`);
        }
      });
    });

  doc
    .command('rm <name>')
    .alias('remove')
    .description('delete a document entry and its encrypted files')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .option('--vault <name>', 'vault')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm doc rm passport\n  kpm doc rm old-scan --yes')
    .action(async (name: string, o) => {
      const a = await api(o);
      const sh = await shl();
      await sh.withShared(ctx().paths, a, o.vault, true, async (s) => {
        const found = await sh.entryAnywhere(a, s, name, o.vault);
        const cur = found.view;
        if (cur.payload.type !== 'document') throw usageError(`"${cur.payload.name}" is a ${cur.payload.type}, not a document`, 'delete it with `kpm rm`');
        const files = found.shared ? sharedVersion(found.shared).files : filesOf(cur.payload);
        if (found.shared) {
          const { ShareClient } = await import('../../share/client.js');
          ShareClient.checkWritable(found.shared.v, s!.client.me.email); // a reader: exit 9, before the question
        }
        if (!o.yes) {
          if (!isInteractive()) throw usageError('refusing to delete without confirmation', 'add --yes when running without a terminal');
          if (!(await askConfirm(`Delete ${cur.vault}/${cur.payload.name} and its ${files.length} file${files.length === 1 ? '' : 's'}?`, false))) return info('Nothing deleted.');
        }
        if (found.shared) {
          // a deletion record carrying the entry and its files as they were (the vault's log keeps every version: `kpm restore`)
          await sh.writeShared(s!, found.shared.v, { ...cur.payload, updated: new Date().toISOString() }, { entryId: found.shared.id, deleted: true });
          return info(`Deleted ${cur.vault}/${cur.payload.name} (shared vault; its ${files.length} file${files.length === 1 ? '' : 's'} stay in the vault's history).`);
        }
        const v = await a.remove(cur.id, cur.vault);
        discard(files as StoredFile[]);
        info(`Deleted ${v.vault}/${v.payload.name} and ${files.length} file${files.length === 1 ? '' : 's'}.`);
      });
    });

  doc
    .command('list')
    .alias('ls')
    .description('list documents with their file names and sizes')
    .option('-a, --all', 'also list other entries that have attachments')
    .option('--vault <name>', 'only this vault')
    .option('--json', 'print JSON')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm doc list\n  kpm doc list --all --json | jq ".[].files[].name"')
    .action(async (o) => {
      if (tokenMode()) return tokenDocList(o);
      const a = await api(o);
      const sh = await shl();
      const shared = await sh.sharedUnlessOwn(ctx().paths, a, o.vault);
      const docs: { v: EntryView; files: Pick<StoredFile, 'name' | 'type' | 'size'>[] }[] = [];
      try {
        const own = shared !== null && o.vault !== undefined && sh.isSharedVault(shared, o.vault) ? [] : await a.entries({ vault: o.vault, type: o.all ? undefined : 'document' });
        for (const v of own) if (v.payload.type === 'document' || filesOf(v.payload).length > 0) docs.push({ v, files: filesOf(v.payload) });
        for (const sv of shared?.vaults ?? []) {
          if (o.vault !== undefined && sv.name !== o.vault) continue;
          for (const [id, e] of sv.entries) {
            if (e.deleted || !(e.entry.type === 'document' || (o.all && e.files.length > 0))) continue;
            docs.push({ v: sh.sharedView(sv, id), files: e.files });
          }
        }
      } finally {
        await shared?.done();
      }
      if (o.json) return json(docs.map((d) => docJson(d.v, d.files)));
      if (docs.length === 0) return info(o.all ? 'No documents or attachments.' : 'No documents.');
      for (const { v, files } of docs) {
        out(`${v.payload.name}${v.payload.type !== 'document' ? ` (${v.payload.type})` : ''}${v.vault !== 'Personal' ? `  [${v.vault}]` : ''}`);
        printFiles(files, '  ');
      }
    });

  program
    .command('attach <entry> <files...>')
    .description('attach files to any entry (encrypted like documents)')
    .option('--vault <name>', 'look only in this vault')
    .option('--json', 'print the entry (without keys) as JSON')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm attach github recovery-codes.txt\n  kpm attach bank contract.pdf statement.pdf\n  kpm doc get github --file recovery-codes.txt   (fetch it again)')
    .action(async (entry: string, paths: string[], o) => {
      const a = await api(o);
      const sh = await shl();
      await sh.withShared(ctx().paths, a, o.vault, true, async (s) => {
        const found = await sh.entryAnywhere(a, s, entry, o.vault);
        const cur = found.view;
        if (found.shared) {
          const existing = sharedVersion(found.shared).files;
          const added = await sendSharedFiles(s!, found.shared.v, paths, existing);
          const files = [...existing, ...added];
          const view = await sh.writeShared(s!, found.shared.v, await sh.toSharedEntry({ ...cur.payload, updated: new Date().toISOString() }), { entryId: found.shared.id, files });
          if (o.json) return json(docJson(view, files));
          return info(`Attached ${added.map((f) => f.name).join(', ')} to ${view.vault}/${view.payload.name} (shared vault).`);
        }
        const existing = filesOf(cur.payload);
        const added = await storeFiles(paths, existing);
        const p = cur.payload;
        setFiles(p, [...existing, ...added]);
        p.updated = new Date().toISOString();
        let v: EntryView;
        try {
          v = await a.update(cur.vault, cur.id, cur.version, p);
        } catch (e) {
          discard(added);
          throw e;
        }
        if (o.json) return json(docJson(v));
        info(`Attached ${added.map((f) => f.name).join(', ')} to ${v.vault}/${v.payload.name}.`);
      });
    });

  program
    .command('attachments <entry>')
    .description("list an entry's files (names, sizes, types)")
    .option('--vault <name>', 'look only in this vault')
    .option('--json', 'print JSON: [{name, type, size}]')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm attachments github\n  kpm attachments passport --json')
    .action(async (entry: string, o) => {
      if (tokenMode()) return tokenAttachments(entry, o);
      const a = await api(o);
      const sh = await shl();
      await sh.withShared(ctx().paths, a, o.vault, false, async (s) => {
        const found = await sh.entryAnywhere(a, s, entry, o.vault);
        const files = found.shared ? sharedVersion(found.shared).files : filesOf(found.view.payload);
        if (o.json) return json(files.map(fileJson));
        if (files.length === 0) return info(`${found.view.payload.name} has no attachments.`);
        printFiles(files);
      });
    });
}

/** JSON of an entry with files: never the file keys or blob ids. `files`: a shared entry's (beside its payload). */
function docJson(v: EntryView, files: Pick<StoredFile, 'name' | 'type' | 'size'>[] = filesOf(v.payload)) {
  const p = v.payload;
  return { id: v.id, vault: v.vault, type: p.type, name: p.name, notes: p.fields.notes ?? null, created: p.created, updated: p.updated, version: v.version, files: files.map(fileJson) };
}
