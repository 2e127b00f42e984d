// Tampering and corruption on disk (R2/R3/R4), end to end: a small vault, then one bit flipped at
// ~40 sampled offsets of data/keyring.kpm, data/vaults/*/vault.kpm and data/vaults/*/entries.*.log,
// truncations, appended bytes, empty and missing files. `kpm get NAME` must refuse with the exit
// code docs/FORMAT.md "Refusals" gives, one line on stderr (plus an optional hint), nothing on stdout.
//
// Which exit code: every file ends in a SHA-256 checksum that is verified before anything else, so
// a plain bit flip anywhere (the keyring's wrapped key included) is corruption, exit 8, found before
// the KDF runs. Exit 5 is only right when the keyring's checksum is intact and the wrapped account key
// fails to open, i.e. when the attacker re-computed the checksum after changing a byte that the AEAD
// binds (KDF parameters within range, salt, profile id, wrapped key): kpm cannot tell that from a
// wrong password. For vault.kpm a re-checksummed change is still caught by the commit MAC (exit 8).
// Bytes appended to the log that no writer announced (pending length 0) are tampering: exit 8.
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addEntry, initHome, describeRun, leaks, lines, makeHome, mapLimit, MASTER, prng, run, runOk, withMaster, type RunResult } from '../helpers/kpm.js';

type FileKind = 'keyring' | 'vault' | 'log';

interface Case {
  title: string;
  file: FileKind;
  mutate: (bytes: Buffer) => Buffer | null; // null: delete the file
  expected: number;
}

const SECRETS: Record<string, string> = { alpha: 'alpha-secret-1', beta: 'beta-secret-2', gamma: 'gamma-secret-3' };

let pristine: string;
const rel: Record<FileKind, string> = { keyring: '', vault: '', log: '' };

function filesOf(home: string): Record<FileKind, string> {
  const vaults = join(home, 'data', 'vaults');
  const [id] = readdirSync(vaults);
  const log = readdirSync(join(vaults, id)).find((f) => /^entries\.\d+\.log$/.test(f));
  if (!log) throw new Error('no log file');
  return { keyring: join('data', 'keyring.kpm'), vault: join('data', 'vaults', id, 'vault.kpm'), log: join('data', 'vaults', id, log) };
}

const flip = (offset: number, bit: number) => (b: Buffer) => {
  const c = Buffer.from(b);
  c[offset] ^= 1 << bit;
  return c;
};

/** Same change, then the trailing SHA-256 checksum recomputed (an attacker who knows the format). */
const flipAndRechecksum = (offset: number, bit: number) => (b: Buffer) => {
  const c = flip(offset, bit)(b);
  const body = c.subarray(0, c.length - 32);
  createHash('sha256').update(body).digest().copy(c, c.length - 32);
  return c;
};

/** Runs the case on a private copy of the pristine home (so cases are independent and can run in parallel). */
async function runCase(c: Case): Promise<{ r: RunResult; args: string[] }> {
  const home = makeHome();
  cpSync(join(pristine, 'data'), join(home, 'data'), { recursive: true });
  const path = join(home, rel[c.file]);
  const out = c.mutate(readFileSync(path));
  if (out === null) rmSync(path);
  else writeFileSync(path, out);
  const args = ['get', 'alpha'];
  const r = await run(args, { home, env: withMaster() });
  rmSync(home, { recursive: true, force: true });
  return { r, args };
}

function checkRefusal(c: Case, r: RunResult, args: string[]): void {
  const what = `${c.title}: ${describeRun(args, r)}`;
  expect(r.code, what).toBe(c.expected);
  if (c.expected === 0) {
    expect(r.stdout, what).toBe(SECRETS.alpha + '\n');
    return;
  }
  expect(r.stdout, what).toBe(''); // never the wrong data, never partial data
  const ls = lines(r.stderr);
  expect(ls.length, what).toBeGreaterThanOrEqual(1);
  expect(ls.length, what).toBeLessThanOrEqual(2);
  expect(ls[0], what).toMatch(/^kpm: /);
  expect(ls[0], what).not.toMatch(/unexpected error/);
  if (ls.length === 2) expect(ls[1], what).toMatch(/^hint: /);
  expect(leaks(r, [MASTER, ...Object.values(SECRETS)]), what).toEqual([]);
}

