// The keys the CLI hands to a new agent through its stdin pipe (never argv or environment), as
// raw bytes so the receiving side can wipe them: profile id ‖ account key ‖ idle seconds ‖
// count ‖ (vault id ‖ vault key)*.
import { toHex } from '../crypto/bytes.js';
import { offHeapCopy } from '../crypto/aead.js';
import type { UnlockedProfile } from '../vault/keyring.js';

export function encodeHandover(profile: UnlockedProfile, vaultKeys: Record<string, Uint8Array>, idleSeconds: number): Buffer {
  const entries = Object.entries(vaultKeys);
  const out = Buffer.alloc(16 + 32 + 4 + 4 + entries.length * 48);
  let o = 0;
  out.set(profile.profileId, o); o += 16;
  out.set(profile.accountKey, o); o += 32;
  out.writeUInt32BE(idleSeconds, o); o += 4;
  out.writeUInt32BE(entries.length, o); o += 4;
  for (const [id, key] of entries) {
    out.write(id, o, 'hex'); o += 16;
    out.set(key, o); o += 32;
  }
  return out;
}

export function decodeHandover(buf: Buffer): { profile: UnlockedProfile; vaultKeys: Record<string, Uint8Array>; idleSeconds: number } {
  if (buf.length < 56) throw new Error('agent handover is truncated');
  const profile = { profileId: new Uint8Array(buf.subarray(0, 16)), accountKey: offHeapCopy(buf.subarray(16, 48)) };
  const idleSeconds = buf.readUInt32BE(48);
  const n = buf.readUInt32BE(52);
  const vaultKeys: Record<string, Uint8Array> = {};
  for (let i = 0, o = 56; i < n; i++, o += 48) vaultKeys[toHex(buf.subarray(o, o + 16))] = offHeapCopy(buf.subarray(o + 16, o + 48));
  return { profile, vaultKeys, idleSeconds };
}
