import { describe, expect, it } from 'vitest';
import { Secret } from 'otpauth';
import { hotp, OtpParseError, parseOtpauthUri, totpAt, totpNow, type OtpAlgorithm } from '../../src/vault/totp.js';

const ascii = (s: string) => new TextEncoder().encode(s);

// RFC 4226 Appendix D: secret = ASCII "12345678901234567890", 6 digits, HMAC-SHA-1, counters 0..9.
const RFC4226_SECRET = ascii('12345678901234567890');
const RFC4226_HOTP = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

// RFC 6238 Appendix B (Table 1): T0 = 0, X = 30 s, 8 digits. The seed for each mode is the ASCII
// string "1234567890" repeated to 20 bytes (SHA1), 32 bytes (SHA256) and 64 bytes (SHA512).
const RFC6238_SEEDS: Record<OtpAlgorithm, Uint8Array> = {
  SHA1: ascii('12345678901234567890'),
  SHA256: ascii('12345678901234567890123456789012'),
  SHA512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};
const RFC6238_TABLE: [time: number, counterHex: string, totp: string, mode: OtpAlgorithm][] = [
  [59, '0000000000000001', '94287082', 'SHA1'],
  [59, '0000000000000001', '46119246', 'SHA256'],
  [59, '0000000000000001', '90693936', 'SHA512'],
  [1111111109, '00000000023523EC', '07081804', 'SHA1'],
  [1111111109, '00000000023523EC', '68084774', 'SHA256'],
  [1111111109, '00000000023523EC', '25091201', 'SHA512'],
  [1111111111, '00000000023523ED', '14050471', 'SHA1'],
  [1111111111, '00000000023523ED', '67062674', 'SHA256'],
  [1111111111, '00000000023523ED', '99943326', 'SHA512'],
  [1234567890, '000000000273EF07', '89005924', 'SHA1'],
  [1234567890, '000000000273EF07', '91819424', 'SHA256'],
  [1234567890, '000000000273EF07', '93441116', 'SHA512'],
  [2000000000, '0000000003F940AA', '69279037', 'SHA1'],
  [2000000000, '0000000003F940AA', '90698825', 'SHA256'],
  [2000000000, '0000000003F940AA', '38618901', 'SHA512'],
  [20000000000, '0000000027BC86AA', '65353130', 'SHA1'],
  [20000000000, '0000000027BC86AA', '77737706', 'SHA256'],
  [20000000000, '0000000027BC86AA', '47863826', 'SHA512'],
];

describe('R31: RFC 4226 Appendix D (HOTP)', () => {
  it.each(RFC4226_HOTP.map((code, counter) => [counter, code] as const))('R31: counter %i gives %s', (counter, code) => {
    expect(hotp(RFC4226_SECRET, counter, 6, 'SHA1')).toBe(code);
  });
});

describe('R31: RFC 6238 Appendix B (TOTP), all 18 rows', () => {
  it('R31: the table has 18 rows, 6 times for each of SHA1, SHA256 and SHA512', () => {
    expect(RFC6238_TABLE).toHaveLength(18);
    for (const mode of ['SHA1', 'SHA256', 'SHA512'] as const) expect(RFC6238_TABLE.filter((r) => r[3] === mode)).toHaveLength(6);
  });

  it.each(RFC6238_TABLE)('R31: time %i (T=%s) gives %s with %s', (time, counterHex, code, mode) => {
    expect(Math.floor(time / 30)).toBe(parseInt(counterHex, 16));
    expect(totpAt(RFC6238_SEEDS[mode], time, { digits: 8, period: 30, algorithm: mode })).toBe(code);
    // The same row through totpNow, at the start and the end of the row's 30 s window.
    const spec = { secret: RFC6238_SEEDS[mode], algorithm: mode, digits: 8, period: 30 };
    const start = Math.floor(time / 30) * 30;
    expect(totpNow(spec, start * 1000).code).toBe(code);
    expect(totpNow(spec, (start + 30) * 1000 - 1).code).toBe(code);
  });
});

describe('R31: totpNow', () => {
  const spec = parseOtpauthUri('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'); // base32 of "12345678901234567890"

  it('R31: reports the seconds left in the current step', () => {
    expect(totpNow(spec, 0)).toEqual({ code: '755224', secondsLeft: 30, period: 30 });
    expect(totpNow(spec, 29_001).secondsLeft).toBe(1);
    expect(totpNow(spec, 29_999).code).toBe('755224');
    expect(totpNow(spec, 30_000)).toEqual({ code: '287082', secondsLeft: 30, period: 30 });
    expect(totpNow(spec, 59_000).code).toBe(hotp(RFC4226_SECRET, 1));
  });
});

describe('R31: parseOtpauthUri', () => {
  const secret = Secret.fromLatin1('12345678901234567890').base32; // GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ

  it('R31: reads every field of a full otpauth://totp URI', () => {
    const uri = `otpauth://totp/Example%20Co:alice%40example.com?secret=${secret}&issuer=Example%20Co&algorithm=SHA256&digits=8&period=60`;
    const spec = parseOtpauthUri(uri);
    expect(Buffer.from(spec.secret).toString('latin1')).toBe('12345678901234567890');
    expect(spec).toMatchObject({ algorithm: 'SHA256', digits: 8, period: 60, issuer: 'Example Co', label: 'alice@example.com' });
  });

  it('R31: applies the defaults SHA1 / 6 digits / 30 s to a URI without them', () => {
    expect(parseOtpauthUri(`otpauth://totp/alice?secret=${secret}`)).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
  });

  it('R31: accepts a bare base32 secret (lower case, spaces, padding) as SHA1 / 6 digits / 30 s', () => {
    for (const bare of [secret, secret.toLowerCase(), 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq', 'JBSWY3DPEHPK3PXP', 'GEZDGNBVGY3TQOJQ======']) {
      const spec = parseOtpauthUri(bare);
      expect(spec).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
      expect(spec.secret.length).toBeGreaterThanOrEqual(10);
    }
    expect(totpNow(parseOtpauthUri(secret), 0).code).toBe('755224');
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['not base32!', /base32/],
    ['GEZDGNBV18', /base32/],
    ['GEZDGNBV', /at least 80/],
    ['otpauth://totp/alice', /malformed/],
    ['otpauth://totp/alice?issuer=x', /malformed/],
    [`otpauth://totp/alice?secret=0000`, /malformed/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=MD5', /malformed/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA3-256', /unsupported algorithm/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=4', /digits/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=x', /malformed/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=0', /malformed/],
    ['otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=86400', /period/],
    ['otpauth://hotp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1', /hotp/],
    ['otpauth://xotp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', /malformed/],
  ])('R31: rejects %j with a clear message', (input, message) => {
    expect(() => parseOtpauthUri(input)).toThrow(OtpParseError);
    expect(() => parseOtpauthUri(input)).toThrow(message);
  });
});
