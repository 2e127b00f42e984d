// TOTP (RFC 6238) and HOTP (RFC 4226) codes for entries, built on the `otpauth` package.
// Parses otpauth://totp/ URIs (Google Authenticator key-URI format) or a bare base32 secret.
import { HOTP, Secret, URI, TOTP } from 'otpauth';

export type OtpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpSpec {
  secret: Uint8Array;
  algorithm: OtpAlgorithm;
  digits: number;
  /** time step in seconds */
  period: number;
  issuer?: string;
  label?: string;
}

export interface TotpCode {
  code: string;
  /** whole seconds until the code changes, 1..period */
  secondsLeft: number;
  period: number;
}

export const TOTP_DEFAULTS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** 80 bits: the shortest secret common issuers use (RFC 4226 R6 asks for ≥ 128, recommends 160). */
export const MIN_SECRET_BYTES = 10;
export const MIN_DIGITS = 6;
export const MAX_DIGITS = 8;
export const MAX_PERIOD = 3600;

const ALGORITHMS: readonly OtpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];
const BASE32 = /^[A-Z2-7]+=*$/;

export class OtpParseError extends Error {}

function fail(message: string): never {
  throw new OtpParseError(`invalid TOTP secret: ${message}`);
}

function checkAlgorithm(value: string): OtpAlgorithm {
  const upper = value.toUpperCase().replace('-', '');
  if (!(ALGORITHMS as readonly string[]).includes(upper)) fail(`unsupported algorithm "${value}" (use SHA1, SHA256 or SHA512)`);
  return upper as OtpAlgorithm;
}

function checkDigits(digits: number): number {
  if (!Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) {
    fail(`digits must be an integer from ${MIN_DIGITS} to ${MAX_DIGITS}, got ${digits}`);
  }
  return digits;
}

function checkPeriod(period: number): number {
  if (!Number.isInteger(period) || period < 1 || period > MAX_PERIOD) {
    fail(`period must be an integer from 1 to ${MAX_PERIOD} seconds, got ${period}`);
  }
  return period;
}

function checkSecret(bytes: Uint8Array): Uint8Array {
  if (bytes.length < MIN_SECRET_BYTES) {
    fail(`secret is ${bytes.length * 8} bits; at least ${MIN_SECRET_BYTES * 8} are required`);
  }
  return bytes;
}

function decodeBase32(text: string): Uint8Array {
  const cleaned = text.replace(/\s+/g, '').toUpperCase();
  if (cleaned === '') fail('secret is empty');
  if (!BASE32.test(cleaned)) fail('secret is not base32 (letters A–Z and digits 2–7)');
  return new Uint8Array(Secret.fromBase32(cleaned).bytes);
}

/**
 * Parses `otpauth://totp/LABEL?secret=…&issuer=…&algorithm=…&digits=…&period=…` or a bare base32
 * secret (which means SHA1, 6 digits, 30 s). Throws OtpParseError with a one-line message otherwise.
 */
export function parseOtpauthUri(input: string): TotpSpec {
  const text = input.trim();
  if (!/^otpauth:/i.test(text)) {
    return { secret: checkSecret(decodeBase32(text)), ...TOTP_DEFAULTS };
  }
  if (/^otpauth:\/\/hotp\//i.test(text)) fail('otpauth://hotp/ (counter-based) URIs are not supported; only otpauth://totp/');
  let otp: HOTP | TOTP;
  try {
    otp = URI.parse(text);
  } catch (err) {
    fail(`malformed otpauth URI (${(err as Error).message})`);
  }
  if (!(otp instanceof TOTP)) fail('only otpauth://totp/ URIs are supported');
  const spec: TotpSpec = {
    secret: checkSecret(new Uint8Array(otp.secret.bytes)),
    algorithm: checkAlgorithm(otp.algorithm),
    digits: checkDigits(otp.digits),
    period: checkPeriod(otp.period),
  };
  if (otp.issuer) spec.issuer = otp.issuer;
  if (otp.label) spec.label = otp.label;
  return spec;
}

/** HOTP(K, C) per RFC 4226 §5.3, zero-padded to `digits`. */
export function hotp(secretBytes: Uint8Array, counter: number, digits: number = TOTP_DEFAULTS.digits, algorithm: OtpAlgorithm = 'SHA1'): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('HOTP counter must be a non-negative integer');
  if (!Number.isInteger(digits) || digits < 1 || digits > 10) throw new RangeError('HOTP digits must be an integer from 1 to 10');
  const secret = new Secret({ buffer: secretBytes.slice().buffer });
  return HOTP.generate({ secret, algorithm: checkAlgorithm(algorithm), digits, counter });
}

/** TOTP at a Unix time in seconds (RFC 6238 §4: T = floor(time / period), T0 = 0). */
export function totpAt(
  secretBytes: Uint8Array,
  timeSeconds: number,
  opts: { digits?: number; period?: number; algorithm?: OtpAlgorithm } = {},
): string {
  const period = opts.period ?? TOTP_DEFAULTS.period;
  if (!Number.isInteger(period) || period < 1) throw new RangeError('TOTP period must be a positive integer');
  if (!Number.isFinite(timeSeconds) || timeSeconds < 0) throw new RangeError('TOTP time must be a non-negative number');
  return hotp(secretBytes, Math.floor(timeSeconds / period), opts.digits ?? TOTP_DEFAULTS.digits, opts.algorithm ?? 'SHA1');
}

/** The current code for `spec` and how long it stays valid. */
export function totpNow(spec: TotpSpec, nowMs: number = Date.now()): TotpCode {
  const periodMs = spec.period * 1000;
  const code = totpAt(spec.secret, Math.floor(nowMs / 1000), spec);
  const secondsLeft = Math.ceil((periodMs - (nowMs % periodMs)) / 1000);
  return { code, secondsLeft, period: spec.period };
}
