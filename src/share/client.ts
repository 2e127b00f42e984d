// Shared vaults, client side (docs/SHARING.md): contacts and pinning, sharing, accepting, revoking,
// and reading and writing entries. Everything the server sends is verified before anything is
// written to this device or sent; the state is saved only when a command succeeded.
import { bytesEqual, fromBase64, fromHex, toBase64, toHex, wipe } from '../crypto/bytes.js';
import { accountShareSecrets } from '../crypto/keys.js';
import { randomBytes } from '../crypto/random.js';
import { normalizeEmail } from '../protocol/email.js';
import type { ShareListT, SharePinsT, SharePullT, ShareVaultT } from '../protocol/share.js';
import type { RouteName } from '../protocol/routes.js';
import { KpmError, EXIT, isServerCode, notFound, usageError } from '../core/errors.js';
import type { KpmPaths } from '../core/paths.js';
import { accountIdentity, agentIdentity, decodeIdentity, type AgentShare, encodeIdentity, fingerprint, fingerprintMatches, isFingerprintText, shareTampered, type Identity, type PublicIdentity } from './identity.js';
import {
  canWrite,
  checkAcceptance,
  checkRecordSignature,
  epochAt,
  initialChain,
  membershipHash,
  memberFp,
  nextChain,
  openBundle,
  openRecord,
  ownerOf,
  parseRecord,
  sealAcceptance,
  sealBundle,
  sealMembership,
  recordKey,
  sealRecord,
  sharedPayloadProblem,
  verifyMembershipChain,
  type Member,
  type Membership,
  type Role,
} from './format.js';
import type { EntryPayload } from '../vault/entry.js';
import type { Progress } from '../vault/blobs.js';
import { downloadSharedFile, shareBlobKey, sharedFilesProblem, uploadSharedFile, type BlobCall, type SharedFile } from './blobs.js';
import { loadShareState, saveShareState, type ContactPin, type ShareState } from './state.js';
import { blobHash, contentHash, mergePins, openPins, parseLeave, sealLeave, sealPins, type PinContent, type PinnedContact } from './pins.js';
import { checkCompaction, checkKept, planCompaction, recordHash, recordInfo, sealCompaction, type Compaction, type LogRecordInfo } from './compact.js';

/** A pull page of another compaction generation than the vault's: the owner compacted between two requests (opened again once). */
class GenerationChanged extends Error {}

export type ShareCall = <T>(name: RouteName, o?: { params?: Record<string, string>; body?: unknown }) => Promise<T>;

export interface ContactView {
  email: string;
  fingerprint: Uint8Array;
  verified: boolean;
}

export interface OpenedVault {
  id: string;
  name: string;
  owner: string;
  chain: Membership[];
  latest: Membership;
  /** the signed bytes of every epoch */
  bodies: Uint8Array[];
  /** this account's role in the latest epoch (undefined: removed) */
  role: Role | undefined;
  accepted: boolean;
  keys: Uint8Array[];
  head: number;
  chainHash: Uint8Array;
  /** entry id (hex) → latest version */
  entries: Map<string, SharedVersion>;
  /** entry id (hex) → every version, oldest first (each a signed record of the log: `kpm history`) */
  versions: Map<string, SharedVersion[]>;
  /** this account left the vault (a device of it signed a leave statement): not opened, no keys */
  left?: boolean;
  /** the owner's compaction statement the log follows (docs/SHARING.md "Purging and compacting a shared vault") */
  compaction?: Compaction;
  /** while reading a compacted log: the next kept record expected */
  keptNext?: number;
}

/** One version of a shared entry: a record of the log, verified. A deletion carries the entry as it was. */
export interface SharedVersion {
  entry: EntryPayload;
  /** the entry's files (documents, attachments: src/share/blobs.ts), none before record version 3 */
  files: SharedFile[];
  deleted: boolean;
  writer: string;
  rev: number;
}

const forbidden = (msg: string, hint?: string) => new KpmError(msg, EXIT.forbidden, hint);
const isNetwork = (e: unknown) => e instanceof KpmError && e.exitCode === EXIT.network;
const EMPTY_PINS: PinContent = { contacts: {}, epochs: {}, left: {} };

export class ShareClient {
  readonly me: Identity;
  private state: ShareState;
  /** identities fetched in this command (email → record) */
  private fetched = new Map<string, PublicIdentity>();
  /** informational lines for the user (unverified contacts, first-contact pins) */
  readonly notes: string[] = [];

  /** the key of share.kpms */
  private readonly stateKey: Uint8Array;
  /** the account's pin state was fetched from the server (and merged) in this command */
  private pinsPulled = false;
  /** contacts whose pins conflict with another device's, being resolved by accept-change: the other device's pin */
  private conflicted = new Map<string, PinnedContact>();
  /** for the owner: the leave statements the server sent with each vault */
  private leaves = new Map<string, string[]>();

  /**
   * `key`: the account key (signing and X25519 in this process), or what the agent gives: the key of
   * share.kpms, the public keys, and a signer and X25519 that ask the agent (`shareSign`, `shareDh`).
   */
  constructor(
    private readonly paths: KpmPaths,
    key: Uint8Array | AgentShare,
    private readonly profileId: Uint8Array,
    email: string,
    private readonly call: ShareCall,
  ) {
    const e = normalizeEmail(email);
    if (key instanceof Uint8Array) {
      this.stateKey = accountShareSecrets(key);
      this.me = accountIdentity(key, e);
    } else {
      this.stateKey = key.stateKey;
      this.me = agentIdentity(key, e);
    }
    this.state = loadShareState(paths, this.stateKey, profileId);
  }

  save(): void {
    saveShareState(this.paths, this.stateKey, this.profileId, this.state);
  }

  /**
   * Ends a command that succeeded: sends the account's pin state if this device changed it (after
   * fetching it in this command), then saves share.kpms. A server that cannot be reached leaves the
   * pins to the next command (a note says so).
   */
  async finish(): Promise<void> {
    await this.pushPinsQuietly();
    this.save();
  }

  // ---------------------------------------------------------------- the account's pin state (src/share/pins.ts)

  private pinContent(): PinContent {
    const g = this.state.generations;
    return { contacts: this.state.contacts, epochs: this.state.epochs ?? {}, left: this.state.left ?? {}, ...(g && Object.keys(g).length ? { generations: g } : {}) };
  }

  /** Fetches and merges the account's pin state once per command (before any pin is used). */
  private async ready(): Promise<void> {
    if (this.pinsPulled) return;
    await this.pullPins();
    this.pinsPulled = true;
  }