beforeAll(async () => {
  pristine = initHome();
  for (const [name, pw] of Object.entries(SECRETS)) await addEntry(pristine, name, pw === SECRETS.beta ? 'beta-old' : pw, ['--username', `${name}@example.com`]);
  await runOk(['edit', 'beta', '--password-stdin'], { home: pristine, env: withMaster(), input: SECRETS.beta + '\n' }); // a second version in the log
  Object.assign(rel, filesOf(pristine));
  const r = await runOk(['get', 'alpha'], { home: pristine, env: withMaster() });
  expect(r.stdout).toBe(SECRETS.alpha + '\n');
});

/** ~40 single-bit flips at reproducible pseudo-random offsets, plus each file's first and last byte. */
function bitFlipCases(): Case[] {
  const rnd = prng(0x6b706d);
  const cases: Case[] = [];
  const per: Record<FileKind, number> = { keyring: 12, vault: 12, log: 12 };
  for (const file of ['keyring', 'vault', 'log'] as FileKind[]) {
    const size = readFileSync(join(pristine, rel[file])).length;
    const offsets = new Set<number>([0, size - 1]);
    while (offsets.size < per[file] + 2) offsets.add(Math.floor(rnd() * size));
    for (const offset of [...offsets].sort((a, b) => a - b)) {
      const bit = Math.floor(rnd() * 8);
      cases.push({ title: `${file} byte ${offset}/${size} bit ${bit}`, file, mutate: flip(offset, bit), expected: 8 });
    }
  }
  return cases;
}

