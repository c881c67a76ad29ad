// SSO sessions in Redis (chosen when `redis:` is configured): one JSON value per session,
// expiring by itself at the absolute timeout, plus a set per user for "log out everywhere".
// The idle timeout is checked by sso.ts on every read, as for the SQL store. The grants made
// in a session (logout) are a hash per session, client_id by grant_id, expiring with it.
// A Redis that does not answer is core's UnavailableError (503 temporarily_unavailable, or
// that error at the client's redirect URI from the authorization endpoint), as for the SQL
// store and the Redis counters: never a 500, never a session taken as absent.
import type { Redis } from 'ioredis';
import { onRedis } from '../../cache/redis.js';
import type { SsoSessionGrant, SsoSessionRecord, SsoSessionRepo } from '../../storage/types.js';

const PREFIX = 'drawbridge:sso:';
const USER_PREFIX = 'drawbridge:sso-user:';
const GRANTS_PREFIX = 'drawbridge:sso-grants:';

export class RedisSsoSessionStore implements SsoSessionRepo {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** One step against Redis: unavailable when Redis is (cache/redis.ts onRedis). */
  #run<T>(step: () => Promise<T>): Promise<T> {
    return onRedis(this.#redis, 'sso sessions', step);
  }

  async insert(rec: SsoSessionRecord): Promise<void> {
    const userKey = USER_PREFIX + rec.user_id;
    await this.#run(() =>
      this.#redis
        .multi()
        .set(PREFIX + rec.id, JSON.stringify(rec), 'EXAT', rec.expires_at)
        .sadd(userKey, rec.id)
        // the index lives as long as the user's newest session (every new one ends later)
        .expireat(userKey, rec.expires_at)
        .exec(),
    );
  }

  async get(id: string): Promise<SsoSessionRecord | undefined> {
    const raw = await this.#run(() => this.#redis.get(PREFIX + id));
    return raw === null ? undefined : (JSON.parse(raw) as SsoSessionRecord);
  }

  async touch(id: string, at: number): Promise<boolean> {
    const rec = await this.get(id);
    if (!rec) return false;
    // XX KEEPTTL: never resurrects a session deleted meanwhile, never extends its life
    const ok = await this.#run(() => this.#redis.set(PREFIX + id, JSON.stringify({ ...rec, last_seen_at: at }), 'KEEPTTL', 'XX'));
    return ok === 'OK';
  }

  async delete(id: string): Promise<boolean> {
    const rec = await this.get(id);
    const [deleted] = await this.#run(() => Promise.all([this.#redis.del(PREFIX + id), this.#redis.del(GRANTS_PREFIX + id)]));
    if (rec) await this.#run(() => this.#redis.srem(USER_PREFIX + rec.user_id, id));
    return deleted > 0;
  }

  async end(id: string): Promise<SsoSessionGrant[]> {
    // the session first, its grants read after (SsoSessionRepo.end)
    const rec = await this.get(id);
    await this.#run(() => this.#redis.del(PREFIX + id));
    if (rec) await this.#run(() => this.#redis.srem(USER_PREFIX + rec.user_id, id));
    const grants = await this.grants(id);
    await this.#run(() => this.#redis.del(GRANTS_PREFIX + id));
    return grants;
  }

  async deleteByUser(userId: string): Promise<number> {
    const ids = await this.#run(() => this.#redis.smembers(USER_PREFIX + userId));
    const deleted = ids.length === 0 ? 0 : await this.#run(() => this.#redis.del(...ids.map((id) => PREFIX + id)));
    if (ids.length > 0) await this.#run(() => this.#redis.del(...ids.map((id) => GRANTS_PREFIX + id)));
    await this.#run(() => this.#redis.del(USER_PREFIX + userId));
    return deleted;
  }

  async listByUser(userId: string): Promise<SsoSessionRecord[]> {
    const ids = await this.#run(() => this.#redis.smembers(USER_PREFIX + userId));
    if (ids.length === 0) return [];
    const raws = await this.#run(() => this.#redis.mget(...ids.map((id) => PREFIX + id)));
    const out: SsoSessionRecord[] = [];
    const gone: string[] = [];
    raws.forEach((raw, i) => (raw === null ? gone.push(ids[i]!) : out.push(JSON.parse(raw) as SsoSessionRecord)));
    // sessions Redis expired by itself leave their id in the user's set
    if (gone.length > 0) await this.#run(() => this.#redis.srem(USER_PREFIX + userId, ...gone));
    return out.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async addGrant(id: string, clientId: string, grantId: string, at: number): Promise<void> {
    const rec = await this.get(id);
    // the session ended (or never was): nothing will read these grants, store none
    if (!rec) return;
    const key = GRANTS_PREFIX + id;
    // HSETNX keeps the first record of a grant; the value orders grants by time
    await this.#run(() => this.#redis.multi().hsetnx(key, grantId, JSON.stringify([at, clientId])).expireat(key, rec.expires_at).exec());
  }

  async grants(id: string): Promise<SsoSessionGrant[]> {
    const all = await this.#run(() => this.#redis.hgetall(GRANTS_PREFIX + id));
    return Object.entries(all)
      .map(([grantId, value]) => {
        const [at, clientId] = JSON.parse(value) as [number, string];
        return { at, grant: { client_id: clientId, grant_id: grantId } };
      })
      .sort((a, b) => a.at - b.at || (a.grant.grant_id < b.grant.grant_id ? -1 : 1))
      .map((g) => g.grant);
  }

  /** Redis expires sessions by itself. */
  async deleteExpired(): Promise<number> {
    return 0;
  }
}
