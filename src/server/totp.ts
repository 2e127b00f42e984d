// TOTP for sign-in (RFC 6238: SHA-1, 6 digits, 30 s), on the `otpauth` package like the client's
// src/vault/totp.ts (the server may not import the vault layer). A code is accepted for steps t−1, t
// and t+1, and only for a step above the last accepted one, so each code works once (R32).
import { HOTP, Secret, TOTP } from 'otpauth';

export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
export const TOTP_SECRET_BYTES = 20; // 160 bits (RFC 4226 R6)
export const TOTP_WINDOW = 1;

export const stepAt = (nowMs: number): number => Math.floor(nowMs / 1000 / TOTP_PERIOD);

export function codeAt(secret: Uint8Array, step: number): string {
  return HOTP.generate({ secret: new Secret({ buffer: secret.slice().buffer }), counter: step, digits: TOTP_DIGITS, algorithm: 'SHA1' });
}

export const secretBase32 = (secret: Uint8Array): string => new Secret({ buffer: secret.slice().buffer }).base32;

export function otpauthUri(secret: Uint8Array, email: string): string {
  return new TOTP({ issuer: 'kpm', label: email, secret: new Secret({ buffer: secret.slice().buffer }), algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD }).toString();
}

/** The steps within the window whose code is `code`, highest first. */
export function matchingSteps(secret: Uint8Array, code: string, nowMs: number): number[] {
  const t = stepAt(nowMs);
  const steps: number[] = [];
  for (let s = t + TOTP_WINDOW; s >= t - TOTP_WINDOW; s--) if (codeAt(secret, s) === code) steps.push(s);
  return steps;
}
