// config.json: read and verified by readState (state.ts: kpm's own checks of every value and of the
// protection record, the signature when protected), written atomically with mode 0600 under the
// settings lock. (Through `conf` and ajv until 2026-12: a second schema check of the same rules,
// which cost about 0.2 s of start-up on every command that read the settings.)
import { ensureDir, writeFileAtomic } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import type { StoredValues } from './schema.js';
import { PROTECTION_KEY, settingsFiles, type ProtectionRecord, type SettingsState } from './protection.js';
import { readState, removeMarker, writeMarker } from './state.js';
import { withSettingsLock } from './throttle.js';
import { fromBase64, utf8 } from '../crypto/bytes.js';

/** Reads and verifies the settings (exit 8 if they are invalid or fail verification). */
export async function loadState(paths: KpmPaths): Promise<SettingsState> {
  return readState(paths);
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
  return withSettingsLock(paths, () => {
    const next = change(readState(paths));
    const file: Record<string, unknown> = { ...structuredClone(next.values) };
    if (next.record) file[PROTECTION_KEY] = next.record;
    ensureDir(paths.config);
    writeFileAtomic(settingsFiles(paths).config, utf8.encode(JSON.stringify(file, undefined, '\t')));
    if (next.record) writeMarker(paths, fromBase64(next.record.publicKey));
    else removeMarker(paths);
    return { exists: true, values: next.values, record: next.record };
  });
}
