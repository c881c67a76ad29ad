// `rate-limiting` (limit stage), with Kong's keys: requests per `second`, `minute`,
// `hour` and `day` (any combination), counted per `limit_by` client in a sliding window
// (sliding-window.ts), in-process (`policy: local`) or in Redis shared by every gateway
// (`policy: redis`: an atomic Lua script, redis-sliding-window.ts, that reserves a lease of
// requests a busy client then spends without a round trip each, leases.ts).
//
// Every answer carries `RateLimit-Limit/-Remaining/-Reset` for the most restrictive window
// and Kong's `X-RateLimit-Limit-<Window>` / `X-RateLimit-Remaining-<Window>`; a refusal is
// `error_code` (429) with `Retry-After` and `error_message` as its `error_description`
// (the `error` stays `rate_limited` whatever the status). When Redis fails, `fault_tolerant` lets requests through (logged
// now and then) or refuses them with 503. `redis_timeout` is enforced by one shared timer
// for all calls in flight (deadlines.ts), not a timer per request.
//
// Counters belong to one plugin entry: a route's entry counts that route, a service's all
// of the service's routes, a global one every request. `limit_by: service` counts all of an
// entry's requests to one service together (a global entry: one counter per service). Entries share counters only through
// the same `namespace`; by default the namespace is derived from the entry's place in the
// config, so every gateway started from the same file shares them, and a reload keeps
// them (in Redis, and in-process too: see sharedLocalStore).
import type { Redis } from 'ioredis';
import { ConfigError, bool, int, keyPath, object, oneOf, str } from '../../config/schema.js';
import { redisLost } from '../../cache/redis.js';
import { sha256Base64url } from '../../core/crypto-util.js';
import type { Logger } from '../../observability/logger.js';
import { rateLimited, serviceUnavailable } from '../errors.js';
import type { CompiledService, GatewayDeps, GatewayRequest, Identity, Limiter, PluginFactory } from '../types.js';
import { Deadlines } from './deadlines.js';
import { leasedCounter, type LeasedCounter } from './leases.js';
import { redisWindowStore } from './redis-sliding-window.js';
import { evaluate, localWindowStore, type Evaluation, type HitResult, type RateWindow, type WindowStore } from './sliding-window.js';

type LimitBy = 'consumer' | 'credential' | 'ip' | 'service' | 'header' | 'path';
type RateLimitPolicy = 'local' | 'redis';

interface RateLimitingConfig {
  second?: number;
  minute?: number;
  hour?: number;
  day?: number;
  limit_by: LimitBy;
  header_name?: string;
  policy?: RateLimitPolicy;
  fault_tolerant: boolean;
  hide_client_headers: boolean;
  redis_timeout: number;
  namespace?: string;
  error_code: number;
  error_message: string;
}

const PERIODS = [
  ['second', 'Second', 1_000],
  ['minute', 'Minute', 60_000],
  ['hour', 'Hour', 3_600_000],
  ['day', 'Day', 86_400_000],
] as const;

/** keeps the integer arithmetic of sliding-window.ts exact (limit × ms of a day < 2^53) */
const MAX_LIMIT = 100_000_000;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token

