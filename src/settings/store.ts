// config.json through `conf`: ajv checks the schema on every read and write, conf writes atomically
// with mode 0600. Every read conf makes passes through `deserialize`, where the protection is
// verified (protection.ts) before conf sees the data. `conf` (and ajv) are imported only here, and
// only when a command needs the settings.
import type ConfType from 'conf';
import { ensureDir } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import { settingsJsonSchema, type StoredValues } from './schema.js';
import { PROTECTION_KEY, settingsFiles, invalidSettings, verifyState, type ProtectionRecord, type SettingsState } from './protection.js';
import { parseConfigText, readMarker, removeMarker, writeMarker } from './state.js';
import { withSettingsLock } from './throttle.js';
import { fromBase64 } from '../crypto/bytes.js';
import { KpmError } from '../core/errors.js';

type Conf = ConfType<Record<string, unknown>>;
type ConfClass = typeof ConfType;

const b64 = (bytes: number) => ({ type: 'string', pattern: '^[A-Za-z0-9+/]+={0,2}$', minLength: Math.ceil(bytes / 3) * 4, maxLength: Math.ceil(bytes / 3) * 4 });

const PROTECTION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'source', 'lockedAt', 'verifier', 'publicKey', 'signingKey', 'mac', 'signature'],
  properties: {
    version: { const: 1 },
    source: { enum: ['separate', 'master'] },
    lockedAt: { type: 'string', maxLength: 64 },
    verifier: { type: 'string', pattern: '^\\$argon2id\\$v=19\\$', maxLength: 200 },
    publicKey: b64(32),
    signingKey: b64(24 + 32 + 16),
    mac: b64(32),
    signature: b64(64),
  },
};

let confClass: ConfClass | undefined;
async function loadConfClass(): Promise<ConfClass> {
  confClass ??= (await import('conf')).default;
  return confClass;
}

function openConf(Conf: ConfClass, paths: KpmPaths): { conf: Conf; state: () => SettingsState } {
  ensureDir(paths.config);
  const files = settingsFiles(paths);
  let seen: SettingsState | undefined;
  let conf: Conf;
  try {
    conf = new Conf({
      cwd: paths.config,
      configName: 'config',
      projectName: 'kpm',
      configFileMode: 0o600,
      clearInvalidConfig: false,
      accessPropertiesByDotNotation: false,
      schema: { ...settingsJsonSchema(), [PROTECTION_KEY]: PROTECTION_SCHEMA } as never,
      rootSchema: { additionalProperties: false },
      ajvOptions: { useDefaults: false, strict: true },
      deserialize: (text: string) => {
        const marker = readMarker(paths);
        const file = parseConfigText(files.config, text, marker !== undefined);
        seen = verifyState(files.config, file, marker);
        return file as Record<string, unknown>;
      },
    });
  } catch (e) {
    throw mapConfError(files.config, e);
  }
  const state = (): SettingsState => {
    seen = undefined;
    let raw: Record<string, unknown>;
    try {
      raw = conf.store;
    } catch (e) {
      throw mapConfError(files.config, e);
    }
    // conf does not call deserialize for a missing file: verify that case here.
    return seen ?? verifyState(files.config, Object.keys(raw).length ? raw : undefined, readMarker(paths));
  };
  return { conf, state };
}

function mapConfError(where: string, e: unknown): unknown {
  if (e instanceof KpmError) return e;
  const msg = (e as Error)?.message ?? '';
  if (msg.startsWith('Config schema violation:')) return invalidSettings(where, [msg.slice('Config schema violation:'.length).trim()]);
  return e;
}

/** Reads and verifies the settings (exit 8 if they are invalid or fail verification). */
export async function loadState(paths: KpmPaths): Promise<SettingsState> {
  const Conf = await loadConfClass();
  return openConf(Conf, paths).state();
}

export interface SettingsChange {
  values: StoredValues;
  record: ProtectionRecord | null;
}

/**
 * Changes the settings under the settings lock: re-reads and verifies the current state, asks
 * `change` for the new values and record, writes config.json, then the marker (written when the
 * new record is protected, removed when not). Returns the new state.
 */
export async function commitSettings(paths: KpmPaths, change: (current: SettingsState) => SettingsChange): Promise<SettingsState> {
  const Conf = await loadConfClass();
  return withSettingsLock(paths, () => {
    const { conf, state } = openConf(Conf, paths);
    const next = change(state());
    const file: Record<string, unknown> = { ...structuredClone(next.values) };
    if (next.record) file[PROTECTION_KEY] = next.record;
    try {
      conf.store = file;
    } catch (e) {
      throw mapConfError(settingsFiles(paths).config, e);
    }
    if (next.record) writeMarker(paths, fromBase64(next.record.publicKey));
    else removeMarker(paths);
    return { exists: true, values: next.values, record: next.record };
  });
}
