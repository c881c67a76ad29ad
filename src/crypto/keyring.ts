// The signing keys of one issuer, as every role in this process sees them: one current key
// per algorithm (signs) and every published key (verifies). The main algorithm
// (`keys.algorithm`) signs access tokens, introspection answers and the gateway's internal
// tokens; ID tokens (and logout tokens) may use other algorithms too (`keys.id_token_algorithms`,
// per client `id_token_signed_response_alg`), because OIDC Discovery §3 requires RS256 there.
// Keys live in SQL (KeyRepo) with the private key sealed under the master secret; each
// instance re-reads them every `refreshInterval` seconds so a `drawbridge key rotate`
// reaches it within that time.
// A rotation normally adds a *next* key (`prepareNext`): published in the JWKS at once but not
// signing until its `activates_at`, so every verifier caching the JWKS has it before the first
// token under it arrives. Each instance, on its refresh after that time, promotes it in storage
// (idempotent: the first instance does it, the others find it done) and signs with it; no
// coordination beyond storage is needed.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { SigningAlg } from '../config/types.js';
import type { KeyRepo, SigningKeyRecord } from '../storage/types.js';
import type { Clock } from '../core/clock.js';
import { generateSigningKeyAsync, type GeneratedKey } from './generate.js';
import type { SigningKey } from './jwt.js';
import { deriveKey, seal, unseal } from './seal.js';

/** Without `publishPreviousFor`: a day, longer than any token lifetime a deployment is expected to use. */
const DEFAULT_PUBLISH_PREVIOUS_FOR = 86_400;

interface KeyringOptions {
  repo: KeyRepo;
  secret: string;
  /** the main algorithm: `current` */
  alg: SigningAlg;
  /** algorithms ID tokens may be signed with, the default first; absent: [alg] */
  idTokenAlgs?: readonly SigningAlg[];
  clock: Clock;
  /** seconds between re-reads of the key table (and promotions of due next keys) */
  refreshInterval: number;
  /**
   * seconds the key a next key replaces stays published after the switch: long enough for
   * every token it signed to expire. A function is asked at each switch (the longest token
   * lifetime can change while running: clients made through the admin API). Default: a day.
   */
  publishPreviousFor?: number | (() => Promise<number>);
  onError?: (err: unknown) => void;
  onChange?: (current: SigningKey) => void;
}

export class Keyring {
  #opts: KeyringOptions;
  #sealKey: Buffer;
  /** the main alg first, then the ID token algs: each has a current key */
  #algs: readonly SigningAlg[];
  #idTokenAlgs: readonly SigningAlg[];
  #current: SigningKey | undefined;
  #currentByAlg = new Map<SigningAlg, SigningKey>();
  /** published next keys by alg, with when they take over */
  #nextByAlg = new Map<SigningAlg, { key: SigningKey; activatesAt: number }>();
  #byKid = new Map<string, SigningKey>();
  #published: Array<Record<string, unknown>> = [];
  #timer: NodeJS.Timeout | undefined;
  /** what was last said about algorithms missing from storage (said once, not every refresh) */
  #missingNoted = '';
  /** client algorithms already said to be unavailable */
  #fallbackNoted = new Set<SigningAlg>();

  constructor(opts: KeyringOptions) {
    this.#opts = opts;
    this.#sealKey = deriveKey(opts.secret, 'signing-key-encryption');
    this.#idTokenAlgs = Object.freeze([...new Set(opts.idTokenAlgs?.length ? opts.idTokenAlgs : [opts.alg])]);
    this.#algs = Object.freeze([...new Set([opts.alg, ...this.#idTokenAlgs])]);
  }

