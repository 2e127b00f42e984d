// TOTP settings as other password managers store them, turned into an otpauth:// URI kpm reads.
//   KeePassXC:         "otp" = otpauth://totp/…  (also KeeOtp's "key=…&step=…&size=…&otpHashMode=…")
//   KeePassXC (old) / KeeTrayTOTP: "TOTP Seed" = base32, "TOTP Settings" = "PERIOD;DIGITS" (DIGITS "S": Steam)
//   KeePass 2.47+:     "TimeOtp-Secret" (UTF-8) | "-Hex" | "-Base32" | "-Base64", "TimeOtp-Length",
//                      "TimeOtp-Period", "TimeOtp-Algorithm" (HMAC-SHA-1 | HMAC-SHA-256 | HMAC-SHA-512)
import { Secret } from 'otpauth';
import { parseOtpauthUri } from '../vault/totp.js';

export interface OtpResult {
  /** the otpauth:// URI, when kpm can compute the codes */
  uri?: string;
  /** the keys the TOTP was read from (not to be kept as custom fields as well) */
  used: string[];
  /** why the TOTP could not be converted (the keys are then kept as custom fields) */
  problem?: string;
}

const base32 = (bytes: Uint8Array): string => new Secret({ buffer: bytes.slice().buffer }).base32;

function algorithmName(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const a = v.toUpperCase().replace(/^HMAC-?/, '').replace(/-/g, '');
  return ['SHA1', 'SHA256', 'SHA512'].includes(a) ? a : undefined;
}

export function buildOtpUri(label: string, secretBase32: string, o: { period?: string | number; digits?: string | number; algorithm?: string } = {}): string {
  const q = new URLSearchParams({ secret: secretBase32.replace(/[\s=]+/g, '').toUpperCase() });
  if (o.algorithm && o.algorithm !== 'SHA1') q.set('algorithm', o.algorithm);
  if (o.digits !== undefined && String(o.digits) !== '6') q.set('digits', String(o.digits));
  if (o.period !== undefined && String(o.period) !== '30') q.set('period', String(o.period));
  return `otpauth://totp/${encodeURIComponent(label || 'kpm')}?${q}`;
}

/** The URI if kpm can compute codes from it, else a reason. */
function checked(uri: string, used: string[]): OtpResult {
  try {
    parseOtpauthUri(uri);
    return { uri, used };
  } catch (e) {
    return { used: [], problem: (e as Error).message };
  }
}

function decodeSecret(kind: string, v: string): Uint8Array | undefined {
  const t = v.trim();
  if (kind === 'TimeOtp-Secret') return new TextEncoder().encode(v);
  if (kind === 'TimeOtp-Secret-Hex') {
    const h = t.replace(/\s+/g, '');
    return /^([0-9a-f]{2})+$/i.test(h) ? new Uint8Array(Buffer.from(h, 'hex')) : undefined;
  }
  if (kind === 'TimeOtp-Secret-Base64') return /^[A-Za-z0-9+/\s]+=*$/.test(t) ? new Uint8Array(Buffer.from(t, 'base64')) : undefined;
  return undefined;
}

/** The TOTP of a KeePass / KeePassXC entry from its strings (keys as in the file). */
export function keepassOtp(strings: Map<string, string>, title: string): OtpResult | undefined {
  const get = (k: string) => {
    for (const [key, v] of strings) if (key.toLowerCase() === k.toLowerCase()) return { key, v };
    return undefined;
  };
  const otp = get('otp');
  if (otp && otp.v.trim()) {
    const v = otp.v.trim();
    if (/^otpauth:/i.test(v)) return checked(v, [otp.key]);
    if (/(^|&)key=/.test(v)) {
      // KeeOtp: key=BASE32&step=30&size=6&otpHashMode=Sha256 (type=Totp by default)
      const q = new URLSearchParams(v);
      if ((q.get('type') ?? 'totp').toLowerCase() !== 'totp') return { used: [], problem: `the OTP type "${q.get('type')}" is not TOTP` };
      const algorithm = algorithmName(q.get('otpHashMode') ?? undefined);
      if (q.get('otpHashMode') && !algorithm) return { used: [], problem: `unknown hash "${q.get('otpHashMode')}"` };
      return checked(buildOtpUri(title, q.get('key') ?? '', { period: q.get('step') ?? undefined, digits: q.get('size') ?? undefined, algorithm }), [otp.key]);
    }
    return checked(v, [otp.key]); // a bare base32 secret
  }
  const seed = get('TOTP Seed');
  if (seed && seed.v.trim()) {
    const settings = get('TOTP Settings');
    const used = [seed.key, ...(settings ? [settings.key] : [])];
    let period: string | undefined, digits: string | undefined;
    if (settings && settings.v.trim()) {
      const [p, d] = settings.v.trim().split(';').map((x) => x.trim());
      if (d === 'S') return { used: [], problem: 'Steam codes ("TOTP Settings" digits "S") are not supported by kpm' };
      period = p || undefined;
      digits = d || undefined;
    }
    const s = seed.v.trim();
    if (/^otpauth:/i.test(s)) return checked(s, used);
    return checked(buildOtpUri(title, s, { period, digits }), used);
  }
  const kinds = ['TimeOtp-Secret-Base32', 'TimeOtp-Secret-Hex', 'TimeOtp-Secret-Base64', 'TimeOtp-Secret'];
  const secret = kinds.map(get).find((x) => x && x.v !== '');
  if (!secret) return undefined;
  const used = ['TimeOtp-Length', 'TimeOtp-Period', 'TimeOtp-Algorithm'].map(get).filter((x) => x !== undefined).map((x) => x!.key);
  used.unshift(secret.key);
  const alg = get('TimeOtp-Algorithm')?.v;
  const algorithm = algorithmName(alg);
  if (alg && !algorithm) return { used: [], problem: `unknown TimeOtp-Algorithm "${alg}"` };
  const canonical = kinds.find((k) => k.toLowerCase() === secret.key.toLowerCase())!;
  let b32: string;
  if (canonical === 'TimeOtp-Secret-Base32') b32 = secret.v;
  else {
    const bytes = decodeSecret(canonical, secret.v);
    if (!bytes) return { used: [], problem: `${secret.key} is not valid` };
    b32 = base32(bytes);
  }
  return checked(buildOtpUri(title, b32, { period: get('TimeOtp-Period')?.v.trim() || undefined, digits: get('TimeOtp-Length')?.v.trim() || undefined, algorithm }), used);
}
