// The protocol's TypeScript shapes are derived from its JSON Schemas (src/protocol/fromschema.ts):
// a required property is required, an optional one optional, const/enum are literal types, a
// ["string","null"] type is string | null. Checked by `tsc --noEmit` (expectTypeOf, @ts-expect-error)
// and, at run time, by validating values of the derived types against the schemas.
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { FromSchema } from '../../src/protocol/fromschema.js';
import { Challenge, SyncState, TokenView, TotpSetup, type ChallengeT, type SyncStateT, type TokenViewT, type TotpSetupT } from '../../src/protocol/schemas.js';
import { validate } from '../../src/protocol/validate.js';

describe('FromSchema', () => {
  it('derives required, optional, const, enum, null and array types', () => {
    const s = { type: 'object', properties: { a: { type: 'string' }, b: { type: ['integer', 'null'] }, c: { type: 'string', enum: ['x', 'y'] }, d: { type: 'array', items: { type: 'boolean' } }, e: { const: 3 } }, required: ['a', 'c'] } as const;
    expectTypeOf<FromSchema<typeof s>>().toEqualTypeOf<{ a: string; c: 'x' | 'y'; b?: number | null; d?: boolean[]; e?: 3 }>();
    expectTypeOf<TotpSetupT>().toEqualTypeOf<{ secret: string; uri: string; algorithm: 'SHA1'; digits: 6; period: 30 }>();
    expectTypeOf<SyncStateT['keyring']>().toEqualTypeOf<{ epoch: number; body: string } | null>();
    expectTypeOf<ChallengeT>().toEqualTypeOf<{ id: string; expiresAt: string; captcha: { lines: string[]; length: number }; pow?: { salt: string; bits: number } }>();
    // @ts-expect-error lastUsedAt is required (it may be null)
    const missing: TokenViewT = { id: 'a', name: 'n', vaultId: 'v', createdAt: 'c', expiresAt: 'e', revoked: false };
    expect(missing).toBeDefined();
  });

  it('values of the derived types pass the schemas they come from', () => {
    const t = '2026-12-01T12:00:00.000Z';
    const c: ChallengeT = { id: 'abc', expiresAt: t, captcha: { lines: ['##'], length: 4 } };
    const v: TokenViewT = { id: 'a'.repeat(32), name: 'ci', vaultId: 'b'.repeat(32), createdAt: t, expiresAt: t, lastUsedAt: null, revoked: false };
    const st: SyncStateT = { keyring: null, vaults: [] };
    const totp: TotpSetupT = { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', uri: 'otpauth://totp/x', algorithm: 'SHA1', digits: 6, period: 30 };
    expect([validate(Challenge, c), validate(TokenView, v), validate(SyncState, st), validate(TotpSetup, totp)]).toEqual([null, null, null, null]);
  });
});
