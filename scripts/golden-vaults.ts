// Writes the golden vault files of docs/FORMAT.md "Golden files" into test/golden/vault/ (or the
// folder given): one valid profile (data/ as kpm writes it, with its expected contents in
// expected.json) and one small file per malformed case (cases/*.bin), each replacing one file of
// the valid profile, with its expected outcome in manifest.json (as the age test kit does).
// Deterministic: the randomness (salts, keys, nonces, ids) comes from a seeded SHA-256 counter and
// the clock is fixed, so running it again gives the same bytes (test/e2e/golden-vaults.test.ts
// checks that the committed files are what this script writes).
//   npx vite-node scripts/golden-vaults.ts [folder]
import { createHash, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KDF_FLOOR } from '../src/crypto/kdf.js';
import { utf8 } from '../src/crypto/bytes.js';
import { resolvePaths } from '../src/core/paths.js';
import { createKeyring } from '../src/vault/keyring.js';
import { Session } from '../src/vault/session.js';
import { EXIT } from '../src/core/errors.js';
import type { EntryPayload } from '../src/vault/entry.js';

export const GOLDEN_MASTER = 'correct horse battery staple';
const SEED = 'kpm golden vaults v1';
const CLOCK = Date.parse('2026-11-24T12:00:00.000Z');

type FileKind = 'keyring' | 'vault' | 'log';
export interface GoldenCase {
  name: string;
  /** which file of valid/ the case's file replaces */
  replaces: FileKind;
  /** cases/<name>.bin; absent: the file is removed */
  file?: string;
  exit: number;
  kind: keyof typeof EXIT;
  why: string;
}

/** Runs `fn` with seeded randomness and a fixed clock (both restored afterwards). */
async function deterministic<T>(fn: () => Promise<T>): Promise<T> {
  const original = webcrypto.getRandomValues;
  const RealDate = Date;
  let counter = 0;
  let pool = Buffer.alloc(0);
  const seeded = <A extends ArrayBufferView | null>(a: A): A => {
    if (!a) return a;
    const out = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    while (pool.length < out.length) pool = Buffer.concat([pool, createHash('sha256').update(`${SEED}/${counter++}`).digest()]);
    out.set(pool.subarray(0, out.length));
    pool = pool.subarray(out.length);
    return a;
  };
  class FixedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(CLOCK);
      else super(...(args as [string]));
    }
    static override now() {
      return CLOCK;
    }
  }
  Object.defineProperty(webcrypto, 'getRandomValues', { value: seeded, configurable: true, writable: true });
  globalThis.Date = FixedDate as DateConstructor;
  try {
    return await fn();
  } finally {
    Object.defineProperty(webcrypto, 'getRandomValues', { value: original, configurable: true, writable: true });
    globalThis.Date = RealDate;
  }
}

const T = new Date(CLOCK).toISOString();
const ENTRIES: EntryPayload[] = [
  { type: 'login', name: 'alpha', fields: { username: 'alpha@example.com', password: 'alpha-secret-1', url: 'https://alpha.example' }, custom: [], tags: [], created: T, updated: T, passwordChanged: T },
  { type: 'card', name: 'beta', fields: { cardholder: 'B Example', number: '4111111111111111', brand: 'Visa' }, custom: [{ name: 'bank', value: 'Example Bank' }], tags: ['money'], created: T, updated: T },
  { type: 'note', name: 'gamma', fields: { notes: 'line one\nline two ✓' }, custom: [], tags: [], created: T, updated: T },
];

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
/** the trailing SHA-256 checksum recomputed, as an attacker who knows the format would */
const rechecksum = (b: Buffer) => {
  const c = Buffer.from(b);
  sha(c.subarray(0, c.length - 32)).copy(c, c.length - 32);
  return c;
};
const flip = (b: Buffer, offset: number, bit: number) => {
  const c = Buffer.from(b);
  c[offset] ^= 1 << bit;
  return c;
};

