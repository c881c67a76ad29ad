// Issued tokens for `memory:` storage: Maps instead of SQL, in the spirit of oidc-provider's
// MemoryAdapter. Nothing outlives the process, so there is nothing to serialise and no query
// to build: insert and findByDigest are a Map operation each. Unlike an LRU, no live token is
// ever dropped (a revocation must not be forgotten); expired ones go in deleteExpired, which
// the auth server's housekeeping calls every minute, in O(expired) thanks to the expiry index.
//
// Records are copied in and out, so a caller changing a returned record changes nothing
// stored, as with SQL. `extra` is kept as JSON text: it reads back exactly as SQL returns it.

import type { RefreshTokenState, RevokedToken, TokenRecord, TokenRepo } from '../types.js';

interface StoredToken extends Omit<TokenRecord, 'audience' | 'extra' | 'refresh' | 'exchanged_from'> {
  audience: readonly string[];
  extra: string | null;
  refresh: RefreshTokenState | null;
  exchanged_from: string | null;
}

export class MemoryTokenRepo implements TokenRepo {
  readonly #byDigest = new Map<string, StoredToken>();
  /** jti → the first token stored with it (jtis are random UUIDs: one each) */
  readonly #byJti = new Map<string, StoredToken>();
  // The secondary indexes of the SQL table, as Maps of Sets.
  readonly #byGrant = new Index();
  readonly #byClient = new Index();
  readonly #bySubject = new Index();
  /** subject token's digest → the tokens exchanged from it */
  readonly #byParent = new Index();
  /**
   * expires_at → tokens expiring then: deleteExpired visits only what it deletes. Arrays, not
   * Sets: a token leaves only through deleteExpired, together with its whole bucket.
   */
  readonly #byExpiry = new Map<number, StoredToken[]>();

