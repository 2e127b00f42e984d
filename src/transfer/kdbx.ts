// KeePass databases (.kdbx, versions 3.1 and 4.x) read and written with kdbxweb; Argon2d/Argon2id
// run on kpm's native argon2 package (CryptoEngine.setArgon2Impl), AES-KDF in kdbxweb. Reading
// maps each entry like KeePass XML (keepass.ts); writing: docs/IMPORT-EXPORT.md "KeePass (.kdbx)".
import { createRequire } from 'node:module';
import * as kdbxweb from 'kdbxweb';
import { SECRET_FIELDS, type EntryPayload } from '../vault/entry.js';
import { collect, emptyResult, FileFormatError, type ImportedFile, type ParseResult } from './model.js';
import { mapKeepassEntry, type KeepassEntrySource } from './keepass.js';

/** Argon2 parameters of a database kpm agrees to derive (a hostile header cannot ask for more). */
export const KDBX_ARGON2_MAX = { memoryKiB: 1 << 20, iterations: 1000, parallelism: 64 };
/** What kpm writes: KDBX 4, Argon2id, 64 MiB, 3 passes, 2 lanes (KeePassXC's defaults are close). */
export const KDBX_WRITE_ARGON2 = { memoryBytes: 64 << 20, iterations: 3, parallelism: 2 };

type NativeArgon2 = { hash(password: Buffer, options: Record<string, unknown>): Promise<Buffer> };
let native: NativeArgon2 | undefined;

/** (Re)installs kpm's Argon2 as kdbxweb's, with the limits, before every use. */
function installArgon2(): void {
  native ??= createRequire(import.meta.url)('argon2') as NativeArgon2;
  const argon2 = native;
  kdbxweb.CryptoEngine.setArgon2Impl(async (password, salt, memory, iterations, length, parallelism, type, version) => {
    if (memory > KDBX_ARGON2_MAX.memoryKiB || iterations > KDBX_ARGON2_MAX.iterations || parallelism > KDBX_ARGON2_MAX.parallelism) {
      throw new FileFormatError(`refused: the database asks for Argon2 with ${memory} KiB, ${iterations} passes, ${parallelism} lanes (kpm's limit: ${KDBX_ARGON2_MAX.memoryKiB} KiB, ${KDBX_ARGON2_MAX.iterations} passes, ${KDBX_ARGON2_MAX.parallelism} lanes)`);
    }
    const out = await argon2.hash(Buffer.from(password), {
      raw: true, salt: Buffer.from(salt), memoryCost: memory, timeCost: iterations, parallelism, hashLength: length, type, version,
    });
    const copy = new Uint8Array(out).slice().buffer;
    out.fill(0);
    return copy;
  });
}

/** A copy in an ArrayBuffer of its own (a Buffer's .buffer may be a shared pool). */
const toArrayBuffer = (b: Uint8Array): ArrayBuffer => {
  const c = new Uint8Array(b.byteLength);
  c.set(b);
  return c.buffer;
};

async function credentials(password: string | undefined, keyFile?: Uint8Array): Promise<kdbxweb.KdbxCredentials> {
  const c = new kdbxweb.KdbxCredentials(password === undefined ? null : kdbxweb.ProtectedValue.fromString(password), keyFile ? toArrayBuffer(keyFile) : null);
  await c.ready;
  return c;
}

const text = (v: kdbxweb.KdbxEntryField | undefined): string => (v === undefined ? '' : typeof v === 'string' ? v : v.getText());
const binaryBytes = (b: kdbxweb.KdbxBinary | kdbxweb.KdbxBinaryWithHash | undefined): Uint8Array | undefined => {
  if (!b) return undefined;
  const v = 'hash' in b && 'value' in b ? b.value : (b as kdbxweb.KdbxBinary);
  if (v instanceof kdbxweb.ProtectedValue) return v.getBinary();
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return undefined;
};

function source(e: kdbxweb.KdbxEntry): KeepassEntrySource {
  const src: KeepassEntrySource = { strings: new Map(), hidden: new Set(), tags: [...e.tags], binaries: [] };
  for (const [k, v] of e.fields) {
    src.strings.set(k, text(v));
    if (v instanceof kdbxweb.ProtectedValue) src.hidden.add(k);
  }
  src.created = e.times.creationTime?.toISOString();
  src.updated = e.times.lastModTime?.toISOString();
  if (e.times.expires && e.times.expiryTime) src.expires = e.times.expiryTime.toISOString();
  for (const [name, b] of e.binaries) {
    const bytes = binaryBytes(b as kdbxweb.KdbxBinary | kdbxweb.KdbxBinaryWithHash);
    src.binaries.push(bytes ? { name, bytes } : { name, missing: 'has no contents in the database' });
  }
  return src;
}

/** A wrong password or key file: the caller turns it into exit 5. */
export class KdbxCredentialsError extends Error {}

