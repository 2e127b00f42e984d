// The protected settings store (src/settings/): schema and typed values, the Argon2id verifier,
// the MAC and signature over the canonical settings, tamper cases (R37), the marker, the throttle.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KpmError, EXIT } from '../../src/core/errors.js';
import { resolvePaths, type KpmPaths } from '../../src/core/paths.js';
import { fromBase64, toBase64 } from '../../src/crypto/bytes.js';
import {
  allowedText, checkValue, DEFAULT_SETTINGS, effectiveFlat, getPath, parseValue, problemsOf, SETTINGS, SETTING_KEYS,
  settingsTableRows, specFor, toCoreSettings, validSubset, withPath,
} from '../../src/settings/schema.js';
import { checkVerifier, createVerifier, parseVerifier, VerifierFormatError } from '../../src/settings/verifier.js';
import {
  canonicalJson, createProtection, openSigner, PROTECTION_KEY, recordProblem, resign, signedBody, verifyState, wipeSigner,
  type ProtectionRecord,
} from '../../src/settings/protection.js';
import { generateSigningKey, publicKeyOf, signBytes, verifyBytes } from '../../src/crypto/ed25519.js';
import { readMarker, readState, writeMarker } from '../../src/settings/state.js';
import { delayAfter, readThrottle, recordFailure, recordSuccess, reserveAttempt } from '../../src/settings/throttle.js';
import { commitSettings, loadState } from '../../src/settings/store.js';
import { loadSettings } from '../../src/settings/load.js';

const PW = 'settings password 42';
const WHERE = '/x/config.json';

function exitOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof KpmError) return e.exitCode;
    throw e;
  }
  return undefined;
}

const tmpRoots: string[] = [];
function tmpPaths(): KpmPaths {
  const home = fs.mkdtempSync(join(os.tmpdir(), 'kpm-unit-settings-'));
  tmpRoots.push(home);
  return resolvePaths({ KPM_HOME: home });
}
afterAll(() => {
  for (const r of tmpRoots) fs.rmSync(r, { recursive: true, force: true });
});

describe('settings schema', () => {
  it('has the documented keys and defaults', () => {
    expect(effectiveFlat({})).toEqual({
      server: null, autolock: 15, clipboard_clear: 30, 'generator.length': 20, 'generator.symbols': true, 'generator.words': 6,
      sync: 'auto', default_vault: 'Personal', color: 'auto',
      audit_min_score: 3, audit_max_age_days: 365, 'history.keep': 20, 'trash.days': 30, hibp_url: 'https://api.pwnedpasswords.com',
      'share.require_verified': false,
    });
    expect(DEFAULT_SETTINGS.generator).toEqual({ length: 20, symbols: true, words: 6 });
    expect((DEFAULT_SETTINGS as unknown as Record<string, unknown>).security_check).toBeUndefined();
  });

  it('docs/SETTINGS.md shows the table of src/settings/schema.ts', () => {
    const doc = fs.readFileSync(new URL('../../docs/SETTINGS.md', import.meta.url), 'utf8');
    for (const row of settingsTableRows()) expect(doc).toContain(row);
  });

  it('R37: no key can name a command, hook, script or export target, and every key is a plain typed value', () => {
    for (const s of SETTINGS) {
      expect(s.key).not.toMatch(/hook|command|cmd|exec|script|shell|export|plugin|path|editor/i);
      expect(['int', 'bool', 'enum', 'url', 'name']).toContain(s.kind);
    }
  });

  it('parses typed values and names the allowed values in errors (exit 2)', () => {
    expect(parseValue('autolock', '0')).toBe(0);
    expect(parseValue('generator.symbols', 'false')).toBe(false);
    expect(parseValue('sync', 'manual')).toBe('manual');
    expect(parseValue('server', 'http://127.0.0.1:8443')).toBe('http://127.0.0.1:8443');
    expect(parseValue('default_vault', '  Work ')).toBe('Work');
    const bad: [string, string, RegExp][] = [
      ['autolock', '1.5', /whole number from 0 to 10080/],
      ['autolock', '', /whole number/],
      ['autolock', '10081', /from 0 to 10080/],
      ['generator.symbols', 'TRUE', /true or false/],
      ['color', 'pink', /one of: auto, always, never/],
      ['server', 'http://example.org', /https:\/\/ URL/],
      ['server', 'https://user:pw@example.org', /https:\/\/ URL/],
      ['default_vault', '\u0007', /vault name/],
      ['nope', '1', /unknown setting "nope"; the settings are: server, autolock/],
    ];
    for (const [k, v, msg] of bad) {
      try {
        parseValue(k, v);
        expect.unreachable(`${k}=${v}`);
      } catch (e) {
        expect(e).toBeInstanceOf(KpmError);
        expect((e as KpmError).exitCode).toBe(EXIT.usage);
        expect((e as KpmError).message).toMatch(msg);
      }
    }
    expect(allowedText(specFor('sync'))).toBe('one of: auto, manual');
  });

  it('keeps dotted keys in nested objects and finds unknown or invalid keys at any level', () => {
    let v = withPath({}, 'generator.length', 30);
    v = withPath(v, 'autolock', 5);
    expect(v).toEqual({ generator: { length: 30 }, autolock: 5 });
    expect(getPath(v, 'generator.length')).toBe(30);
    expect(withPath(v, 'generator.length', undefined)).toEqual({ autolock: 5 });
    expect(toCoreSettings(v).generator).toEqual({ length: 30, symbols: true, words: 6 });
    const bad = { ...v, hooks: { post: 'x' }, generator: { length: 30, command: 'y' }, sync: 'weekly', __proto__x: 1 };
    expect(problemsOf(bad).sort()).toEqual(['unknown setting "generator.command"', 'sync must be one of: auto, manual', 'unknown setting "hooks"', 'unknown setting "__proto__x"'].sort());
    expect(validSubset(bad)).toEqual({ generator: { length: 30 }, autolock: 5 });
    expect(problemsOf(JSON.parse('{"__proto__": {"autolock": 1}}'))).toEqual(['unknown setting "__proto__"']);
    expect(checkValue(specFor('autolock'), 5.5)).toMatch(/whole number/);
    expect(SETTING_KEYS).toContain('generator.words');
  });

  it('the retired security_check.* keys (nothing on the client could act on them) are ignored in an old file, refused by config set', () => {
    expect(SETTING_KEYS).not.toContain('security_check.threshold');
    const old = { autolock: 5, security_check: { threshold: 5, window_minutes: 15 } };
    expect(problemsOf(old)).toEqual([]);
    expect(validSubset(old)).toEqual({ autolock: 5 });
    expect((toCoreSettings(old) as unknown as Record<string, unknown>).security_check).toBeUndefined();
    expect(() => parseValue('security_check.threshold', '5')).toThrow(/was removed: the sync server decides/);
    expect(problemsOf({ security_check: { threshold: 5, other: 1 } })).toEqual(['unknown setting "security_check.other"']);
  });
});

