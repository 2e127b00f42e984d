// A browser in miniature for the in-process page tests: a cookie jar over fastify's app.inject,
// form posts, and the CSRF token of a page's form.
import type { FastifyInstance } from 'fastify';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

export function cookieJar(app: FastifyInstance, o: { ip?: string; base?: Record<string, string> } = {}) {
  const jar = new Map<string, string>();
  const setCookies: string[] = [];
  const req = async (method: 'GET' | 'POST', url: string, form?: Record<string, string>, headers: Record<string, string> = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await app.inject({ method, url, headers: { ...o.base, ...(form ? FORM : {}), ...(cookie ? { cookie } : {}), ...headers }, payload: form ? new URLSearchParams(form).toString() : undefined, remoteAddress: o.ip ?? '127.0.0.1' });
    const sc = res.headers['set-cookie'];
    for (const c of sc === undefined ? [] : Array.isArray(sc) ? sc : [sc]) {
      setCookies.push(c);
      const [kv] = c.split(';');
      const [k, ...v] = kv.split('=');
      if (/Max-Age=0/.test(c)) jar.delete(k);
      else jar.set(k, v.join('='));
    }
    return res;
  };
  return {
    jar,
    setCookies,
    req,
    get: (url: string, headers?: Record<string, string>) => req('GET', url, undefined, headers),
    post: (url: string, form: Record<string, string>, headers?: Record<string, string>) => req('POST', url, form, headers),
    csrfOf,
    /** GET the page, then POST its form (with its CSRF token) and `fields`. */
    async submit(pageUrl: string, action: string, fields: Record<string, string>) {
      const page = await req('GET', pageUrl);
      return req('POST', action, { csrf: csrfOf(page.body), ...fields });
    },
  };
}
