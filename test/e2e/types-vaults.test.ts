// Entry types (card, identity, note) and data vaults with their own password, through the binary.
import { beforeAll, describe, expect, it } from 'vitest';
import { initHome, MASTER, run, runOk, runTty, stopAgent, withMaster } from '../helpers/kpm.js';

const VAULT_PW = 'Data-Vault-Password-81';

/**
 * `secret` shown as a value: not as a run of digits inside an entry id or a date (`show` prints
 * the random id, `visa  (card, Personal, 81239e33)`, which once held the code 123 by chance).
 */
const shown = (secret: string) => new RegExp(`(?<![0-9A-Za-z])${secret}(?![0-9A-Za-z])`);

it('a secret inside an entry id does not count as shown; standing alone it does', () => {
  expect('visa  (card, Personal, 81239e33)\n').not.toMatch(shown('123'));
  expect('Code: 123\n').toMatch(shown('123'));
  expect('pin 9876').toMatch(shown('9876'));
});

describe('entry types', () => {
  let home: string;
  const env = () => withMaster();
  beforeAll(async () => {
    home = initHome();
  });

  it('a card from a JSON document on stdin: brand detected, number masked in list and show, exact in get and --json', async () => {
    const doc = JSON.stringify({ cardholder: 'Ada Lovelace', number: '4242 4242 4242 4242', expiry: '12/29', code: '123', pin: '9876' });
    await runOk(['add', 'visa', '--type', 'card', '--from-json', '-'], { home, env: env(), input: doc });
    expect((await runOk(['get', 'visa'], { home, env: env() })).stdout).toBe('4242 4242 4242 4242\n');
    expect((await runOk(['get', 'visa', '--field', 'code'], { home, env: env() })).stdout).toBe('123\n');
    expect((await runOk(['get', 'visa', '--field', 'brand'], { home, env: env() })).stdout).toBe('Visa\n');
    const list = await runOk(['list', '--type', 'card'], { home, env: env() });
    expect(list.stdout).toContain('•••• 4242');
    expect(list.stdout).not.toContain('4242 4242');
    const show = await runOk(['show', 'visa'], { home, env: env() });
    expect(show.stdout).toContain('•••• 4242');
    expect(show.stdout).not.toMatch(shown('123'));
    expect(show.stdout).not.toMatch(shown('9876'));
    const j = JSON.parse((await runOk(['get', 'visa', '--json'], { home, env: env() })).stdout);
    expect(j).toMatchObject({ type: 'card', name: 'visa', fields: { cardholder: 'Ada Lovelace', number: '4242 4242 4242 4242', expiry: '12/29', code: '123', pin: '9876', brand: 'Visa' } });
    const listJson = JSON.parse((await runOk(['list', '--type', 'card', '--json'], { home, env: env() })).stdout);
    expect(listJson).toEqual([expect.objectContaining({ name: 'visa', type: 'card', hint: '•••• 4242' })]);
  });

  it('a card number failing the Luhn check is saved with a warning; flags work off a TTY; edit changes a field', async () => {
    const r = await runOk(['add', 'typo', '--type', 'card', '--field', 'number=5555555555554445', '--field', 'cardholder=B'], { home, env: env() });
    expect(r.stderr).toMatch(/Luhn/);
    expect((await runOk(['get', 'typo', '--field', 'brand'], { home, env: env() })).stdout).toBe('Mastercard\n');
    await runOk(['edit', 'typo', '--field', 'number=5555555555554444'], { home, env: env() });
    expect((await runOk(['get', 'typo'], { home, env: env() })).stdout).toBe('5555555555554444\n');
  });

  it('on a terminal, add --type card asks for each field (secret ones hidden)', async () => {
    const steps = [
      { expect: 'Cardholder', send: 'Grace Hopper\r' },
      { expect: 'Number', send: '378282246310005\r' },
      { expect: 'Expiry', send: '01/30\r' },
      { expect: 'Code', send: '4321\r' },
      { expect: 'Pin', send: '\r' },
      { expect: 'Notes', send: '\r' },
      { expect: 'Added' },
    ];
    const r = await runTty(['add', 'amex', '--type', 'card'], steps, { home, env: env() });
    expect(r.code, r.transcript).toBe(0);
    expect(r.transcript).not.toMatch(shown('4321')); // the security code is not echoed
    const j = JSON.parse((await runOk(['get', 'amex', '--json'], { home, env: env() })).stdout);
    expect(j.fields).toEqual({ cardholder: 'Grace Hopper', number: '378282246310005', expiry: '01/30', code: '4321', brand: 'American Express' });
  });

  it('an identity and a multi-line note, read field by field and listed by type', async () => {
    await runOk(['add', 'me', '--type', 'identity', '--field', 'fullname=Ada Lovelace', '--field', 'city=London', '--field', 'postcode=W1', '--field', 'email=ada@example.org'], { home, env: env() });
    expect((await runOk(['get', 'me'], { home, env: env() })).stdout).toBe('Ada Lovelace\n');
    expect((await runOk(['get', 'me', '--field', 'city'], { home, env: env() })).stdout).toBe('London\n');
    await runOk(['add', 'wifi', '--type', 'note'], { home, env: env(), input: 'line one\nline two\n' });
    expect((await runOk(['get', 'wifi'], { home, env: env() })).stdout).toBe('line one\nline two\n');
    const notes = JSON.parse((await runOk(['list', '--type', 'note', '--json'], { home, env: env() })).stdout);
    expect(notes.map((n: { name: string }) => n.name)).toEqual(['wifi']);
    const bad = await run(['list', '--type', 'spaceship'], { home, env: env() });
    expect(bad.code).toBe(2);
  });
});

