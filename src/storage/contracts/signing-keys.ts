// Part of the repository contracts (../types.ts, which re-exports it): signing keys.
// Times are epoch seconds (integers).

import type { SigningAlg } from '../../config/types.js';

/**
 * next: published in the JWKS but not signing yet; it becomes current at `activates_at`, so
 * verifiers that cache the JWKS already hold it when the first token under it arrives
 * (`keys.publish_ahead`; like Keycloak's passive keys and Ory Hydra's next key).
 */
export type KeyStatus = 'next' | 'current' | 'previous' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: SigningAlg;
  public_jwk: Record<string, unknown>;
  private_enc: string; // private key (PKCS#8 PEM) encrypted under the master secret (opaque string)
  status: KeyStatus;
  created_at: number;
  /** for status previous: publish in JWKS until this time (every token it signed has expired by then) */
  publish_until: number | null;
  /** for status next: when it becomes current; kept afterwards (when it took over). Absent: made current at once. */
  activates_at?: number;
}

/**
 * There is one current key per algorithm (migration 0012) and at most one next key per
 * algorithm (migration 0014); "current" and "next" below mean of that alg.
 */
export interface KeyRepo {
  list(): Promise<SigningKeyRecord[]>;
  /** The current key of `alg`; without alg, the newest current key of any algorithm. */
  current(alg?: SigningAlg): Promise<SigningKeyRecord | undefined>;
  /**
   * Keys to publish in JWKS at time `now`: current, then next, then previous with
   * publish_until > now (newest first within each).
   */
  published(now: number): Promise<SigningKeyRecord[]>;
  /**
   * In one transaction: the current key of rec.alg becomes `previous` with publish_until,
   * its next key (if any: it never signed anything) becomes `retired`, `rec` (status current)
   * is inserted; keys of other algorithms are untouched. Works when there is no current key
   * of that alg yet. The immediate switch (`key rotate --now`, `keys.publish_ahead: 0`).
   * Concurrent first-start callers: insertInitial is idempotent (see below).
   */
  rotate(rec: SigningKeyRecord, previousPublishUntil: number): Promise<void>;
  /**
   * Insert rec as the next key of rec.alg, current from `activatesAt`, unless that alg already
   * has a next key; returns the alg's next key afterwards (rec, or the one already waiting).
   */
  addNext(rec: SigningKeyRecord, activatesAt: number): Promise<SigningKeyRecord>;
  /**
   * Every next key with activates_at <= now becomes current, each in one transaction with its
   * alg's current key becoming `previous` with publish_until `previousPublishUntil`. Safe to
   * run from many instances at once: each key is promoted once, a caller that lost the race
   * changes nothing. Returns the keys this call promoted.
   */
  promoteDue(now: number, previousPublishUntil: number): Promise<SigningKeyRecord[]>;
  /** Insert rec as current only if no current key of rec.alg exists; returns that alg's current key afterwards. */
  insertInitial(rec: SigningKeyRecord): Promise<SigningKeyRecord>;
  /**
   * The current key of `alg` becomes `previous` with publish_until (no successor), and its next
   * key, if any, `retired` (it would otherwise take over later); true when there was a current one.
   */
  demoteCurrent(alg: SigningAlg, publishUntil: number): Promise<boolean>;
  /** previous keys whose publish_until <= now become retired; returns how many */
  retireExpired(now: number): Promise<number>;
}
