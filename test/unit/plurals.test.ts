// Counts in messages read "1 minute", never "1 minutes" (issue #22 "after 1 idle minutes"; the
// same pattern was in the server's hourly-cap message, its mails and its pages).
import { describe, expect, it } from 'vitest';
import { plural } from '../../src/core/text.js';
import { ACCOUNT_PW, createAccount, testServer } from '../helpers/server.js';
import { activation, reset } from '../../src/server/mails.js';

describe('plurals in messages', () => {
  it('plural: 1 is singular, 0 and 2 are plural, an irregular plural is used as given', () => {
    expect(plural(1, 'minute')).toBe('1 minute');
    expect(plural(0, 'minute')).toBe('0 minutes');
    expect(plural(2, 'idle minute')).toBe('2 idle minutes');
    expect(plural(1, 'entry', 'entries')).toBe('1 entry');
    expect(plural(3, 'entry', 'entries')).toBe('3 entries');
  });

  it('the hourly cap says "try again in 1 minute" when less than a minute is left', async () => {
    const s = await testServer({ check: { after: 1e9, hourlyCap: 2 } });
    try {
      await createAccount(s, 'plural@example.org');
      for (let i = 0; i < 2; i++) expect((await s.call('POST', '/v1/sessions', { email: 'plural@example.org', password: `Wrong${i}Password`, deviceName: 't' })).status).toBe(401);
      s.clock.advance(3600_000 - 30_000);
      const r = await s.call('POST', '/v1/sessions', { email: 'plural@example.org', password: ACCOUNT_PW, deviceName: 't' });
      expect(r.status).toBe(429);
      expect(r.body.message).toMatch(/try again in 1 minute$/);
    } finally {
      await s.app.close();
    }
  });

  it('mails name a 1-hour or 1-minute validity in the singular', async () => {
    const s = await testServer({ settings: { activationTtlMs: 3600_000, resetTtlMs: 60_000 } });
    try {
      expect(activation(s.ctx, 'a@example.org', 'ABC').text).toMatch(/valid for 1 hour\./);
      expect(reset(s.ctx, 'a@example.org', 'ABC').text).toMatch(/valid for 1 minute\./);
    } finally {
      await s.app.close();
    }
  });
});
