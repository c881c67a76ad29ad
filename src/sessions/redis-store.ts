// Gateway sessions in Redis (SessionStore of ./types.ts). Layout under one prefix:
//   s:{id}   hash  doc (the fixed fields, JSON), tokens (sealed), ax (access_expires_at),
//                  seen (last_seen_at), exp (expires_at), ukey / ikey (its index keys);
//                  EXPIREAT expires_at
//   u:{sub}  zset  the user's session ids scored by created_at (listByUser, deleteByUser)
//   i:{h}    set   session ids per (issuer, idp_sid), h = SHA-256 of both (back-channel logout)
//   l:{id}   string  the per-session lock (SET NX PX, released by compare-and-delete)
// Index entries of expired sessions are dropped lazily; the index keys expire with their
// newest session. Every write that must not resurrect a deleted session is a Lua script
// that checks the hash first. The connection is the store's own, with no offline queue and
// a per-command timeout: while Redis is down every call fails within commandTimeoutMs with
// SessionStoreUnavailableError instead of queueing (session routes answer 503).
import { Redis, type RedisOptions } from 'ioredis';
import { onRedis } from '../cache/redis.js';
import { systemClock, type Clock } from '../core/clock.js';
import { sha256Base64url } from '../core/crypto-util.js';
import type { Logger } from '../observability/logger.js';
import { runLocked } from './lock.js';
import { newestFirst } from './order.js';
import { SessionStoreUnavailableError, type GatewaySession, type SessionStore } from './types.js';

const DEFAULT_SESSION_PREFIX = 'drawbridge:gws:';

interface RedisSessionStoreOptions {
  /** a connection to copy the settings of (duplicated: the store gets its own), or a URL */
  redis: Redis | string;
  clock?: Clock;
  logger?: Logger;
  /** key prefix (tests use a random one); default drawbridge:gws: */
  prefix?: string;
  /** a command that takes longer fails with SessionStoreUnavailableError (default 1000 ms) */
  commandTimeoutMs?: number;
}

/** The fields that never change after insert, stored as one JSON document. */
type FixedFields = Omit<GatewaySession, 'id' | 'tokens' | 'access_expires_at' | 'last_seen_at'>;

// Extends a key's expiry to `exp` unless it already lives longer (EXPIREAT GT would treat a
// key without TTL as infinite and never set one).
const EXTEND = `
local function extend(key, exp, now)
  local ttl = redis.call('TTL', key)
  if ttl < 0 or now + ttl < exp then redis.call('EXPIREAT', key, exp) end
end
`;

// KEYS: s:id, u:sub[, i:h]  ARGV: doc, tokens, ax, seen, expires_at, created_at, id, now
const INSERT = `${EXTEND}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'tokens', ARGV[2], 'ax', ARGV[3], 'seen', ARGV[4], 'exp', ARGV[5], 'ukey', KEYS[2], 'ikey', KEYS[3] or '')
redis.call('EXPIREAT', KEYS[1], ARGV[5])
local exp, now = tonumber(ARGV[5]), tonumber(ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
extend(KEYS[2], exp, now)
if KEYS[3] then
  redis.call('SADD', KEYS[3], ARGV[7])
  extend(KEYS[3], exp, now)
end
return 1
`;

// A live session: the hash exists and its absolute end (by the store's clock) is ahead.
const LIVE = `
local function live(key, now)
  local exp = redis.call('HGET', key, 'exp')
  return exp and tonumber(exp) > tonumber(now)
end
`;

// KEYS: s:id  ARGV: tokens, ax, at, now — never creates the hash (a deleted session stays deleted)
const UPDATE_TOKENS = `${LIVE}
if not live(KEYS[1], ARGV[4]) then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0')
local at = tonumber(ARGV[3])
if at > seen then seen = at end
redis.call('HSET', KEYS[1], 'tokens', ARGV[1], 'ax', ARGV[2], 'seen', seen)
return 1
`;

// KEYS: s:id  ARGV: at, now — last_seen_at never moves back
const TOUCH = `${LIVE}
if not live(KEYS[1], ARGV[2]) then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0')
if tonumber(ARGV[1]) > seen then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
return 1
`;

