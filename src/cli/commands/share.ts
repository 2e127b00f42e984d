// Shared vaults (docs/SHARING.md): kpm whoami --fingerprint, kpm contacts …, kpm share …, kpm shares.
// Every command unlocks with the master password (the agent does not hand out the account key),
// verifies what the server sends (src/share/client.ts) and saves this device's pins only when it
// succeeded.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { toHex, wipe } from '../../crypto/bytes.js';
import { KpmError, EXIT, usageError } from '../../core/errors.js';
import { ctx } from '../context.js';
import { info, json, out, plural, readStdinText, warn } from '../io.js';
import { openApiWith, unlockWithPassword } from '../unlock.js';
import { requireSettingsPassword } from '../guard.js';
import type { UnlockedProfile } from '../../vault/keyring.js';
import type { VaultApi } from '../../agent/api.js';
import type { ShareCall, ShareClient as ShareClientT } from '../../share/client.js';
import type { EntryPayload } from '../../vault/entry.js';

interface MasterOpt {
  passwordStdin?: boolean;
}

async function withShare<T>(o: MasterOpt, fn: (c: ShareClientT, profile: UnlockedProfile) => Promise<T>): Promise<T> {
  const { paths } = ctx();
  const h = await import('../../sync/http.js');
  const session = h.loadSession(paths);
  if (!session) throw h.notSignedIn();
  const profile = await unlockWithPassword(paths, { passwordStdin: o.passwordStdin });
  const api = new h.ApiClient(session.server, session.insecure === true);
  const call: ShareCall = (name, opt = {}) => h.authedCall(paths, api, session, name, opt);
  try {
    const { ShareClient } = await import('../../share/client.js');
    const c = new ShareClient(paths, profile.accountKey, profile.profileId, session.account.email, call);
    try {
      const r = await fn(c, profile);
      await c.finish(); // the account's pin state to the server (if changed), then share.kpms
      for (const n of c.notes) warn(n);
      return r;
    } finally {
      c.close();
    }
  } finally {
    await api.close();
    wipe(profile.accountKey);
  }
}

const fpText = async (fp: Uint8Array) => (await import('../../share/identity.js')).fingerprintDigits(fp);
const ex = (c: Command, ...lines: string[]) => c.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
const masterOpt = (c: Command) => c.option('--password-stdin', 'read the master password from stdin (else KPM_MASTER_PASSWORD or a prompt)');

/** `kpm whoami --fingerprint` (src/cli/commands/account.ts hands over to this). */
export async function printFingerprint(o: MasterOpt & { json?: boolean }): Promise<void> {
  await withShare(o, async (c) => {
    await c.publish();
    const digits = await fpText(c.me.fp);
    if (o.json) return json({ email: c.me.email, fingerprint: digits, fingerprintHex: toHex(c.me.fp) });
    out(digits);
    info(`${c.me.email}: full fingerprint ${toHex(c.me.fp)}\ncompare it with your contacts over a channel the server does not control; they run \`kpm contacts verify ${c.me.email} "${digits}"\``);
  });
}

function role(r: string | undefined): string {
  return r ?? 'removed';
}

interface OwnVault {
  api: VaultApi;
  name: string;
  entries: EntryPayload[];
}

/**
 * `kpm share VAULT --with EMAIL` where VAULT is one of the user's own vaults: without --move, exit 2
 * (a separate, empty shared vault of the same name would be made, which is never what was meant);
 * with --move, the vault's current entries, each checked against what a shared record may hold
 * before anything is sent (the files are checked by their own vault's keys when they are moved).
 */