  /**
   * Loads the keys, creating a current key for every algorithm that has none (the first
   * start, or an algorithm newly configured), and starts refreshing.
   */
  async start(): Promise<void> {
    const missing: SigningAlg[] = [];
    for (const alg of this.#algs) if (!(await this.#opts.repo.current(alg))) missing.push(alg);
    // generated side by side (RSA takes the longest), inserted one by one: insertInitial keeps
    // the first of racing starters, so every instance ends up with the same key
    const records = await Promise.all(missing.map((alg) => this.#newRecord(alg)));
    for (const rec of records) await this.#opts.repo.insertInitial(rec);
    await this.refresh();
    if (this.#opts.refreshInterval > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch((err) => this.#opts.onError?.(err));
      }, this.#opts.refreshInterval * 1000);
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Re-reads the published keys; cheap when nothing changed (keys are decrypted once). */
  async refresh(): Promise<void> {
    const now = this.#opts.clock.now();
    let records = await this.#opts.repo.published(now);
    if (records.some((rec) => rec.status === 'next' && rec.activates_at !== undefined && rec.activates_at <= now)) {
      // its time has come: promote it (every instance tries; storage lets one do it) and re-read
      try {
        await this.#opts.repo.promoteDue(now, now + (await this.#publishPreviousFor()));
        records = await this.#opts.repo.published(now);
      } catch (err) {
        // signing goes on with the current key, and the next key stays published
        this.#opts.onError?.(new Error(`keys: promoting the next signing key failed: ${(err as Error).message}`));
      }
    }
    const next = new Map<string, SigningKey>();
    const currentByAlg = new Map<SigningAlg, SigningKey>();
    const nextByAlg = new Map<SigningAlg, { key: SigningKey; activatesAt: number }>();
    for (const rec of records) {
      const key = this.#byKid.get(rec.kid) ?? this.#prepare(rec);
      next.set(rec.kid, key);
      // newest first: the first current key of an alg is its current one
      if (rec.status === 'current' && !currentByAlg.has(rec.alg)) currentByAlg.set(rec.alg, key);
      if (rec.status === 'next' && !nextByAlg.has(rec.alg)) nextByAlg.set(rec.alg, { key, activatesAt: rec.activates_at ?? now });
    }
    // An algorithm whose current key vanished from storage (demoted by a `key rotate` run
    // with another config, or by an older version during a rolling upgrade) keeps the key
    // this instance already holds, so one missing algorithm never stops the others (above
    // all a new main key) from being picked up. Only the very first load has nothing to keep.
    const missing: SigningAlg[] = [];
    for (const alg of this.#algs) {
      if (currentByAlg.has(alg)) continue;
      const held = this.#currentByAlg.get(alg);
      if (held !== undefined) {
        currentByAlg.set(alg, held);
        next.set(held.kid, held);
      } else if (alg === this.#opts.alg) {
        throw new Error(`keys: no current ${alg} signing key in storage`);
      }
      missing.push(alg);
    }
    const missingNote = missing.join(', ');
    if (missingNote !== this.#missingNoted && missing.length > 0) this.#opts.onError?.(new Error(`keys: no current ${missingNote} signing key in storage; keeping the one in use (run \`drawbridge key rotate\` with this instance's config)`));
    this.#missingNoted = missingNote;
    const current = currentByAlg.get(this.#opts.alg)!;
    const changed = current !== this.#current;
    this.#byKid = next;
    this.#current = current;
    this.#currentByAlg = currentByAlg;
    this.#nextByAlg = nextByAlg;
    // current keys first (the main one leading), so clients that try keys in order find the
    // likely one first; then the next keys, then the previous keys, newest first
    const currents = [current, ...this.#algs.flatMap((alg) => currentByAlg.get(alg) ?? []).filter((k) => k !== current)];
    const rest = [...next.values()].filter((k) => !currents.includes(k));
    this.#published = [...currents, ...rest].map((k) => k.publicJwk);
    if (changed) this.#opts.onChange?.(current);
  }

  async #publishPreviousFor(): Promise<number> {
    const given = this.#opts.publishPreviousFor;
    if (given === undefined) return DEFAULT_PUBLISH_PREVIOUS_FOR;
    return typeof given === 'number' ? given : given();
  }

  /** The current key of the main algorithm: access tokens, internal tokens, introspection. */
  get current(): SigningKey {
    if (!this.#current) throw new Error('keyring not started');
    return this.#current;
  }

  /** The current key of `alg`; throws when this keyring does not keep one. */
  currentFor(alg: SigningAlg): SigningKey {
    if (!this.#current) throw new Error('keyring not started');
    const key = this.#currentByAlg.get(alg);
    if (!key) throw new Error(`keys: no current ${alg} signing key (it is not one of keys.algorithm, keys.id_token_algorithms)`);
    return key;
  }

  /** What ID tokens may be signed with, the default first (discovery's id_token_signing_alg_values_supported). */
  get idTokenAlgs(): readonly SigningAlg[] {
    return this.#idTokenAlgs;
  }

  /** The key for a client's ID tokens (its id_token_signed_response_alg; absent: the default). */
  idTokenKey(alg?: SigningAlg | null): SigningKey {
    const wanted = alg ?? this.#idTokenAlgs[0]!;
    const key = this.#currentByAlg.get(wanted);
    if (key !== undefined) return key;
    // a client stored with an algorithm this server's config no longer lists (a CLI-made
    // client, checked against another config): sign with the default rather than fail the
    // request after its code was spent; the client's RP may refuse it, and the log says why
    const fallback = this.currentFor(this.#idTokenAlgs[0]!);
    if (!this.#fallbackNoted.has(wanted)) {
      this.#fallbackNoted.add(wanted);
      this.#opts.onError?.(new Error(`keys: a client asks for ${wanted} ID tokens, which keys.id_token_algorithms does not list; signed with ${fallback.alg}`));
    }
    return fallback;
  }

  /** The published next key of `alg` (default: the main alg) and when it takes over, if one is waiting. */
  nextFor(alg: SigningAlg = this.#opts.alg): { key: SigningKey; activatesAt: number } | undefined {
    return this.#nextByAlg.get(alg);
  }

  get verificationKeys(): ReadonlyMap<string, SigningKey> {
    return this.#byKid;
  }

  /** JWKS document (RFC 7517) of every published key. */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.#published };
  }

  /**
   * Makes a new key of `alg` current at once (default: the main alg); the other algorithms'
   * keys are untouched. The old one stays published for `publishPreviousFor` seconds: long
   * enough for every token it signed to expire. A next key waiting for that alg is retired.
   * Verifiers that cached the JWKS refuse the new kid until they refetch: this is the
   * emergency switch (`key rotate --now`); `prepareNext` is the ordinary one.
   */
  async rotate(publishPreviousFor: number, alg: SigningAlg = this.#opts.alg): Promise<SigningKeyRecord> {
    this.#checkInUse(alg);
    const rec = await this.#newRecord(alg);
    await this.#opts.repo.rotate(rec, this.#opts.clock.now() + publishPreviousFor);
    await this.refresh();
    return rec;
  }

  /**
   * Publishes a new key of `alg` (default: the main alg) as the next one: in the JWKS now,
   * current `publishAhead` seconds from now, when every instance switches to it on its own
   * (and the old current key stays published for `publishPreviousFor`). When a next key is
   * already waiting, it is kept (its takeover time too) and returned with `created: false`.
   */
  async prepareNext(publishAhead: number, alg: SigningAlg = this.#opts.alg): Promise<{ key: SigningKeyRecord; created: boolean }> {
    this.#checkInUse(alg);
    const rec = { ...(await this.#newRecord(alg)), status: 'next' as const };
    const kept = await this.#opts.repo.addNext(rec, this.#opts.clock.now() + publishAhead);
    await this.refresh();
    return { key: kept, created: kept.kid === rec.kid };
  }

  #checkInUse(alg: SigningAlg): void {
    if (!this.#algs.includes(alg)) {
      throw new Error(`keys: cannot rotate ${alg}: not one of keys.algorithm, keys.id_token_algorithms (${this.#algs.join(', ')})`);
    }
  }

  /**
   * Current keys of algorithms no longer in use (taken out of keys.id_token_algorithms, or
   * the main key of an older version made with `key rotate --alg`) stop being current: they
   * stay published for `publishPreviousFor` seconds, like a rotated-out key, then retire.
   * Not done at start, so instances still running an older config keep their keys until an
   * operator asks (`drawbridge key rotate`). Returns the keys demoted.
   */
  async demoteUnused(publishPreviousFor: number): Promise<SigningKey[]> {
    const unused = [...this.#currentByAlg.keys()].filter((alg) => !this.#algs.includes(alg));
    const demoted: SigningKey[] = [];
    for (const alg of unused) {
      const key = this.#currentByAlg.get(alg)!;
      if (await this.#opts.repo.demoteCurrent(alg, this.#opts.clock.now() + publishPreviousFor)) demoted.push(key);
    }
    if (demoted.length > 0) await this.refresh();
    return demoted;
  }

  async #newRecord(alg: SigningAlg): Promise<SigningKeyRecord> {
    const k: GeneratedKey = await generateSigningKeyAsync(alg);
    return {
      kid: k.kid,
      alg,
      public_jwk: k.publicJwk,
      private_enc: seal(this.#sealKey, k.privatePem, k.kid),
      status: 'current',
      created_at: this.#opts.clock.now(),
      publish_until: null,
    };
  }

  #prepare(rec: SigningKeyRecord): SigningKey {
    const privateKey = createPrivateKey(unseal(this.#sealKey, rec.private_enc, rec.kid));
    return {
      kid: rec.kid,
      alg: rec.alg,
      privateKey,
      publicKey: createPublicKey(privateKey),
      publicJwk: rec.public_jwk,
    };
  }
}