describe('canonical form and signatures', () => {
  it('canonical JSON does not depend on key order or whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: true, c: 'x' } })).toBe('{"a":{"c":"x","d":true},"b":1}');
    expect(canonicalJson(JSON.parse('{ "a": {"c":"x", "d":true}, "b" : 1 }'))).toBe(canonicalJson({ b: 1, a: { d: true, c: 'x' } }));
  });

  it('Ed25519 through node:crypto signs and verifies; another key or message fails', () => {
    const { seed, publicKey } = generateSigningKey();
    expect(seed.length).toBe(32);
    expect(publicKeyOf(seed)).toEqual(publicKey);
    const sig = signBytes(seed, new Uint8Array([1, 2, 3]));
    expect(verifyBytes(publicKey, new Uint8Array([1, 2, 3]), sig)).toBe(true);
    expect(verifyBytes(publicKey, new Uint8Array([1, 2, 4]), sig)).toBe(false);
    expect(verifyBytes(generateSigningKey().publicKey, new Uint8Array([1, 2, 3]), sig)).toBe(false);
    expect(verifyBytes(publicKey, new Uint8Array([1, 2, 3]), sig.subarray(1))).toBe(false);
  });
});

describe('settings password verifier', () => {
  it('is a PHC-like Argon2id record with a fresh salt and the default parameters; checks in constant time', async () => {
    const a = await createVerifier(PW);
    const b = await createVerifier(PW);
    expect(a.phc).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(a.phc).not.toBe(b.phc); // salts differ
    expect(parseVerifier(a.phc).salt.length).toBe(16);
    const ok = await checkVerifier(a.phc, PW);
    expect(ok?.macKey).toEqual(a.keys.macKey);
    expect(ok?.macKey).not.toEqual(ok?.wrapKey);
    expect(await checkVerifier(a.phc, PW + ' ')).toBeNull();
  });

  it('refuses parameters below the floor (m=19456, t=2, p=1) before running the KDF', () => {
    const good = '$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA==$' + toBase64(new Uint8Array(32));
    expect(() => parseVerifier(good)).not.toThrow();
    expect(() => parseVerifier(good.replace('m=65536', 'm=1024'))).toThrow(VerifierFormatError);
    expect(() => parseVerifier(good.replace('t=3', 't=1'))).toThrow(VerifierFormatError);
    expect(() => parseVerifier(good.replace('AAAAAAAAAAAAAAAAAAAAAA==', 'AAAA'))).toThrow(VerifierFormatError);
    expect(() => parseVerifier(good.replace('argon2id', 'argon2i'))).toThrow(VerifierFormatError);
  });
});

