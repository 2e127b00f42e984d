// The server's security check (R27): a proof-of-work puzzle solved here, or a captcha typed at a
// terminal (optionally also written as an image with --captcha-file).
import type { Command } from 'commander';
import type { ChallengeSolutionT, ChallengeT } from '../../../protocol/schemas.js';
import { info } from '../../io.js';
import { askText } from '../../prompt.js';
import { http, type Api } from './connect.js';
import { needTerminal } from './input.js';

export interface CheckFlags {
  pow?: boolean;
  captchaFile?: string;
}

export function checkOptions(cmd: Command): Command {
  return cmd
    .option('--no-pow', 'do not solve proof-of-work challenges automatically (ask for the captcha instead)')
    .option('--captcha-file <file>', 'also write the captcha as an image (.svg or .png) when the security check asks for one');
}

const MAX_POW_BITS = 24;

async function solveChallenge(api: Api, c: ChallengeT, o: CheckFlags): Promise<ChallengeSolutionT> {
  if (c.pow && o.pow !== false && c.pow.bits <= MAX_POW_BITS) {
    info('Security check: solving a proof-of-work puzzle…');
    const { solvePow } = await import('../../../protocol/pow.js');
    const nonce = solvePow(c.pow.salt, c.pow.bits);
    if (nonce !== null) return { id: c.id, nonce };
  }
  needTerminal('a security check (captcha)', 'run the command on a terminal, or let kpm solve the proof of work (without --no-pow)');
  if (o.captchaFile) {
    const format = o.captchaFile.toLowerCase().endsWith('.png') ? 'png' : 'svg';
    const image = await api.download(`/v1/challenges/${c.id}/captcha.${format}`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(o.captchaFile, image, { mode: 0o600 });
    info(`The captcha is also in ${o.captchaFile}.`);
  }
  info(`Security check: type the ${c.captcha.length} characters below.\n\n${c.captcha.lines.join('\n')}\n`);
  return { id: c.id, answer: await askText('Characters') };
}

/** Runs `attempt`, solving the server's security check when it asks for one. */
export async function withSecurityCheck<T>(api: Api, o: CheckFlags, attempt: (s?: ChallengeSolutionT) => Promise<T>): Promise<T> {
  const { ServerError } = await http();
  let solution: ChallengeSolutionT | undefined;
  for (let round = 0; ; round++) {
    try {
      return await attempt(solution);
    } catch (e) {
      if (!(e instanceof ServerError) || !e.body.challenge || round >= 4) throw e;
      if (e.code !== 'challenge_required' && e.code !== 'challenge_failed') throw e;
      if (e.code === 'challenge_failed') info('That was not right; here is a new one.');
      solution = await solveChallenge(api, e.body.challenge, o);
    }
  }
}
