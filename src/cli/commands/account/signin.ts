// Finishing a sign-in (password or identity provider): the second step, the device-vault check
// (src/cli/commands/loginmerge.ts), storing the session and downloading the account's keyring.
import type { KpmPaths } from '../../../core/paths.js';
import type { LoginResultT, TokensT } from '../../../protocol/schemas.js';
import { info, isInteractive, json } from '../../io.js';
import { askConfirm, askText } from '../../prompt.js';
import type { MergePasswords } from '../loginmerge.js';
import { http, type Api, type Http } from './connect.js';
import { mergePasswords, needTerminal } from './input.js';

export async function finishLogin(h: Http, paths: KpmPaths, api: Api, t: TokensT, asJson: boolean, merge?: MergePasswords): Promise<void> {
  const previous = h.loadSession(paths);
  // a device with its own vault, or one that syncs with another account: never mixed (src/cli/commands/loginmerge.ts)
  const lm = await import('../loginmerge.js');
  const check = await lm.checkDeviceVault(paths, api, t);
  let merged: import('../loginmerge.js').MergeResult | undefined;
  if (check.kind !== 'ok') {
    const body = check.keyringBody;
    if (!merge && body && isInteractive() && !asJson) {
      // on a terminal the merge is offered; off one, the refusal below explains `--merge`
      const e = lm.refusal(check, t.account.email, previous?.account.email);
      info(`${e.message.replace(/; you are not signed in.*$/, '')}.`);
      if (await askConfirm("Bring this device's entries into the account's vaults now (kpm login --merge)?", false)) merge = mergePasswords(false);
    }
    if (!merge || !body) {
      await api.call('logout', { body: {}, token: t.accessToken }).catch(() => undefined); // this sign-in is undone
      throw lm.refusal(check, t.account.email, previous?.account.email);
    }
    try {
      merged = await lm.mergeAtLogin(h, paths, api, t, body, merge);
    } catch (e) {
      await api.call('logout', { body: {}, token: t.accessToken }).catch(() => undefined); // nothing merged: this sign-in is undone
      throw e;
    }
  } else {
    h.saveSession(paths, { server: api.base.toString().replace(/\/$/, ''), ...t, ...(api.insecure ? { insecure: true } : {}) });
  }
  if (previous && previous.device.id !== t.device.id) {
    // The old device session of this profile is replaced; tell its server, if it still listens.
    await api.call('logout', { body: {}, token: previous.accessToken }).catch(() => undefined);
  }
  const downloaded = await downloadKeyring(h, paths, api);
  if (asJson) return json({ account: t.account, device: t.device, server: api.base.origin, vaultDownloaded: downloaded, ...(merged ? { merged } : {}) });
  if (merged) for (const l of lm.describeMerge(merged)) info(l);
  else if (merge) info('--merge: nothing to merge (this device has no vault of its own, or it is the account\'s).');
  info(`Signed in to ${api.base.host} as ${t.account.email} (device "${t.device.name}", id ${t.device.id}).`);
  if (downloaded) info('This account already has a vault: run `kpm unlock` and enter your master password to open it here.');
}

/** A device without a vault takes the account's keyring envelope; the first unlock checks and installs it. */
async function downloadKeyring(h: Http, paths: KpmPaths, api: Api): Promise<boolean> {
  const { existsSync } = await import('node:fs');
  if (existsSync(paths.keyring)) return false;
  const session = h.loadSession(paths)!;
  const st = await h.authedCall<import('../../../protocol/schemas.js').SyncStateT>(paths, api, session, 'syncState');
  if (!st.keyring) return false;
  const { saveKeyringEnvelope } = await import('../../../sync/state.js');
  const { parseKeyringEnvelope } = await import('../../../sync/envelope.js');
  const { fromBase64 } = await import('../../../crypto/bytes.js');
  const bytes = fromBase64(st.keyring.body);
  parseKeyringEnvelope(bytes); // well-formed, or exit 8; its MAC is checked at unlock
  saveKeyringEnvelope(paths, bytes);
  return true;
}

export async function secondStep(api: Api, r: Extract<LoginResultT, { status: 'otp_required' }>): Promise<TokensT> {
  const { ServerError } = await http();
  const where = r.smsSentTo ? `the code sent by SMS to ${r.smsSentTo}` : r.methods.includes('totp') ? 'the code from your authenticator app' : 'a verification code';
  needTerminal('a verification code', `${r.smsSentTo ? `an SMS was sent to ${r.smsSentTo}; ` : ''}pipe the code with --otp-stdin (a recovery code works too)`);
  info(`Two-step verification: enter ${where} (or a recovery code).`);
  for (let i = 0; ; i++) {
    const code = await askText('Code');
    try {
      return await api.call<TokensT>('loginOtp', { body: { ticket: r.ticket, code: code.trim() } });
    } catch (e) {
      if (!(e instanceof ServerError) || e.code !== 'invalid_otp' || i >= 2 || e.body.signInAgain) throw e;
      info(`${e.message}. Try again.`);
    }
  }
}