describe('protection record: MAC, signature, marker', () => {
  const values = { autolock: 20, generator: { length: 32 } };
  let record: ProtectionRecord;
  let marker: Uint8Array;
  const file = (v: Record<string, unknown> = values, r: unknown = record) => ({ ...v, [PROTECTION_KEY]: r });

  beforeAll(async () => {
    const created = await createProtection(values, PW, 'separate');
    record = created.record;
    wipeSigner(created.signer);
    marker = fromBase64(record.publicKey);
  });

  it('verifies without any password, and covers every value and field of the record', () => {
    const st = verifyState(WHERE, file(), marker);
    expect(st.values).toEqual(values);
    expect(st.record).toEqual(record);
    expect(recordProblem(record)).toBeNull();
    expect(JSON.stringify(record)).not.toContain(PW);
  });

  const tamperCases: [string, () => unknown, Uint8Array | undefined | 'marker'][] = [
    ['a changed value', () => file({ ...values, autolock: 0 }), 'marker'],
    ['a removed value (back to its default)', () => file({ autolock: 20 }), 'marker'],
    ['R37: added unknown key "hooks"', () => file({ ...values, hooks: { 'post-unlock': 'sh -c evil' } }), 'marker'],
    ['R37: added unknown key "export"', () => file({ ...values, export: { path: '/tmp/x.csv' } }), 'marker'],
    ['R37: added unknown key "command"', () => file({ ...values, command: 'id' }), 'marker'],
    ['a changed record field (source)', () => file(values, { ...record, source: 'master' }), 'marker'],
    ['a weaker verifier', () => file(values, { ...record, verifier: record.verifier.replace('m=65536,t=3', 'm=19456,t=2') }), 'marker'],
    ['the protection record removed', () => values, 'marker'],
    ['the protection marker removed', () => file(), undefined],
    ['the file removed', () => undefined, 'marker'],
    ['another public key in the marker', () => file(), generateSigningKey().publicKey],
    ['an extra field in the record', () => file(values, { ...record, hooks: 'x' }), 'marker'],
    ['not an object', () => [values], 'marker'],
  ];
  for (const [name, make, m] of tamperCases) {
    it(`${name} → exit 8 (tampered) with the recovery hint`, () => {
      const mk = m === 'marker' ? marker : m;
      try {
        verifyState(WHERE, make(), mk);
        expect.unreachable(name);
      } catch (e) {
        expect(e).toBeInstanceOf(KpmError);
        expect((e as KpmError).exitCode).toBe(EXIT.corrupt);
        expect((e as KpmError).message).toMatch(/failed verification/);
        expect((e as KpmError).hint).toMatch(/kpm settings recover/);
      }
    });
  }

  it('an unprotected file with unknown keys or bad values is refused too (exit 8), naming them', () => {
    expect(verifyState(WHERE, { autolock: 3 }, undefined).record).toBeNull();
    expect(verifyState(WHERE, undefined, undefined).values).toEqual({});
    try {
      verifyState(WHERE, { hooks: {}, autolock: -1 }, undefined);
      expect.unreachable();
    } catch (e) {
      expect((e as KpmError).exitCode).toBe(EXIT.corrupt);
      expect((e as KpmError).message).toMatch(/unknown setting "hooks"; autolock must be/);
    }
    // the guard only asks "protected?" and does not check values
    expect(verifyState(WHERE, { hooks: {} }, undefined, false).record).toBeNull();
  });

  it('the password opens the signer; a wrong one gives null; the signer re-signs changed values', async () => {
    expect(await openSigner(WHERE, values, record, 'wrong password')).toBeNull();
    const s = (await openSigner(WHERE, values, record, PW))!;
    expect(s.publicKey).toEqual(marker);
    const next = withPath(values, 'sync', 'manual');
    const r2 = resign(next, record, s);
    expect(verifyState(WHERE, file(next, r2), marker).values).toEqual(next);
    // the old signature does not cover the new values
    expect(exitOf(() => verifyState(WHERE, file(next, record), marker))).toBe(EXIT.corrupt);
    wipeSigner(s);
    expect(s.seed.every((b) => b === 0)).toBe(true);
  });

  it('an attacker who swaps in their own key pair (file and marker) passes the readers, but the MAC catches it at the next password entry', async () => {
    // Residual risk, documented in docs/SETTINGS.md: with write access to both files, an attacker
    // can re-sign with a key of their own. They cannot produce the MAC, which needs the password.
    const evil = generateSigningKey();
    const changed = { ...values, autolock: 0 };
    const forged = { ...record, publicKey: toBase64(evil.publicKey) };
    const body = signedBody(changed, forged);
    const forgedRecord = { ...forged, signature: toBase64(signBytes(evil.seed, body)) };
    expect(verifyState(WHERE, file(changed, forgedRecord), evil.publicKey).values).toEqual(changed);
    await expect(openSigner(WHERE, changed, forgedRecord, PW)).rejects.toMatchObject({ exitCode: EXIT.corrupt, message: expect.stringMatching(/MAC/) });
  });

  it('the sealed signing key is bound to its public key', async () => {
    const other = await createProtection(values, PW, 'separate');
    // keep our verifier and MAC key, graft the other record's sealed key: it does not open under our key
    const grafted = { ...record, signingKey: other.record.signingKey };
    await expect(openSigner(WHERE, values, grafted, PW)).rejects.toMatchObject({ exitCode: EXIT.corrupt });
    wipeSigner(other.signer);
  });
});

