// An HTTP proxy in front of a real kpm-server, for the network faults of the sync tests: it can
// cut the connection before forwarding a request, or after the server has answered it (so the
// server did the work but the client never hears of it).
import * as http from 'node:http';
import { afterAll } from 'vitest';

export type Fault = 'before' | 'after';

export interface Proxy {
  url: string;
  /** the next request whose path matches gets this fault (once) */
  fail(path: RegExp, fault: Fault): void;
  seen: string[];
  /** every request body sent through, in order */
  requests: Buffer[];
  /** rewrites answers (a malicious server in front of the real one); undefined = pass through */
  rewrite?: (path: string, body: Buffer) => Buffer;
  /** called before a request is forwarded (a test may kill the server here) */
  onRequest?: (path: string) => void;
  /** forward to another server from now on */
  retarget(url: string): void;
  close(): Promise<void>;
}

const proxies: Proxy[] = [];
afterAll(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

export async function startProxy(target: string): Promise<Proxy> {
  let t = new URL(target);
  const faults: { path: RegExp; fault: Fault }[] = [];
  const seen: string[] = [];
  // eslint-disable-next-line prefer-const
  let p: Proxy;
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(`${req.method} ${path}`);
    const i = faults.findIndex((f) => f.path.test(path));
    const fault = i >= 0 ? faults.splice(i, 1)[0].fault : undefined;
    if (fault === 'before') return req.socket.destroy();
    p.onRequest?.(path);
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => p.requests.push(Buffer.concat(body)));
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path, headers: req.headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        if (fault === 'after') return req.socket.destroy(); // the server answered; the client never hears it
        let answer: Buffer = Buffer.concat(chunks);
        if (p.rewrite) answer = p.rewrite(path, answer);
        const headers = { ...ur.headers, 'content-length': String(answer.length) };
        res.writeHead(ur.statusCode ?? 502, headers);
        res.end(answer);
      });
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    fail: (path, fault) => void faults.push({ path, fault }),
    seen,
    requests: [],
    retarget: (url) => void (t = new URL(url)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  proxies.push(p);
  return p;
}
