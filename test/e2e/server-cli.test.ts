// kpm-server's command line as a person meets it: the top-level help lists the server options
// (serve is the default command), a reader that closes the pipe early is not an error, the start-up
// output says where the development outbox is and does not mix fastify's JSON records into it, and
// GET / answers a short page naming the server instead of a JSON 404.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_BIN, startServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/kpm.js'; // (and the build of this run)

const server = (args: string[], input?: string) => spawnSync(process.execPath, [SERVER_BIN, ...args], { encoding: 'utf8', input, env: { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR } });

describe('kpm-server command line', () => {
  it('kpm-server --help lists the serve options at the top level, as `serve --help` does', () => {
    const top = server(['--help']);
    expect(top.status).toBe(0);
    const serve = server(['serve', '--help']);
    expect(serve.status).toBe(0);
    for (const flag of ['--data-dir', '--database', '--host', '--port', '--tls-cert', '--smtp', '--outbox', '--trust-proxy', '--oidc', '--check-after', '--log-level']) {
      expect(serve.stdout, flag).toContain(flag);
      expect(top.stdout, flag).toContain(flag);
    }
    expect(top.stdout).toMatch(/admin/);
    expect(top.stdout).toMatch(/Exit codes: 0 ok, 1 error, 2 usage, 3 not found/);
  });

  it('`kpm-server serve --help | head -1`: a reader that closes the pipe is no error (no EPIPE stack trace)', () => {
    // The read end of stdout is closed before kpm-server starts, so every write to it fails with EPIPE.
    const py = `
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], sys.argv[2]] + sys.argv[3:], stdout=w, stderr=subprocess.PIPE)
sys.stdout.write(str(p.returncode) + "\\n" + p.stderr.decode())
`;
    for (const args of [['serve', '--help'], ['--help'], ['--version']]) {
      const r = spawnSync('python3', ['-c', py, process.execPath, SERVER_BIN, ...args], { encoding: 'utf8' });
      const [code, ...stderr] = r.stdout.split('\n');
      expect(stderr.join('\n'), args.join(' ')).not.toMatch(/EPIPE|Error|at /);
      expect(code, args.join(' ')).toBe('0');
    }
  });

  it('start-up: one human line naming the development outbox on stderr; no fastify "Server listening" records', async () => {
    const srv = await startServer();
    try {
      const line = srv.stderr().split('\n').find((l) => l.includes('listening on'))!;
      expect(line).toMatch(/^kpm-server \d+\.\d+\.\d+: listening on http:\/\/127\.0\.0\.1:\d+ \(sqlite: /);
      expect(line).toContain(`mail: development outbox ${join(srv.dataDir, 'outbox')}`);
      // stdout is a pipe here (a log): JSON records only, one start-up record, none of fastify's.
      // The logger writes asynchronously: wait for the record (the test's timeout bounds the wait).
      await waitUntil('the start-up log record', () => srv.stdout().includes('"kpm-server listening"'), 110_000);
      const records = srv.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(records.filter((r) => /Server listening/.test(r.msg))).toEqual([]);
      expect(records.filter((r) => r.msg === 'kpm-server listening')).toMatchObject([{ url: srv.url, mail: 'outbox', outbox: join(srv.dataDir, 'outbox') }]);
      expect(srv.stderr()).not.toMatch(/^\{/m);
    } finally {
      await srv.stop();
    }
  });

  it('GET / answers a short page naming the server and its version', async () => {
    const srv = await startServer();
    try {
      const r = await fetch(`${srv.url}/`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      const text = await r.text();
      expect(text).toMatch(/kpm-server \d+\.\d+\.\d+/);
      expect(text).toContain('kpm login --server');
      expect((await fetch(`${srv.url}/nothing-here`)).status).toBe(404);
    } finally {
      await srv.stop();
    }
  });
});