async function ownVaultToMove(api: VaultApi, vault: string, move: boolean, email: string): Promise<OwnVault | undefined> {
  try {
    const vaults = await api.listVaults();
    const info = vaults.find((v) => v.name.toLowerCase() === vault.toLowerCase() || v.id === vault.toLowerCase());
    if (!info) {
      if (move) throw new KpmError(`no own vault named "${vault}" to move`, EXIT.notFound, 'see `kpm vault list`');
      await api.close();
      return undefined;
    }
    if (!move) throw usageError(`"${info.name}" is one of your own vaults: sharing it by name would make a separate, empty shared vault "${info.name}"`, `run \`kpm share "${info.name}" --with ${email} --move\` to move its entries into a new shared vault (your own one is deleted after they are written), or choose another name`);
    if (vaults.length === 1) throw usageError(`"${info.name}" is your only vault, and moving it would delete it: nothing was moved`, 'create another vault first (`kpm vault create NAME`)');
    if (info.locked) throw new KpmError(`vault "${info.name}" is locked`, EXIT.locked, `run \`kpm vault unlock "${info.name}"\` first`);
    const entries = (await api.entries({ vault: info.id })).map((e) => e.payload);
    const { sharedPayloadProblem } = await import('../../share/format.js');
    for (const { files: _files, ...e } of entries) {
      const problem = sharedPayloadProblem(e);
      if (problem) throw usageError(`entry "${e.name}" of vault "${info.name}" cannot be written to a shared vault (${problem}): nothing was moved`);
    }
    return { api, name: info.name, entries };
  } catch (e) {
    await api.close();
    throw e;
  }
}

/**
 * Writes the own vault's entries into the shared vault (an entry of that name already there, from
 * an earlier run that stopped, is left as it is), then deletes the own vault, here and (by the
 * sync after the command) on the server and the other devices. The history and trash of the own
 * vault do not move.
 */