  async insert(rec: TokenRecord): Promise<void> {
    if (this.#byDigest.has(rec.digest)) throw new Error(`storage: a token with this digest already exists`);
    const row: StoredToken = {
      digest: rec.digest,
      kind: rec.kind,
      format: rec.format,
      jti: rec.jti,
      client_id: rec.client_id,
      sub: rec.sub,
      scope: rec.scope,
      audience: Object.freeze(rec.audience.slice()),
      grant_id: rec.grant_id,
      issued_at: rec.issued_at,
      expires_at: rec.expires_at,
      revoked_at: rec.revoked_at,
      extra: rec.extra === null || rec.extra === undefined ? null : JSON.stringify(rec.extra),
      refresh: rec.refresh ? { ...rec.refresh } : null,
      exchanged_from: rec.exchanged_from ?? null,
    };
    this.#byDigest.set(row.digest, row);
    if (!this.#byJti.has(row.jti)) this.#byJti.set(row.jti, row);
    if (row.grant_id !== null) this.#byGrant.add(row.grant_id, row);
    this.#byClient.add(row.client_id, row);
    this.#bySubject.add(row.sub, row);
    if (row.exchanged_from !== null) this.#byParent.add(row.exchanged_from, row);
    const expiring = this.#byExpiry.get(row.expires_at);
    if (expiring) expiring.push(row);
    else this.#byExpiry.set(row.expires_at, [row]);
  }

  async findByDigest(digest: string): Promise<TokenRecord | undefined> {
    const row = this.#byDigest.get(digest);
    return row && toRecord(row);
  }

  async findByJti(jti: string): Promise<TokenRecord | undefined> {
    const row = this.#byJti.get(jti);
    return row && toRecord(row);
  }

  async revoke(digest: string, at: number): Promise<boolean> {
    const row = this.#byDigest.get(digest);
    if (!row || row.revoked_at !== null) return false;
    row.revoked_at = at;
    return true;
  }

  async revokeByGrant(grantId: string, at: number): Promise<number> {
    return revokeAll(this.#byGrant.get(grantId), at);
  }

  async revokeGrant(grantId: string, at: number, opts: { keepOffline?: boolean } = {}): Promise<RevokedToken[]> {
    const revoked: RevokedToken[] = [];
    for (const row of this.#byGrant.get(grantId) ?? []) {
      if (row.revoked_at !== null) continue;
      if (opts.keepOffline && row.kind === 'refresh_token' && (row.refresh?.session_id ?? null) === null) continue;
      row.revoked_at = at;
      revoked.push({ digest: row.digest, jti: row.jti, format: row.format, kind: row.kind });
    }
    return revoked;
  }

  async revokeExchanged(digests: readonly string[], at: number): Promise<RevokedToken[]> {
    const revoked: RevokedToken[] = [];
    const seen = new Set<string>(digests);
    const pending = [...seen];
    // every child is followed, revoked or not: a live grandchild may hang below a revoked child
    for (let parent = pending.pop(); parent !== undefined; parent = pending.pop()) {
      for (const row of this.#byParent.get(parent) ?? []) {
        if (row.revoked_at === null) {
          row.revoked_at = at;
          revoked.push({ digest: row.digest, jti: row.jti, format: row.format, kind: row.kind });
        }
        if (!seen.has(row.digest)) {
          seen.add(row.digest);
          pending.push(row.digest);
        }
      }
    }
    return revoked;
  }

  async revokeExchangedFromClient(clientId: string, at: number): Promise<RevokedToken[]> {
    const parents: string[] = [];
    for (const row of this.#byClient.get(clientId) ?? []) if (this.#byParent.get(row.digest) !== undefined) parents.push(row.digest);
    return this.revokeExchanged(parents, at);
  }

  async revokeByClient(clientId: string, at: number): Promise<number> {
    return revokeAll(this.#byClient.get(clientId), at);
  }

  async revokeBySubject(sub: string, at: number): Promise<number> {
    return revokeAll(this.#bySubject.get(sub), at);
  }

  async rotateRefresh(digest: string, at: number, replacement: string): Promise<boolean> {
    const row = this.#byDigest.get(digest);
    if (!row || row.kind !== 'refresh_token' || row.revoked_at !== null) return false;
    // as in SQL, a token stored without rotation state can still be rotated
    if (row.refresh?.rotated_at != null) return false;
    row.revoked_at = at;
    row.refresh = { idle_expires_at: row.refresh?.idle_expires_at ?? row.expires_at, session_id: row.refresh?.session_id ?? null, rotated_at: at, replacement };
    return true;
  }

  async deleteExpired(now: number): Promise<number> {
    let deleted = 0;
    for (const [expiresAt, rows] of this.#byExpiry) {
      if (expiresAt >= now) continue;
      for (const row of rows) this.#forget(row);
      deleted += rows.length;
      this.#byExpiry.delete(expiresAt);
    }
    return deleted;
  }

  /** Removes a row from every index but the expiry index (its caller drops that bucket). */
  #forget(row: StoredToken): void {
    this.#byDigest.delete(row.digest);
    if (this.#byJti.get(row.jti) === row) this.#byJti.delete(row.jti);
    if (row.grant_id !== null) this.#byGrant.remove(row.grant_id, row);
    this.#byClient.remove(row.client_id, row);
    this.#bySubject.remove(row.sub, row);
    if (row.exchanged_from !== null) this.#byParent.remove(row.exchanged_from, row);
  }
}

/** A non-unique index: key → the rows that have it. */
class Index {
  readonly #sets = new Map<string, Set<StoredToken>>();

  get(key: string): ReadonlySet<StoredToken> | undefined {
    return this.#sets.get(key);
  }

  add(key: string, row: StoredToken): void {
    const set = this.#sets.get(key);
    if (set) set.add(row);
    else this.#sets.set(key, new Set([row]));
  }

  remove(key: string, row: StoredToken): void {
    const set = this.#sets.get(key);
    if (!set) return;
    set.delete(row);
    if (set.size === 0) this.#sets.delete(key);
  }
}

/** Already-revoked tokens keep their original revoked_at and are not counted (as in SQL). */
function revokeAll(rows: ReadonlySet<StoredToken> | undefined, at: number): number {
  let changed = 0;
  if (rows) {
    for (const row of rows) {
      if (row.revoked_at !== null) continue;
      row.revoked_at = at;
      changed++;
    }
  }
  return changed;
}

function toRecord(row: StoredToken): TokenRecord {
  return {
    digest: row.digest,
    kind: row.kind,
    format: row.format,
    jti: row.jti,
    client_id: row.client_id,
    sub: row.sub,
    scope: row.scope,
    audience: row.audience.slice(),
    grant_id: row.grant_id,
    issued_at: row.issued_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    extra: row.extra === null ? null : (JSON.parse(row.extra) as Record<string, unknown>),
    ...(row.refresh && { refresh: { ...row.refresh } }),
    ...(row.exchanged_from !== null && { exchanged_from: row.exchanged_from }),
  };
}
