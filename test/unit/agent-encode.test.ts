// The agent's answers on the wire (src/agent/encode.ts): the same bytes as JSON.stringify, the last
// large one kept encoded and never sent for another text; a text raw when asked (`{"raw":N}` and its
// bytes), and the client (src/agent/call.ts agentCallStream) against a fake agent that answers raw
// in awkward pieces, in JSON (an agent from before raw answers), or cut short.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCallStream } from '../../src/agent/call.js';
import { encodeResponse, rawHead } from '../../src/agent/encode.js';
import { AGENT_PROTOCOL } from '../../src/agent/socket.js';
import { resolvePaths } from '../../src/core/paths.js';

const wire = (r: string | Buffer): string => (typeof r === 'string' ? r : r.toString('utf8'));
const listText = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `site${i}\tuser${i} "${tag}" \\ ü\n`).join('');

describe('encodeResponse', () => {
  it('a small answer or an error: one JSON line', () => {
    expect(encodeResponse({ ok: 'x' })).toBe('{"ok":"x"}\n');
    expect(encodeResponse({ ok: { a: 1 } })).toBe('{"ok":{"a":1}}\n');
    expect(encodeResponse({ error: { message: 'no', exitCode: 3 } })).toBe('{"error":{"message":"no","exitCode":3}}\n');
  });

  it('a large text: the same bytes as JSON, kept for the same text, encoded again for another of the same length', () => {
    const a = listText(5000, 'a');
    const first = encodeResponse({ ok: a });
    expect(wire(first)).toBe(JSON.stringify({ ok: a }) + '\n');
    expect(JSON.parse(wire(first)).ok).toBe(a);
    expect(encodeResponse({ ok: a.slice(0) })).toBe(first); // the same text (even another string of it): the kept bytes
    const b = listText(5000, 'b');
    expect(b.length).toBe(a.length);
    const second = encodeResponse({ ok: b });
    expect(JSON.parse(wire(second)).ok).toBe(b);
    expect(JSON.parse(wire(encodeResponse({ ok: a }))).ok).toBe(a);
  });

  it('a large text with a notice beside it: sent with the notice, not the kept bytes', () => {
    const a = listText(5000, 'n');
    encodeResponse({ ok: a });
    const withNotice = wire(encodeResponse({ ok: a, notice: 'the last background sync failed' }));
    expect(JSON.parse(withNotice)).toEqual({ ok: a, notice: 'the last background sync failed' });
  });
});

