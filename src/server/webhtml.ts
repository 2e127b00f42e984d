// The HTML helpers of the account pages (web.ts) and the device-flow front's pages (devicepages.ts):
// escaping templates, cookies, notices and the page frame with its navigation.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type * as sessions from './sessions.js';
import { escapeHtml, layout, pageHeaders } from './pages.js';

export class Html {
  constructor(readonly s: string) {}
  toString(): string {
    return this.s;
  }
}
export const raw = (s: string): Html => new Html(s);
function part(v: unknown): string {
  if (v instanceof Html) return v.s;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === undefined || v === null || v === false) return '';
  return escapeHtml(String(v));
}
/** A template whose values are escaped unless they are Html already. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => (out += part(v) + strings[i + 1]));
  return new Html(out);
}

export const when = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

/** Names of the cookies: `__Host-` needs Secure, so only over TLS. */
export function cookieNames(req: FastifyRequest): { session: string; form: string; sso: string; secure: boolean } {
  const secure = req.protocol === 'https';
  return secure ? { session: '__Host-kpm_session', form: '__Host-kpm_form', sso: '__Host-kpm_sso', secure } : { session: 'kpm_session', form: 'kpm_form', sso: 'kpm_sso', secure };
}

export function setCookie(reply: FastifyReply, req: FastifyRequest, name: string, value: string, maxAgeS?: number, sameSite: 'Strict' | 'Lax' = 'Strict'): void {
  const attrs = [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${sameSite}`];
  if (maxAgeS !== undefined) attrs.push(`Max-Age=${maxAgeS}`);
  if (cookieNames(req).secure) attrs.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  reply.header('set-cookie', [...list, attrs.join('; ')]);
}

export interface Notice {
  kind: 'error' | 'ok';
  text: string;
}

export interface Signed {
  auth: sessions.AuthInfo;
  csrf: string;
}

export type Section = 'overview' | 'devices' | 'security' | 'settings';
const SECTIONS: [Section, string, string][] = [
  ['overview', 'Overview', '/account/'],
  ['devices', 'Devices', '/account/devices'],
  ['security', 'Two-step verification', '/account/security'],
  ['settings', 'Settings', '/account/settings'],
];

function nav(current: Section | undefined, s: Signed | undefined): string {
  if (!s) return '';
  const links = SECTIONS.map(([id, label, href]) => html`<a href="${href}"${raw(id === current ? ' aria-current="page"' : '')}>${label}</a>`);
  return html`<nav aria-label="Account">${links}</nav><form method="post" action="/account/signout">${csrfField(s.csrf)}<button class="secondary small" type="submit">Sign out</button></form>`.s;
}

export const csrfField = (token: string): Html => html`<input type="hidden" name="csrf" value="${token}">`;
export const noticeHtml = (n?: Notice): Html => (n ? html`<div class="notice ${n.kind}" role="${n.kind === 'error' ? 'alert' : 'status'}">${n.text}</div>` : raw(''));

export function send(reply: FastifyReply, status: number, o: { title: string; body: Html; section?: Section; signed?: Signed; narrow?: boolean }): FastifyReply {
  return pageHeaders(reply)
    .code(status)
    .send(layout({ title: o.title, body: o.body.s, nav: nav(o.section, o.signed), narrow: o.narrow }));
}


/** An error message of the services as a sentence for a page. */
export function sentence(m: string): string {
  const s = m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
