// Outgoing mail through nodemailer: SMTP when configured (--smtp URL / KPM_SMTP_URL), otherwise the
// development transport that writes every message as an .eml file into the outbox folder and logs
// the file's path (never the message, which holds codes).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { FastifyBaseLogger } from 'fastify';
import { newId } from './tokens.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  /** the outbox folder of the development transport (the start-up line names it) */
  readonly outboxDir?: string;
  send(message: MailMessage, log: FastifyBaseLogger): Promise<void>;
  close(): void;
}

export interface MailOptions {
  from: string;
  smtpUrl?: string;
  outboxDir: string;
}

export function createMailer(opts: MailOptions): Mailer {
  if (opts.smtpUrl) {
    const transport = nodemailer.createTransport(opts.smtpUrl);
    return {
      kind: 'smtp',
      async send(m, log) {
        try {
          await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text });
          log.info({ mail: m.subject }, 'mail sent');
        } catch (e) {
          // The answer to the client must not depend on it (it would tell which addresses exist).
          log.error({ mail: m.subject, err: { message: (e as Error).message } }, 'mail not sent');
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'outbox',
    outboxDir: opts.outboxDir,
    async send(m, log) {
      const info = await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text });
      mkdirSync(opts.outboxDir, { recursive: true, mode: 0o700 });
      const file = join(opts.outboxDir, `${Date.now()}-${newId(4)}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      log.info({ mail: m.subject, file }, 'mail written to the outbox');
    },
    close: () => transport.close(),
  };
}
