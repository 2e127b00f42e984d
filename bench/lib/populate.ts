// Benchmark helper (not a test): writes the same N login entries into a kpm profile and into the
// peers' input formats, so every tool is timed on the same data. bench/lib/common.sh bundles it with
// esbuild into bench/.work/populate.mjs (argon2 stays external and resolves from node_modules).
//
//   KPM_HOME=DIR KPM_BENCH_PASSWORD=pw node bench/.work/populate.mjs kpm --count N [--start 0] [--batch 1000] [--exact]
//   node bench/.work/populate.mjs pass-plain DIR --count N     one plaintext file per entry, `pass` layout
//   node bench/.work/populate.mjs keepass-xml FILE --count N   a KeePass 2 XML file for `keepassxc-cli import`
//
// Entry i: name site<i>, username user<i>, password entryPassword(i), url https://site<i>.example.com.
//
// `kpm` goes through kpm's own code (keyring → Session → Vault.write), many records per commit
// instead of one process per entry. It creates the profile (default KDF parameters) and the
// "Personal" vault when KPM_HOME holds none, otherwise unlocks the existing profile and appends.
// It prints one JSON line with timings.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { randomBytes } from '../../src/crypto/random.js';
import { createKeyring, unlockKeyring } from '../../src/vault/keyring.js';
import { resolvePaths } from '../../src/core/paths.js';
import { DEFAULT_VAULT, Session } from '../../src/vault/session.js';
import type { EntryPayload } from '../../src/vault/entry.js';
import type { NewRecord } from '../../src/vault/store.js';

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

function intArg(name: string, dflt: number, min: number): number {
  const v = Number(arg(name, String(dflt)));
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return v;
}

/** Deterministic per-entry password, the same for kpm and for the peers. */
function entryPassword(i: number): string {
  return `pw-${i}-${((i * 2654435761) >>> 0).toString(36)}`;
}

const entryName = (i: number) => `site${i}`;
const entryUser = (i: number) => `user${i}`;
const entryUrl = (i: number) => `https://site${i}.example.com`;

async function populateKpm(start: number, count: number, batch: number, exact: boolean): Promise<void> {
  const password = process.env.KPM_BENCH_PASSWORD;
  if (!process.env.KPM_HOME) throw new Error('set KPM_HOME');
  if (!password) throw new Error('set KPM_BENCH_PASSWORD');
  const paths = resolvePaths();
  const pw = utf8.encode(password);
  const t0 = performance.now();
  const fresh = !existsSync(paths.keyring);
  const profile = fresh ? await createKeyring(paths, pw) : await unlockKeyring(paths, pw);
  const session = await Session.open(paths, profile);
  if (fresh) await session.createVault(DEFAULT_VAULT);
  const tOpen = performance.now();
  const vault = session.vault(DEFAULT_VAULT);

  const write = (changes: NewRecord[]) => vault.write(changes);

  const existing = new Set(vault.liveRecords().map((r) => toHex(r.nameTag)));
  const now = new Date().toISOString();
  for (let b = start; b < start + count; b += batch) {
    const changes: NewRecord[] = [];
    for (let i = b; i < Math.min(start + count, b + batch); i++) {
      const payload: EntryPayload = {
        type: 'login',
        name: entryName(i),
        fields: { username: entryUser(i), password: entryPassword(i), url: entryUrl(i) },
        custom: [],
        tags: [],
        created: now,
        updated: now,
        passwordChanged: now,
      };
      if (existing.size && existing.has(toHex(vault.nameTag(payload.name)))) throw new Error(`an entry named "${payload.name}" already exists`);
      changes.push({ entryId: randomBytes(16), payload, baseVersion: 0 });
    }
    await write(changes);
    if (process.env.KPM_BENCH_VERBOSE) process.stderr.write(`populate: ${Math.min(start + count, b + batch)} / ${start + count}  ${((performance.now() - tOpen) / 1000).toFixed(1)} s\n`);
  }
  const tWrite = performance.now();
  session.close();

  // Verify from disk with a fresh session: chain, count, and a few entries by name.
  const check = await Session.open(paths, await unlockKeyring(paths, pw));
  const live = check.entryCount();
  const held = check.vault(DEFAULT_VAULT).liveRecords().length;
  if (held !== live) throw new Error(`verification failed: the header says ${live} live entries, the log holds ${held}`);
  for (const i of count > 0 ? [start, start + Math.floor(count / 2), start + count - 1] : []) {
    if (check.get(entryName(i)).payload.fields.password !== entryPassword(i)) throw new Error(`verification failed for ${entryName(i)}`);
  }
  check.close();
  const tVerify = performance.now();
  process.stdout.write(JSON.stringify({ created: fresh, added: count, live, openMs: Math.round(tOpen - t0), writeMs: Math.round(tWrite - tOpen), verifyMs: Math.round(tVerify - tWrite) }) + '\n');
}

/** The plaintext `pass` would store: password on line 1, then key: value lines. */
function writePassPlain(dir: string, start: number, count: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = start; i < start + count; i++) {
    writeFileSync(join(dir, entryName(i)), `${entryPassword(i)}\nusername: ${entryUser(i)}\nurl: ${entryUrl(i)}\n`, { mode: 0o600 });
  }
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const uuid = () => Buffer.from(randomBytes(16)).toString('base64');

/** A KeePass 2 XML export holding the entries in the root group. */
function writeKeepassXml(file: string, start: number, count: number): void {
  const parts: string[] = [
    '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
    '<KeePassFile>',
    '<Meta><Generator>kpm-bench</Generator><DatabaseName>kpm bench</DatabaseName></Meta>',
    '<Root>',
    `<Group><UUID>${uuid()}</UUID><Name>Root</Name>`,
  ];
  const str = (k: string, v: string, protect = false) => `<String><Key>${k}</Key><Value${protect ? ' ProtectInMemory="True"' : ''}>${xmlEscape(v)}</Value></String>`;
  for (let i = start; i < start + count; i++) {
    parts.push(`<Entry><UUID>${uuid()}</UUID>${str('Title', entryName(i))}${str('UserName', entryUser(i))}${str('Password', entryPassword(i), true)}${str('URL', entryUrl(i))}${str('Notes', '')}</Entry>`);
  }
  parts.push('</Group>', '</Root>', '</KeePassFile>', '');
  writeFileSync(file, parts.join('\n'), { mode: 0o600 });
}

async function main(): Promise<void> {
  const [what, target] = process.argv.slice(2);
  const start = intArg('start', 0, 0);
  const count = intArg('count', 0, 0);
  if (what === 'kpm') return populateKpm(start, count, intArg('batch', 1000, 1), process.argv.includes('--exact'));
  if (what === 'pass-plain' && target) return writePassPlain(target, start, count);
  if (what === 'keepass-xml' && target) return writeKeepassXml(target, start, count);
  if (what === 'password' && target) {
    process.stdout.write(entryPassword(Number(target)) + '\n');
    return;
  }
  throw new Error('usage: populate.mjs kpm|pass-plain DIR|keepass-xml FILE|password I --count N [--start S]');
}

main().catch((e) => {
  process.stderr.write(`populate: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
