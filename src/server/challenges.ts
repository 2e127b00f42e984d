// Security-check challenges: each has a captcha (answer sealed with the server key) and, when the
// server allows it, a proof-of-work puzzle. A challenge is stored in the database (any instance can
// check it), expires, and can be used once, whether the solution was right or not.
import type { ChallengeSolutionT, ChallengeT } from '../protocol/schemas.js';
import { powValid } from '../protocol/pow.js';
import { utf8, decodeUtf8 } from '../crypto/bytes.js';
import { type ServerContext, iso } from './context.js';
import { newId, safeEqual } from './tokens.js';
import { CAPTCHA_LENGTH, captchaLines, captchaPng, captchaSvg, newCaptchaAnswer } from './captcha.js';

export async function newChallenge(ctx: ServerContext): Promise<ChallengeT> {
  const id = newId(12);
  const answer = newCaptchaAnswer();
  const bits = ctx.settings.check.powBits;
  const salt = bits > 0 ? newId(16) : null;
  const expiresAt = ctx.now() + ctx.settings.challengeTtlMs;
  await ctx.db
    .insertInto('challenges')
    .values({ id, answer_enc: ctx.keys.seal('captcha', id, utf8.encode(answer)), pow_salt: salt, pow_bits: bits, expires_at: expiresAt, used_at: null })
    .execute();
  const challenge: ChallengeT = { id, expiresAt: iso(expiresAt), captcha: { lines: captchaLines(answer), length: CAPTCHA_LENGTH } };
  if (salt) challenge.pow = { salt, bits };
  return challenge;
}

/** The captcha of an open challenge as an image, or null when it is unknown, used or expired. */
export async function captchaImage(ctx: ServerContext, id: string, format: 'svg' | 'png'): Promise<string | Buffer | null> {
  const row = await ctx.db.selectFrom('challenges').select(['answer_enc']).where('id', '=', id).where('used_at', 'is', null).where('expires_at', '>', ctx.now()).executeTakeFirst();
  if (!row) return null;
  const answer = decodeUtf8(ctx.keys.open('captcha', id, row.answer_enc));
  return format === 'svg' ? captchaSvg(answer) : captchaPng(answer);
}

export const normalizeAnswer = (a: string): string => a.replace(/\s+/g, '').toUpperCase();

/** Consumes the challenge and tells whether the solution solves it. */
export async function checkSolution(ctx: ServerContext, sol: ChallengeSolutionT): Promise<boolean> {
  const now = ctx.now();
  const res = await ctx.db.updateTable('challenges').set({ used_at: now }).where('id', '=', sol.id).where('used_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  const row = await ctx.db.selectFrom('challenges').selectAll().where('id', '=', sol.id).executeTakeFirstOrThrow();
  if (sol.nonce !== undefined && row.pow_salt && row.pow_bits > 0 && row.pow_bits === ctx.settings.check.powBits) {
    return powValid(row.pow_salt, sol.nonce, row.pow_bits);
  }
  if (sol.answer !== undefined) {
    const answer = decodeUtf8(ctx.keys.open('captcha', sol.id, row.answer_enc));
    return safeEqual(normalizeAnswer(sol.answer), answer);
  }
  return false;
}