describe('files: marker, state, conf store, throttle', () => {
  it('commitSettings writes config.json (0600, through conf) and the marker; loadState and loadSettings verify them', async () => {
    const paths = tmpPaths();
    expect((await loadState(paths)).exists).toBe(false);
    await commitSettings(paths, (cur) => ({ values: withPath(cur.values, 'autolock', 5), record: null }));
    expect(fs.statSync(join(paths.config, 'config.json')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(paths.config).mode & 0o777).toBe(0o700);
    expect((await loadSettings(paths)).autolock).toBe(5);
    const { record, signer } = await createProtection({ autolock: 5 }, PW, 'separate');
    await commitSettings(paths, (cur) => ({ values: cur.values, record: resign(cur.values, record, signer) }));
    expect(readMarker(paths)).toEqual(signer.publicKey);
    expect(fs.statSync(join(paths.data, 'settings.lock')).mode & 0o777).toBe(0o600);
    expect(readState(paths).record?.publicKey).toBe(record.publicKey);
    const loaded = await loadSettings(paths);
    expect(loaded.autolock).toBe(5);
    expect(loaded.hibp_url).toBe('https://api.pwnedpasswords.com');
    // hand edit → loadSettings (conf) refuses with exit 8
    const cfg = JSON.parse(fs.readFileSync(join(paths.config, 'config.json'), 'utf8'));
    fs.writeFileSync(join(paths.config, 'config.json'), JSON.stringify({ ...cfg, autolock: 0 }));
    await expect(loadSettings(paths)).rejects.toMatchObject({ exitCode: EXIT.corrupt });
    // a damaged marker is exit 8 as well
    fs.writeFileSync(join(paths.config, 'config.json'), JSON.stringify(cfg));
    fs.writeFileSync(join(paths.data, 'settings.lock'), '{"version":1}');
    expect(exitOf(() => readState(paths))).toBe(EXIT.corrupt);
    writeMarker(paths, signer.publicKey);
    expect(readState(paths).values).toEqual({ autolock: 5 });
    wipeSigner(signer);
  });

  it('conf refuses unknown keys in an unprotected file with exit 8', async () => {
    const paths = tmpPaths();
    fs.mkdirSync(paths.config, { recursive: true });
    fs.writeFileSync(join(paths.config, 'config.json'), JSON.stringify({ command: 'id' }));
    await expect(loadState(paths)).rejects.toMatchObject({ exitCode: EXIT.corrupt, message: expect.stringMatching(/unknown setting "command"/) });
  });

  it('throttle: free tries, then 1 s, 2 s, 4 s … up to 60 s, persisted in a 0600 file; success resets it', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 9, 10, 50].map(delayAfter)).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 60000, 60000, 60000]);
    const paths = tmpPaths();
    let now = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(reserveAttempt(paths, now).waitMs).toBe(0);
      recordFailure(paths, now);
      now += 10;
    }
    expect(fs.statSync(join(paths.data, 'settings.throttle')).mode & 0o777).toBe(0o600);
    // a new "run" reads the persisted state: the 4th try waits 1 s after the 3rd failure
    expect(readThrottle(paths).failures).toBe(3);
    let r = reserveAttempt(paths, now);
    expect(r).toEqual({ waitMs: 1000 - 10, failuresBefore: 3 });
    now += r.waitMs;
    recordFailure(paths, now);
    r = reserveAttempt(paths, now + 5);
    expect(r).toEqual({ waitMs: 2000 - 5, failuresBefore: 4 });
    // an attempt killed during the check is already counted; parallel attempts get successive slots
    const p = reserveAttempt(paths, now + 5);
    expect(p.failuresBefore).toBe(5);
    expect(p.waitMs).toBeGreaterThan(r.waitMs);
    recordSuccess(paths);
    expect(readThrottle(paths)).toEqual({ failures: 0, nextAt: 0 });
  });

  it('a damaged throttle file counts as the free tries used up, not as a fresh start', () => {
    const paths = tmpPaths();
    fs.mkdirSync(paths.data, { recursive: true });
    fs.writeFileSync(join(paths.data, 'settings.throttle'), 'garbage');
    expect(readThrottle(paths).failures).toBe(3);
  });
});
