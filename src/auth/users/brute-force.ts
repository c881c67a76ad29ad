// Login brute-force protection, like Keycloak's: failures are counted per username and per
// client IP; after `delay_after` failures each answer is held back for a delay that doubles
// (up to `max_delay`), and `max_failures` within `window` lock the username (or
// `max_failures_per_ip` the IP) for `lockout`, after which counting starts over.
//
// Counters live in the auth context's WindowCounter: Redis when configured, so every instance
// agrees, else in-process. Usernames are counted whether or not they exist (and
// case-insensitively), so delays and lockouts say nothing about which accounts exist.
// A lockout can be triggered by anyone who knows a username; that is the price of stopping
// online guessing, and it ends by itself.
import { isIPv6 } from 'node:net';
import type { BruteForceConfig } from '../../config/types.js';
import { defaultBruteForce } from '../../config/schema.js';
import type { WindowCounter } from '../../cache/counter.js';
import { sha256Hex } from '../../core/crypto-util.js';
import type { AuthContext } from '../context.js';

export interface LoginCheck {
  /** false while the username or the IP is locked out */
  allowed: boolean;
  /** whole seconds until the lockout ends; 0 when allowed */
  retryAfter: number;
  /** how long to hold back the answer to this attempt (grows with recent failures) */
  delayMs: number;
}

/** One login attempt, counted up front so parallel guesses cannot overrun the budget. */
interface LoginAttempt extends LoginCheck {
  /** the password was right: clears the username's failures and lockout */
  succeeded(): Promise<void>;
  /** the password was wrong: counts the IP, starts lockouts at the limits; the state for the next attempt */
  failed(): Promise<LoginCheck>;
}

interface BruteForceOptions {
  /** how delays are waited out (tests pass a recorder) */
  sleep?: (ms: number) => Promise<void>;
}

const OPEN: LoginCheck = Object.freeze({ allowed: true, retryAfter: 0, delayMs: 0 });

export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

export class BruteForceGuard {
  readonly settings: BruteForceConfig;
  readonly sleep: (ms: number) => Promise<void>;
  readonly #counter: WindowCounter;

  constructor(counter: WindowCounter, settings: BruteForceConfig, opts: BruteForceOptions = {}) {
    this.#counter = counter;
    this.settings = settings;
    this.sleep = opts.sleep ?? sleep;
  }

  /** Read-only: may this username try from this IP now, and how long should its answer wait? */
  async checkLogin(username: string, ip: string): Promise<LoginCheck> {
    if (!this.settings.enabled) return OPEN;
    const k = keysFor(username, ip);
    const [userLock, ipLock, user, addr] = await Promise.all([
      this.#counter.peek(k.userLock),
      k.ip ? this.#counter.peek(k.ipLock!) : NONE,
      this.#counter.peek(k.user),
      k.ip ? this.#counter.peek(k.ip) : NONE,
    ]);
    const locked = lockedFor(userLock, ipLock);
    if (locked > 0) return { allowed: false, retryAfter: locked, delayMs: 0 };
    return { allowed: true, retryAfter: 0, delayMs: this.delayFor(user.count, addr.count) };
  }

  /**
   * Counts one failure (a wrong password, a wrong MFA code) for the username and the IP and
   * starts a lockout at the limits. Returns the state for the next attempt.
   */
  async recordFailure(username: string, ip: string): Promise<LoginCheck> {
    if (!this.settings.enabled) return OPEN;
    const k = keysFor(username, ip);
    const user = await this.#counter.hit(k.user, this.settings.window);
    return this.#afterFailure(k, user.count);
  }

