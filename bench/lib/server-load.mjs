// Load generator of bench/server.sh: signs one account in on the first server, then sends
// authenticated `GET /v1/devices` requests (ten devices: a ~1.6 KB JSON answer, the size of a small
// sync delta) with undici to every server round-robin, `--concurrency` requests in flight, for
// `--seconds`. Prints one JSON line: requests, errors, requests/s, p50 and p99 latency.
//   node bench/lib/server-load.mjs --urls http://127.0.0.1:1,http://127.0.0.1:2 --outbox DIR [--seconds 10] [--concurrency 64]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const urls = arg('urls').split(',');
const outbox = arg('outbox');
const seconds = Number(arg('seconds', '10'));
const concurrency = Number(arg('concurrency', '64'));
const email = `bench${process.pid}@example.org`;
const password = 'Bench7Password';

const pools = urls.map((u) => new Pool(u, { connections: Math.ceil(concurrency / urls.length), pipelining: 1 }));

async function call(pool, method, path, body, token) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await pool.request({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined, bytes: text.length };
}

// an account, activated through the outbox mail, signed in on ten devices
const reg = await call(pools[0], 'POST', '/v1/accounts', { email, password, region: 'DE', marketing: false });
if (reg.status !== 202) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
const mail = readdirSync(outbox)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => readFileSync(join(outbox, f), 'utf8'))
  .find((m) => m.includes(`To: ${email}`));
const code = /activation code: ([A-Z2-7-]+)/.exec(mail)[1];
if ((await call(pools[0], 'POST', '/v1/accounts/activate', { code })).status !== 200) throw new Error('activate failed');
let token;
for (let i = 0; i < 10; i++) {
  const r = await call(pools[0], 'POST', '/v1/sessions', { email, password, deviceName: `bench device ${i}` });
  if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.json)}`);
  token ??= r.json.accessToken;
}
const probe = await call(pools[0], 'GET', '/v1/devices', undefined, token);

// warm-up, then the measured run
const latencies = [];
let requests = 0;
let errors = 0;
let next = 0;
async function worker(until, record) {
  while (performance.now() < until) {
    const pool = pools[next++ % pools.length];
    const t0 = performance.now();
    try {
      const r = await call(pool, 'GET', '/v1/devices', undefined, token);
      if (r.status !== 200) errors++;
    } catch {
      errors++;
    }
    if (record) {
      latencies.push(performance.now() - t0);
      requests++;
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, () => worker(performance.now() + 1500, false)));
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => worker(started + seconds * 1000, true)));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
console.log(JSON.stringify({ requests, errors, rps: Math.round(requests / elapsed), p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), bytes: probe.bytes }));
await Promise.all(pools.map((p) => p.close()));
