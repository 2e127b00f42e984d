// `--trust-proxy`: which reverse proxies may name the client address in X-Forwarded-For (S5). Only
// the address added by a trusted proxy counts: fastify (proxy-addr) walks X-Forwarded-For from the
// right, past the trusted hops, so whatever a client wrote to the left of it is ignored. A bare
// "trust every X-Forwarded-For" is not offered: a random header per request would get around every
// per-address limit. Nor is a hop count: it cannot tell a proxy from a client that reaches the
// server directly and writes enough hops itself (fastify treats a number as "trust nothing").
import { isIP } from 'node:net';

export class TrustProxyError extends Error {}

/** proxy-addr's names for address ranges */
const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** `ADDR[,ADDR…]` (IPv4/IPv6 addresses, CIDRs, or loopback / linklocal / uniquelocal) → the list for fastify's trustProxy. */
export function parseTrustProxy(spec: string): string[] {
  const s = spec.trim();
  if (/^\d+$/.test(s)) throw new TrustProxyError('--trust-proxy takes the addresses or CIDRs of the proxies, not a hop count (a client that reaches the server directly could write the hops itself)');
  const entries = s.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new TrustProxyError('--trust-proxy expects the addresses or CIDRs of the proxies (comma-separated) or a hop count');
  for (const e of entries) {
    if (NAMED.has(e)) continue;
    const [addr, bits, ...rest] = e.split('/');
    const v = isIP(addr);
    const max = v === 4 ? 32 : 128;
    if (v === 0 || rest.length > 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits)) || Number(bits) > max) {
      throw new TrustProxyError(`--trust-proxy: "${e}" is not an IP address, a CIDR (e.g. 10.0.0.0/8) or one of loopback, linklocal, uniquelocal`);
    }
    if (bits !== undefined && Number(bits) === 0) throw new TrustProxyError(`--trust-proxy: "${e}" would trust every address; name the proxies`);
  }
  return entries;
}