// KEYS: s:id  ARGV: id
const DELETE = `
local v = redis.call('HMGET', KEYS[1], 'ukey', 'ikey')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if v[1] then redis.call('ZREM', v[1], ARGV[1]) end
if v[2] and v[2] ~= '' then redis.call('SREM', v[2], ARGV[1]) end
return 1
`;

// KEYS: u:sub  ARGV: prefix of session keys — every session of the user, atomically
const DELETE_BY_USER = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local k = ARGV[1] .. id
  local ikey = redis.call('HGET', k, 'ikey')
  if redis.call('DEL', k) == 1 then out[#out + 1] = id end
  if ikey and ikey ~= '' then redis.call('SREM', ikey, id) end
end
redis.call('DEL', KEYS[1])
return out
`;

// KEYS: i:h  ARGV: prefix of session keys
const DELETE_BY_IDP_SID = `
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local k = ARGV[1] .. id
  local ukey = redis.call('HGET', k, 'ukey')
  if redis.call('DEL', k) == 1 then out[#out + 1] = id end
  if ukey then redis.call('ZREM', ukey, id) end
end
redis.call('DEL', KEYS[1])
return out
`;

// KEYS: l:id  ARGV: token — releases only the lock this holder took
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const SCRIPTS = {
  dbsInsert: INSERT,
  dbsUpdateTokens: UPDATE_TOKENS,
  dbsTouch: TOUCH,
  dbsDelete: DELETE,
  dbsDeleteByUser: DELETE_BY_USER,
  dbsDeleteByIdpSid: DELETE_BY_IDP_SID,
  dbsRelease: RELEASE,
} as const;

type ScriptName = keyof typeof SCRIPTS;

export class RedisSessionStore implements SessionStore {
  readonly #redis: Redis;
  readonly #clock: Clock;
  readonly #prefix: string;
  readonly #logger: Logger | undefined;
  #closed = false;

  constructor(opts: RedisSessionStoreOptions) {
    this.#clock = opts.clock ?? systemClock;
    this.#prefix = opts.prefix ?? DEFAULT_SESSION_PREFIX;
    this.#logger = opts.logger;
    // Fail fast rather than queue: no offline queue, no retries of a command, a timeout on
    // each; the connection itself keeps reconnecting (at most 1 s apart) in the background.
    const failFast: Partial<RedisOptions> = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
      lazyConnect: false,
    };
    this.#redis = typeof opts.redis === 'string' ? new Redis(opts.redis, failFast) : opts.redis.duplicate(failFast);
    let reported = false;
    this.#redis.on('error', (err: Error) => {
      if (!reported) this.#logger?.warn({ err: err.message }, 'session store: redis unavailable; retrying');
      reported = true;
    });
    this.#redis.on('ready', () => {
      if (reported) this.#logger?.info('session store: redis connection restored');
      reported = false;
    });
    for (const [name, lua] of Object.entries(SCRIPTS)) this.#redis.defineCommand(name, { lua });
  }

  /** Resolves once connected, or after timeoutMs (the store then reports itself unavailable per call). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    if (this.#redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#redis.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** The key holding one session (tests read it raw to check sealing). */
  sessionKey(id: string): string {
    return `${this.#prefix}s:${id}`;
  }

  async get(id: string): Promise<GatewaySession | undefined> {
    const h = await this.#run(() => this.#redis.hgetall(this.sessionKey(id)));
    const session = fromHash(id, h);
    return session && session.expires_at > this.#clock.now() ? session : undefined;
  }

  async insert(session: GatewaySession): Promise<void> {
    const { id, tokens, access_expires_at, last_seen_at, ...fixed } = session;
    const keys = [this.sessionKey(id), this.#userKey(session.sub)];
    if (session.idp_sid !== null) keys.push(this.#idpKey(session.issuer, session.idp_sid));
    const doc: FixedFields = fixed;
    await this.#script('dbsInsert', keys, [
      JSON.stringify(doc),
      tokens,
      access_expires_at,
      last_seen_at,
      session.expires_at,
      session.created_at,
      id,
      this.#clock.now(),
    ]);
  }

  async updateTokens(id: string, tokens: string, accessExpiresAt: number, at: number): Promise<boolean> {
    return (await this.#script('dbsUpdateTokens', [this.sessionKey(id)], [tokens, accessExpiresAt, at, this.#clock.now()])) === 1;
  }

  async touch(id: string, at: number): Promise<boolean> {
    return (await this.#script('dbsTouch', [this.sessionKey(id)], [at, this.#clock.now()])) === 1;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.#script('dbsDelete', [this.sessionKey(id)], [id])) === 1;
  }

  async listByUser(sub: string): Promise<GatewaySession[]> {
    const userKey = this.#userKey(sub);
    const ids = await this.#run(() => this.#redis.zrevrange(userKey, 0, -1));
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.sessionKey(id));
    const replies = (await this.#run(() => pipeline.exec())) ?? [];
    const now = this.#clock.now();
    const live: GatewaySession[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const [err, h] = replies[i] ?? [null, {}];
      if (err) throw new SessionStoreUnavailableError(`session store: redis: ${err.message}`, { cause: err });
      const session = fromHash(id, h as Record<string, string>);
      if (session === undefined) gone.push(id);
      else if (session.expires_at > now) live.push(session);
    });
    // expired sessions leave their id in the index: drop it now (best effort)
    if (gone.length > 0) this.#redis.zrem(userKey, ...gone).catch(() => undefined);
    return live.sort(newestFirst);
  }

  async deleteByUser(sub: string): Promise<string[]> {
    return (await this.#script('dbsDeleteByUser', [this.#userKey(sub)], [`${this.#prefix}s:`])) as string[];
  }

  async deleteByIdpSid(issuer: string, idpSid: string): Promise<string[]> {
    return (await this.#script('dbsDeleteByIdpSid', [this.#idpKey(issuer, idpSid)], [`${this.#prefix}s:`])) as string[];
  }

  async withLock<T>(id: string, opts: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T | undefined> {
    const key = `${this.#prefix}l:${id}`;
    const ttl = Math.max(1, Math.ceil(opts.ttlMs));
    return runLocked(
      {
        take: async (token) => (await this.#run(() => this.#redis.set(key, token, 'PX', ttl, 'NX'))) === 'OK',
        // a failed release only delays the next holder until the lock expires by itself
        release: async (token) => {
          await this.#script('dbsRelease', [key], [token]).catch((err: unknown) =>
            this.#logger?.warn({ err: (err as Error).message }, 'session store: lock release failed; it expires by itself'),
          );
        },
      },
      opts.waitMs,
      fn,
    );
  }

  async deleteExpired(): Promise<number> {
    return 0; // EXPIREAT removes them
  }

  async ping(): Promise<void> {
    const reply = await this.#run(() => this.#redis.ping());
    if (reply !== 'PONG') throw new SessionStoreUnavailableError(`session store: unexpected PING reply ${reply}`);
  }

  #userKey(sub: string): string {
    return `${this.#prefix}u:${sub}`;
  }

  #idpKey(issuer: string, idpSid: string): string {
    return `${this.#prefix}i:${sha256Base64url(`${issuer}\n${idpSid}`)}`;
  }

  #script(name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    const command = (this.#redis as unknown as Record<ScriptName, (n: number, ...a: Array<string | number>) => Promise<unknown>>)[name];
    return this.#run(() => command.call(this.#redis, keys.length, ...keys, ...args));
  }

  /** Runs one Redis call; anything but a reply error (a bug here) means Redis is unavailable. */
  #run<T>(call: () => Promise<T>): Promise<T> {
    return onRedis(this.#redis, 'session store', call, SessionStoreUnavailableError);
  }
}

function fromHash(id: string, h: Record<string, string>): GatewaySession | undefined {
  if (h.doc === undefined || h.tokens === undefined) return undefined;
  const fixed = JSON.parse(h.doc) as FixedFields;
  return {
    id,
    sub: fixed.sub,
    issuer: fixed.issuer,
    client_id: fixed.client_id,
    idp_sid: fixed.idp_sid,
    claims: fixed.claims,
    scope: fixed.scope,
    tokens: h.tokens,
    access_expires_at: Number(h.ax),
    created_at: fixed.created_at,
    last_seen_at: Number(h.seen),
    expires_at: fixed.expires_at,
  };
}
