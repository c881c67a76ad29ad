// SSO sessions in Redis (chosen when `redis:` is configured): one JSON value per session,
// expiring by itself at the absolute timeout, plus a set per user for "log out everywhere".
// The idle timeout is checked by sso.ts on every read, as for the SQL store.
import type { Redis } from 'ioredis';
import type { SsoSessionRecord, SsoSessionRepo } from '../../storage/types.js';

const PREFIX = 'drawbridge:sso:';
const USER_PREFIX = 'drawbridge:sso-user:';

export class RedisSsoSessionStore implements SsoSessionRepo {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async insert(rec: SsoSessionRecord): Promise<void> {
    const userKey = USER_PREFIX + rec.user_id;
    await this.#redis
      .multi()
      .set(PREFIX + rec.id, JSON.stringify(rec), 'EXAT', rec.expires_at)
      .sadd(userKey, rec.id)
      // the index lives as long as the user's newest session (every new one ends later)
      .expireat(userKey, rec.expires_at)
      .exec();
  }

  async get(id: string): Promise<SsoSessionRecord | undefined> {
    const raw = await this.#redis.get(PREFIX + id);
    return raw === null ? undefined : (JSON.parse(raw) as SsoSessionRecord);
  }

  async touch(id: string, at: number): Promise<boolean> {
    const rec = await this.get(id);
    if (!rec) return false;
    // XX KEEPTTL: never resurrects a session deleted meanwhile, never extends its life
    const ok = await this.#redis.set(PREFIX + id, JSON.stringify({ ...rec, last_seen_at: at }), 'KEEPTTL', 'XX');
    return ok === 'OK';
  }

  async delete(id: string): Promise<boolean> {
    const rec = await this.get(id);
    const deleted = await this.#redis.del(PREFIX + id);
    if (rec) await this.#redis.srem(USER_PREFIX + rec.user_id, id);
    return deleted > 0;
  }

  async deleteByUser(userId: string): Promise<number> {
    const ids = await this.#redis.smembers(USER_PREFIX + userId);
    const deleted = ids.length === 0 ? 0 : await this.#redis.del(...ids.map((id) => PREFIX + id));
    await this.#redis.del(USER_PREFIX + userId);
    return deleted;
  }

  /** Redis expires sessions by itself. */
  async deleteExpired(): Promise<number> {
    return 0;
  }
}