describe('data vaults with their own password', () => {
  let home: string;
  beforeAll(async () => {
    home = initHome();
    const r = await runOk(['vault', 'create', 'Private', '--vault-password-stdin'], { home, env: withMaster(), input: VAULT_PW + '\n' });
    expect(r.stderr).toMatch(/cannot be recovered/);
  });

  it('the master password alone does not open it; its own password does; a wrong one exits 5', async () => {
    const list = JSON.parse((await runOk(['vault', 'list', '--json'], { home, env: withMaster() })).stdout);
    expect(list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Private', ownPassword: true, locked: true })]));
    const locked = await run(['add', 'x', '--vault', 'Private', '--generate'], { home, env: withMaster() });
    expect(locked.code).toBe(4);
    expect(locked.stderr).toMatch(/vault unlock/);
    expect(locked.stdout).toBe('');
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      const wrong = await run(['vault', 'unlock', 'Private', '--vault-password-stdin'], { home, input: 'not the password\n' });
      expect(wrong.code).toBe(5);
      await runOk(['vault', 'unlock', 'Private', '--vault-password-stdin'], { home, input: VAULT_PW + '\n' });
      await runOk(['add', 'diary', '--vault', 'Private', '--password-stdin'], { home, input: 'dear diary\n' });
      expect((await runOk(['get', 'diary'], { home })).stdout).toBe('dear diary\n');
      expect((await runOk(['list'], { home })).stdout).toContain('diary');
      await runOk(['vault', 'lock', 'Private'], { home });
      // locked again: its entries vanish from list and search, and get says so
      expect((await run(['list'], { home })).stdout).not.toContain('diary');
      expect((await run(['list', '--search', 'dia'], { home })).stdout).not.toContain('diary');
      const gone = await run(['get', 'diary'], { home });
      expect(gone.code).toBe(3);
      expect(gone.stderr).toMatch(/locked vaults are not searched: Private/);
    } finally {
      stopAgent(home);
    }
  });

  it('vault passwd rewraps its key: the old password stops working, the entries stay', async () => {
    await runOk(['vault', 'passwd', 'Private', '--vault-password-stdin'], { home, env: withMaster(), input: `${VAULT_PW}\nNew-Vault-Password-92\n` });
    await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
    try {
      expect((await run(['vault', 'unlock', 'Private', '--vault-password-stdin'], { home, input: VAULT_PW + '\n' })).code).toBe(5);
      await runOk(['vault', 'unlock', 'Private', '--vault-password-stdin'], { home, input: 'New-Vault-Password-92\n' });
      expect((await runOk(['get', 'diary', '--vault', 'Private'], { home })).stdout).toBe('dear diary\n');
    } finally {
      stopAgent(home);
    }
  });

  it('vault rename (a locked data vault must be unlocked first) and vault rm (refused off a TTY without --yes)', async () => {
    const lockedRename = await run(['vault', 'rename', 'Private', 'Secret'], { home, env: withMaster() });
    expect(lockedRename.code).toBe(4);
    await runOk(['vault', 'create', 'Work'], { home, env: withMaster() });
    await runOk(['vault', 'rename', 'Work', 'Office'], { home, env: withMaster() });
    const names = JSON.parse((await runOk(['vault', 'list', '--json'], { home, env: withMaster() })).stdout).map((v: { name: string }) => v.name);
    expect(names.sort()).toEqual(['Office', 'Personal', 'Private']);
    expect((await run(['vault', 'rm', 'Private'], { home, env: withMaster() })).code).toBe(2);
    await runOk(['vault', 'rm', 'Private', '--yes'], { home, env: withMaster() });
    await runOk(['vault', 'rm', 'Office', '--yes'], { home, env: withMaster() });
    expect(JSON.parse((await runOk(['vault', 'list', '--json'], { home, env: withMaster() })).stdout)).toHaveLength(1);
    expect((await run(['vault', 'rm', 'Personal', '--yes'], { home, env: withMaster() })).code).toBe(2); // the only vault
  });
});
