// The signing keys of one issuer, as every role in this process sees them: the current
// key (signs) and every published key (verifies). Keys live in SQL (KeyRepo) with the
// private key sealed under the master secret; each instance re-reads them every
// `refreshInterval` seconds so a `drawbridge key rotate` reaches it within that time.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { SigningAlg } from '../config/types.js';
import type { KeyRepo, SigningKeyRecord } from '../storage/types.js';
import type { Clock } from '../core/clock.js';
import { generateSigningKey } from './generate.js';
import type { SigningKey } from './jwt.js';
import { deriveKey, seal, unseal } from './seal.js';

export interface KeyringOptions {
  repo: KeyRepo;
  secret: string;
  alg: SigningAlg;
  clock: Clock;
  /** seconds between re-reads of the key table */
  refreshInterval: number;
  onError?: (err: unknown) => void;
  onChange?: (current: SigningKey) => void;
}

export class Keyring {
  #opts: KeyringOptions;
  #sealKey: Buffer;
  #current: SigningKey | undefined;
  #byKid = new Map<string, SigningKey>();
  #published: Array<Record<string, unknown>> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: KeyringOptions) {
    this.#opts = opts;
    this.#sealKey = deriveKey(opts.secret, 'signing-key-encryption');
  }

  /** Loads the keys, creating the first one when the table is empty, and starts refreshing. */
  async start(): Promise<void> {
    if (!(await this.#opts.repo.current())) {
      await this.#opts.repo.insertInitial(this.#newRecord(this.#opts.alg));
    }
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
    const records = await this.#opts.repo.published(now);
    const next = new Map<string, SigningKey>();
    let current: SigningKey | undefined;
    for (const rec of records) {
      const key = this.#byKid.get(rec.kid) ?? this.#prepare(rec);
      next.set(rec.kid, key);
      if (rec.status === 'current') current = key;
    }
    if (!current) throw new Error('keys: no current signing key in storage');
    const changed = current !== this.#current;
    this.#byKid = next;
    this.#current = current;
    // current first, so clients that try keys in order find the likely one first
    this.#published = [current, ...[...next.values()].filter((k) => k !== current)].map((k) => k.publicJwk);
    if (changed) this.#opts.onChange?.(current);
  }

  get current(): SigningKey {
    if (!this.#current) throw new Error('keyring not started');
    return this.#current;
  }

  get verificationKeys(): ReadonlyMap<string, SigningKey> {
    return this.#byKid;
  }

  /** JWKS document (RFC 7517) of every published key. */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.#published };
  }

  /**
   * Makes a new key current. The old one stays published for `publishPreviousFor`
   * seconds: long enough for every token it signed to expire.
   */
  async rotate(publishPreviousFor: number, alg: SigningAlg = this.#opts.alg): Promise<SigningKeyRecord> {
    const rec = this.#newRecord(alg);
    await this.#opts.repo.rotate(rec, this.#opts.clock.now() + publishPreviousFor);
    await this.refresh();
    return rec;
  }

  #newRecord(alg: SigningAlg): SigningKeyRecord {
    const k = generateSigningKey(alg);
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
