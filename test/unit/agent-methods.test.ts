// S13 and S11 at the unit level: the agent's one method table, and the one list of secret variables.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { AGENT_METHODS, checkRequest, CONTROL_TABLE, METHOD_TABLE, WRITE_METHODS } from '../../src/agent/api.js';
import { AGENT_PROTOCOL, tokenFileText, tokenProtocol } from '../../src/agent/socket.js';
import { sessionApi } from '../../src/agent/local.js';
import { childEnv, isSecretEnv } from '../../src/core/childenv.js';

const now = '2026-01-01T00:00:00.000Z';
const payload = { type: 'login', name: 'n', fields: { password: 'p' }, custom: [], tags: [], created: now, updated: now };

describe('S13: the method table', () => {
  it('S13: covers exactly the VaultApi methods an in-process session serves; writes derive from it', () => {
    const api = sessionApi({} as never);
    const served = Object.keys(api).filter((k) => typeof (api as unknown as Record<string, unknown>)[k] === 'function' && k !== 'close');
    expect([...AGENT_METHODS].sort()).toEqual(served.sort());
    expect([...WRITE_METHODS].sort()).toEqual(['add', 'addMany', 'changeVaultPassword', 'createVault', 'purgeHistory', 'purgeTrash', 'removeVault', 'renameVault', 'restore', 'remove', 'rotateVaultKey', 'update'].sort());
    for (const m of AGENT_METHODS) expect(METHOD_TABLE[m].params.length).toBeGreaterThanOrEqual(0);
  });

  it('S13: refuses a payload whose field is not a string, and other malformed requests', () => {
    expect(checkRequest('add', [null, payload])).toBeNull();
    expect(checkRequest('add', [null, { ...payload, fields: { password: 42 } }])).toMatch(/fields\.password: expected string/);
    expect(checkRequest('add', [null, { ...payload, fields: 'x' }])).toMatch(/expected object/);
    expect(checkRequest('add', [null])).toMatch(/expected object/);
    expect(checkRequest('get', ['a', null, null])).toMatch(/at most 2/);
    expect(checkRequest('toString', [])).toMatch(/unknown agent method/);
    expect(checkRequest('hasOwnProperty', [])).toMatch(/unknown agent method/);
    expect(checkRequest(7, [])).toMatch(/unknown agent method/);
    expect(checkRequest('get', { 0: 'a' })).toMatch(/must be a list/);
    expect(checkRequest('get', ['a'])).toBeNull();
    expect(checkRequest('status', undefined)).toBeNull();
    expect(checkRequest('update', ['Personal', 'id', 3, payload])).toBeNull();
    expect(checkRequest('update', ['Personal', 'id', '3', payload])).toMatch(/expected integer/);
  });
});

describe('S11: secret variables never reach a child', () => {
  it('S11: one list, by name and by kind', () => {
    for (const k of ['KPM_MASTER_PASSWORD', 'KPM_EXPORT_PASSWORD', 'KPM_TOKEN', 'KPM_SETTINGS_PASSWORD', 'KPM_VAULT_PASSWORD', 'KPM_VAULT_PASSWORD_WORK', 'KPM_OIDC_CORP_SECRET', 'KPM_SERVER_KEY', 'KPM_SMTP_URL', 'KPM_SERVER_DATABASE', 'KPM_SMS_HTTP_AUTH']) {
      expect(isSecretEnv(k), k).toBe(true);
    }
    for (const k of ['KPM_HOME', 'KPM_SERVER', 'KPM_OFFLINE', 'KPM_AUDIT_WORKERS', 'KPM_DEBUG', 'PATH', 'HOME']) expect(isSecretEnv(k), k).toBe(false);
    const env = childEnv({}, { KPM_EXPORT_PASSWORD: 'x', KPM_HOME: '/h', KPM_OFFLINE: '1' });
    expect(env).toEqual({ KPM_HOME: '/h', KPM_OFFLINE: '1' });
    expect(childEnv({ agent: true }, { KPM_OFFLINE: '1', KPM_HOME: '/h' })).toEqual({ KPM_HOME: '/h' });
  });
});

describe('#18: the agent protocol version', () => {
  it('the method table is pinned to the protocol number: a change to the table needs a new AGENT_PROTOCOL', () => {
    const table = { ...METHOD_TABLE, ...CONTROL_TABLE };
    const text = JSON.stringify(Object.keys(table).sort().map((m) => [m, table[m as keyof typeof table]]));
    const fingerprint = createHash('sha256').update(text).digest('hex').slice(0, 16);
    // when this fails: bump AGENT_PROTOCOL in src/agent/socket.ts and record the new pair here
    expect({ protocol: AGENT_PROTOCOL, fingerprint }).toEqual({ protocol: 8, fingerprint: '1012bd7690369fab' }); // 7: the agent holds the shared vaults (getFieldAll, listTextAll, listAll, sharedHeld; src/agent/sharedhold.ts); 8: shareSign also signs the owner's compaction statement (KPSC, docs/SHARING.md "Purging and compacting a shared vault")
  });

  it('the token file names the protocol; a bare token (an agent from before versioning) is protocol 1', () => {
    const hex = 'ab'.repeat(32);
    expect(tokenProtocol(tokenFileText(AGENT_PROTOCOL, hex))).toBe(AGENT_PROTOCOL);
    expect(tokenProtocol(hex)).toBe(1);
    expect(tokenProtocol(`7:${hex}`)).toBe(7);
    expect(tokenProtocol(`7:${hex}x`)).toBe(1);
  });

  it('every table entry has one schema per parameter of its method, and getField is a read', () => {
    expect(CONTROL_TABLE.getField.params).toHaveLength(3);
    expect(METHOD_TABLE.restore.params).toHaveLength(4);
    expect(WRITE_METHODS.has('getField')).toBe(false);
    expect(checkRequest('restore', ['a', null, 2, true])).toBeNull();
  });
});