export const rateLimitingConfigSchema = object<RateLimitingConfig>(
  {
    second: int(1, MAX_LIMIT).optional().doc('Requests allowed per second.'),
    minute: int(1, MAX_LIMIT).optional().doc('Requests allowed per minute.'),
    hour: int(1, MAX_LIMIT).optional().doc('Requests allowed per hour.'),
    day: int(1, MAX_LIMIT).optional().doc('Requests allowed per day.'),
    limit_by: oneOf<LimitBy>(['consumer', 'credential', 'ip', 'service', 'header', 'path'])
      .default('consumer')
      .doc(
        'Whose requests are counted together: the consumer (else the token subject), the credential, the client IP, ' +
          'every request to the same service (one counter per service name), the value of `header_name`, or the ' +
          'request path. Without one (no identity, no header) the client IP.',
      ),
    header_name: str().optional().doc('Request header to count by, with `limit_by: header`.'),
    policy: oneOf<RateLimitPolicy>(['local', 'redis'])
      .optional()
      .doc('`redis` (shared by every gateway) when top-level `redis` is set, else `local` (this process only).'),
    fault_tolerant: bool()
      .default(true)
      .doc('When Redis fails: `true` lets requests through (and logs it), `false` answers 503 with Retry-After.'),
    hide_client_headers: bool().default(false).doc('Leave out the RateLimit-* and X-RateLimit-* response headers.'),
    redis_timeout: int(1, 60_000).default(500).doc('Milliseconds to wait for Redis before treating it as down.'),
    namespace: str().optional().doc('Counter namespace; plugin entries with the same namespace share counters.'),
    error_code: int(400, 599)
      .default(429)
      .doc('Status of a refusal (400–599, not 401 or 407); it keeps `Retry-After` and the RateLimit-* headers whatever the status.'),
    error_message: str().default('API rate limit exceeded').doc('`error_description` of a refusal.'),
  },
  function checkRateLimiting(value, path) {
    const set = PERIODS.filter(([key]) => value[key] !== undefined);
    if (set.length === 0) throw new ConfigError(keyPath(path, 'minute'), 'set at least one of second, minute, hour or day');
    // Kong's rule: a longer period cannot allow fewer requests than a shorter one.
    for (let i = 1; i < set.length; i++) {
      const [shorter] = set[i - 1]!;
      const [longer] = set[i]!;
      if (value[longer]! < value[shorter]!) {
        throw new ConfigError(keyPath(path, longer), `must be at least ${shorter} (${value[shorter]})`);
      }
    }
    if (value.limit_by === 'header' && value.header_name === undefined) {
      throw new ConfigError(keyPath(path, 'header_name'), 'required with limit_by: header');
    }
    if (value.header_name !== undefined && value.limit_by !== 'header') {
      throw new ConfigError(keyPath(path, 'header_name'), 'only used with limit_by: header');
    }
    if (value.header_name !== undefined && !HEADER_NAME.test(value.header_name)) {
      throw new ConfigError(keyPath(path, 'header_name'), 'expected a header name');
    }
    // a 401/407 must carry a challenge (RFC 9110 §15.5.2, §15.5.8), which a rate limit has none of
    if (value.error_code === 401 || value.error_code === 407) {
      throw new ConfigError(keyPath(path, 'error_code'), `expected a status from 400 to 599 other than 401 and 407 (they need a challenge), got ${value.error_code}`);
    }
  },
);

/** A counter key from a client-chosen value stays short: long values are hashed. */
function part(value: string): string {
  return value.length <= 128 ? value : `#${sha256Base64url(value)}`;
}

/** The counter key of a request: the namespace prefix and whom it counts. */
type ClientKey = (gr: GatewayRequest) => string;

function clientKey(settings: RateLimitingConfig, prefix: string): ClientKey {
  switch (settings.limit_by) {
    case 'consumer':
    case 'credential': {
      const ofIdentity = settings.limit_by === 'consumer' ? consumerKey : credentialKey;
      // An identity is cached with its credential and shared by that credential's requests:
      // its key is made once, not concatenated (and hashed afresh by the lease map) per request.
      const keys = new WeakMap<Identity, string>();
      return function byIdentity(gr) {
        const identity = gr.identity;
        if (identity === undefined) return `${prefix}ip:${gr.clientIp}`;
        let key = keys.get(identity);
        if (key === undefined) keys.set(identity, (key = prefix + ofIdentity(identity)));
        return key;
      };
    }
    case 'ip':
      return function byIp(gr) {
        return `${prefix}ip:${gr.clientIp}`;
      };
    case 'service': {
      // one key per compiled service, made on its first request (names are unique and fixed)
      const keys = new WeakMap<CompiledService, string>();
      return function byService(gr) {
        const service = gr.route.service;
        let key = keys.get(service);
        if (key === undefined) keys.set(service, (key = `${prefix}service:${part(service.name)}`));
        return key;
      };
    }
    case 'header': {
      const name = settings.header_name!.toLowerCase();
      return function byHeader(gr) {
        const raw = gr.req.headers[name];
        const value = Array.isArray(raw) ? raw[0] : raw;
        return value !== undefined && value !== '' ? `${prefix}header:${part(value)}` : `${prefix}ip:${gr.clientIp}`;
      };
    }
    case 'path':
      return function byPath(gr) {
        return `${prefix}path:${part(gr.path)}`;
      };
  }
}

