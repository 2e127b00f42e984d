// The few HTML pages the server shows in a browser (the link in the activation mail). Small and
// server-rendered: no scripts, no styles from elsewhere, no third-party assets; every value is
// escaped; a strict Content-Security-Policy, and no framing (clickjacking). A page that changes
// state does so only on a POST from its own form, with a CSRF token that must match a SameSite
// cookie set by the GET (S8): a mail scanner that follows the link changes nothing.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { newToken } from './tokens.js';

/**
 * The one stylesheet of every page (inline, allowed by its hash): system fonts, no images, readable at
 * 390 px and at 1280 px, light and dark.
 */
export const STYLE = [
  ':root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--ink:#1b1f24;--muted:#5d6673;--line:#dde1e6;--accent:#1f5fbf;--accent-ink:#fff;--bad:#b3261e;--bad-bg:#fdecea;--ok:#1e6b3a;--ok-bg:#e7f4ec}',
  '@media (prefers-color-scheme:dark){:root{--bg:#14171b;--card:#1d2126;--ink:#e8eaed;--muted:#9aa3ad;--line:#30363d;--accent:#6ea8ff;--accent-ink:#0b1220;--bad:#ff8a80;--bad-bg:#3a1d1b;--ok:#8fd3a6;--ok-bg:#15311f}}',
  '*{box-sizing:border-box}',
  'body{margin:0;background:var(--bg);color:var(--ink);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}',
  'header{background:var(--card);border-bottom:1px solid var(--line)}',
  '.bar{max-width:60rem;margin:0 auto;padding:.75rem 1.25rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem}',
  '.brand{font-weight:700;font-size:1.15rem;color:var(--ink);text-decoration:none;letter-spacing:.02em}',
  'nav{display:flex;flex-wrap:wrap;gap:.25rem .9rem;flex:1}',
  'nav a{color:var(--muted);text-decoration:none;padding:.2rem 0;border-bottom:2px solid transparent}',
  'nav a[aria-current=page]{color:var(--ink);border-bottom-color:var(--accent)}',
  'main{max-width:60rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}',
  'main.narrow{max-width:30rem}',
  'h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}',
  'h2{font-size:1.15rem;margin:0 0 .75rem}',
  '.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.25rem 1.25rem;margin:0 0 1.25rem}',
  '.muted{color:var(--muted)}',
  'p{margin:.5rem 0}',
  'a{color:var(--accent)}',
  'label{display:block;font-weight:600;margin:.9rem 0 .3rem}',
  'label.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400}',
  'input[type=email],input[type=password],input[type=text]{width:100%;font:inherit;padding:.6rem .7rem;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--ink)}',
  'input:focus,button:focus{outline:3px solid color-mix(in srgb,var(--accent) 35%,transparent);outline-offset:1px}',
  'button{font:inherit;font-weight:600;padding:.6rem 1.2rem;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-ink);cursor:pointer;margin-top:1rem}',
  'button.secondary,a.button.secondary{background:transparent;color:var(--accent)}',
  'a.button{display:inline-block;font-weight:600;padding:.6rem 1.2rem;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-ink);text-decoration:none}',
  'button.danger{background:var(--bad);border-color:var(--bad);color:#fff}',
  'button.small{padding:.3rem .8rem;margin:0;font-size:.9rem}',
  'header form{margin-left:auto}header form button{margin:0}',
  '.notice{border-radius:8px;padding:.75rem 1rem;margin:0 0 1.25rem;border:1px solid}',
  '.notice.error{background:var(--bad-bg);color:var(--bad);border-color:var(--bad)}',
  '.notice.ok{background:var(--ok-bg);color:var(--ok);border-color:var(--ok)}',
  'table{width:100%;border-collapse:collapse}',
  'th,td{text-align:left;padding:.55rem .5rem;border-bottom:1px solid var(--line);vertical-align:middle}',
  'th{font-size:.85rem;color:var(--muted);font-weight:600}',
  'td.act{text-align:right}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.5rem;margin:0}',
  'dt{color:var(--muted)}dd{margin:0}',
  'ul.rules{margin:.25rem 0;padding-left:1.25rem;color:var(--muted)}',
  '.codes{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.3rem 1rem;padding:0;list-style:none}',
  'code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;word-break:break-all}',
  '.qr{background:#fff;display:inline-block;padding:.5rem;border-radius:8px;border:1px solid var(--line)}.qr svg{display:block;width:13rem;height:13rem}',
  '.captcha{background:#fff;display:inline-block;border-radius:6px;border:1px solid var(--line);padding:.25rem}.captcha svg{display:block;max-width:100%;height:auto}',
  '.tag{display:inline-block;font-size:.8rem;padding:.05rem .5rem;border-radius:99px;background:var(--ok-bg);color:var(--ok);margin-left:.4rem}',
  '.row{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}',
  'footer{max-width:60rem;margin:0 auto;padding:0 1.25rem 2rem;color:var(--muted);font-size:.85rem}',
  '@media (max-width:600px){nav{order:3;flex-basis:100%;gap:.25rem 1rem}h1{font-size:1.35rem}.card{padding:1rem}table.stack thead{display:none}table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.5rem 0}table.stack td{display:block;border:0;padding:.15rem 0}table.stack td.act{text-align:left;padding-top:.4rem}table.stack td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}dl{grid-template-columns:1fr}dt{margin-top:.4rem}}',
].join('');
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
  return layout({ title: p.title, body: `<h1>${escapeHtml(p.title)}</h1>\n<div class="card">${paras}${form}</div>`, narrow: true });
}

/** The frame of every page: the header (brand and, when given, the navigation), then the body (already HTML). */
export function layout(o: { title: string; body: string; nav?: string; narrow?: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escapeHtml(o.title)} · kpm</title>
<style>${STYLE}</style></head>
<body><header><div class="bar"><span class="brand">kpm</span>${o.nav ?? ''}</div></header>
<main${o.narrow ? ' class="narrow"' : ''}>
${o.body}
</main>
</body></html>
`;
}

export function pageHeaders(reply: FastifyReply): FastifyReply {
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

export function cookie(req: FastifyRequest, name: string): string | undefined {
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
