// `getField`: the one field of an entry that `kpm get NAME --field F` and `kpm read` print, picked
// where the entry is (the agent, or an in-process session), so only that value crosses the socket.
import { fieldValue, primaryField } from '../vault/entry.js';
import type { EntryView } from '../vault/session.js';
import type { FieldResult } from './api.js';

/** The asked field (undefined: the type's primary field); `totp` is the current code when the entry has a secret. */
export async function fieldOf(v: EntryView, field: string | undefined): Promise<FieldResult> {
  const f = (field ?? primaryField(v.payload.type)).toLowerCase();
  const base = { name: v.payload.name, vault: v.vault, field: field ?? f };
  if (f === 'totp' && v.payload.fields.totp) {
    const { parseOtpauthUri, totpNow } = await import('../vault/totp.js');
    return { ...base, value: totpNow(parseOtpauthUri(v.payload.fields.totp)).code };
  }
  const value = fieldValue(v.payload, f);
  return value === undefined ? base : { ...base, value };
}