/** usernames, not ids: every gateway agrees on them even with separate storage */
function consumerKey(identity: Identity): string {
  return identity.consumer !== undefined ? `consumer:${identity.consumer.username}` : `sub:${part(identity.sub)}`;
}

function credentialKey(identity: Identity): string {
  return `credential:${part(identity.credential_id)}`;
}

function windowsOf(settings: RateLimitingConfig): RateWindow[] {
  const windows: RateWindow[] = [];
  for (const [key, label, ms] of PERIODS) {
    const limit = settings[key];
    if (limit !== undefined) windows.push({ label, ms, limit });
  }
  return windows;
}

/** Header names fixed at start: `x-ratelimit-limit-minute`, … */
function kongHeaderNames(windows: readonly RateWindow[]): Array<[limit: string, remaining: string]> {
  return windows.map((w) => [`x-ratelimit-limit-${w.label.toLowerCase()}`, `x-ratelimit-remaining-${w.label.toLowerCase()}`]);
}

/** Logs a Redis failure at most every 30 s, with how many requests it affected meanwhile. */
function outageReporter(logger: Logger, namespace: string, failOpen: boolean): (err: unknown) => void {
  let nextReport = 0;
  let affected = 0;
  return function reportOutage(err) {
    affected++;
    const now = Date.now();
    if (now < nextReport) return;
    nextReport = now + 30_000;
    const outcome = failOpen ? 'let through unlimited' : 'refused with 503';
    logger.warn({ err: (err as Error).message, namespace, requests: affected }, `rate-limiting: redis failed; requests ${outcome}`);
    affected = 0;
  };
}

interface RateLimiterOptions {
  /** ms clock for the counters (tests); absent: Date.now locally, Redis TIME in Redis */
  now?: () => number;
  /** the store, when a test wants to share or inspect it (used as is: no leases, no redis_timeout) */
  store?: WindowStore;
}

