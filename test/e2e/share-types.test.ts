// Every entry type in a shared vault, and the other entry commands on shared vaults (docs/SHARING.md
// "Shared vaults in the entry commands"), built binaries against one real kpm-server (SQLite):
// alice owns "Team", bob writes, carol reads. A card (with a secret custom field), a note and a
// login with a TOTP secret; show masks secrets for the reader; totp, history/restore, trash, export,
// audit and shell completion see the shared vault.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAgent, MASTER } from '../helpers/kpm.js';
import { shareTeam } from '../helpers/shareteam.js';

const TOTP_SECRET = 'JBSWY3DPEHPK3PXP';
const PIN = 'Qx7-pin-4410-zz';

/** RFC 6238 (SHA-1, 30 s, 6 digits) for the time step `step`, computed here, independently of kpm. */
function totpAt(secret: string, step: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

describe('shared vaults hold every entry type; totp, history, restore, trash, export, audit and completion see them (real server, built binaries)', () => {
  const team = shareTeam('types.example.org');
  const { homes, email, kpm } = team;

  beforeAll(async () => {
    await team.setUp();
    await team.shareWithBobAndCarol('Team');
    // the owner adds a card, then a secret custom field to it; the writer a note and a login with TOTP
    await kpm('a1', ['add', 'team-visa', '--vault', 'Team', '--type', 'card', '--field', 'cardholder=Team Ops', '--field', 'expiry=12/29', '--from-json', '-'], 0, '{"number":"4242424242424242","code":"731"}');
    await kpm('a1', ['edit', 'team-visa', '--vault', 'Team', '--secret-field', 'bank pin'], 0, PIN + '\n');
    await kpm('b1', ['add', 'wifi', '--vault', 'Team', '--type', 'note', '--notes', 'ssid team / key Kp9-hunter2-wifi']);
    await kpm('b1', ['add', 'ci', '--vault', 'Team', '--username', 'bot', '--totp', `otpauth://totp/ci?secret=${TOTP_SECRET}`, '--password-stdin'], 0, 'Ci-Pw-8d7f-first\n');
    await kpm('b1', ['add', 'vpn', '--vault', 'Team', '--username', 'ops', '--password-stdin'], 0, 'Vpn-Pw-33k1-shared\n');
  }, 300_000);
  afterAll(() => stopAgent(homes.c1));

  it('a card, a note and a login with TOTP in a shared vault: the reader\'s show masks the secret fields (the secret custom field too) unless --reveal; get --field, list --type; the reader cannot add (exit 9)', async () => {
    const show = (await kpm('c1', ['show', 'team-visa'])).stdout;
    expect(show).toMatch(/Team Ops/);
    expect(show).toMatch(/•••• 4242/);
    expect(show).toMatch(/bank pin/);
    expect(show).not.toContain(PIN);
    expect(show).not.toMatch(/731/);
    expect(show).not.toContain('4242424242424242');
    const revealed = (await kpm('c1', ['show', 'team-visa', '--reveal'])).stdout;
    expect(revealed).toContain(PIN);
    expect(revealed).toContain('4242424242424242');
    expect((await kpm('c1', ['get', 'team-visa'])).stdout).toBe('4242424242424242\n');
    expect((await kpm('c1', ['get', 'team-visa', '--field', 'bank pin'])).stdout).toBe(PIN + '\n');
    expect(JSON.parse((await kpm('c1', ['get', 'team-visa', '--json'])).stdout)).toMatchObject({ vault: 'Team', type: 'card', fields: { cardholder: 'Team Ops', brand: 'Visa', code: '731' }, custom: [{ name: 'bank pin', value: PIN, kind: 'hidden' }] });
    expect((await kpm('c1', ['get', 'wifi'])).stdout).toBe('ssid team / key Kp9-hunter2-wifi\n');
    expect(JSON.parse((await kpm('b1', ['list', '--type', 'card', '--json'])).stdout).map((e: { name: string; vault: string; hint?: string }) => [e.vault, e.name, e.hint])).toEqual([['Team', 'team-visa', '•••• 4242']]);
    expect((await kpm('c1', ['add', 'x', '--vault', 'Team', '--type', 'note', '--notes', 'n'], 9)).stderr).toMatch(/only read shared vault "Team"/);
    // custom fields through the same flags as in an own vault
    expect((await kpm('b1', ['edit', 'wifi', '--vault', 'Team', '--field', 'colour=red'])).stderr).toMatch(/Updated Team\/wifi/);
    expect(JSON.parse((await kpm('c1', ['get', 'wifi', '--json'])).stdout).custom).toEqual([{ name: 'colour', value: 'red' }]);
  }, 300_000);

  it('totp of a shared entry gives the RFC 6238 code (computed here)', async () => {
    const before = Math.floor(Date.now() / 1000 / 30);
    const code = (await kpm('c1', ['totp', 'ci', '--raw'])).stdout;
    const after = Math.floor(Date.now() / 1000 / 30);
    // the code of the 30-second step the command ran in (it may have crossed one boundary)
    expect([totpAt(TOTP_SECRET, before), totpAt(TOTP_SECRET, after)]).toContain(code);
    expect((await kpm('c1', ['totp', 'wifi'], 3)).stderr).toMatch(/no TOTP secret/);
  }, 300_000);

  it('history of a shared entry lists every signed version with its writer; restore --rev is a new signed write by a writer, refused for a reader (exit 9); rm, trash, restore from the trash', async () => {
    await kpm('b1', ['edit', 'ci', '--vault', 'Team', '--password-stdin'], 0, 'Ci-Pw-8d7f-second\n');
    const hist = JSON.parse((await kpm('c1', ['history', 'ci', '--json'])).stdout) as { version: number; writer: string; payload: { fields: { password: string } } }[];
    expect(hist.map((h) => [h.payload.fields.password, h.writer])).toEqual([
      ['Ci-Pw-8d7f-first', email('bob')],
      ['Ci-Pw-8d7f-second', email('bob')],
    ]);
    expect((await kpm('c1', ['history', 'ci'])).stdout).toMatch(new RegExp(`ci .*by ${email('bob').replace(/\./g, '\\.')}`));
    const first = hist[0].version;
    expect((await kpm('c1', ['restore', 'ci', '--rev', String(first)], 9)).stderr).toMatch(/only read shared vault "Team"/);
    expect((await kpm('c1', ['get', 'ci'])).stdout).toBe('Ci-Pw-8d7f-second\n');
    expect((await kpm('a1', ['restore', 'ci', '--rev', String(first)])).stderr).toMatch(/Restored "ci"/);
    expect((await kpm('c1', ['get', 'ci'])).stdout).toBe('Ci-Pw-8d7f-first\n');
    expect(JSON.parse((await kpm('b1', ['history', 'ci', '--json'])).stdout)).toHaveLength(3);
    // rm, the trash, restore from the trash
    await kpm('b1', ['rm', 'wifi', '--vault', 'Team', '--yes']);
    await kpm('c1', ['get', 'wifi'], 3);
    expect((await kpm('c1', ['trash'])).stdout).toMatch(/^wifi {2}\[Team\]/m);
    await kpm('c1', ['restore', 'wifi'], 9);
    await kpm('b1', ['restore', 'wifi']);
    expect((await kpm('c1', ['get', 'wifi'])).stdout).toBe('ssid team / key Kp9-hunter2-wifi\n');
  }, 300_000);

  it('export includes the shared vault as a vault "Team (shared)", and says so', async () => {
    await kpm('c1', ['add', 'own-note', '--type', 'note', '--notes', 'mine']);
    const file = join(homes.c1, 'export.json');
    const r = await kpm('c1', ['export', '--format', 'kpm-json', '-o', file, '--json']);
    expect(r.stderr).toMatch(/shared vault "Team" included/);
    expect(JSON.parse(r.stdout)).toMatchObject({ sharedVaults: ['Team'] });
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { entries: { vault: string; name: string; type: string; custom: unknown[] }[] };
    const byName = Object.fromEntries(doc.entries.map((e) => [e.name, e]));
    expect(byName['own-note'].vault).toBe('Personal');
    expect(byName['team-visa']).toMatchObject({ vault: 'Team (shared)', type: 'card', custom: [{ name: 'bank pin', value: PIN, kind: 'hidden' }] });
    expect(byName.ci).toMatchObject({ vault: 'Team (shared)', type: 'login' });
  }, 300_000);

  it('audit finds a password reused across an own and a shared vault, and names the shared vaults it checked', async () => {
    await kpm('c1', ['add', 'my-vpn', '--password-stdin'], 0, 'Vpn-Pw-33k1-shared\n');
    await kpm('c1', ['sync']);
    const r = await kpm('c1', ['audit', '--offline', '--only', 'reused', '--json']);
    const report = JSON.parse(r.stdout) as { sharedVaults: string[]; reused: { entries: { name: string; vault: string }[] }[] };
    expect(report.sharedVaults).toEqual(['Team']);
    expect(report.reused.map((g) => g.entries.map((e) => `${e.vault}/${e.name}`).sort())).toEqual([['Personal/my-vpn', 'Team (shared)/vpn']]);
    expect((await kpm('c1', ['audit', '--offline', '--only', 'reused'])).stdout).toMatch(/shared vaults checked too: "Team"/);
  }, 300_000);

  it('shell completion offers the names of shared entries (from the verified copy, while unlocked)', async () => {
    await kpm('c1', ['sync']);
    await kpm('c1', ['unlock', '--password-stdin'], 0, MASTER + '\n', {});
    const names = (await kpm('c1', ['__complete', 'entries', ''], 0, undefined, {})).stdout.split('\n').filter(Boolean).sort();
    expect(names).toEqual(expect.arrayContaining(['ci', 'team-visa', 'vpn']));
    expect((await kpm('c1', ['__complete', 'entries', 'tea'], 0, undefined, {})).stdout).toBe('team-visa\n');
    await kpm('c1', ['lock'], 0, undefined, {});
    expect((await kpm('c1', ['__complete', 'entries', ''], 0, undefined, {})).stdout).toBe('');
  }, 300_000);
});