  /**
   * The pin state on the server must be signed by this account, open under its key, and not be older
   * than (or, at the same version, different from) what this device saw; then it is merged into this
   * device's pins (conflicting pins of a contact: exit 8, unless accept-change is resolving it).
   */
  private async pullPins(resolving?: string): Promise<void> {
    const r = await this.call<SharePinsT>('sharePinsGet');
    const seen = this.state.pins ?? { version: 0, hash: '', content: contentHash(EMPTY_PINS) };
    if (r.version < seen.version) throw shareTampered(`the server sent version ${r.version} of this account's contact pins, older than version ${seen.version} which this device saw (rolled back)`);
    if (r.version === 0 || r.body === null) {
      if (r.version !== 0 || r.body !== null) throw shareTampered("the server sent a pin state without a version, or a version without a pin state");
      return;
    }
    const bytes = fromBase64(r.body);
    const h = blobHash(bytes);
    if (r.version === seen.version) {
      if (h !== seen.hash) throw shareTampered(`the server sent another version ${r.version} of this account's contact pins than the one this device saw (a fork)`);
      return;
    }
    const remote = openPins(bytes, this.me.signPublic, this.stateKey, r.version);
    const merged = mergePins(this.pinContent(), remote, (email, here, there) => {
      if (email !== resolving) return undefined;
      this.conflicted.set(email, there);
      return here;
    });
    this.state.contacts = merged.contacts;
    this.state.epochs = merged.epochs;
    this.state.left = merged.left;
    if (merged.generations) this.state.generations = merged.generations;
    this.state.pins = { version: r.version, hash: h, content: contentHash(remote) };
  }