/** Opens a .kdbx (password and/or key file) and maps its entries like KeePass XML. */
export async function parseKdbx(bytes: Uint8Array, password: string | undefined, keyFile?: Uint8Array): Promise<ParseResult> {
  installArgon2();
  let db: kdbxweb.Kdbx;
  try {
    db = await kdbxweb.Kdbx.load(toArrayBuffer(bytes), await credentials(password, keyFile));
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    const code = (e as { code?: string }).code;
    if (code === kdbxweb.Consts.ErrorCodes.InvalidKey) throw new KdbxCredentialsError('wrong password or key file for the KeePass database');
    throw new FileFormatError(`not a readable KeePass database: ${(e as Error).message}`);
  }
  const res = emptyResult();
  const binUuid = db.meta.recycleBinEnabled !== false ? db.meta.recycleBinUuid?.id : undefined;
  let record = 0;
  const walk = (g: kdbxweb.KdbxGroup, path: string[], inBin: boolean, top: boolean) => {
    const here = top ? path : [...path, g.name?.trim() || 'Group'];
    const bin = inBin || (binUuid !== undefined && g.uuid.id === binUuid);
    for (const e of g.entries) {
      const n = ++record;
      if (bin) {
        res.skipped.push({ record: n, message: 'in the recycle bin' });
        continue;
      }
      collect(res, n, undefined, () => {
        const m = mapKeepassEntry(source(e), here);
        for (const s of m.skipped) res.skipped.push({ record: n, message: s });
        for (const c of m.changed) res.changed.push({ record: n, message: c });
        // older versions, oldest first: the entry's kpm history
        const history = e.history.map((h) => {
          const old = mapKeepassEntry({ ...source(h), binaries: [] }, here).payload;
          delete old.files;
          return old;
        });
        return { record: n, payload: m.payload, files: m.files.length ? m.files : undefined, ...(history.length ? { history } : {}) };
      });
    }
    for (const c of g.groups) walk(c, here, bin, false);
  };
  for (const g of db.groups) walk(g, [], false, true);
  return res;
}

// ------------------------------------------------------------------------------------------------
// Export

export interface KdbxExportEntry {
  payload: EntryPayload;
  files: ImportedFile[];
}

const KEEPASS_FIELD: Record<string, string> = { username: 'UserName', password: 'Password', url: 'URL', notes: 'Notes', totp: 'otp' };

/** A KDBX 4 database (Argon2id) with every entry: the first tag is its group path, the rest tags. */
export async function toKdbx(entries: KdbxExportEntry[], password: string, name = 'kpm export'): Promise<{ bytes: Uint8Array; notes: { entry: string; message: string }[] }> {
  installArgon2();
  const db = kdbxweb.Kdbx.create(await credentials(password), name);
  db.setVersion(4);
  db.setKdf(kdbxweb.Consts.KdfId.Argon2id);
  const kdf = db.header.kdfParameters!;
  kdf.set('M', kdbxweb.VarDictionary.ValueType.UInt64, new kdbxweb.Int64(KDBX_WRITE_ARGON2.memoryBytes));
  kdf.set('I', kdbxweb.VarDictionary.ValueType.UInt64, new kdbxweb.Int64(KDBX_WRITE_ARGON2.iterations));
  kdf.set('P', kdbxweb.VarDictionary.ValueType.UInt32, KDBX_WRITE_ARGON2.parallelism);
  const root = db.getDefaultGroup();
  const groups = new Map<string, kdbxweb.KdbxGroup>();
  const groupFor = (path: string): kdbxweb.KdbxGroup => {
    let g = root;
    let at = '';
    for (const part of path.split('/').map((x) => x.trim()).filter(Boolean)) {
      at = at ? `${at}/${part}` : part;
      let next = groups.get(at.toLowerCase());
      if (!next) {
        next = db.createGroup(g, part);
        groups.set(at.toLowerCase(), next);
      }
      g = next;
    }
    return g;
  };
  const notes: { entry: string; message: string }[] = [];
  for (const { payload: p, files } of entries) {
    const [first, ...rest] = p.tags;
    const e = db.createEntry(first ? groupFor(first) : root);
    e.fields.set('Title', p.name);
    for (const k of ['UserName', 'Password', 'URL', 'Notes']) e.fields.set(k, k === 'Password' ? kdbxweb.ProtectedValue.fromString('') : '');
    const taken = new Set(['title', 'username', 'password', 'url', 'notes']);
    const set = (key: string, value: string, secret: boolean) => {
      let k = key;
      for (let i = 2; taken.has(k.toLowerCase()); i++) k = `${key} ${i}`;
      taken.add(k.toLowerCase());
      e.fields.set(k, secret ? kdbxweb.ProtectedValue.fromString(value) : value);
    };
    for (const [k, v] of Object.entries(p.fields)) {
      const std = KEEPASS_FIELD[k];
      if (std && std !== 'otp') e.fields.set(std, k === 'password' ? kdbxweb.ProtectedValue.fromString(v) : v);
      else set(std ?? k, v, SECRET_FIELDS.has(k));
    }
    for (const c of p.custom) set(c.name, c.value, c.kind === 'hidden');
    if (p.type !== 'login') set('kpm type', p.type, false);
    e.tags = rest;
    e.times.creationTime = new Date(p.created);
    e.times.lastModTime = new Date(p.updated);
    for (const f of files) e.binaries.set(f.name, await db.createBinary(toArrayBuffer(f.bytes)));
    if (p.type !== 'login') notes.push({ entry: p.name, message: `a ${p.type} becomes a KeePass entry; its fields are strings, its type the string "kpm type"` });
  }
  const out = await db.save();
  return { bytes: new Uint8Array(out), notes };
}
