// The few HTML pages the server shows in a browser (the link in the activation mail). Small and
// server-rendered: no scripts, no styles from elsewhere, no third-party assets; every value is
// escaped; a strict Content-Security-Policy, and no framing (clickjacking). A page that changes
// state does so only on a POST from its own form, with a CSRF token that must match a SameSite
// cookie set by the GET (S8): a mail scanner that follows the link changes nothing.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { newToken } from './tokens.js';

const STYLE = 'body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5}button{font-size:1em;padding:.5em 1.5em}';
/** Nothing loads but the one inline style block (by its hash); forms post only to this origin. */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
const CSRF_COOKIE = 'kpm_csrf';
const CSRF_MAX_AGE_S = 30 * 60;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

export interface PageForm {
  /** relative URL the form posts to */
  action: string;
  /** hidden fields (the CSRF token is added by `sendPage`) */
  fields: Record<string, string>;
  button: string;
}

export interface Page {
  title: string;
  /** paragraphs of plain text (escaped here) */
  text: string[];
  form?: PageForm;
}

export function renderPage(p: Page, csrf?: string): string {
  const paras = p.text.map((t) => `<p>${escapeHtml(t)}</p>`).join('\n');
  let form = '';
  if (p.form) {
    const fields = { ...p.form.fields, ...(csrf ? { csrf } : {}) };
    const hidden = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
      .join('');
    form = `\n<form method="post" action="${escapeHtml(p.form.action)}">${hidden}<button type="submit">${escapeHtml(p.form.button)}</button></form>`;
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escapeHtml(p.title)}</title>
<style>${STYLE}</style></head>
<body><h1>${escapeHtml(p.title)}</h1>
${paras}${form}
</body></html>
`;
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
}

const secure = (req: FastifyRequest) => (req.protocol === 'https' ? '; Secure' : '');

/** Sends a page; a page with a form gets a fresh CSRF token, in the form and in a SameSite=Strict cookie. */
export function sendPage(req: FastifyRequest, reply: FastifyReply, status: number, page: Page): FastifyReply {
  pageHeaders(reply).code(status);
  if (!page.form) return reply.send(renderPage(page));
  const csrf = newToken('c');
  // No Path attribute: the browser scopes the cookie to the page's own folder, which is right also
  // behind a proxy that serves the API under a prefix (the server cannot see the browser's path).
  reply.header('set-cookie', `${CSRF_COOKIE}=${csrf}; Max-Age=${CSRF_MAX_AGE_S}; HttpOnly; SameSite=Strict${secure(req)}`);
  return reply.send(renderPage(page, csrf));
}

function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** True when the POST carries the token of the page's form and the cookie set with it (and is not cross-site). */
export function csrfOk(req: FastifyRequest, token: string | undefined): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const c = cookie(req, CSRF_COOKIE);
  if (!c || !token || c.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(c), Buffer.from(token));
}

/** Form bodies (application/x-www-form-urlencoded) of the pages: small, flat, strings only. */
export function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) if (!(k in out)) out[k] = v;
  return out;
}