  /** Writes the next version of the pin state when this device's differs from the last one seen; a concurrent write by another device is pulled, merged and written again. */
  private async pushPins(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const content = this.pinContent();
      const ch = contentHash(content);
      const seen = this.state.pins ?? { version: 0, hash: '', content: contentHash(EMPTY_PINS) };
      if (ch === seen.content) return;
      if (attempt === 0) await this.publish(); // the server checks the signature against the published key
      const blob = await sealPins(this.me.signer, this.stateKey, seen.version + 1, content);
      try {
        await this.call('sharePinsPut', { body: { base: seen.version, body: toBase64(blob) } });
      } catch (e) {
        if (isServerCode(e, 'conflict') && attempt < 4) {
          await this.pullPins();
          continue;
        }
        throw e;
      }
      this.state.pins = { version: seen.version + 1, hash: blobHash(blob), content: ch };
      return;
    }
  }

  private async pushPinsQuietly(): Promise<void> {
    if (!this.pinsPulled) return;
    try {
      await this.pushPins();
    } catch (e) {
      if (!isNetwork(e)) throw e;
      this.notes.push("the contact pins could not be sent to the server: this device's changes go with its next sharing command");
    }
  }

  /** This account left vault `id` at an epoch that every later epoch of `chain` still names it in (re-added after a gap: no longer left). */
  private leftNow(id: string, chain: Membership[]): boolean {
    const e = this.state.left?.[id];
    if (!e) return false;
    for (let k = e; k <= chain.length; k++) if (!chain[k - 1].members.some((m) => normalizeEmail(m.email) === this.me.email && bytesEqual(memberFp(m), this.me.fp))) return false;
    return true;
  }

  /** Wipes the key this client holds (call when done). */
  close(): void {
    wipe(this.stateKey);
  }

  /** Publishes this account's identity record (idempotent). */
  async publish(): Promise<void> {
    await this.call('shareIdentityPut', { body: { body: toBase64(await encodeIdentity(this.me)) } });
  }

  // ---------------------------------------------------------------- contacts

  private async fetchIdentity(email: string): Promise<PublicIdentity> {
    const e = normalizeEmail(email);
    const cached = this.fetched.get(e);
    if (cached) return cached;
    const r = await this.call<{ email: string; body: string }>('shareIdentityGet', { body: { email: e } });
    const id = decodeIdentity(fromBase64(r.body), e);
    this.fetched.set(e, id);
    return id;
  }

  private pinOf(email: string): ContactPin | undefined {
    return this.state.contacts[normalizeEmail(email)];
  }

  private static samePin(p: ContactPin, id: Pick<PublicIdentity, 'signPublic' | 'boxPublic'>): boolean {
    return p.sign === toHex(id.signPublic) && p.box === toHex(id.boxPublic);
  }

  private changedKey(email: string): KpmError {
    return new KpmError(
      `the server now gives other keys for ${email} than the ones pinned for this account: refused`,
      EXIT.corrupt,
      `nothing was changed or sent. If ${email} really got new keys (a new account), compare fingerprints with them and run \`kpm contacts accept-change ${email}\`; otherwise do not trust this server`,
    );
  }

  /** The contact's keys: the server's record must equal the pin; unpinned ones are pinned now (trust on first use) when `pin`. */
  async contact(email: string, pin = true): Promise<ContactView & { id: PublicIdentity; firstUse: boolean }> {
    const e = normalizeEmail(email);
    if (e === this.me.email) return { email: e, fingerprint: this.me.fp, verified: true, id: this.me, firstUse: false };
    await this.ready();
    const id = await this.fetchIdentity(e);
    const p = this.pinOf(e);
    if (p) {
      if (!ShareClient.samePin(p, id)) throw this.changedKey(e);
      return { email: e, fingerprint: id.fp, verified: p.verified, id, firstUse: false };
    }
    if (pin) this.state.contacts[e] = { sign: toHex(id.signPublic), box: toHex(id.boxPublic), verified: false, pinnedAt: new Date().toISOString() };
    return { email: e, fingerprint: id.fp, verified: false, id, firstUse: true };
  }

  async addContact(email: string): Promise<ContactView & { firstUse: boolean }> {
    const c = await this.contact(email);
    return { email: c.email, fingerprint: c.fingerprint, verified: c.verified, firstUse: c.firstUse };
  }

  async verifyContact(email: string, typed: string): Promise<ContactView> {
    if (!isFingerprintText(typed)) throw usageError('a fingerprint is 40 digits (8 groups of 5) or 64 hex digits', 'ask the contact to run `kpm whoami --fingerprint`');
    const c = await this.contact(email, false);
    if (!fingerprintMatches(c.fingerprint, typed)) {
      throw new KpmError(`the fingerprint does not match the keys the server gives for ${c.email}: not verified`, EXIT.corrupt, 'nothing was changed; someone (possibly the server) substituted the keys, or the fingerprint was mistyped');
    }
    const e = c.email;
    this.state.contacts[e] = { ...(this.state.contacts[e] ?? { sign: toHex(c.id.signPublic), box: toHex(c.id.boxPublic), pinnedAt: new Date().toISOString() }), verified: true };
    return { email: e, fingerprint: c.fingerprint, verified: true };
  }

  async acceptChange(email: string): Promise<ContactView & { previous?: Uint8Array }> {
    const e = normalizeEmail(email);
    if (!this.pinsPulled) {
      await this.pullPins(e); // a conflict with another device's pin of this contact is what this resolves
      this.pinsPulled = true;
    }
    const p = this.pinOf(e);
    if (!p) throw notFound(`${e} is not a contact`, `run \`kpm contacts add ${e}\``);
    const id = await this.fetchIdentity(e);
    const previous = fingerprint(fromHex(p.sign), fromHex(p.box));
    // the keys replaced (this device's, and another device's in conflict): every device of the account takes the new pin
    const other = this.conflicted.get(e);
    const fpHex = (x: Pick<ContactPin, 'sign' | 'box'>) => toHex(fingerprint(fromHex(x.sign), fromHex(x.box)));
    const replaces = [...new Set([...(p.replaces ?? []), fpHex(p), ...(other ? [...(other.replaces ?? []), fpHex(other)] : [])])].filter((f) => f !== toHex(id.fp)).sort();
    this.state.contacts[e] = { sign: toHex(id.signPublic), box: toHex(id.boxPublic), verified: false, pinnedAt: new Date().toISOString(), ...(replaces.length ? { replaces } : {}) };
    this.conflicted.delete(e);
    return { email: e, fingerprint: id.fp, verified: false, previous };
  }

  async listContacts(): Promise<ContactView[]> {
    await this.ready();
    return Object.entries(this.state.contacts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([email, p]) => ({ email, fingerprint: fingerprint(fromHex(p.sign), fromHex(p.box)), verified: p.verified }));
  }

  isVerified(m: Member): boolean {
    if (normalizeEmail(m.email) === this.me.email) return bytesEqual(memberFp(m), this.me.fp);
    const p = this.pinOf(m.email);
    return !!p && p.verified && ShareClient.samePin(p, m);
  }

  // ---------------------------------------------------------------- reading a shared vault

  /** The owner's keys this device trusts for a vault: pinned with the vault, else the contact pin (pinned now on first use). */
  private async ownerKeys(id: string, ownerEmail: string, pinNew: boolean): Promise<{ sign: Uint8Array; box: Uint8Array }> {
    const vp = this.state.vaults[id];
    if (vp) {
      if (normalizeEmail(vp.owner) !== normalizeEmail(ownerEmail)) throw shareTampered(`the server names ${ownerEmail} as the owner of shared vault "${vp.name}", which ${vp.owner} owns`);
      return { sign: fromHex(vp.ownerSign), box: fromHex(vp.ownerBox) };
    }
    const c = await this.contact(ownerEmail, pinNew);
    if (c.firstUse && pinNew) this.notes.push(`pinned ${c.email} (the owner) on first use, unverified: compare fingerprints with \`kpm contacts verify ${c.email} FINGERPRINT\``);
    return { sign: c.id.signPublic, box: c.id.boxPublic };
  }

  /**
   * Fetches and verifies a shared vault: the owner's membership chain against the pinned owner key,
   * this account's place in it, its key bundle, and every record after the last verified one.
   * `pinNew`: pin an owner seen for the first time (accept); otherwise an unknown owner is only shown.
   */
  async openVault(id: string, o: { pinNew?: boolean; pull?: boolean; offline?: boolean } = {}): Promise<OpenedVault> {
    try {
      return await this.openVaultOnce(id, o);
    } catch (e) {
      if (!(e instanceof GenerationChanged)) throw e;
      try {
        return await this.openVaultOnce(id, o);
      } catch (e2) {
        if (e2 instanceof GenerationChanged) throw shareTampered(`the server keeps changing the compaction generation of shared vault ${id.slice(0, 8)} between requests`);
        throw e2;
      }
    }
  }

  private async openVaultOnce(id: string, o: { pinNew?: boolean; pull?: boolean; offline?: boolean }): Promise<OpenedVault> {
    let sv: ShareVaultT;
    if (!o.offline) await this.ready();
    try {
      sv = o.offline ? this.cachedVault(id) : await this.call<ShareVaultT>('shareVault', { params: { id } });
    } catch (e) {
      if (isServerCode(e, 'not_found') && this.state.vaults[id]) {
        this.state.vaults[id].removed = true;
        throw forbidden(`you are no longer a member of shared vault "${this.state.vaults[id].name}"`, 'its owner removed you (or you left)');
      }
      throw e;
    }
    if (sv.id !== id) throw shareTampered('the server answered for another shared vault');
    const vid = fromHex(id);
    const owner = await this.ownerKeys(id, sv.owner, o.pinNew === true);
    const bodies = sv.memberships.map((b) => fromBase64(b));
    const chain = verifyMembershipChain(vid, owner.sign, bodies);
    const latest = chain[chain.length - 1];
    const ow = ownerOf(latest);
    if (!bytesEqual(ow.boxPublic, owner.box) || normalizeEmail(ow.email) !== normalizeEmail(sv.owner)) throw shareTampered(`the membership names another owner than ${sv.owner}'s pinned keys`);
    const vp = this.state.vaults[id];
    // the highest epoch any device of this account saw (the account's pin state): a replay to this device is caught too
    const ap = this.state.epochs?.[id];
    if (ap && !o.offline) {
      if (latest.epoch < ap.epoch) throw shareTampered(`the server sent membership epoch ${latest.epoch} of shared vault ${id.slice(0, 8)}, older than epoch ${ap.epoch} which a device of this account saw (a replay)`);
      if (toHex(membershipHash(bodies[ap.epoch - 1])) !== ap.hash) throw shareTampered(`membership epoch ${ap.epoch} of shared vault ${id.slice(0, 8)} is not the one a device of this account saw (a forked membership)`);
    }
    if (!o.offline) this.leaves.set(id, sv.leaves ?? []);
    if (vp) {
      if (latest.epoch < vp.epoch) throw shareTampered(`the server sent membership epoch ${latest.epoch} of shared vault "${vp.name}", older than epoch ${vp.epoch} which this device saw (a replay)`);
      if (toHex(membershipHash(bodies[vp.epoch - 1])) !== vp.epochHash) throw shareTampered(`membership epoch ${vp.epoch} of shared vault "${vp.name}" is not the one this device saw`);
    }
    // this account in the latest epoch, with its own keys
    const mine = latest.members.find((m) => normalizeEmail(m.email) === this.me.email);
    if (mine && !bytesEqual(memberFp(mine), this.me.fp)) {
      throw shareTampered(`the membership of this shared vault names a key for you (${this.me.email}) that is not yours: the owner was given a substituted key`, `nothing was changed or sent; compare fingerprints with ${sv.owner} (\`kpm whoami --fingerprint\` on both sides)`);
    }
    if (!mine) throw shareTampered(`the server lists this shared vault for you, but its signed membership (epoch ${latest.epoch}) does not name you`);
    if (this.leftNow(id, chain)) {
      // a device of this account left it: its keys are not opened and its copy goes (the owner's next command removes this account)
      delete this.state.vaults[id];
      return { id, name: vp?.name ?? id.slice(0, 8), owner: normalizeEmail(sv.owner), chain, latest, bodies, role: undefined, accepted: false, keys: [], head: 0, chainHash: initialChain(vid), entries: new Map(), versions: new Map(), left: true };
    }
    if (!sv.bundle) throw shareTampered('the server sent no key bundle for this account');
    const content = await openBundle(this.me, owner.sign, owner.box, vid, latest.epoch, fromBase64(sv.bundle));
    if (vp && vp.name !== content.name && !o.pinNew) this.notes.push(`shared vault "${vp.name}" is now called "${content.name}"`);
    const accepted = (vp?.accepted ?? false) || (sv.accept !== null && checkAcceptance(this.me.signPublic, vid, fromBase64(sv.accept)) !== null);
    const fresh = (): OpenedVault => ({
      id,
      name: content.name,
      owner: normalizeEmail(sv.owner),
      chain,
      latest,
      bodies,
      role: mine.role,
      accepted,
      keys: content.keys,
      head: 0,
      chainHash: initialChain(vid),
      entries: new Map(),
      versions: new Map(),
    });
    const cinfo = { vaultId: vid, ownerSign: owner.sign, chain, bodies, name: content.name };
    let result = fresh();
    // the compaction statement this device accepted (checked again: the owner's, this vault's, an epoch of the chain)
    const localBytes = vp?.compaction ? fromBase64(vp.compaction) : null;
    const localC = localBytes ? checkCompaction(localBytes, cinfo, { generation: 0, head: 0, chainHash: initialChain(vid), hashes: new Map() }) : null;
    const localGen = localC?.generation ?? 0;
    const serverGen = o.offline ? localGen : (sv.generation ?? 0);
    if ((serverGen > 0) !== (sv.compaction !== undefined && sv.compaction !== null) && !o.offline) throw shareTampered(`the server sent compaction generation ${serverGen} of shared vault "${content.name}" without its statement, or a statement without a generation`);
    if (serverGen < localGen) throw shareTampered(`the server sent compaction generation ${serverGen} of shared vault "${content.name}", older than generation ${localGen} which this device accepted (a replay)`);
    if (serverGen === localGen && localGen > 0 && !o.offline && sv.compaction !== vp!.compaction) throw shareTampered(`the server sent another compaction statement of generation ${localGen} of shared vault "${content.name}" than the one this device accepted (a fork)`);
    // the highest generation any device of this account accepted (the account's pin state): a new device cannot be served an older statement either
    const ag = this.state.generations?.[id];
    if (ag && !o.offline) {
      if (serverGen < ag.generation) throw shareTampered(`the server sent compaction generation ${serverGen} of shared vault "${content.name}", older than generation ${ag.generation} which a device of this account accepted (a replay)`);
      if (serverGen === ag.generation && blobHash(fromBase64(sv.compaction!)) !== ag.hash) throw shareTampered(`the server sent another compaction statement of generation ${serverGen} of shared vault "${content.name}" than the one a device of this account accepted (a fork)`);
    }
    // the verified cache first
    let records = vp ? [...vp.records] : [];
    if (localC) this.startLog(result, localC);
    for (const r of records) this.applyRecord(result, fromBase64(r), true);
    if (vp && (toHex(result.chainHash) !== vp.chain || (localC && result.keptNext! < localC.kept.length))) throw new KpmError(`the local copy of shared vault "${vp.name}" is inconsistent`, EXIT.corrupt);
    if (sv.head < result.head) throw shareTampered(`the server's log of shared vault "${content.name}" ends at revision ${sv.head}, below revision ${result.head} which this device verified (rolled back)`);
    let compacted: Compaction | null = null;
    if (serverGen > localGen && o.pull !== false) {
      // the owner compacted the log since: the statement must cover everything this device verified (docs/SHARING.md checks 1–7)
      const hashes = new Map<number, Uint8Array>();
      for (const r of records) {
        const b = fromBase64(r);
        hashes.set(parseRecord(b).rev, recordHash(b));
      }
      compacted = checkCompaction(fromBase64(sv.compaction!), cinfo, { generation: localGen, head: result.head, chainHash: result.chainHash, hashes });
      const known = { head: result.head, latest: new Map([...result.entries].map(([eid, x]) => [eid, { rev: x.rev, deleted: x.deleted }])) };
      result = fresh();
      this.startLog(result, compacted);
      records = [];
      await this.pullInto(result, sv, records, serverGen);
      const keptFiles = [...result.versions.values()].flatMap((l) => l.filter((x) => x.rev <= compacted!.upto).map((x) => x.files));
      checkKept(compacted, content.name, known, { latest: result.entries, keptFiles });
      if (vp && result.owner !== this.me.email) this.notes.push(`shared vault "${content.name}" was compacted by its owner (generation ${compacted.generation}): the versions up to revision ${compacted.upto} that it did not keep are gone`);
    } else if (serverGen > localGen) {
      compacted = null; // listed only (`kpm shares`): not read, nothing kept
    } else if (o.pull !== false && !o.offline) {
      await this.pullInto(result, sv, records, serverGen);
    }
    if (serverGen > localGen && !compacted) return result;
    const accepted_c = compacted ? sv.compaction! : vp?.compaction;
    this.state.vaults[id] = {
      name: content.name,
      owner: result.owner,
      ownerSign: toHex(owner.sign),
      ownerBox: toHex(owner.box),
      epoch: latest.epoch,
      epochHash: toHex(membershipHash(bodies[latest.epoch - 1])),
      rev: result.head,
      chain: toHex(result.chainHash),
      records,
      accepted,
      memberships: sv.memberships,
      bundle: sv.bundle,
      ...(accepted_c ? { compaction: accepted_c } : {}),
    };
    if (!ap || latest.epoch > ap.epoch) (this.state.epochs ??= {})[id] = { epoch: latest.epoch, hash: toHex(membershipHash(bodies[latest.epoch - 1])) };
    const gen = compacted?.generation ?? localGen;
    if (accepted_c && gen > (ag?.generation ?? 0)) (this.state.generations ??= {})[id] = { generation: gen, hash: blobHash(fromBase64(accepted_c)) };
    return result;
  }

  /** Reads a compacted log: its kept records come first, each checked against the statement. */
  private startLog(v: OpenedVault, c: Compaction): void {
    v.compaction = c;
    v.keptNext = 0;
    if (c.kept.length === 0) {
      v.head = c.upto;
      v.chainHash = c.chain;
    }
  }

  /** Pulls the records after `v.head` up to the server's head, each verified (applyRecord); every page must be of generation `gen`. */
  private async pullInto(v: OpenedVault, sv: ShareVaultT, records: string[], gen: number): Promise<void> {
    while (v.head < sv.head) {
      const p = await this.call<SharePullT>('sharePull', { params: { id: v.id }, body: { after: v.head } });
      if ((p.generation ?? 0) !== gen) throw new GenerationChanged();
      if (p.from !== v.head + 1) throw shareTampered('the server sent records from the wrong revision');
      if (p.records.length === 0) throw shareTampered(`the server's log of shared vault "${v.name}" stops before its head`);
      for (const r of p.records) {
        this.applyRecord(v, fromBase64(r), false);
        records.push(r);
      }
      if (!p.more) break;
    }
    if (v.head < sv.head) throw shareTampered(`the server's log of shared vault "${v.name}" stops before its head`);
    if (v.compaction && v.keptNext! < v.compaction.kept.length) throw shareTampered(`the server's log of shared vault "${v.name}" lacks records its compaction statement keeps`);
  }

  /** What the server sent when this device last verified the vault (openVault checks all of it again). */
  private cachedVault(id: string): ShareVaultT {
    const vp = this.state.vaults[id];
    if (!vp?.memberships || !vp.bundle) throw new KpmError(`shared vault "${vp?.name ?? id.slice(0, 8)}" has no copy on this device yet`, EXIT.network, 'run `kpm sync` while the server can be reached');
    return { id, owner: vp.owner, memberships: vp.memberships, bundle: vp.bundle, accept: null, head: vp.rev, ...(vp.compaction ? { compaction: vp.compaction } : {}) };
  }

  /**
   * Every shared vault this account can use on this device (accepted, or owned), verified: fresh from
   * the server when `online` (new records pulled, vaults accepted on another device of the account
   * pinned on first use as `kpm share get` does, ones it no longer lists marked removed), else the
   * verified copy in share.kpms. A server that cannot be reached falls back to the copy (`offline`
   * in the result says so); anything that does not verify is exit 8.
   */
  async usable(o: { online: boolean }): Promise<{ vaults: OpenedVault[]; offline: boolean }> {
    const usableState = (id: string) => {
      const vp = this.state.vaults[id];
      return vp && !vp.removed && (vp.accepted || normalizeEmail(vp.owner) === this.me.email);
    };
    if (o.online) {
      try {
        await this.ready();
        const l = await this.call<ShareListT>('shareList');
        const out: OpenedVault[] = [];
        for (const [id, vp] of Object.entries(this.state.vaults)) {
          if (!vp.removed && !l.vaults.some((x) => x.id === id)) {
            vp.removed = true;
            this.notes.push(`you are no longer a member of shared vault "${vp.name}"`);
          }
        }
        for (const x of l.vaults) {
          const known = this.state.vaults[x.id] !== undefined;
          const v = await this.openVault(x.id); // an acceptance signed on another device of this account counts
          if (v.left) continue;
          if (v.accepted || v.owner === this.me.email) out.push(v);
          else if (!known) delete this.state.vaults[x.id];
        }
        await this.pushPinsQuietly();
        return { vaults: out, offline: false };
      } catch (e) {
        if (!(e instanceof KpmError) || e.exitCode !== EXIT.network) throw e;
      }
    }
    const out: OpenedVault[] = [];
    for (const id of Object.keys(this.state.vaults)) {
      if (!usableState(id) || !this.state.vaults[id].memberships) continue;
      const v = await this.openVault(id, { offline: true });
      if (!v.left) out.push(v);
    }
    return { vaults: out, offline: true };
  }

  /**
   * Checks one record against the chain (in a compacted log's kept part: against the statement's
   * revision and hash), the membership in force and the writer's signature, then applies it.
   */
  private applyRecord(v: OpenedVault, bytes: Uint8Array, cached: boolean): void {
    const p = parseRecord(bytes);
    const c = v.compaction;
    const kept = c !== undefined && v.keptNext! < c.kept.length ? c.kept[v.keptNext!] : undefined;
    const rev = kept ? kept.rev : v.head + 1;
    const what = `shared record ${rev} of "${v.name}"`;
    if (!bytesEqual(p.vaultId, fromHex(v.id)) || p.rev !== rev) throw shareTampered(`${what} is out of place (revision ${p.rev})${c ? ' (the log was compacted: records are missing or added that its statement does not name)' : ''}`);
    if (kept) {
      if (!bytesEqual(recordHash(bytes), kept.hash)) throw shareTampered(`${what} is not the record the owner's compaction statement keeps`);
    } else if (!bytesEqual(p.prevChain, v.chainHash)) throw shareTampered(`${what} does not follow the records before it`);
    const inForce = epochAt(v.chain, rev);
    if (p.epoch !== inForce.epoch) throw shareTampered(`${what} names epoch ${p.epoch}, but epoch ${inForce.epoch} is in force there (a removed member's key?)`);
    const writer = inForce.members.find((m) => bytesEqual(m.signPublic, p.writer));
    if (!writer) throw shareTampered(`${what} is written by a key that is not a member's in epoch ${p.epoch}`);
    if (!canWrite(writer.role)) throw shareTampered(`${what} is written by ${writer.email}, a read-only member: refused`);
    checkRecordSignature(p, writer.signPublic);
    const key = v.keys[p.epoch - 1];
    if (!key) throw shareTampered(`${what}: no vault key for epoch ${p.epoch}`);
    const { entry, files } = openRecord(p, key);
    void cached;
    const version: SharedVersion = { entry, files, deleted: p.deleted, writer: writer.email, rev };
    const eid = toHex(p.entryId);
    v.entries.set(eid, version);
    const all = v.versions.get(eid);
    if (all) all.push(version);
    else v.versions.set(eid, [version]);
    if (kept) {
      v.keptNext!++;
      v.head = rev;
      if (v.keptNext === c!.kept.length) {
        // the chain over every record up to the statement's head, as the owner verified it: records after it follow it
        v.head = c!.upto;
        v.chainHash = c!.chain;
      }
      return;
    }
    v.chainHash = nextChain(v.chainHash, bytes);
    v.head = rev;
  }

  /** The shared vaults the server lists for this account, and the ones this device knew that it no longer lists. */
  async list(): Promise<{ id: string; owner: string; name?: string; role?: Role; accepted: boolean; epoch: number; members?: number; state: 'shared' | 'invitation' | 'removed'; error?: string }[]> {
    await this.ready();
    const l = await this.call<ShareListT>('shareList');
    const out: Awaited<ReturnType<ShareClient['list']>> = [];
    for (const x of l.vaults) {
      const known = this.state.vaults[x.id] !== undefined;
      let v = await this.openVault(x.id, { pull: known });
      if (v.left) continue;
      v = await this.actOnLeaves(v);
      out.push({ id: x.id, owner: v.owner, name: v.name, role: v.role, accepted: v.accepted || v.owner === this.me.email, epoch: v.latest.epoch, members: v.latest.members.length, state: v.accepted || v.owner === this.me.email ? 'shared' : 'invitation' });
      if (!known) delete this.state.vaults[x.id]; // shown, not pinned: `kpm share accept` pins it
    }
    for (const [id, vp] of Object.entries(this.state.vaults)) {
      if (!l.vaults.some((x) => x.id === id)) {
        vp.removed = true;
        out.push({ id, owner: vp.owner, name: vp.name, accepted: vp.accepted, epoch: vp.epoch, state: 'removed' });
      }
    }
    return out;
  }

  /** Finds a shared vault by name (or id prefix) among the ones the server lists for this account. */
  async resolve(nameOrId: string, o: { pinNew?: boolean; mustExist?: boolean } = {}): Promise<OpenedVault | null> {
    await this.ready();
    const l = await this.call<ShareListT>('shareList');
    const hits: OpenedVault[] = [];
    for (const x of l.vaults) {
      if (/^[0-9a-f]{8,32}$/.test(nameOrId) && x.id.startsWith(nameOrId)) {
        hits.push(await this.openVault(x.id, { pinNew: o.pinNew }));
        continue;
      }
      const known = this.state.vaults[x.id];
      if (known && known.name !== nameOrId) continue;
      const v = await this.openVault(x.id, { pinNew: o.pinNew || !!known });
      if (v.left) {
        if (v.name === nameOrId) throw forbidden(`you left shared vault "${nameOrId}"`, 'its owner can share it with you again');
        continue;
      }
      if (v.name === nameOrId) hits.push(v);
      else if (!known && !o.pinNew) delete this.state.vaults[x.id];
    }
    if (hits.some((h) => h.left)) throw forbidden(`you left shared vault "${hits.find((h) => h.left)!.name}"`, 'its owner can share it with you again');
    if (hits.length > 1) throw usageError(`${hits.length} shared vaults are called "${nameOrId}"`, `name one by its id: ${hits.map((h) => h.id.slice(0, 8)).join(', ')}`);
    if (hits.length === 0) {
      const gone = Object.values(this.state.vaults).find((vp) => vp.name === nameOrId && !l.vaults.some((x) => this.state.vaults[x.id] === vp));
      if (gone) throw forbidden(`you are no longer a member of shared vault "${nameOrId}"`, 'its owner removed you (or you left)');
      if (o.mustExist !== false) throw notFound(`no shared vault "${nameOrId}"`, 'see `kpm shares`');
      return null;
    }
    return this.actOnLeaves(hits[0]);
  }

  // ---------------------------------------------------------------- owner: members

  private async publishMembership(id: string, m: Membership, name: string, keys: Uint8Array[], identities: Map<string, Pick<PublicIdentity, 'boxPublic' | 'fp'>>): Promise<void> {
    const body = await sealMembership(this.me.signer, m);
    const bundles: { email: string; body: string }[] = [];
    for (const x of m.members) bundles.push({ email: x.email, body: toBase64(await sealBundle(this.me, identities.get(normalizeEmail(x.email))!, fromHex(id), m.epoch, { name, keys })) });
    await this.call('shareMembership', { params: { id }, body: { membership: toBase64(body), bundles } });
  }

  /** `kpm share VAULT --with EMAIL`: adds a member (or changes their role); creates the shared vault on first use. */
  async share(name: string, email: string, role: 'writer' | 'reader', requireVerified: boolean): Promise<{ vault: string; created: boolean; member: ContactView }> {
    const c = await this.contact(email);
    if (c.email === this.me.email) throw usageError('you own this vault already');
    if (!c.verified) {
      if (requireVerified) throw forbidden(`${c.email} is not verified`, `compare fingerprints and run \`kpm contacts verify ${c.email} FINGERPRINT\` first`);
      this.notes.push(`${c.email} is not verified (fingerprint ${toHex(c.fingerprint).slice(0, 16)}…): compare fingerprints with them and run \`kpm contacts verify ${c.email} FINGERPRINT\``);
    }
    await this.publish();
    const v = await this.resolve(name, { mustExist: false });
    const member: Member = { email: c.email, signPublic: c.id.signPublic, boxPublic: c.id.boxPublic, role };
    if (!v) {
      const id = toHex(randomBytes(16));
      const m: Membership = { vaultId: fromHex(id), epoch: 1, head: 0, prev: new Uint8Array(32), members: [{ email: this.me.email, signPublic: this.me.signPublic, boxPublic: this.me.boxPublic, role: 'owner' }, member] };
      const key = randomBytes(32);
      await this.publishMembership(id, m, name, [key], new Map([[this.me.email, this.me], [c.email, c.id]]));
      wipe(key);
      await this.openVault(id, { pinNew: true });
      return { vault: id, created: true, member: c };
    }
    if (v.owner !== this.me.email) throw forbidden(`only the owner (${v.owner}) adds members to shared vault "${v.name}"`);
    const members = v.latest.members.filter((x) => normalizeEmail(x.email) !== c.email);
    members.push(member);
    await this.changeMembers(v, members);
    return { vault: v.id, created: false, member: c };
  }

  /** A new epoch with `members` and a new vault key (which only they get). */
  private async changeMembers(v: OpenedVault, members: Member[]): Promise<OpenedVault> {
    const ids = new Map<string, Pick<PublicIdentity, 'boxPublic' | 'fp'>>();
    for (const x of members) ids.set(normalizeEmail(x.email), { boxPublic: x.boxPublic, fp: memberFp(x) });
    const m: Membership = { vaultId: fromHex(v.id), epoch: v.latest.epoch + 1, head: v.head, prev: membershipHash(v.bodies[v.bodies.length - 1]), members };
    const key = randomBytes(32);
    await this.publishMembership(v.id, m, v.name, [...v.keys, key], ids);
    wipe(key);
    return this.openVault(v.id);
  }

  /**
   * The owner acts on the members' leave statements the server sent with the vault: each must be
   * signed by the key the signed membership names for the member, for this vault, for an epoch
   * from which every epoch up to the latest still names them (an older statement, from before they
   * were removed and added again, is a replay); then one new epoch without them, with a new vault
   * key (as revoke). Any statement that does not verify: exit 8, nothing sent.
   */
  private async actOnLeaves(v: OpenedVault): Promise<OpenedVault> {
    const raw = this.leaves.get(v.id) ?? [];
    if (v.owner !== this.me.email || raw.length === 0) return v;
    const gone: Member[] = [];
    for (const b of raw) {
      const st = parseLeave(fromBase64(b));
      if (!bytesEqual(st.vaultId, fromHex(v.id))) throw shareTampered(`a leave statement of shared vault "${v.name}" is for another vault`);
      const m = v.latest.members.find((x) => bytesEqual(memberFp(x), st.fp));
      if (!m || m.role === 'owner') throw shareTampered(`a leave statement of shared vault "${v.name}" names a key that is not a member's in epoch ${v.latest.epoch}`);
      if (!bytesEqual(st.signer, m.signPublic)) throw shareTampered(`a leave statement of shared vault "${v.name}" for ${m.email} is not signed by ${m.email}: refused`);
      st.check(m.signPublic);
      if (st.epoch < 1 || st.epoch > v.latest.epoch) throw shareTampered(`a leave statement of shared vault "${v.name}" for ${m.email} names epoch ${st.epoch}, which does not exist`);
      for (let k = st.epoch; k <= v.latest.epoch; k++) {
        if (!v.chain[k - 1].members.some((x) => bytesEqual(memberFp(x), st.fp))) throw shareTampered(`a leave statement of shared vault "${v.name}" for ${m.email} is from epoch ${st.epoch}, before they were removed and added again (a replay): refused`);
      }
      if (!gone.includes(m)) gone.push(m);
    }
    const next = await this.changeMembers(v, v.latest.members.filter((x) => !gone.includes(x)));
    this.leaves.delete(v.id);
    for (const m of gone) this.notes.push(`${m.email} left shared vault "${v.name}": signed membership epoch ${next.latest.epoch} without them, with a new vault key (what they read before stays with them)`);
    return next;
  }

  async revoke(name: string, email: string): Promise<OpenedVault> {
    const v = (await this.resolve(name))!;
    if (v.owner !== this.me.email) throw forbidden(`only the owner (${v.owner}) removes members of shared vault "${v.name}"`);
    const e = normalizeEmail(email);
    if (e === this.me.email) throw usageError('the owner cannot remove themselves');
    if (!v.latest.members.some((x) => normalizeEmail(x.email) === e)) throw notFound(`${e} is not a member of shared vault "${v.name}"`);
    await this.changeMembers(v, v.latest.members.filter((x) => normalizeEmail(x.email) !== e));
    return v;
  }

  /**
   * A new vault key without a change of members (`kpm share rotate`): one new epoch naming the same
   * members, so whoever holds only the old keys (a revoked service token, a copy of an old device)
   * cannot open what is written from now on. Only the owner signs memberships. `v`: as resolve() opened it.
   */
  async rotate(v: OpenedVault): Promise<OpenedVault> {
    if (v.owner !== this.me.email) throw forbidden(`only the owner (${v.owner}) gives shared vault "${v.name}" a new key`, `ask ${v.owner} to run \`kpm share rotate "${v.name}"\``);
    return this.changeMembers(v, v.latest.members);
  }

  async accept(name: string): Promise<OpenedVault> {
    const v = (await this.resolve(name, { pinNew: true }))!;
    await this.publish();
    await this.call('shareAccept', { params: { id: v.id }, body: { body: toBase64(await sealAcceptance(this.me.signer, fromHex(v.id), v.latest.epoch)) } });
    v.accepted = true;
    this.state.vaults[v.id].accepted = true;
    return v;
  }

  async leave(name: string): Promise<string> {
    const v = (await this.resolve(name))!;
    if (v.owner === this.me.email) throw forbidden('the owner cannot leave a shared vault');
    // signed by this account: the owner's device acts on it only if it verifies against this account's key
    const st = await sealLeave(this.me.signer, this.me.fp, fromHex(v.id), v.latest.epoch);
    await this.call('shareLeave', { params: { id: v.id }, body: { body: toBase64(st) } });
    delete this.state.vaults[v.id];
    (this.state.left ??= {})[v.id] = v.latest.epoch; // the account's other devices drop it too (the pin state)
    for (const k of v.keys) wipe(k);
    return v.name;
  }

  // ---------------------------------------------------------------- entries

  async openForUse(name: string): Promise<OpenedVault> {
    const v = (await this.resolve(name))!;
    if (!v.accepted && v.owner !== this.me.email) throw forbidden(`shared vault "${v.name}" is an invitation`, `run \`kpm share accept "${v.name}"\` first`);
    return v;
  }

  static find(v: OpenedVault, entryName: string): [string, EntryPayload] | undefined {
    let hit: [string, EntryPayload] | undefined;
    for (const [id, e] of v.entries) if (!e.deleted && e.entry.name === entryName) hit = [id, e.entry];
    return hit;
  }

  /** Refuses (exit 9) a write this account may not make: an invitation not accepted, or a read-only role. Nothing is sent. */
  static checkWritable(v: OpenedVault, me: string): void {
    if (!v.accepted && v.owner !== me) throw forbidden(`shared vault "${v.name}" is an invitation`, `run \`kpm share accept "${v.name}"\` first`);
    if (!canWrite(v.role)) throw forbidden(`you can only read shared vault "${v.name}" (role ${v.role ?? 'removed'})`, `ask its owner (${v.owner}) for write access`);
  }

  /**
   * Writes one entry version, or (`deleted`) a deletion of the entry named `entry.name`, which
   * carries the entry as it was (as an own vault's tombstone does); signed by this account; refused
   * here for read-only members.
   */
  async write(name: string, entry: EntryPayload | Pick<EntryPayload, 'name'>, deleted = false): Promise<{ vault: OpenedVault; rev: number }> {
    const v = await this.openForUse(name);
    ShareClient.checkWritable(v, this.me.email);
    const hit = ShareClient.find(v, entry.name);
    if (deleted && !hit) throw notFound(`no entry "${entry.name}" in shared vault "${v.name}"`);
    const body = deleted ? { ...hit![1], updated: new Date().toISOString() } : (entry as EntryPayload);
    return this.writeEntry(v, body, { entryId: hit?.[0], deleted });
  }

  /**
   * Writes a version of entry `entryId` (a new entry without it) to an opened vault, signed by this
   * account, after checking the role (nothing is sent otherwise); a concurrent write by another member
   * re-opens (and re-verifies) the vault and tries again.
   */
  async writeEntry(opened: OpenedVault, entry: EntryPayload, o: { entryId?: string; deleted?: boolean; files?: SharedFile[] } = {}): Promise<{ vault: OpenedVault; rev: number }> {
    ShareClient.checkWritable(opened, this.me.email);
    const problem = sharedPayloadProblem(entry);
    if (problem) throw usageError(`this entry cannot be written to a shared vault: ${problem}`);
    const entryId = o.entryId ? fromHex(o.entryId) : randomBytes(16);
    const eid = toHex(entryId);
    let v = opened;
    for (let attempt = 0; ; attempt++) {
      ShareClient.checkWritable(v, this.me.email);
      // without `files`: the entry keeps the files of its current version (an edit, a deletion carrying the entry as it was)
      const files = o.files ?? v.entries.get(eid)?.files ?? [];
      if (files.length) {
        const fp = sharedFilesProblem(files, v.latest.epoch);
        if (fp) throw usageError(`these files cannot be written to a shared vault: ${fp}`);
        // a file no version of the entry named yet must be sealed under the epoch in force (a revoke meanwhile: its key is the new one)
        const known = new Set((v.versions.get(eid) ?? []).flatMap((x) => x.files.map((f) => f.blob)));
        const stale = files.find((f) => !known.has(f.blob) && f.epoch !== v.latest.epoch);
        if (stale) throw new KpmError(`the membership of shared vault "${v.name}" changed (epoch ${v.latest.epoch}) while "${stale.name}" was sent under epoch ${stale.epoch}: nothing was written`, EXIT.conflict, 'run the command again');
      }
      const rec = await sealRecord(this.me.signer, v.keys[v.latest.epoch - 1], { vaultId: fromHex(v.id), rev: v.head + 1, epoch: v.latest.epoch, prevChain: v.chainHash, entryId, deleted: o.deleted === true }, entry, files);
      try {
        await this.call('sharePush', { params: { id: v.id }, body: { base: v.head, records: [toBase64(rec)] } });
      } catch (e) {
        if (isServerCode(e, 'conflict') && attempt < 3) {
          v = await this.openVault(v.id);
          continue;
        }
        throw e;
      }
      const rev = v.head + 1;
      return { vault: await this.openVault(v.id), rev };
    }
  }

  // ---------------------------------------------------------------- purging (docs/SHARING.md "Purging and compacting a shared vault")

  /**
   * The owner's `kpm history purge NAME --vault V` (`cutHistory`: an entry id) and `kpm trash purge
   * [NAME] --vault V` (`purgeTrash`: entry ids, or every deleted entry), with `history.keep` and
   * `trash.days` applied: signs a compaction statement over the log as this device verified it and
   * sends it; the server drops what it does not keep. A writer or reader: exit 9, nothing sent.
   * Nothing to drop: nothing sent (`dropped` 0).
   */
  async purge(opened: OpenedVault, what: { cutHistory?: string; purgeTrash?: string[] | 'all' }, retention: { keep: number; trashDays: number }, now = new Date()): Promise<{ vault: OpenedVault; dropped: number; purged: string[] }> {
    let v = opened;
    for (let attempt = 0; ; attempt++) {
      ShareClient.checkPurge(v, this.me.email);
      const vp = this.state.vaults[v.id];
      if (!vp || vp.rev !== v.head) throw new KpmError(`shared vault "${v.name}" has no verified copy on this device to compact`, EXIT.conflict, 'run the command again');
      const byRev = new Map<number, SharedVersion>();
      for (const l of v.versions.values()) for (const x of l) byRev.set(x.rev, x);
      const infos: LogRecordInfo[] = vp.records.map((r) => {
        const b = fromBase64(r);
        const rev = parseRecord(b).rev;
        const x = byRev.get(rev)!;
        return recordInfo(b, x.files, x.entry.updated);
      });
      const plan = planCompaction(infos, { historyKeep: retention.keep, trashDays: retention.trashDays, now, cutHistory: what.cutHistory, purgeTrash: what.purgeTrash });
      if (plan.dropped === 0 && plan.droppedBlobs.length === 0) return { vault: v, dropped: 0, purged: [] };
      const c: Compaction = {
        vaultId: fromHex(v.id),
        generation: (v.compaction?.generation ?? 0) + 1,
        epoch: v.latest.epoch,
        epochHash: membershipHash(v.bodies[v.latest.epoch - 1]),
        upto: v.head,
        chain: v.chainHash,
        ...plan,
      };
      const body = await sealCompaction(this.me.signer, c);
      try {
        await this.call('shareCompact', { params: { id: v.id }, body: { statement: toBase64(body) } });
      } catch (e) {
        if (isServerCode(e, 'conflict') && attempt < 2) {
          v = await this.openVault(v.id);
          continue;
        }
        throw e;
      }
      const names = plan.purged.map((eid) => v.entries.get(eid)?.entry.name ?? eid.slice(0, 8));
      // read back as every member reads it: the statement checked against what this device verified
      return { vault: await this.openVault(v.id), dropped: plan.dropped, purged: names };
    }
  }

  /** Only the owner purges (exit 9 otherwise, before anything is sent). */
  static checkPurge(v: OpenedVault, me: string): void {
    if (v.owner !== me) throw forbidden(`only the owner (${v.owner}) deletes versions of shared vault "${v.name}" for good (you are ${v.role === 'writer' ? 'a writer' : v.role === 'reader' ? 'a reader' : 'not a member'})`, 'a writer can delete an entry (`kpm rm`): it goes to the trash, which the owner can purge');
  }

  // ---------------------------------------------------------------- files (src/share/blobs.ts)

  private blobCall: BlobCall = (name, o) => this.call(name, o);

  /**
   * Seals a file for vault `v` under its latest epoch and sends it (this account must be able to
   * write: refused with exit 9 before anything is sent); the record naming it is written afterwards
   * (writeEntry with `files`). `dir`: where the temporary sealed file goes (removed afterwards).
   */
  async uploadFile(v: OpenedVault, dir: string, path: string, onProgress?: Progress): Promise<SharedFile> {
    ShareClient.checkWritable(v, this.me.email);
    const rk = recordKey(v.keys[v.latest.epoch - 1]);
    try {
      return await uploadSharedFile(this.blobCall, dir, v.id, v.latest.epoch, rk, path, onProgress);
    } finally {
      wipe(rk);
    }
  }

  /** Fetches a file of a verified record of `v` and checks it against the record (downloadSharedFile); with the key to open it. */
  async downloadFile(v: OpenedVault, dir: string, file: SharedFile): Promise<{ fd: number; key: Uint8Array; remove(): void }> {
    const vk = v.keys[file.epoch - 1];
    if (!vk) throw shareTampered(`file "${file.name}" names membership epoch ${file.epoch}, whose key this account does not hold`);
    const got = await downloadSharedFile(this.blobCall, dir, v.id, file);
    const rk = recordKey(vk);
    const key = shareBlobKey(rk, fromHex(v.id), file.epoch, fromHex(file.blob));
    wipe(rk);
    return { fd: got.fd, key, remove: () => (got.remove(), wipe(key)) };
  }
}