describe('raw answers', () => {
  it('a text alone, when asked: {"raw":N} and its N bytes of UTF-8; anything else as JSON', () => {
    const text = listText(3, 'r');
    const bytes = encodeResponse({ ok: text }, true) as Buffer;
    const head = `{"raw":${Buffer.byteLength(text)}}\n`;
    expect(bytes.toString('utf8')).toBe(head + text);
    expect(rawHead(bytes)).toEqual({ length: Buffer.byteLength(text), start: head.length });
    const big = listText(5000, 'R');
    const kept = encodeResponse({ ok: big }, true) as Buffer;
    expect(encodeResponse({ ok: big }, true)).toBe(kept);
    expect(wire(encodeResponse({ ok: big }))).toBe(JSON.stringify({ ok: big }) + '\n'); // not asked: JSON
    expect(encodeResponse({ ok: 'x', notice: 'n' }, true)).toBe('{"ok":"x","notice":"n"}\n');
    expect(encodeResponse({ ok: ['a'] }, true)).toBe('{"ok":["a"]}\n');
    expect(encodeResponse({ error: { message: 'no', exitCode: 3 } }, true)).toBe('{"error":{"message":"no","exitCode":3}}\n');
    // where the first bytes stand
    expect(rawHead(Buffer.from('{"ok":"x"}\n'))).toBeNull();
    expect(rawHead(Buffer.from('{"ra'))).toBeUndefined();
    expect(rawHead(Buffer.from('{"raw":12'))).toBeUndefined();
    expect(rawHead(Buffer.from('{"raw":x}\n'))).toBeNull();
    expect(rawHead(Buffer.from('{"raw":' + '1'.repeat(30)))).toBeNull();
  });

  describe('the client', () => {
    let home: string;
    let server: net.Server;
    let answer: (sock: net.Socket, req: Record<string, unknown>) => void;
    const requests: Record<string, unknown>[] = [];
    beforeAll(async () => {
      home = mkdtempSync(join(tmpdir(), 'kpm-raw-'));
      const run = join(home, 'run');
      mkdirSync(run, { mode: 0o700 });
      chmodSync(run, 0o700);
      writeFileSync(join(run, 'agent.pid'), String(process.pid));
      writeFileSync(join(run, 'agent.token'), `${AGENT_PROTOCOL}:${'ab'.repeat(32)}`, { mode: 0o600 });
      server = net.createServer((sock) => {
        let buf = '';
        sock.on('data', (c) => {
          buf += c.toString();
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          const req = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          requests.push(req);
          answer(sock, req);
        });
      });
      await new Promise<void>((ok) => server.listen(join(run, 'agent.sock'), ok));
      chmodSync(join(run, 'agent.sock'), 0o600);
    });
    afterAll(() => {
      server?.close();
      rmSync(home, { recursive: true, force: true });
    });
    const paths = () => resolvePaths({ KPM_HOME: home });
    /** the answer's bytes sent in pieces: the first of sizes[0] bytes, the others of sizes[1], each on its own turn of the event loop */
    const inPieces = (bytes: Buffer, sizes: number[]) => (sock: net.Socket) => {
      let at = 0;
      const next = () => {
        if (at >= bytes.length) return void sock.end();
        const n = sizes[Math.min(sizes.length - 1, (at === 0 ? 0 : 1))];
        sock.write(bytes.subarray(at, at + n));
        at += n;
        setImmediate(next);
      };
      next();
    };
    const stream = async () => {
      const got: Buffer[] = [];
      const r = await agentCallStream(paths(), 'listTextAll', [{}, false], (c) => got.push(Buffer.from(c)));
      return { r, text: Buffer.concat(got).toString('utf8') };
    };

    it('asks for the text raw and hands its bytes on as they come, however the answer is cut into pieces', async () => {
      const text = listText(4000, 'p'); // ≈ 100 KB, with non-ASCII characters
      const bytes = encodeResponse({ ok: text }, true) as Buffer;
      for (const sizes of [[3, 5000], [7, 1000], [bytes.length], [1, 65536], [20, 3001]]) {
        answer = inPieces(bytes, sizes);
        const { r, text: got } = await stream();
        expect(r).toBe(Buffer.byteLength(text));
        expect(got).toBe(text);
      }
      expect(requests.at(-1)).toMatchObject({ method: 'listTextAll', raw: true });
    });

    it('an agent that answers in JSON (from before raw answers): the text itself, nothing handed on', async () => {
      const text = listText(50, 'j');
      answer = inPieces(Buffer.from(JSON.stringify({ ok: text }) + '\n'), [2, 9]);
      expect(await stream()).toEqual({ r: text, text: '' });
      answer = inPieces(Buffer.from(JSON.stringify({ error: { message: 'the vault is locked', exitCode: 4 } }) + '\n'), [1, 3]);
      await expect(stream()).rejects.toThrow('the vault is locked');
    });

    it('a raw answer cut short, or longer than it said: an error (exit 1), never a quiet partial list', async () => {
      const text = listText(100, 'c');
      const bytes = encodeResponse({ ok: text }, true) as Buffer;
      answer = inPieces(bytes.subarray(0, bytes.length - 5), [100, 100]);
      await expect(stream()).rejects.toMatchObject({ message: 'the agent closed the connection unexpectedly', exitCode: 1 });
      answer = inPieces(Buffer.concat([bytes, Buffer.from('extra')]), [100, 100]);
      await expect(stream()).rejects.toMatchObject({ exitCode: 1 });
    });
  });
});
