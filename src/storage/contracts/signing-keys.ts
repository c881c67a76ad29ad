// Part of the repository contracts (../types.ts, which re-exports it): signing keys.
// Times are epoch seconds (integers).

import type { SigningAlg } from '../../config/types.js';

export type KeyStatus = 'current' | 'previous' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: SigningAlg;
  public_jwk: Record<string, unknown>;
  private_enc: string; // private key (PKCS#8 PEM) encrypted under the master secret (opaque string)
  status: KeyStatus;
  created_at: number;
  /** for status previous: publish in JWKS until this time (every token it signed has expired by then) */
  publish_until: number | null;
}

/** There is one current key per algorithm (migration 0012); "current" below means of that alg. */
export interface KeyRepo {
  list(): Promise<SigningKeyRecord[]>;
  /** The current key of `alg`; without alg, the newest current key of any algorithm. */
  current(alg?: SigningAlg): Promise<SigningKeyRecord | undefined>;
  /** Keys to publish in JWKS at time `now`: current + previous with publish_until > now. */
  published(now: number): Promise<SigningKeyRecord[]>;
  /**
   * In one transaction: the current key of rec.alg becomes `previous` with publish_until,
   * `rec` (status current) is inserted; keys of other algorithms are untouched. Works when
   * there is no current key of that alg yet.
   * Concurrent first-start callers: insertInitial is idempotent (see below).
   */
  rotate(rec: SigningKeyRecord, previousPublishUntil: number): Promise<void>;
  /** Insert rec as current only if no current key of rec.alg exists; returns that alg's current key afterwards. */
  insertInitial(rec: SigningKeyRecord): Promise<SigningKeyRecord>;
  /** The current key of `alg` becomes `previous` with publish_until (no successor); true when there was one. */
  demoteCurrent(alg: SigningAlg, publishUntil: number): Promise<boolean>;
  /** previous keys whose publish_until <= now become retired; returns how many */
  retireExpired(now: number): Promise<number>;
}
