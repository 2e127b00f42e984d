// kpm doc …, attach, attachments: documents and file attachments. Files are encrypted and decrypted
// here, in the CLI process, as chunked streams (src/vault/blobs.ts); the agent or an in-process
// session only stores the entry, whose payload holds each file's key, name, type, size and hash.
import * as fs from 'node:fs';
import { basename, resolve, sep } from 'node:path';
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
import { askConfirm } from '../prompt.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx } from '../context.js';

const PROGRESS_MIN_BYTES = 4 << 20;
const MASTER_STDIN = 'read the master password from stdin (when not unlocked)';
const collect = (v: string, prev: string[] = []) => [...prev, v];

const api = (o: { passwordStdin?: boolean }): Promise<VaultApi> => {
  const { paths } = ctx();
  return openApi(paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(paths)).autolock);
};

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

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

/** Encrypts files into new blobs; if one fails, the blobs made so far are removed. */
async function storeFiles(paths: string[], existing: StoredFile[] = []): Promise<StoredFile[]> {
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
function selectFiles(v: EntryView, names: string[] | undefined): StoredFile[] {
  const files = filesOf(v.payload);
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
function destinations(files: StoredFile[], output: string | undefined): string[] {
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

function fileJson(f: StoredFile) {
  return { name: f.name, type: f.type, size: f.size };
}

function printFiles(files: StoredFile[], indent = ''): void {
  const w = Math.min(50, Math.max(4, ...files.map((f) => f.name.length)));
  for (const f of files) out(`${indent}${f.name.padEnd(w)}  ${formatSize(f.size).padStart(9)}  ${f.type}`);
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

export function register(program: Command): void {
  const doc = program
    .command('doc')
    .description('documents: files (scans, PDFs, keys) stored encrypted as entries')
    .addHelpText('after', '\nExamples:\n  kpm doc add passport scan-front.jpg scan-back.jpg\n  kpm doc list\n  kpm doc get passport -o ~/Desktop/\n  kpm doc rm passport');

  doc
    .command('add <name> <files...>')
    .description('store files as a new document entry (each file encrypted in chunks with its own key)')
    .option('--notes <text>', 'notes')
    .option('--vault <name>', 'vault (default: the default_vault setting, Personal)')
    .option('--json', 'print the new document (without keys) as JSON')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm doc add passport passport.pdf\n  kpm doc add "tax 2025" return.pdf receipts.zip --vault Family\n  kpm doc add ssh-keys ~/.ssh/id_ed25519 ~/.ssh/id_ed25519.pub --notes "laptop"')
    .action(async (name: string, paths: string[], o) => {
      const n = checkName(name);
      const a = await api(o);
      const vault = o.vault ?? (await loadSettings(ctx().paths)).default_vault;
      await notExisting(a, n, vault);
      const files = await storeFiles(paths);
      const now = new Date().toISOString();
      const p: EntryPayload = { type: 'document', name: n, fields: o.notes ? { notes: o.notes } : {}, custom: [], tags: [], created: now, updated: now };
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
      const v = await (await api(o)).get(name, o.vault);
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
      const cur = await a.get(name, o.vault);
      if (cur.payload.type !== 'document') throw usageError(`"${cur.payload.name}" is a ${cur.payload.type}, not a document`, 'delete it with `kpm rm`');
      const files = filesOf(cur.payload);
      if (!o.yes) {
        if (!isInteractive()) throw usageError('refusing to delete without confirmation', 'add --yes when running without a terminal');
        if (!(await askConfirm(`Delete ${cur.vault}/${cur.payload.name} and its ${files.length} file${files.length === 1 ? '' : 's'}?`, false))) return info('Nothing deleted.');
      }
      const v = await a.remove(cur.id, cur.vault);
      discard(files);
      info(`Deleted ${v.vault}/${v.payload.name} and ${files.length} file${files.length === 1 ? '' : 's'}.`);
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
      const all = await (await api(o)).entries({ vault: o.vault, type: o.all ? undefined : 'document' });
      const docs = all.filter((v) => v.payload.type === 'document' || filesOf(v.payload).length > 0);
      if (o.json) return json(docs.map(docJson));
      if (docs.length === 0) return info(o.all ? 'No documents or attachments.' : 'No documents.');
      for (const v of docs) {
        out(`${v.payload.name}${v.payload.type !== 'document' ? ` (${v.payload.type})` : ''}${v.vault !== 'Personal' ? `  [${v.vault}]` : ''}`);
        printFiles(filesOf(v.payload), '  ');
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
      const cur = await a.get(entry, o.vault);
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

  program
    .command('attachments <entry>')
    .description("list an entry's files (names, sizes, types)")
    .option('--vault <name>', 'look only in this vault')
    .option('--json', 'print JSON: [{name, type, size}]')
    .option('--password-stdin', MASTER_STDIN)
    .addHelpText('after', '\nExamples:\n  kpm attachments github\n  kpm attachments passport --json')
    .action(async (entry: string, o) => {
      const v = await (await api(o)).get(entry, o.vault);
      const files = filesOf(v.payload);
      if (o.json) return json(files.map(fileJson));
      if (files.length === 0) return info(`${v.payload.name} has no attachments.`);
      printFiles(files);
    });
}

/** JSON of an entry with files: never the file keys or blob ids. */
function docJson(v: EntryView) {
  const p = v.payload;
  return { id: v.id, vault: v.vault, type: p.type, name: p.name, notes: p.fields.notes ?? null, created: p.created, updated: p.updated, version: v.version, files: filesOf(p).map(fileJson) };
}
