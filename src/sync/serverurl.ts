// The server URL rule (R20): https, or plain http to loopback only unless --insecure. No HTTP client
// here, so that the service-token fast path (src/cli/tokenfast.ts) can check a URL without loading one.
import { KpmError, EXIT } from '../core/errors.js';

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** The server's base URL, or exit 6 for anything but https (or http to loopback) without --insecure. */
export function checkServerUrl(raw: string, insecure = false): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new KpmError(`invalid server URL "${raw}"`, EXIT.usage, 'use e.g. https://kpm.example.org');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KpmError(`the server URL must start with https://, got "${raw}"`, EXIT.usage);
  if (url.username || url.password) throw new KpmError('the server URL must not contain credentials', EXIT.usage);
  if (url.protocol === 'http:' && !isLoopback(url.hostname) && !insecure) {
    throw new KpmError(`refusing plain http to ${url.host}: passwords and tokens would cross the network unencrypted`, EXIT.network, 'use https://, or --insecure if you really must (testing only)');
  }
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url;
}