async function moveEntries(c: ShareClientT, vault: string, own: OwnVault): Promise<void> {
  const { ShareClient } = await import('../../share/client.js');
  const { blobsDir, decryptBlobToFile } = await import('../../vault/blobs.js');
  const { makePrivateTempDir } = await import('../../core/fsutil.js');
  const { paths } = ctx();
  const dir = blobsDir(paths);
  let v = await c.openForUse(vault);
  let moved = 0;
  let files = 0;
  for (const e of own.entries) {
    if (ShareClient.find(v, e.name)) continue;
    const { files: stored = [], ...payload } = e;
    // each file: decrypted with its own vault's key into a private folder, sealed for the shared vault, removed
    const sent = [];
    for (const f of stored) {
      const tmp = makePrivateTempDir(paths.data, 'move-');
      try {
        const plain = join(tmp, f.name);
        await decryptBlobToFile(dir, f, plain);
        sent.push(await c.uploadFile(v, dir, plain));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    v = (await c.writeEntry(v, payload, sent.length ? { files: sent } : {})).vault;
    moved++;
    files += sent.length;
  }
  await own.api.removeVault(own.name);
  info(`Moved ${plural(moved, 'entry', 'entries')}${files ? ` (${plural(files, 'file')})` : ''} of your vault "${own.name}" into shared vault "${vault}" and deleted your own vault (its history and trash were not moved).`);
}

export function register(program: Command): void {
  // ------------------------------------------------------------ contacts
  const contacts = program.command('contacts').description('pinned public keys of other accounts, for sharing (docs/SHARING.md)').addHelpText('after', '\nExamples:\n  kpm contacts add bob@example.org\n  kpm contacts verify bob@example.org "12345 67890 …"\n  kpm contacts list');
  ex(masterOpt(contacts.command('list', { isDefault: true }).description('list pinned contacts and whether each is verified (the default)').option('--json', 'print JSON')), 'kpm contacts', 'kpm contacts list --json').action(async (o) => {
    await withShare(o, async (c) => {
      const l = await c.listContacts();
      const rows = await Promise.all(l.map(async (x) => ({ email: x.email, verified: x.verified, fingerprint: await fpText(x.fingerprint), fingerprintHex: toHex(x.fingerprint) })));
      if (o.json) return json(rows);
      if (rows.length === 0) return info('No contacts yet: `kpm contacts add EMAIL`.');
      for (const r of rows) out(`${r.email}  ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.fingerprint}`);
    });
  });
  ex(masterOpt(contacts.command('add <email>').description("fetch an account's public keys and pin them (trust on first use: unverified until `kpm contacts verify`)")), 'kpm contacts add bob@example.org').action(async (email: string, o) => {
    await withShare(o, async (c) => {
      const r = await c.addContact(email);
      out(await fpText(r.fingerprint));
      info(r.firstUse ? `Pinned ${r.email}, UNVERIFIED: compare this fingerprint with the one \`kpm whoami --fingerprint\` shows on their side, then \`kpm contacts verify ${r.email} FINGERPRINT\`.` : `${r.email} is already pinned (${r.verified ? 'verified' : 'unverified'}); the server gives the same keys.`);
    });
  });
  ex(masterOpt(contacts.command('verify <email> <fingerprint>').description('compare a fingerprint you got from the contact (not through the server) with their pinned keys; a match marks them verified')), 'kpm contacts verify bob@example.org "01234 56789 01234 56789 01234 56789 01234 56789"').action(async (email: string, fp: string, o) => {
    await withShare(o, async (c) => {
      const r = await c.verifyContact(email, fp);
      info(`${r.email} is verified.`);
    });
  });
  ex(masterOpt(contacts.command('accept-change <email>').description('pin the new keys of a contact whose keys changed (unverified again)')), 'kpm contacts accept-change bob@example.org').action(async (email: string, o) => {
    await withShare(o, async (c) => {
      const r = await c.acceptChange(email);
      out(await fpText(r.fingerprint));
      info(`Pinned the new keys of ${r.email}, UNVERIFIED (before: ${r.previous ? await fpText(r.previous) : '-'}): verify them with \`kpm contacts verify ${r.email} FINGERPRINT\`.`);
    });
  });

  // ------------------------------------------------------------ shares
  masterOpt(program.command('shares').description('shared vaults and invitations (docs/SHARING.md)').option('--json', 'print JSON'))
    .addHelpText('after', '\nExamples:\n  kpm shares\n  kpm share accept Team')
    .action(async (o) => {
      await withShare(o, async (c) => {
        const l = await c.list();
        if (o.json) return json(l);
        if (l.length === 0) return info('No shared vaults.');
        for (const v of l) out(`${(v.name ?? '?').padEnd(16)}  ${v.id.slice(0, 8)}  ${v.state.padEnd(10)}  owner ${v.owner}  ${role(v.role)}  epoch ${v.epoch}`);
      });
    });

  // ------------------------------------------------------------ share
  // no --password-stdin here: commander would take it from every subcommand (`kpm share put … --password-stdin` is the entry's)
  const share = program
    .command('share')
    .description('share a vault with another account, or manage shared vaults (docs/SHARING.md)')
    .argument('[vault]', 'shared vault name (created on first use)')
    .option('--with <email>', 'the account to share with')
    .option('--read-only', 'the member can read but not write')
    .option('--require-verified', 'refuse an unverified contact (default: warn, or refuse when the setting share.require_verified is true)')
    .option('--move', 'VAULT is one of your own vaults: move its entries into a new shared vault of that name, then delete your own one')
    .addHelpText(
      'after',
      `
The vault key is wrapped for the member's public key, and the list of members is signed by you (the
owner): the server cannot read the vault, add a member or give anyone write access. Compare
fingerprints (kpm whoami --fingerprint) and run kpm contacts verify before sharing.
The master password comes from KPM_MASTER_PASSWORD or a prompt (the subcommands also take
--password-stdin; for \`share put\` that option is the entry's password).

Examples:
  kpm share Team --with bob@example.org
  kpm share Team --with ci@example.org --read-only
  kpm share Work --with bob@example.org --move     # Work is one of your own vaults
  kpm share accept Team
  kpm share list Team
  printf '%s\\n' "$PW" | kpm share put Team deploy --username bot --password-stdin
  kpm share get Team deploy
  kpm share revoke Team bob@example.org
  kpm share rotate Team                            # after a token revoke: a new key, same members`,
    )
    .action(async (vault: string | undefined, o) => {
      if (!vault || !o.with) throw usageError('kpm share VAULT --with EMAIL [--read-only]', 'or one of: kpm share accept|list|revoke|rotate|leave|put|get|entries|rm (kpm share --help)');
      // the setting share.require_verified makes the refusal the default; the flag cannot lower it
      const requireVerified = Boolean(o.requireVerified) || (await (await import('../../settings/load.js')).loadSettings(ctx().paths)).share.require_verified;
      if (o.move) await requireSettingsPassword('kpm share --move'); // it deletes an own vault, as `kpm vault rm` does
      await withShare(o, async (c, profile) => {
        const shared = await c.resolve(vault, { mustExist: false });
        const own = shared && !o.move ? undefined : await ownVaultToMove(await openApiWith(ctx().paths, profile), vault, o.move === true, o.with);
        if (o.move && shared && shared.owner !== c.me.email) throw new KpmError(`a shared vault "${shared.name}" of ${shared.owner} exists already: move into a shared vault you own (another name)`, EXIT.conflict);
        try {
          const r = await c.share(vault, o.with, o.readOnly ? 'reader' : 'writer', requireVerified);
          info(`${r.created ? `Created shared vault "${vault}" (${r.vault.slice(0, 8)}) and shared it` : `Shared "${vault}"`} with ${r.member.email} (${o.readOnly ? 'read-only' : 'read and write'}; ${r.member.verified ? 'verified' : 'UNVERIFIED'}); they run \`kpm share accept "${vault}"\`.`);
          if (own) await moveEntries(c, vault, own);
        } finally {
          await own?.api.close();
        }
      });
    });
  ex(masterOpt(share.command('accept <vault>').description('accept an invitation (pins its owner on first use)')), 'kpm share accept Team').action(async (vault: string, o) => {
    await withShare(o, async (c) => {
      const v = await c.accept(vault);
      info(`Accepted shared vault "${v.name}" from ${v.owner} (${role(v.role)}).`);
    });
  });
  ex(masterOpt(share.command('list <vault>').description('members, roles, and whether each is verified').option('--json', 'print JSON')), 'kpm share list Team', 'kpm share list Team --json').action(async (vault: string, o) => {
    await withShare(o, async (c) => {
      const v = (await c.resolve(vault))!;
      const rows = await Promise.all(
        v.latest.members.map(async (m) => {
          const { fingerprint } = await import('../../share/identity.js');
          return { email: m.email, role: m.role, verified: c.isVerified(m), fingerprint: await fpText(fingerprint(m.signPublic, m.boxPublic)) };
        }),
      );
      if (o.json) return json({ id: v.id, name: v.name, epoch: v.latest.epoch, members: rows });
      info(`shared vault "${v.name}" (${v.id.slice(0, 8)}), membership epoch ${v.latest.epoch}, signed by ${v.owner}`);
      for (const r of rows) out(`${r.email}  ${r.role.padEnd(6)}  ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.fingerprint}`);
    });
  });
  ex(masterOpt(share.command('revoke <vault> <email>').description('remove a member: a new vault key and membership epoch that they never get')), 'kpm share revoke Team bob@example.org').action(async (vault: string, email: string, o) => {
    await withShare(o, async (c) => {
      const v = await c.revoke(vault, email);
      info(`Removed ${email} from shared vault "${v.name}": it has a new key (epoch ${v.latest.epoch + 1}); what they read before stays with them.`);
    });
  });
  ex(masterOpt(share.command('rotate <vault>').description('a new vault key and membership epoch, same members: old keys (a revoked service token) cannot open what is written from now on')), 'kpm share rotate Team').action(async (vault: string, o) => {
    await withShare(o, async (c) => {
      const v = await c.rotate((await c.resolve(vault))!);
      info(`Shared vault "${v.name}" has a new key (epoch ${v.latest.epoch}, the same ${v.latest.members.length} members); what is written from now on opens only with it. Service tokens of this vault cannot read those entries: create new ones.`);
    });
  });
  ex(masterOpt(share.command('leave <vault>').description("leave a shared vault: a leave statement signed by you, which the owner's next command acts on (a new membership without you, a new vault key); your devices drop the vault")), 'kpm share leave Team').action(async (vault: string, o) => {
    await withShare(o, async (c) => {
      const name = await c.leave(vault);
      info(`Left shared vault "${name}": its owner's next sharing command signs a membership without you and gives the vault a new key; your other devices drop it.`);
    });
  });
  share
    .command('put <vault> <name>')
    .description('add or change an entry of a shared vault (signed by your account)')
    .option('--username <u>', 'user name')
    .option('--url <url>', 'URL')
    .option('--notes <text>', 'notes')
    .option('--password-stdin', "read the entry's password from stdin (the master password: KPM_MASTER_PASSWORD or a prompt)")
    .addHelpText('after', `\nExamples:\n  printf '%s\\n' "$PW" | kpm share put Team deploy --username bot --password-stdin\n  kpm share put Team deploy --url https://ci.example.org`)
    .action(async (vault: string, name: string, o) => {
      const password = o.passwordStdin ? await readStdinText('the password') : undefined;
      await withShare({}, async (c) => {
        const cur = await c.openForUse(vault);
        const old = (await import('../../share/client.js')).ShareClient.find(cur, name)?.[1];
        const now = new Date().toISOString();
        const e: EntryPayload = old ? { ...structuredClone(old), updated: now } : { type: 'login', name, fields: {}, custom: [], tags: [], created: now, updated: now };
        const set = (k: string, v: string | undefined) => {
          if (v === undefined) return;
          if (v === '') delete e.fields[k];
          else e.fields[k] = v;
        };
        set('username', o.username);
        set('url', o.url);
        set('notes', o.notes);
        if (password !== undefined && password !== e.fields.password) {
          e.fields.password = password;
          e.passwordChanged = now;
        }
        const r = await c.write(vault, e);
        info(`${old ? 'Updated' : 'Added'} "${name}" in shared vault "${r.vault.name}" (revision ${r.rev}).`);
      });
    });
  ex(masterOpt(share.command('rm <vault> <name>').description('delete an entry of a shared vault')), 'kpm share rm Team old-key').action(async (vault: string, name: string, o) => {
    await withShare(o, async (c) => {
      const r = await c.write(vault, { name }, true);
      info(`Deleted "${name}" from shared vault "${r.vault.name}".`);
    });
  });
  ex(masterOpt(share.command('get <vault> <name>').description("print an entry's password (or --field, or --json)").option('--field <f>', "a field of the entry's type or a custom field (default: the type's primary field, a login's password)").option('--json', 'print the entry as JSON')), 'kpm share get Team deploy', 'kpm share get Team deploy --field username').action(async (vault: string, name: string, o) => {
    await withShare(o, async (c) => {
      const v = await c.openForUse(vault);
      const hit = (await import('../../share/client.js')).ShareClient.find(v, name);
      if (!hit) throw new KpmError(`no entry "${name}" in shared vault "${v.name}"`, EXIT.notFound);
      if (o.json) return json(hit[1]);
      const { fieldValue, primaryField } = await import('../../vault/entry.js');
      const f = o.field ?? primaryField(hit[1].type);
      const val = fieldValue(hit[1], f);
      if (val === undefined) throw new KpmError(`"${name}" has no ${f}`, EXIT.notFound);
      out(val);
    });
  });
  ex(masterOpt(share.command('entries <vault>').description('list the entries of a shared vault').option('--json', 'print JSON')), 'kpm share entries Team').action(async (vault: string, o) => {
    await withShare(o, async (c) => {
      const v = await c.openForUse(vault);
      const rows = [...v.entries.values()].filter((e) => !e.deleted).map((e) => ({ name: e.entry.name, type: e.entry.type, username: e.entry.fields.username, url: e.entry.fields.url, writer: e.writer, rev: e.rev }));
      rows.sort((a, b) => a.name.localeCompare(b.name));
      if (o.json) return json(rows);
      for (const r of rows) out(`${r.name}${r.username ? `  (user ${r.username})` : ''}  by ${r.writer}`);
    });
  });
}
