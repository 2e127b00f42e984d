// Email addresses: one normal form for storage and comparison, and a deliberately simple syntax check.

export const MAX_EMAIL_LENGTH = 254;

/** NFKC, trimmed, lower-cased: two spellings of one mailbox map to one account. */
export function normalizeEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase();
}

// local@domain.tld: no spaces or control characters, one @, a dot in the domain, a 2+ letter TLD.
const EMAIL = /^[^\s@\p{Cc}]{1,64}@(?=.{1,253}$)[^\s@\p{Cc}.]+(?:\.[^\s@\p{Cc}.]+)*\.[^\s@\p{Cc}.\d]{2,}$/u;

export function isValidEmail(normalized: string): boolean {
  return normalized.length <= MAX_EMAIL_LENGTH && EMAIL.test(normalized);
}