/** Writes valid/, cases/, manifest.json and expected.json into `out` (which is emptied first). */
export async function writeGolden(out: string): Promise<void> {
  fs.rmSync(out, { recursive: true, force: true });
  const home = join(out, 'valid');
  await deterministic(async () => {
    const paths = resolvePaths({ KPM_HOME: home });
    const profile = await createKeyring(paths, utf8.encode(GOLDEN_MASTER), { ...KDF_FLOOR });
    const s = await Session.open(paths, profile);
    await s.createVault('Personal');
    for (const p of ENTRIES) await s.add('Personal', structuredClone(p));
    const beta = s.get('beta');
    await s.update(beta.vault, beta.id, beta.version, { ...beta.payload, fields: { ...beta.payload.fields, pin: '1234' } }); // a second version in the log
    s.close();
  });
  // only data/ is the format; anything else kpm wrote (run/, settings) is not golden
  for (const f of fs.readdirSync(home)) if (f !== 'data') fs.rmSync(join(home, f), { recursive: true, force: true });
  const vaults = join(home, 'data', 'vaults');
  const [id] = fs.readdirSync(vaults);
  const log = fs.readdirSync(join(vaults, id)).find((f) => /^entries\.\d+\.log$/.test(f))!;
  const rel: Record<FileKind, string> = { keyring: 'data/keyring.kpm', vault: `data/vaults/${id}/vault.kpm`, log: `data/vaults/${id}/${log}` };
  const bytes = (k: FileKind) => fs.readFileSync(join(home, rel[k]));

  const k = bytes('keyring');
  const saltLen = k.readUInt32BE(19);
  const profileAt = 23 + saltLen;
  const wrapped = profileAt + 20;
  const v = bytes('vault');
  const vWrapped = 43;
  const metaLenAt = vWrapped + v.readUInt32BE(39);
  const commit = metaLenAt + 4 + v.readUInt32BE(metaLenAt);
  const l = bytes('log');

  const cases: [Omit<GoldenCase, 'file'>, Buffer | null][] = [];
  const add = (name: string, replaces: FileKind, kind: keyof typeof EXIT, why: string, b: Buffer | null) => cases.push([{ name, replaces, exit: EXIT[kind], kind, why }, b]);
  add('keyring-bitflip-wrapped-key', 'keyring', 'corrupt', 'one bit of the wrapped key flipped: the checksum fails before the KDF', flip(k, wrapped + 30, 6));
  add('keyring-salt-rechecksummed', 'keyring', 'wrongPassword', 'the salt changed and the checksum recomputed: the AEAD-bound header does not unwrap (like a wrong password)', rechecksum(flip(k, 23 + 3, 2)));
  add('keyring-profile-id-rechecksummed', 'keyring', 'wrongPassword', 'the profile id changed and the checksum recomputed: the wrapped key does not open', rechecksum(flip(k, profileAt + 7, 0)));
  add('keyring-kdf-id-rechecksummed', 'keyring', 'corrupt', 'KDF id not 1 (Argon2id): refused before any KDF', rechecksum(flip(k, 6, 1)));
  add('keyring-kdf-memory-above-cap', 'keyring', 'corrupt', 'KDF memory far above the cap: refused before any KDF', rechecksum(flip(k, 7, 7)));
  add('keyring-kdf-iterations-below-floor', 'keyring', 'corrupt', 'KDF iterations 2 → 0, below the floor: refused before any KDF', rechecksum((() => { const c = Buffer.from(k); c.writeUInt32BE(0, 11); return c; })()));
  add('keyring-bad-magic', 'keyring', 'corrupt', 'magic is not "KPMK"', rechecksum(flip(k, 0, 1)));
  add('keyring-format-1', 'keyring', 'corrupt', 'format version 1 (before key separation): named, with a hint to export', rechecksum((() => { const c = Buffer.from(k); c.writeUInt16BE(1, 4); return c; })()));
  add('keyring-truncated', 'keyring', 'corrupt', 'the last 40 bytes missing', k.subarray(0, k.length - 40));
  add('keyring-empty', 'keyring', 'corrupt', 'an empty keyring.kpm', Buffer.alloc(0));
  add('vault-bitflip-commit', 'vault', 'corrupt', 'one bit of the commit record flipped: the checksum fails', flip(v, commit + 7, 3));
  add('vault-sequence-rechecksummed', 'vault', 'corrupt', 'the commit sequence changed and the checksum recomputed: the commit MAC fails', rechecksum(flip(v, commit + 4 + 7, 0)));
  add('vault-log-length-rechecksummed', 'vault', 'corrupt', 'the committed log length changed and the checksum recomputed: the commit MAC fails', rechecksum(flip(v, commit + 12 + 7, 2)));
  add('vault-wrapped-key-rechecksummed', 'vault', 'corrupt', 'the wrapped vault key changed and the checksum recomputed: it does not unwrap', rechecksum(flip(v, vWrapped + 20, 2)));
  add('vault-format-1', 'vault', 'corrupt', 'vault.kpm of format version 1', rechecksum((() => { const c = Buffer.from(v); c.writeUInt16BE(1, 4); return c; })()));
  add('vault-truncated', 'vault', 'corrupt', 'vault.kpm without its last byte', v.subarray(0, v.length - 1));
  add('log-bitflip-record', 'log', 'corrupt', 'one bit of a sealed record flipped: the AEAD tag fails', flip(l, l.length - 20, 5));
  add('log-appended', 'log', 'corrupt', 'bytes appended to the log that no writer announced', Buffer.concat([l, Buffer.from('appended by someone else')]));
  add('log-truncated', 'log', 'corrupt', 'the log shorter than the committed length', l.subarray(0, l.length - 10));
  add('log-format-1', 'log', 'corrupt', 'a log of format version 1', (() => { const c = Buffer.from(l); c.writeUInt16BE(1, 4); return c; })());
  add('log-missing', 'log', 'corrupt', 'the log file removed', null);

  fs.mkdirSync(join(out, 'cases'), { recursive: true });
  const manifest: GoldenCase[] = cases.map(([c, b]) => {
    if (b === null) return c;
    const file = `cases/${c.name}.bin`;
    fs.writeFileSync(join(out, file), b);
    return { ...c, file };
  });
  const json = (x: unknown) => JSON.stringify(x, null, 2) + '\n';
  fs.writeFileSync(join(out, 'manifest.json'), json({ master: GOLDEN_MASTER, files: rel, cases: manifest }));
  const expected = Object.fromEntries(ENTRIES.map((p) => [p.name, p.name === 'beta' ? { ...p.fields, pin: '1234' } : p.fields]));
  fs.writeFileSync(join(out, 'expected.json'), json({ master: GOLDEN_MASTER, vault: 'Personal', entries: expected }));
}

const self = fileURLToPath(import.meta.url);
// run as a script (vite-node takes the script's own name out of argv), not imported by a test
if (resolve(process.argv[1] ?? '') === self || /vite-node$/.test(process.argv[1] ?? '')) {
  const out = resolve(process.argv[2] ?? join(dirname(self), '..', 'test', 'golden', 'vault'));
  await writeGolden(out);
  process.stdout.write(`wrote ${relative(process.cwd(), out) || out}\n`);
}
