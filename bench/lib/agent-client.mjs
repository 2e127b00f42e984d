// Benchmark helper (not a test): times SSH agent requests on a socket, without any ssh program in
// between. For each of N rounds: connect, REQUEST_IDENTITIES, SIGN_REQUEST with the given key,
// close (what one `ssh` login asks of its agent); and N signatures on one open connection.
//   node bench/lib/agent-client.mjs SOCKET PUBKEY_BASE64 [N]   → one JSON line, milliseconds
import * as net from 'node:net';

const [socket, keyB64, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 200);
const blob = Buffer.from(keyB64, 'base64');

function str(b) {
  const l = Buffer.alloc(4);
  l.writeUInt32BE(b.length);
  return Buffer.concat([l, b]);
}
function frame(body) {
  const l = Buffer.alloc(4);
  l.writeUInt32BE(body.length);
  return Buffer.concat([l, body]);
}
const LIST = frame(Buffer.from([11]));
const signReq = (data) => frame(Buffer.concat([Buffer.from([13]), str(blob), str(data), Buffer.from([0, 0, 0, 0])]));

function conn() {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = Buffer.alloc(0);
    const waiting = [];
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const msg = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        waiting.shift()(msg);
      }
    });
    c.on('error', reject);
    c.on('connect', () =>
      resolve({
        ask: (req) => new Promise((r) => { waiting.push(r); c.write(req); }),
        close: () => c.destroy(),
      }),
    );
  });
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const data = Buffer.alloc(100, 7);

const round = [];
for (let i = 0; i < N; i++) {
  const t = process.hrtime.bigint();
  const c = await conn();
  const ids = await c.ask(LIST);
  if (ids[0] !== 12) throw new Error('identities request failed');
  const sig = await c.ask(signReq(data));
  if (sig[0] !== 14) throw new Error(`sign request failed (reply ${sig[0]})`);
  c.close();
  round.push(Number(process.hrtime.bigint() - t) / 1e6);
}
const c = await conn();
await c.ask(LIST); // as ssh and ssh-keygen -Y sign do before signing
const sign = [];
for (let i = 0; i < N; i++) {
  const t = process.hrtime.bigint();
  const sig = await c.ask(signReq(data));
  if (sig[0] !== 14) throw new Error('sign request failed');
  sign.push(Number(process.hrtime.bigint() - t) / 1e6);
}
c.close();
console.log(JSON.stringify({ login_round_ms: median(round), sign_ms: median(sign), n: N }));
