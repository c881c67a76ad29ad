// Issued access and refresh tokens, looked up by digest (never by the token itself).
// insert and findByDigest are on the token endpoint's and the gateway's hot path:
// one statement each, by primary key.

import { sql } from 'kysely';
import type { AccessTokenFormat } from '../../config/types.js';
import { fromJson, fromJsonOrNull, toJson, toJsonOrNull } from '../json.js';
import type { Db, SqlHandle, TokensTable } from '../schema.js';
import type { RefreshTokenState, RevokedToken, TokenRecord, TokenRepo } from '../types.js';

type RevokeColumn = 'grant_id' | 'client_id' | 'sub';

/** Digests per `IN (…)` list: well below SQLite's and PostgreSQL's bound-parameter limits. */
const IN_CHUNK = 500;

export class SqlTokenRepo implements TokenRepo {
  readonly #db: Db;
  /** PostgreSQL: revocations by grant or user run a second pass (see #secondPass) */
  readonly #twoPasses: boolean;

  constructor(handle: SqlHandle) {
    this.#db = handle.db;
    this.#twoPasses = handle.dialect === 'postgres';
  }

  async insert(rec: TokenRecord): Promise<void> {
    await this.#db.insertInto('tokens').values(toRow(rec)).execute();
  }

  async findByDigest(digest: string): Promise<TokenRecord | undefined> {
    const row = await this.#db.selectFrom('tokens').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row && fromRow(row);
  }

  async findByJti(jti: string): Promise<TokenRecord | undefined> {
    const row = await this.#db.selectFrom('tokens').selectAll().where('jti', '=', jti).executeTakeFirst();
    return row && fromRow(row);
  }

