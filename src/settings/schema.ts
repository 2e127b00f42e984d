// The settings kpm knows: one table gives each key its type, limits, default and help text. The
// JSON schema handed to `conf`, the parsing of `kpm config set KEY VALUE`, the validation of a
// loaded file and the README table all come from it. No key names a command, a hook or an export
// target: a config file cannot make kpm run anything or write plaintext anywhere (R37).
import { usageError } from '../core/errors.js';

export type SettingKind = 'int' | 'bool' | 'enum' | 'url' | 'name';

export interface SettingSpec {
  key: string;
  kind: SettingKind;
  default: number | boolean | string | null;
  min?: number;
  max?: number;
  values?: readonly string[];
  help: string;
}

const NAME_MAX = 256;

export const SETTINGS: readonly SettingSpec[] = [
  { key: 'server', kind: 'url', default: null, help: 'sync server URL; unset = no server' },
  { key: 'autolock', kind: 'int', default: 15, min: 0, max: 10080, help: 'minutes of inactivity before the agent locks (0 = never)' },
  { key: 'clipboard_clear', kind: 'int', default: 30, min: 0, max: 3600, help: 'seconds before `get --copy` clears the clipboard (0 = never)' },
  { key: 'generator.length', kind: 'int', default: 20, min: 4, max: 1024, help: 'length of generated passwords' },
  { key: 'generator.symbols', kind: 'bool', default: true, help: 'generated passwords contain symbols' },
  { key: 'generator.words', kind: 'int', default: 6, min: 1, max: 64, help: 'words in generated passphrases (`--words` without a number)' },
  { key: 'sync', kind: 'enum', default: 'auto', values: ['auto', 'manual'], help: 'sync after every change (auto) or only on `kpm sync` (manual)' },
  { key: 'default_vault', kind: 'name', default: 'Personal', help: 'the vault new entries go to without --vault (it must exist)' },
  { key: 'color', kind: 'enum', default: 'auto', values: ['auto', 'always', 'never'], help: 'coloured output and prompts (auto: each stream on a terminal, without NO_COLOR or TERM=dumb)' },
  { key: 'audit_min_score', kind: 'int', default: 3, min: 0, max: 4, help: 'zxcvbn score (0-4) below which `kpm audit` calls a password weak' },
  { key: 'audit_max_age_days', kind: 'int', default: 365, min: 1, max: 36500, help: 'passwords older than this are reported as old' },
  { key: 'history.keep', kind: 'int', default: 20, min: 1, max: 10000, help: 'versions kept per entry (`kpm history`); older ones are deleted for good when the vault is compacted' },
  { key: 'trash.days', kind: 'int', default: 30, min: 0, max: 36500, help: 'days an entry stays in the trash before it is deleted for good (0 = until `kpm trash purge`)' },
  { key: 'hibp_url', kind: 'url', default: 'https://api.pwnedpasswords.com', help: 'Pwned Passwords range API used by `kpm audit` (point it at your own mirror)' },
  { key: 'share.require_verified', kind: 'bool', default: false, help: '`kpm share VAULT --with EMAIL` refuses (exit 9) a contact whose fingerprint is not verified, instead of warning (docs/SHARING.md)' },
];

export const SETTING_KEYS: readonly string[] = SETTINGS.map((s) => s.key);

/**
 * Keys kpm once had and dropped because nothing on the client could act on them (the server alone
 * decides when its security check starts). A file that still holds one is read as before, the
 * value ignored; `kpm config set` refuses them and `kpm config reset` removes them.
 */
export const RETIRED_KEYS: ReadonlyMap<string, string> = new Map([
  ['security_check.threshold', 'the sync server decides after how many failed sign-ins its security check starts'],
  ['security_check.window_minutes', 'the sync server decides in which window failed sign-ins count'],
]);
const byKey = new Map(SETTINGS.map((s) => [s.key, s]));

/** The typed settings, defaults filled in, shaped like the file (dotted keys are nested objects). */
export interface CoreSettings {
  server: string | null;
  autolock: number;
  clipboard_clear: number;
  generator: { length: number; symbols: boolean; words: number };
  sync: 'auto' | 'manual';
  default_vault: string;
  color: 'auto' | 'always' | 'never';
  audit_min_score: number;
  audit_max_age_days: number;
  hibp_url: string;
  history: { keep: number };
  trash: { days: number };
  share: { require_verified: boolean };
}

/** A settings object as stored: only the keys the user set, nested like the file. */
export type StoredValues = Record<string, unknown>;

export function specFor(key: string): SettingSpec {
  const spec = byKey.get(key);
  const retired = RETIRED_KEYS.get(key);
  if (!spec && retired) throw usageError(`the setting "${key}" was removed: ${retired}`, `\`kpm config reset ${key}\` removes it from config.json`);
  if (!spec) throw usageError(`unknown setting "${key}"; the settings are: ${SETTING_KEYS.join(', ')}`);
  return spec;
}

