// Secret references, the dotenv parser and the template scanner (pure functions), and resolution
// through a fake `get` source (the seam a service-token backend plugs into).
import { describe, expect, it } from 'vitest';
import { formatRef, isRef, parseRef, resolveRefs, type SecretSource } from '../../src/cli/refs.js';
import { parseEnvFile, scanTemplate } from '../../src/cli/envfile.js';
import { KpmError, EXIT, notFound } from '../../src/core/errors.js';
import type { EntryView } from '../../src/vault/session.js';

function usageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KpmError);
    expect((e as KpmError).exitCode).toBe(EXIT.usage);
    return (e as KpmError).message;
  }
  throw new Error('expected a usage error');
}

describe('parseRef', () => {
  it('reads the long and the short form', () => {
    expect(parseRef('kpm://Personal/github/password')).toMatchObject({ vault: 'Personal', item: 'github', field: 'password' });
    expect(parseRef('kpm://github/username')).toMatchObject({ vault: undefined, item: 'github', field: 'username' });
    expect(parseRef('KPM://Work/aws/totp').vault).toBe('Work');
  });

  it('decodes percent escapes as UTF-8 and keeps literal spaces', () => {
    expect(parseRef('kpm://My%20Vault/a%2Fb c%25d/api key')).toMatchObject({ vault: 'My Vault', item: 'a/b c%d', field: 'api key' });
    expect(parseRef('kpm://V/caf%C3%A9/password').item).toBe('café');
    expect(parseRef('kpm://V/日本/password').item).toBe('日本');
    expect(parseRef('kpm://V/x%7D%7By/password').item).toBe('x}{y');
  });

  it('round-trips names with slashes, spaces, percent signs and braces through formatRef', () => {
    for (const [v, i, f] of [['Personal', 'a/b c%d', 'password'], ['100% safe', '%2F literal', 'my/field'], ['V', '{{x}}', 'notes']]) {
      const text = formatRef(v, i, f);
      expect(text.slice(6)).not.toMatch(/[{}]|%(?![0-9A-F]{2})/);
      expect(parseRef(text)).toMatchObject({ vault: v, item: i, field: f });
    }
    expect(parseRef(formatRef(undefined, 'a/b', 'totp'))).toMatchObject({ vault: undefined, item: 'a/b', field: 'totp' });
  });

  it('refuses bad references with the position and the reason', () => {
    expect(usageOf(() => parseRef('op://a/b/c'))).toMatch(/at character 1: a reference starts with kpm:\/\//);
    expect(usageOf(() => parseRef('kpm://github'))).toMatch(/at character 13: expected ITEM\/FIELD/);
    expect(usageOf(() => parseRef('kpm://a/b/c/d'))).toMatch(/at character 12: too many "\/"/);
    expect(usageOf(() => parseRef('kpm://a/b%zz/c'))).toMatch(/at character 10: "%" must start an escape/);
    expect(usageOf(() => parseRef('kpm://a/b%2/c'))).toMatch(/at character 10/);
    expect(usageOf(() => parseRef('kpm://a//c'))).toMatch(/at character 9: empty/);
    expect(usageOf(() => parseRef('kpm://a/%FF/c'))).toMatch(/not decode to valid UTF-8/);
    expect(usageOf(() => parseRef('kpm://a/b\n/c'))).toMatch(/control characters/);
  });

  it('isRef only looks at the scheme', () => {
    expect(isRef('kpm://x/y')).toBe(true);
    expect(isRef('Kpm://x')).toBe(true);
    expect(isRef(' kpm://x/y')).toBe(false);
    expect(isRef('https://kpm.example')).toBe(false);
  });
});

describe('resolveRefs', () => {
  const entry = (name: string, fields: Record<string, string>, custom: Array<{ name: string; value: string }> = []): EntryView => ({
    id: 'f'.repeat(32), vault: 'Personal', version: 1,
    payload: { type: 'login', name, fields, custom, tags: [], created: '', updated: '' },
  });

  it('fetches each entry once and reads fields, custom fields and the current TOTP code', async () => {
    const calls: Array<[string, string | undefined]> = [];
    const source: SecretSource = {
      async get(q, vault) {
        calls.push([q, vault]);
        if (q === 'github') return entry('github', { password: 'pw1', username: 'octo', totp: 'otpauth://totp/x?secret=JBSWY3DPEHPK3PXP' }, [{ name: 'API key', value: 'k-1' }]);
        throw notFound(`no entry named "${q}"`);
      },
    };
    const refs = ['kpm://Personal/github/password', 'kpm://Personal/github/username', 'kpm://Personal/github/api key', 'kpm://Personal/github/totp'].map(parseRef);
    const values = await resolveRefs(refs, source);
    expect(values.slice(0, 3)).toEqual(['pw1', 'octo', 'k-1']);
    expect(values[3]).toMatch(/^\d{6}$/);
    expect(calls).toEqual([['github', 'Personal']]);
    await expect(resolveRefs([parseRef('kpm://Personal/gitlab/password')], source)).rejects.toMatchObject({
      exitCode: EXIT.notFound, message: 'kpm://Personal/gitlab/password: no entry named "gitlab"',
    });
    await expect(resolveRefs([parseRef('kpm://github/pin')], source)).rejects.toMatchObject({ exitCode: EXIT.notFound, message: expect.stringContaining('has no field "pin"') });
  });
});

describe('parseEnvFile', () => {
  it('reads dotenv syntax', () => {
    const text = [
      '# comment',
      '',
      'A=plain value # trailing comment',
      'export B = "double \\"quoted\\"\\nline"',
      "C='single # not a comment $X'",
      'D="multi',
      'line"  # ok',
      'E=',
      'F=kpm://Personal/db/password',
      'G=a#b',
      "H='it''",
    ];
    expect(() => parseEnvFile(text.join('\n'), '.env')).toThrow(/\.env:11: unexpected text after the closing quote/);
    expect(parseEnvFile(text.slice(0, 10).join('\r\n'), '.env')).toEqual([
      ['A', 'plain value'], ['B', 'double "quoted"\nline'], ['C', 'single # not a comment $X'], ['D', 'multi\nline'], ['E', ''],
      ['F', 'kpm://Personal/db/password'], ['G', 'a#b'],
    ]);
  });

  it('names the file and line of an error', () => {
    expect(() => parseEnvFile('A=1\nnot a line\n', 'x.env')).toThrow(/^x\.env:2: expected KEY=VALUE$/);
    expect(() => parseEnvFile('A=1\nB="open\n\n', 'x.env')).toThrow(/^x\.env:2: unterminated double quote$/);
    expect(() => parseEnvFile('1A=x', 'x.env')).toThrow(/x\.env:1/);
  });
});

describe('scanTemplate', () => {
  it('finds {{ kpm://… }} with or without spaces and leaves other braces alone', () => {
    const parts = scanTemplate('user: {{kpm://V/db/username}}\npass: {{  kpm://V/db/password }}\nother: {{ .Values.x }} {x}\n');
    expect(parts).toEqual([
      { text: 'user: ', ref: false },
      { text: 'kpm://V/db/username', ref: true },
      { text: '\npass: ', ref: false },
      { text: 'kpm://V/db/password', ref: true },
      { text: '\nother: {{ .Values.x }} {x}\n', ref: false },
    ]);
    expect(scanTemplate('{{ kpm://V/my item/api key }}')).toEqual([{ text: 'kpm://V/my item/api key', ref: true }]);
    expect(scanTemplate('no refs')).toEqual([{ text: 'no refs', ref: false }]);
  });
});