export function createRateLimiter(
  config: Record<string, unknown>,
  deps: Pick<GatewayDeps, 'redis' | 'logger'>,
  path: string,
  options: RateLimiterOptions = {},
): Limiter {
  const settings = rateLimitingConfigSchema.parse(config, path);
  const policy = settings.policy ?? (deps.redis !== undefined ? 'redis' : 'local');
  if (policy === 'redis' && deps.redis === undefined) {
    throw new ConfigError(keyPath(path, 'policy'), 'redis needs the top-level redis URL');
  }
  const windows = windowsOf(settings);
  const prefix = `drawbridge:rl:${settings.namespace ?? sha256Base64url(path).slice(0, 16)}:`;
  const redis: Redis | undefined = policy === 'redis' ? deps.redis : undefined;
  const timeoutMs = settings.redis_timeout;
  // one timer for every call in flight, not one per call
  const deadlines = redis === undefined ? undefined : new Deadlines(timeoutMs, `redis did not answer within ${timeoutMs} ms`);
  const leased: LeasedCounter | undefined =
    redis === undefined || options.store !== undefined
      ? undefined
      : leasedCounter(redisWindowStore(redis, windows, { now: options.now }), windows, {
          now: options.now,
          guard: (reservation) => deadlines!.race(reservation),
        });
  const store = options.store ?? (leased === undefined ? sharedLocalStore(deps, prefix, windows, options.now) : undefined);
  const keyOf = clientKey(settings, prefix);
  const kongNames = kongHeaderNames(windows);
  const showHeaders = !settings.hide_client_headers;
  const failOpen = settings.fault_tolerant;
  const reportOutage = outageReporter(deps.logger, prefix, failOpen);
  const refusalStatus = settings.error_code;
  const refusalMessage = settings.error_message;

  // limit values never change: their strings are made once
  const limitStrings = windows.map((w) => String(w.limit));

  /** Writes RateLimit-* (most restrictive window) and Kong's per-window headers into `out`. */
  function writeHeaders(out: Record<string, string>, verdict: Evaluation): void {
    // a number's string costs a runtime call: the same numbers are converted once
    let limit: string | undefined;
    const remaining = String(verdict.remaining);
    for (let i = 0; i < windows.length; i++) if (windows[i]!.limit === verdict.limit) limit = limitStrings[i]!;
    out['ratelimit-limit'] = limit ?? String(verdict.limit);
    out['ratelimit-remaining'] = remaining;
    out['ratelimit-reset'] = String(verdict.reset);
    for (let i = 0; i < windows.length; i++) {
      const [limitName, remainingName] = kongNames[i]!;
      const left = verdict.remainingByWindow[i]!;
      out[limitName] = limitStrings[i]!;
      out[remainingName] = left === verdict.remaining ? remaining : String(left);
    }
  }

  /** Headers on an allowed request; a refusal (`error_code`, 429 by default) otherwise. */
  function decide(gr: GatewayRequest, result: HitResult): void {
    const verdict = evaluate(windows, result.counts);
    if (result.allowed) {
      if (showHeaders) writeHeaders(gr.responseHeaders, verdict);
      return;
    }
    const headers: Record<string, string> = {};
    if (showHeaders) writeHeaders(headers, verdict);
    throw rateLimited(verdict.retryAfter, headers, refusalStatus, refusalMessage);
  }

  /** Redis failed or was too slow: let the request through, or refuse it with 503. */
  function storeFailed(err: unknown): void {
    reportOutage(err);
    if (!failOpen) throw serviceUnavailable('rate limiting is unavailable', 5);
  }

  // Not async: the local store and a lease answer synchronously (nothing to await); a
  // reservation in Redis is one promise chain.
  return {
    name: 'rate-limiting',
    limit: function limitRate(gr: GatewayRequest): Promise<void> | void {
      const key = keyOf(gr);
      let pending: Promise<HitResult> | HitResult;
      if (leased !== undefined) {
        // Once a connection is lost, fail fast rather than queue behind ioredis's reconnects;
        // the counters may be gone when it returns, so leases and refusals go too.
        if (redisLost(redis!)) {
          leased.clear();
          return storeFailed(new Error(`redis is ${redis!.status}`));
        }
        try {
          pending = leased.take(key);
        } catch (err) {
          return storeFailed(err);
        }
      } else {
        try {
          pending = store!.hit(key, windows);
        } catch (err) {
          return storeFailed(err);
        }
      }
      if (!(pending instanceof Promise)) return decide(gr, pending);
      return pending.then((result) => decide(gr, result), storeFailed);
    },
  };
}

/** In-process stores by owner (the running gateway's deps, the same across reloads) and by namespace. */
const localStores = new WeakMap<object, Map<string, WindowStore>>();

/**
 * The in-process store of a namespace, kept across reloads of the same gateway: an admin
 * change or SIGHUP must not hand every client a fresh budget. Keyed by the window lengths
 * too, because a store's entries are laid out per window (limits may change freely).
 */
function sharedLocalStore(owner: object, namespace: string, windows: readonly RateWindow[], now?: () => number): WindowStore {
  let stores = localStores.get(owner);
  if (stores === undefined) localStores.set(owner, (stores = new Map()));
  const key = `${namespace}|${windows.map((w) => w.ms).join(',')}`;
  let store = stores.get(key);
  if (store === undefined) stores.set(key, (store = localWindowStore({ now })));
  return store;
}

export const rateLimitingPlugin: PluginFactory = {
  name: 'rate-limiting',
  create: function createRateLimitingPlugin(config, deps, path) {
    return { stage: 'limit', impl: createRateLimiter(config, deps, path) };
  },
};
