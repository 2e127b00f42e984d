// The account-password rule of the original product (seed 001): at least 8 characters, a digit, a
// lowercase and an uppercase letter, no spaces; plus a list of common passwords (R26). Client and
// server run the same code. The password is NFKC-normalised first and never truncated.
// (NIST SP 800-63B-4 forbids composition rules; kpm keeps the product's rule on purpose, see
// docs/PROTOCOL.md "Account passwords".)

export const MIN_PASSWORD_LENGTH = 8;
/** Generous upper bound against abuse (Argon2 takes any length); 128-character passwords are fine. */
export const MAX_PASSWORD_LENGTH = 1024;

export type PasswordRule = 'length' | 'digit' | 'lowercase' | 'uppercase' | 'spaces' | 'too_long' | 'common';

export const RULE_TEXT: Record<PasswordRule, string> = {
  length: `at least ${MIN_PASSWORD_LENGTH} characters`,
  digit: 'at least one digit',
  lowercase: 'at least one lowercase letter',
  uppercase: 'at least one uppercase letter',
  spaces: 'no spaces',
  too_long: `at most ${MAX_PASSWORD_LENGTH} characters`,
  common: 'not one of the most common passwords',
};

export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** The rules a (normalised) password breaks, apart from the common-password list. */
export function passwordRuleProblems(normalized: string): PasswordRule[] {
  const problems: PasswordRule[] = [];
  const length = [...normalized].length;
  if (length < MIN_PASSWORD_LENGTH) problems.push('length');
  if (length > MAX_PASSWORD_LENGTH) problems.push('too_long');
  if (!/\p{Nd}/u.test(normalized)) problems.push('digit');
  if (!/\p{Ll}/u.test(normalized)) problems.push('lowercase');
  if (!/\p{Lu}/u.test(normalized)) problems.push('uppercase');
  if (/[\s\p{Zs}]/u.test(normalized)) problems.push('spaces');
  return problems;
}

let common: Set<string> | undefined;

/**
 * The ~30,000 most common passwords of zxcvbn's `passwords-common` dictionary
 * (@zxcvbn-ts/language-common, MIT; drawn from leaked-password corpora), compared case-insensitively,
 * so "Password1" counts as "password1". Loaded on first use only.
 */
export async function isCommonPassword(normalized: string): Promise<boolean> {
  if (!common) {
    // A CommonJS package: bundlers may hand it over as the namespace or as its default export.
    const mod = (await import('@zxcvbn-ts/language-common')) as { dictionary?: Record<string, unknown>; default?: { dictionary: Record<string, unknown> } };
    const dictionary = mod.dictionary ?? mod.default!.dictionary;
    common = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  }
  return common.has(normalized.toLowerCase());
}

/** Every rule the password breaks, the common list included. */
export async function passwordProblems(password: string): Promise<PasswordRule[]> {
  const normalized = normalizePassword(password);
  const problems = passwordRuleProblems(normalized);
  if (await isCommonPassword(normalized)) problems.push('common');
  return problems;
}

export function describeProblems(problems: PasswordRule[]): string {
  return `the account password must have ${problems.map((p) => RULE_TEXT[p]).join(', ')}`;
}
