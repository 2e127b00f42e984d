// kpm-server's start-up options that decide what the server trusts and where its secrets come from:
// --trust-proxy (S5) and the SMTP / database URLs with passwords (S11), against the built binary.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../helpers/kpm.js'; // builds dist/ when the sources are newer
import { runServerCli, startServer } from '../helpers/server.js';

const tmp = () => mkdtempSync(join(os.tmpdir(), 'kpm-srvcfg-'));

describe('S5: kpm-server --trust-proxy', () => {
  it('S5: with --trust-proxy 127.0.0.1, a client that forges a random X-Forwarded-For per request still hits the per-address registration limit', async () => {
    const srv = await startServer({ args: ['--trust-proxy', '127.0.0.1', '--log-level', 'warn'] });
    const register = async (i: number) => {
      // the client's own header, then what the proxy on 127.0.0.1 appends: the address it saw
      const xff = `${10 + i}.${(i * 7) % 250}.${(i * 13) % 250}.${i + 1}, 203.0.113.9`;
      const r = await fetch(`${srv.url}/v1/accounts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
        body: JSON.stringify({ email: `s5-${i}@example.org`, password: 'Other7Password', region: 'DE', marketing: false }),
      });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    };
    for (let i = 0; i < 5; i++) expect((await register(i)).status).toBe(202);
    const sixth = await register(5);
    expect(sixth.status).toBe(428);
    expect(sixth.body.error).toBe('challenge_required');
    const th = await runServerCli(['admin', 'throttle-status', '--json', '--data-dir', srv.dataDir]);
    expect(JSON.parse(th.stdout).filter((r: { scope: string }) => r.scope === 'ip').map((r: { key: string }) => r.key)).toEqual(['203.0.113.9']);
  });

  it('S5: a bare --trust-proxy, a hop count, or trusting every address is a usage error (exit 2) naming what to give', async () => {
    const dir = tmp();
    const start = (...v: string[]) => runServerCli(['--data-dir', dir, '--port', '0', '--trust-proxy', ...v]);
    const [bare, hops, all, bad] = await Promise.all([start(), start('1'), start('0.0.0.0/0'), start('proxy.example.org')]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^kpm-server: option '--trust-proxy <proxies>' argument missing\n$/); // commander's own errors in kpm-server's form too
    expect(hops.code).toBe(2);
    expect(hops.stderr).toBe('kpm-server: --trust-proxy takes the addresses or CIDRs of the proxies, not a hop count (a client that reaches the server directly could write the hops itself)\n');
    expect(all.code).toBe(2);
    expect(all.stderr).toMatch(/would trust every address/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"proxy.example.org" is not an IP address, a CIDR/);
    const help = await runServerCli(['serve', '--help']);
    expect(help.stdout).toMatch(/--trust-proxy <proxies>/);
  });
});

describe('S11: server secrets never in argv', () => {
  it('S11: --smtp or --database with a password is refused (exit 2) naming the environment variable and the file option; the password is not echoed; help shows the safe forms', async () => {
    const dir = tmp();
    const [smtp, db, admin, query] = await Promise.all([
      runServerCli(['--data-dir', dir, '--port', '0', '--smtp', 'smtps://mailer:Sekr3tSmtp@127.0.0.1:9']),
      runServerCli(['--data-dir', dir, '--port', '0', '--database', 'postgres://kpm:Sekr3tDb@127.0.0.1:9/kpm']),
      runServerCli(['admin', 'list', '--database', 'postgres://kpm:Sekr3tDb@127.0.0.1:9/kpm']),
      runServerCli(['admin', 'list', '--database', 'postgres://kpm@127.0.0.1:9/kpm?password=Sekr3tDb']),
    ]);
    expect(smtp.code).toBe(2);
    expect(smtp.stderr).toBe('kpm-server: --smtp: a password on the command line can be read by other users of this computer (ps); put the URL in KPM_SMTP_URL or in a file named by --smtp-file\n');
    for (const r of [db, admin, query]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('kpm-server: --database: a password on the command line can be read by other users of this computer (ps); put the URL in KPM_SERVER_DATABASE or in a file named by --database-file\n');
    }
    const help = (await runServerCli(['serve', '--help'])).stdout;
    expect(help).toMatch(/--smtp-file <file>/);
    expect(help).toMatch(/--database-file <file>/);
    expect(help).toMatch(/KPM_SERVER_DATABASE=postgres:\/\/kpm:…@db\/kpm KPM_SMTP_URL=/);
    // no example puts user:password@ after an option
    expect(help).not.toMatch(/--(smtp|database) [a-z]+:\/\/[^\s@/]+:[^\s@/]+@/);
  });

  it('S11: the SMTP URL from --smtp-file or KPM_SMTP_URL, the database from --database-file: the server starts with them', async () => {
    const dir = tmp();
    const smtpFile = join(dir, 'smtp');
    writeFileSync(smtpFile, 'smtp://mailer:Sekr3tSmtp@127.0.0.1:9\n', { mode: 0o600 });
    const dbFile = join(dir, 'db');
    writeFileSync(dbFile, join(dir, 'from-file.sqlite') + '\n', { mode: 0o600 });
    const a = await startServer({ args: ['--smtp-file', smtpFile, '--database-file', dbFile, '--log-level', 'warn'] });
    expect(a.stderr()).toMatch(/sqlite: .*from-file\.sqlite; mail: smtp/);
    expect(a.stderr()).not.toContain('Sekr3tSmtp');
    const b = await startServer({ env: { KPM_SMTP_URL: 'smtp://mailer:Sekr3tSmtp@127.0.0.1:9' }, args: ['--log-level', 'warn'] });
    expect(b.stderr()).toMatch(/mail: smtp/);
    const missing = await runServerCli(['--data-dir', dir, '--port', '0', '--smtp-file', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --smtp-file .*nope \(ENOENT\)/);
  });
});