/** What a key accepts, in words, for error messages. */
export function allowedText(spec: SettingSpec): string {
  switch (spec.kind) {
    case 'int':
      return `a whole number from ${spec.min} to ${spec.max}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of: ${spec.values!.join(', ')}`;
    case 'url':
      return 'an https:// URL (http:// only to localhost, 127.x.x.x or [::1]; no credentials, query or fragment)';
    case 'name':
      return `a vault name (1-${NAME_MAX} characters, no control characters)`;
  }
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i; // as src/audit/hibp.ts

function isAllowedUrl(v: string): boolean {
  if (v.length > 2048) return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  if (u.username || u.password || u.search || u.hash) return false; // no credentials, query or fragment
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && LOOPBACK.test(u.hostname);
}

/** Null when `value` is a valid value of `spec`, else why not. */
export function checkValue(spec: SettingSpec, value: unknown): string | null {
  const bad = `${spec.key} must be ${allowedText(spec)}`;
  switch (spec.kind) {
    case 'int':
      return Number.isSafeInteger(value) && (value as number) >= spec.min! && (value as number) <= spec.max! ? null : bad;
    case 'bool':
      return typeof value === 'boolean' ? null : bad;
    case 'enum':
      return typeof value === 'string' && spec.values!.includes(value) ? null : bad;
    case 'url':
      return typeof value === 'string' && isAllowedUrl(value) ? null : bad;
    case 'name': {
      if (typeof value !== 'string') return bad;
      const n = value.normalize('NFC').trim();
      // eslint-disable-next-line no-control-regex
      return n.length > 0 && n.length <= NAME_MAX && n === value && !/[\u0000-\u001f\u007f]/.test(n) ? null : bad;
    }
  }
}

/** Parses the text of `kpm config set KEY VALUE` into a typed value; exit 2 naming what is allowed. */
export function parseValue(key: string, text: string): number | boolean | string {
  const spec = specFor(key);
  let value: unknown = text;
  if (spec.kind === 'int') value = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  else if (spec.kind === 'bool') value = text === 'true' ? true : text === 'false' ? false : text;
  else if (spec.kind === 'name') value = text.normalize('NFC').trim();
  const problem = checkValue(spec, value);
  if (problem) throw usageError(`${problem}, got ${JSON.stringify(text)}`);
  return value as number | boolean | string;
}

// Dotted keys ("generator.length") live in nested objects ({"generator": {"length": 20}}).

export function getPath(obj: StoredValues, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A copy of `obj` with `key` set (or removed when `value` is undefined); empty groups are dropped. */
export function withPath(obj: StoredValues, key: string, value: unknown): StoredValues {
  const out: StoredValues = structuredClone(obj);
  const parts = key.split('.');
  let cur: Record<string, unknown> = out;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  if (parts.length > 1 && value === undefined && Object.keys(cur).length === 0) delete out[parts[0]];
  return out;
}

/** Every problem of a stored values object: unknown keys and invalid values, by dotted key. */
export function problemsOf(values: StoredValues): string[] {
  const problems: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + k;
      const spec = byKey.get(key);
      if (RETIRED_KEYS.has(key)) continue; // kept in an old file, ignored
      if (spec) {
        const p = checkValue(spec, v);
        if (p) problems.push(p);
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && [...SETTING_KEYS, ...RETIRED_KEYS.keys()].some((s) => s.startsWith(key + '.'))) {
        walk(v as Record<string, unknown>, key + '.');
      } else problems.push(`unknown setting "${key}"`);
    }
  };
  walk(values, '');
  return problems;
}

/** Only the known, valid keys of `values` (what `kpm settings recover` keeps of a tampered file). */
export function validSubset(values: StoredValues): StoredValues {
  let out: StoredValues = {};
  for (const spec of SETTINGS) {
    const v = getPath(values, spec.key);
    if (v !== undefined && checkValue(spec, v) === null) out = withPath(out, spec.key, v);
  }
  return out;
}

/** The effective value of every key: the stored one, or the default. */
export function effectiveFlat(values: StoredValues): Record<string, number | boolean | string | null> {
  const out: Record<string, number | boolean | string | null> = {};
  for (const spec of SETTINGS) {
    const v = getPath(values, spec.key);
    out[spec.key] = v === undefined ? spec.default : (v as number | boolean | string);
  }
  return out;
}

export function toCoreSettings(values: StoredValues): CoreSettings {
  let nested: StoredValues = {};
  for (const [k, v] of Object.entries(effectiveFlat(values))) nested = withPath(nested, k, v);
  return nested as unknown as CoreSettings;
}

export const DEFAULT_SETTINGS: CoreSettings = toCoreSettings({});


/** The Markdown table of the settings in README.md and docs/SETTINGS.md (a test keeps them in step). */
export function settingsTableRows(): string[] {
  const def = (s: SettingSpec) => (s.default === null ? 'unset' : s.kind === 'url' || s.kind === 'name' || s.kind === 'enum' ? `\`${s.default}\`` : String(s.default));
  return ['| key | default | meaning | accepted values |', '|---|---|---|---|', ...SETTINGS.map((s) => `| \`${s.key}\` | ${def(s)} | ${s.help.replace(/\|/g, '\\|')} | ${allowedText(s)} |`)];
}
