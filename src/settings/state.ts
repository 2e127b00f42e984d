// The protection marker and reading the settings state (every reader: the store, the guard,
// status, the colour setting). The marker, <data>/settings.lock, lives outside config.json so that
// deleting the protection record from config.json is noticed: {"version":1,"publicKey":"…"}.
import * as fs from 'node:fs';
import { fromBase64, toBase64, utf8 } from '../crypto/bytes.js';
import { ensureDir, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import type { KpmPaths } from '../core/paths.js';
import { settingsFiles, tampered, verifyState, invalidSettings, type SettingsState } from './protection.js';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.js';

/** The public key in the marker, or undefined when there is no marker. A damaged marker is exit 8. */
export function readMarker(paths: KpmPaths): Uint8Array | undefined {
  const files = settingsFiles(paths);
  const bytes = readFileOrNull(files.marker);
  if (bytes === null) return undefined;
  try {
    const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as { version?: unknown; publicKey?: unknown };
    const keys = Object.keys(m ?? {});
    if (m?.version === 1 && typeof m.publicKey === 'string' && keys.length === 2 && /^[A-Za-z0-9+/]+={0,2}$/.test(m.publicKey)) {
      const key = fromBase64(m.publicKey);
      if (key.length === PUBLIC_KEY_BYTES) return key;
    }
  } catch {
    /* reported below */
  }
  throw tampered(files.config, `the protection marker ${files.marker} is damaged`);
}

export function writeMarker(paths: KpmPaths, publicKey: Uint8Array): void {
  ensureDir(paths.data);
  writeFileAtomic(settingsFiles(paths).marker, utf8.encode(JSON.stringify({ version: 1, publicKey: toBase64(publicKey) }) + '\n'));
}

export function removeMarker(paths: KpmPaths): void {
  fs.rmSync(settingsFiles(paths).marker, { force: true });
}

/** Parses config.json text; a syntax error is exit 8 (tampered when protected, invalid otherwise). */
export function parseConfigText(where: string, text: string, protectedByMarker: boolean): unknown {
  try {
    return JSON.parse(text);
  } catch {
    if (protectedByMarker) throw tampered(where, 'the file is not valid JSON');
    throw invalidSettings(where, ['the file is not valid JSON']);
  }
}

/**
 * Reads and verifies config.json and the marker (no password, no `conf`). With `checkValues`
 * false, an unprotected file is not checked for unknown or invalid settings (the guard only needs
 * to know whether the settings are protected).
 */
export function readState(paths: KpmPaths, checkValues = true): SettingsState {
  const files = settingsFiles(paths);
  const marker = readMarker(paths);
  const bytes = readFileOrNull(files.config);
  if (bytes !== null && marker === undefined && !checkValues && !looksLikeJson(bytes)) return { exists: true, values: {}, record: null };
  const file = bytes === null ? undefined : parseConfigText(files.config, Buffer.from(bytes).toString('utf8'), marker !== undefined);
  return verifyState(files.config, file, marker, checkValues);
}

function looksLikeJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(Buffer.from(bytes).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
