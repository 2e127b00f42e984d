// SMS delivery behind one interface. The outbox provider (the default, and what tests use) appends one
// JSON line per message to a file; the HTTP provider posts to a gateway with undici, configured by env:
//   KPM_SMS_HTTP_URL           where to POST
//   KPM_SMS_HTTP_AUTH          the Authorization header value, e.g. "Basic dXNlcjpwYXNz" (optional)
//   KPM_SMS_HTTP_BODY          body template with {{to}} and {{text}} (default {"to":"{{to}}","text":"{{text}}"})
//   KPM_SMS_HTTP_CONTENT_TYPE  default application/json; values are JSON-escaped for JSON bodies and
//                              URL-encoded for application/x-www-form-urlencoded ones
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { request } from 'undici';

export interface SmsProvider {
  readonly kind: 'outbox' | 'http';
  send(to: string, text: string): Promise<void>;
}

export class SmsError extends Error {}

export function outboxSms(file: string, now: () => number = Date.now): SmsProvider {
  return {
    kind: 'outbox',
    async send(to, text) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      appendFileSync(file, JSON.stringify({ at: new Date(now()).toISOString(), to, text }) + '\n', { mode: 0o600 });
    },
  };
}

export interface HttpSmsOptions {
  url: string;
  auth?: string;
  body?: string;
  contentType?: string;
}

export function fillTemplate(template: string, contentType: string, values: Record<string, string>): string {
  const escape = /json/i.test(contentType)
    ? (v: string) => JSON.stringify(v).slice(1, -1)
    : /x-www-form-urlencoded/i.test(contentType)
      ? encodeURIComponent
      : (v: string) => v;
  return template.replace(/\{\{(\w+)\}\}/g, (whole, k: string) => (Object.hasOwn(values, k) ? escape(values[k]) : whole));
}

export function httpSms(o: HttpSmsOptions): SmsProvider {
  const contentType = o.contentType ?? 'application/json';
  const template = o.body ?? '{"to":"{{to}}","text":"{{text}}"}';
  return {
    kind: 'http',
    async send(to, text) {
      const headers: Record<string, string> = { 'content-type': contentType };
      if (o.auth) headers.authorization = o.auth;
      const res = await request(o.url, { method: 'POST', headers, body: fillTemplate(template, contentType, { to, text }), headersTimeout: 10_000, bodyTimeout: 10_000 });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300) throw new SmsError(`SMS gateway answered HTTP ${res.statusCode}`);
    },
  };
}

export function smsFromEnv(env: NodeJS.ProcessEnv, outboxFile: string, provider?: string): SmsProvider {
  const kind = provider ?? env.KPM_SMS_PROVIDER ?? (env.KPM_SMS_HTTP_URL ? 'http' : 'outbox');
  if (kind === 'outbox') return outboxSms(env.KPM_SMS_OUTBOX || outboxFile);
  if (kind !== 'http') throw new SmsError(`unknown SMS provider "${kind}" (outbox or http)`);
  if (!env.KPM_SMS_HTTP_URL) throw new SmsError('the http SMS provider needs KPM_SMS_HTTP_URL');
  return httpSms({ url: env.KPM_SMS_HTTP_URL, auth: env.KPM_SMS_HTTP_AUTH, body: env.KPM_SMS_HTTP_BODY, contentType: env.KPM_SMS_HTTP_CONTENT_TYPE });
}