  /** A successful login: the username's failures and lockout are forgotten (the IP's are not). */
  async recordSuccess(username: string, _ip: string): Promise<void> {
    if (!this.settings.enabled) return;
    const k = keysFor(username, '');
    await Promise.all([this.#counter.reset(k.user), this.#counter.reset(k.userLock)]);
  }

  /**
   * Starts an attempt: refuses during a lockout, otherwise counts the attempt as a failure
   * up front (succeeded() takes it back), so N parallel guesses use N of the budget.
   */
  async begin(username: string, ip: string): Promise<LoginAttempt> {
    const check = await this.checkLogin(username, ip);
    const k = keysFor(username, ip);
    if (!this.settings.enabled || !check.allowed) {
      return { ...check, succeeded: async () => undefined, failed: async () => check };
    }
    const user = await this.#counter.hit(k.user, this.settings.window);
    if (user.count > this.settings.max_failures) {
      // Parallel attempts spent the budget while this one waited: it is not tried at all.
      await this.#lock(k.userLock, k.user);
      const refused: LoginCheck = { allowed: false, retryAfter: this.settings.lockout, delayMs: 0 };
      return { ...refused, succeeded: async () => undefined, failed: async () => refused };
    }
    const addr = k.ip ? await this.#counter.peek(k.ip) : NONE;
    return {
      allowed: true,
      retryAfter: 0,
      delayMs: this.delayFor(user.count - 1, addr.count),
      succeeded: () => this.recordSuccess(username, ip),
      failed: () => this.#afterFailure(k, user.count),
    };
  }

  /** The delay after `userFailures` failures of the username and `ipFailures` of the IP. */
  delayFor(userFailures: number, ipFailures: number): number {
    const s = this.settings;
    // The IP's count is scaled to the username's limit, so both grow delays at the same pace.
    const ipScaled = Math.floor((ipFailures * s.max_failures) / s.max_failures_per_ip);
    const failures = Math.max(userFailures, ipScaled);
    if (failures < s.delay_after || s.delay === 0) return 0;
    const seconds = Math.min(s.max_delay, s.delay * 2 ** Math.min(failures - s.delay_after, 30));
    return seconds * 1000;
  }

  async #afterFailure(k: Keys, userCount: number): Promise<LoginCheck> {
    const s = this.settings;
    const addr = k.ip ? await this.#counter.hit(k.ip, s.window) : { count: 0, resetIn: 0 };
    const locks: Array<Promise<void>> = [];
    if (userCount >= s.max_failures) locks.push(this.#lock(k.userLock, k.user));
    if (k.ip && addr.count >= s.max_failures_per_ip) locks.push(this.#lock(k.ipLock!, k.ip));
    await Promise.all(locks);
    if (locks.length > 0) return { allowed: false, retryAfter: s.lockout, delayMs: 0 };
    return { allowed: true, retryAfter: 0, delayMs: this.delayFor(userCount, addr.count) };
  }

  /** A lockout is a counter whose window is the lockout; the failures start over after it. */
  async #lock(lockKey: string, countKey: string): Promise<void> {
    const seen = await this.#counter.peek(lockKey);
    if (seen.count === 0) await this.#counter.hit(lockKey, this.settings.lockout);
    await this.#counter.reset(countKey);
  }
}

const NONE = { count: 0, resetIn: 0 };

function lockedFor(...locks: Array<{ count: number; resetIn: number }>): number {
  return Math.max(0, ...locks.filter((l) => l.count > 0).map((l) => Math.max(1, Math.ceil(l.resetIn))));
}

interface Keys {
  user: string;
  userLock: string;
  ip?: string;
  ipLock?: string;
}

function keysFor(username: string, ip: string): Keys {
  // Hashed: usernames (which may be e-mail addresses) stay out of Redis key names.
  const user = sha256Hex(username.normalize('NFKC').toLowerCase()).slice(0, 32);
  const keys: Keys = { user: `login:user:${user}`, userLock: `login-lock:user:${user}` };
  const addr = ipBucket(ip);
  if (addr) {
    keys.ip = `login:ip:${addr}`;
    keys.ipLock = `login-lock:ip:${addr}`;
  }
  return keys;
}

/**
 * What the per-IP counter counts: an IPv4 address (also when IPv4-mapped), or the /64 an
 * IPv6 address is in (one host usually has a whole /64 to pick from).
 */
export function ipBucket(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

const guards = new WeakMap<AuthContext, BruteForceGuard>();

/** The guard of an auth server (one per context, on the context's shared counter). */
export function bruteForceGuard(ctx: AuthContext): BruteForceGuard {
  let guard = guards.get(ctx);
  if (!guard) {
    guard = new BruteForceGuard(ctx.failures, ctx.auth.brute_force ?? defaultBruteForce());
    guards.set(ctx, guard);
  }
  return guard;
}