describe('one flipped bit → exit 8', () => {
  it('≈40 sampled offsets across keyring.kpm, vault.kpm and entries.*.log', async () => {
    const cases = bitFlipCases();
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const results = await mapLimit(cases, 2, runCase);
    const failures: string[] = [];
    results.forEach(({ r, args }, i) => {
      try {
        checkRefusal(cases[i], r, args);
      } catch (e) {
        failures.push((e as Error).message.split('\n').slice(0, 4).join('\n'));
      }
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});

describe('truncated, extended, empty and missing files', () => {
  const cases = (): Case[] => {
    const out: Case[] = [];
    for (const f of ['keyring', 'vault', 'log'] as FileKind[]) {
      out.push({ title: `${f} truncated by 1 byte`, file: f, mutate: (b) => b.subarray(0, b.length - 1), expected: 8 });
      out.push({ title: `${f} truncated to half`, file: f, mutate: (b) => b.subarray(0, Math.floor(b.length / 2)), expected: 8 });
      out.push({ title: `${f} empty`, file: f, mutate: () => Buffer.alloc(0), expected: 8 });
    }
    out.push({ title: 'log truncated to its header (all records dropped)', file: 'log', mutate: (b) => b.subarray(0, 22), expected: 8 });
    out.push({ title: 'keyring with 1 byte appended', file: 'keyring', mutate: (b) => Buffer.concat([b, Buffer.from([0])]), expected: 8 });
    out.push({ title: 'keyring with 64 bytes appended', file: 'keyring', mutate: (b) => Buffer.concat([b, Buffer.alloc(64, 0xaa)]), expected: 8 });
    out.push({ title: 'vault.kpm with 1 byte appended', file: 'vault', mutate: (b) => Buffer.concat([b, Buffer.from([0])]), expected: 8 });
    out.push({ title: 'vault.kpm with 64 bytes appended', file: 'vault', mutate: (b) => Buffer.concat([b, Buffer.alloc(64, 0xaa)]), expected: 8 });
    out.push({ title: 'vault.kpm missing', file: 'vault', mutate: () => null, expected: 8 });
    // docs/FORMAT.md "Writing": bytes beyond the commit that no writer announced → exit 8 (R4)
    out.push({ title: 'log with 1 byte appended', file: 'log', mutate: (b) => Buffer.concat([b, Buffer.from([0])]), expected: 8 });
    out.push({ title: 'log with 100 bytes appended', file: 'log', mutate: (b) => Buffer.concat([b, Buffer.alloc(100, 0x55)]), expected: 8 });
    out.push({ title: 'log with its own last 120 bytes appended again', file: 'log', mutate: (b) => Buffer.concat([b, b.subarray(b.length - 120)]), expected: 8 });
    return out;
  };

  it('truncations, appended bytes, empty and missing files (keyring.kpm, vault.kpm, log) → 8', async () => {
    const cs = cases();
    const results = await mapLimit(cs, 2, runCase);
    const failures: string[] = [];
    results.forEach(({ r, args }, i) => {
      try {
        checkRefusal(cs[i], r, args);
      } catch (e) {
        failures.push((e as Error).message.split('\n').slice(0, 4).join('\n'));
      }
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('a missing log → exit 8', async () => {
    const c: Case = { title: 'log missing', file: 'log', mutate: () => null, expected: 8 };
    const { r, args } = await runCase(c);
    checkRefusal(c, r, args);
  });

  it('a missing keyring means no vault: exit 3 with the kpm init hint', async () => {
    const { r, args } = await runCase({ title: 'keyring missing', file: 'keyring', mutate: () => null, expected: 3 });
    checkRefusal({ title: 'keyring missing', file: 'keyring', mutate: () => null, expected: 3 }, r, args);
    expect(r.stderr).toMatch(/kpm init/);
  });
});

describe('changes with the checksum recomputed (an attacker who knows the format)', () => {
  /** Offsets of keyring.kpm's fields, read from the file (docs/FORMAT.md "keyring.kpm"). */
  function keyringLayout() {
    const b = readFileSync(join(pristine, rel.keyring));
    const saltLen = b.readUInt32BE(19);
    const profile = 23 + saltLen;
    const wrappedLen = b.readUInt32BE(profile + 16);
    const wrapped = profile + 20;
    expect(wrapped + wrappedLen + 32).toBe(b.length);
    return { m: 7, t: 11, p: 15, saltLen: 19, salt: 23, profile, wrappedLenAt: profile + 16, wrapped, wrappedLen };
  }

  const keyringCases = (): Case[] => {
    const k = keyringLayout();
    const c = (title: string, offset: number, bit: number, expected: number): Case => ({ title: `keyring ${title} (byte ${offset} bit ${bit}), re-checksummed`, file: 'keyring', mutate: flipAndRechecksum(offset, bit), expected });
    return [
      // bound by the AEAD: the wrapped key does not open → indistinguishable from a wrong password
      c('salt', k.salt + 3, 2, 5),
      c('profile id', k.profile + 7, 0, 5),
      c('wrapped key nonce', k.wrapped + 1, 4, 5),
      c('wrapped key ciphertext', k.wrapped + 30, 6, 5),
      c('wrapped key tag', k.wrapped + k.wrappedLen - 1, 1, 5),
      c('KDF iterations 3→2 (still ≥ floor)', k.t + 3, 0, 5),
      c('KDF memory +1 KiB (within range)', k.m + 3, 0, 5),
      // refused by the parser before any KDF: corrupt
      c('magic', 0, 1, 8),
      c('format version', 5, 1, 8),
      c('KDF id', 6, 1, 8),
      c('KDF memory far above the cap', k.m, 7, 8),
      c('KDF iterations above the cap', k.t + 3, 5, 8),
      c('salt length', k.saltLen + 3, 0, 8),
      c('wrapped key length', k.wrappedLenAt + 3, 3, 8),
    ];
  };

  /** Offsets of vault.kpm's fields, read from the file (docs/FORMAT.md "vault.kpm"), wrap kind 1. */
  function vaultLayout() {
    const b = readFileSync(join(pristine, rel.vault));
    expect(b[38]).toBe(1); // wrap kind: sealed by the account key
    const wrappedLenAt = 39;
    const wrapped = wrappedLenAt + 4;
    const metaLenAt = wrapped + b.readUInt32BE(wrappedLenAt);
    const meta = metaLenAt + 4;
    const commit = meta + b.readUInt32BE(metaLenAt); // generation u32, sequence u64, log length u64, ...
    const body = b.length - 32; // without the checksum
    return { wrapped, meta, generation: commit, sequence: commit + 4, logLength: commit + 12, mac: body - 32, chain: body - 64, live: body - 68 };
  }

  const vaultCases = (): Case[] => {
    const v = vaultLayout();
    const c = (title: string, offset: number, bit: number): Case => ({ title: `vault.kpm ${title} (byte ${offset} bit ${bit}), re-checksummed`, file: 'vault', mutate: flipAndRechecksum(offset, bit), expected: 8 });
    return [
      c('magic', 1, 0),
      c('vault id', 10, 3),
      c('profile id', 30, 5),
      c('wrap kind', 38, 1),
      c('wrapped vault key', v.wrapped + 20, 2),
      c('sealed meta', v.meta + 30, 4),
      c('commit: generation', v.generation + 3, 1),
      c('commit: sequence', v.sequence + 7, 0),
      c('commit: log length', v.logLength + 7, 2),
      c('commit: live entries', v.live + 3, 0),
      c('commit: chain', v.chain + 10, 6),
      c('commit MAC', v.mac + 27, 7),
    ];
  };

  it('keyring.kpm: AEAD-bound bytes → exit 5 (like a wrong password); unparseable or out-of-range → exit 8', async () => {
    const cs = keyringCases();
    const results = await mapLimit(cs, 2, runCase);
    const failures: string[] = [];
    results.forEach(({ r, args }, i) => {
      try {
        checkRefusal(cs[i], r, args);
      } catch (e) {
        failures.push((e as Error).message.split('\n').slice(0, 4).join('\n'));
      }
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('vault.kpm: any change is caught by the commit MAC or the key wrap → exit 8', async () => {
    const cs = vaultCases();
    const results = await mapLimit(cs, 2, runCase);
    const failures: string[] = [];
    results.forEach(({ r, args }, i) => {
      try {
        checkRefusal(cs[i], r, args);
      } catch (e) {
        failures.push((e as Error).message.split('\n').slice(0, 4).join('\n'));
      }
    });
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});

describe('files of format 1 (before key separation, docs/FORMAT.md "Format versions")', () => {
  /** version field set to 1 and the checksum recomputed: a file as the old kpm wrote its header */
  const asVersion1 = (b: Buffer) => {
    const c = Buffer.from(b);
    c.writeUInt16BE(1, 4);
    createHash('sha256').update(c.subarray(0, c.length - 32)).digest().copy(c, c.length - 32);
    return c;
  };
  it('a keyring, vault.kpm or log of format 1 → exit 8, one line naming the version, a hint to export', async () => {
    for (const file of ['keyring', 'vault', 'log'] as FileKind[]) {
      const c: Case = { title: `${file} of format 1`, file, mutate: asVersion1, expected: 8 };
      const { r, args } = await runCase(c);
      checkRefusal(c, r, args);
      expect(r.stderr).toMatch(/uses format version 1, which this kpm no longer reads \(it reads format 2\)/);
      expect(r.stderr).toMatch(/hint: export the vaults with the kpm that wrote them/);
    }
  });
});

describe('the pristine vault', () => {
  it('still opens with every entry intact after all the cases (they ran on copies)', async () => {
    for (const [name, pw] of Object.entries(SECRETS)) {
      const r = await runOk(['get', name], { home: pristine, env: withMaster() });
      expect(r.stdout).toBe(pw + '\n');
    }
  });
});