  async revoke(digest: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('tokens')
      .set({ revoked_at: at })
      .where('digest', '=', digest)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async revokeByGrant(grantId: string, at: number): Promise<number> {
    const first = await this.#revokeWhere('grant_id', grantId, at);
    return first + (await this.#secondPass(() => this.#revokeReturning('grant_id', grantId, at), at)).length;
  }

  async revokeGrant(grantId: string, at: number, opts: { keepOffline?: boolean } = {}): Promise<RevokedToken[]> {
    const pass = async () => {
      let query = this.#db.updateTable('tokens').set({ revoked_at: at }).where('grant_id', '=', grantId).where('revoked_at', 'is', null);
      // offline refresh tokens: kind refresh_token with no session (access tokens have none either)
      if (opts.keepOffline) query = query.where((eb) => eb.or([eb('kind', '!=', 'refresh_token'), eb('session_id', 'is not', null)]));
      return toRevoked(await query.returning(['digest', 'jti', 'format', 'kind']).execute());
    };
    const first = await pass();
    return [...first, ...(await this.#secondPass(pass, at))];
  }

  async revokeExchanged(digests: readonly string[], at: number): Promise<RevokedToken[]> {
    const revoked: RevokedToken[] = [];
    const seen = new Set<string>(digests);
    // one level of the chain per round: chains are short (an `act` holds at most a few actors)
    let frontier = [...seen];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (let i = 0; i < frontier.length; i += IN_CHUNK) {
        const parents = frontier.slice(i, i + IN_CHUNK);
        const rows = await this.#db
          .updateTable('tokens')
          .set({ revoked_at: at })
          .where('exchanged_from', 'in', parents)
          .where('revoked_at', 'is', null)
          .returning(['digest', 'jti', 'format', 'kind'])
          .execute();
        for (const r of rows) revoked.push({ digest: r.digest, jti: r.jti, format: r.format as AccessTokenFormat, kind: r.kind as TokenRecord['kind'] });
        // every child, revoked now or before: a live grandchild may hang below a revoked child
        const children = await this.#db.selectFrom('tokens').select('digest').where('exchanged_from', 'in', parents).execute();
        for (const c of children) {
          if (seen.has(c.digest)) continue;
          seen.add(c.digest);
          next.push(c.digest);
        }
      }
      frontier = next;
    }
    return revoked;
  }

  async revokeExchangedFromClient(clientId: string, at: number): Promise<RevokedToken[]> {
    // only the client's tokens that something was exchanged from: few, whatever the client's size
    const parents = await this.#db
      .selectFrom('tokens as child')
      .innerJoin('tokens as parent', 'parent.digest', 'child.exchanged_from')
      .select('parent.digest')
      .distinct()
      .where('parent.client_id', '=', clientId)
      .execute();
    return parents.length === 0 ? [] : this.revokeExchanged(parents.map((p) => p.digest), at);
  }

  revokeByClient(clientId: string, at: number): Promise<number> {
    return this.#revokeWhere('client_id', clientId, at);
  }

  async revokeBySubject(sub: string, at: number): Promise<number> {
    const first = await this.#revokeWhere('sub', sub, at);
    return first + (await this.#secondPass(() => this.#revokeReturning('sub', sub, at), at)).length;
  }

  async rotateRefresh(digest: string, at: number, replacement: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('tokens')
      .set({ rotated_at: at, revoked_at: at, replacement, idle_expires_at: sql<number>`coalesce(idle_expires_at, expires_at)` })
      .where('digest', '=', digest)
      .where('kind', '=', 'refresh_token')
      .where('rotated_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('tokens').where('expires_at', '<', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Already-revoked tokens keep their original revoked_at and are not counted. */
  async #revokeWhere(column: RevokeColumn, value: string, at: number): Promise<number> {
    const result = await this.#db
      .updateTable('tokens')
      .set({ revoked_at: at })
      .where(column, '=', value)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** As #revokeWhere, saying which tokens it revoked. */
  async #revokeReturning(column: RevokeColumn, value: string, at: number): Promise<RevokedToken[]> {
    const rows = await this.#db
      .updateTable('tokens')
      .set({ revoked_at: at })
      .where(column, '=', value)
      .where('revoked_at', 'is', null)
      .returning(['digest', 'jti', 'format', 'kind'])
      .execute();
    return toRevoked(rows);
  }

  /**
   * The second pass of revoking a grant's or a user's tokens, for PostgreSQL, and the tokens
   * exchanged from what it finds. An UPDATE (READ COMMITTED) works on the rows committed when
   * it started: a refresh of the family that stored its new pair after the first pass started,
   * and rotated the old token before that pass reached it, got away (the old token skipped as
   * already revoked, by the rotation; the pair not seen), and the pair stayed active after a
   * logout or a sign-out everywhere. The refresh stores its pair before it rotates, so a second
   * UPDATE, which starts once the first has met the rotation, sees the pair. Likewise a token
   * exchanged (RFC 8693: same grant, same user) from one of the family's access tokens while
   * the first pass ran. But a token exchanged from one the second pass finds, while that pass
   * runs, is seen by neither (its subject token still active when the exchange looked at it
   * again): so what the second pass revokes has its exchanged tokens revoked too, down the
   * chain, one level per statement, each starting after the one before ended (revokeExchanged).
   * SQLite has one writer at a time: a writing statement takes the database's write lock before
   * it reads, from the latest commit, and holds it until it commits, so no token is stored
   * (by this process or another on the same file) while the first pass runs, and it sees every
   * token stored before. A second pass would find nothing there: it is not run. A client's
   * tokens need no second pass: a token of a deleted client is inactive whatever its row says.
   */
  async #secondPass(pass: () => Promise<RevokedToken[]>, at: number): Promise<RevokedToken[]> {
    if (!this.#twoPasses) return [];
    const found = await pass();
    if (found.length === 0) return found;
    return [...found, ...(await this.revokeExchanged(found.map((t) => t.digest), at))];
  }
}

function toRevoked(rows: ReadonlyArray<{ digest: string; jti: string; format: string; kind: string }>): RevokedToken[] {
  return rows.map((r) => ({ digest: r.digest, jti: r.jti, format: r.format as AccessTokenFormat, kind: r.kind as TokenRecord['kind'] }));
}

function toRow(rec: TokenRecord): TokensTable {
  return {
    digest: rec.digest,
    kind: rec.kind,
    format: rec.format,
    jti: rec.jti,
    client_id: rec.client_id,
    sub: rec.sub,
    scope: rec.scope,
    audience: toJson(rec.audience),
    grant_id: rec.grant_id,
    issued_at: rec.issued_at,
    expires_at: rec.expires_at,
    revoked_at: rec.revoked_at,
    extra: toJsonOrNull(rec.extra),
    // refresh-token columns only when there is something to store: an access token's insert
    // stays the statement it was before migration 0005
    ...(rec.refresh && {
      idle_expires_at: rec.refresh.idle_expires_at,
      session_id: rec.refresh.session_id,
      rotated_at: rec.refresh.rotated_at,
      replacement: rec.refresh.replacement,
    }),
    // likewise only for exchanged tokens
    ...(rec.exchanged_from !== undefined && { exchanged_from: rec.exchanged_from }),
  };
}

function refreshFromRow(row: TokensTable): RefreshTokenState | undefined {
  if (row.idle_expires_at === null || row.idle_expires_at === undefined) return undefined;
  return {
    idle_expires_at: Number(row.idle_expires_at),
    session_id: row.session_id ?? null,
    rotated_at: row.rotated_at === null || row.rotated_at === undefined ? null : Number(row.rotated_at),
    replacement: row.replacement ?? null,
  };
}

function fromRow(row: TokensTable): TokenRecord {
  const rec: TokenRecord = {
    digest: row.digest,
    kind: row.kind as TokenRecord['kind'],
    format: row.format as AccessTokenFormat,
    jti: row.jti,
    client_id: row.client_id,
    sub: row.sub,
    scope: row.scope,
    audience: fromJson<string[]>(row.audience),
    grant_id: row.grant_id,
    issued_at: row.issued_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    extra: fromJsonOrNull<Record<string, unknown>>(row.extra),
  };
  const refresh = refreshFromRow(row);
  if (refresh) rec.refresh = refresh;
  if (row.exchanged_from !== null && row.exchanged_from !== undefined) rec.exchanged_from = row.exchanged_from;
  return rec;
}
