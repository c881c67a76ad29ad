// The targets of one service: an UpstreamPool per target (h1/pool.ts, created at compile time),
// round-robin selection, and passive health checks — a target that fails N times in a row
// (connection refused/reset, timeouts) rests for `cooldown`, then gets live traffic again;
// one more failure puts it back to rest at once.
import { UpstreamPool } from './h1/pool.js';
import type { ServiceConfig } from '../config/types.js';
import type { TargetState } from './metrics.js';
import type { CompiledService } from './types.js';

export interface Target {
  url: URL;
  /** `http://host:port`, the pool's origin */
  origin: string;
  /** the target URL's path without a trailing slash ('' for '/') */
  basePath: string;
  pool: UpstreamPool;
  /** consecutive failures */
  failures: number;
  /** Date.now() until which the target is ejected (0: healthy) */
  ejectedUntil: number;
}

export class ServiceUpstream {
  readonly service: CompiledService;
  readonly targets: readonly Target[];
  readonly #unhealthyFailures: number;
  readonly #cooldownMs: number;
  #next = 0;

  constructor(service: CompiledService, config: ServiceConfig) {
    this.service = service;
    this.#unhealthyFailures = config.healthchecks.passive.unhealthy_failures;
    this.#cooldownMs = config.healthchecks.passive.cooldown * 1000;
    this.targets = service.targets.map(function openTarget({ url }) {
      const pool = new UpstreamPool(url.origin, {
        connectTimeout: service.connectTimeout,
        readTimeout: service.readTimeout,
        keepAliveTimeout: 4_000,
        tls: service.tls,
      });
      return { url, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), pool, failures: 0, ejectedUntil: 0 };
    });
  }

  /**
   * The next healthy target in round-robin order, avoiding `avoid` (the one that just
   * failed) when another is available; undefined when every target is resting.
   */
  pick(avoid?: Target): Target | undefined {
    const targets = this.targets;
    const n = targets.length;
    if (n === 1) {
      const only = targets[0]!;
      return only.ejectedUntil === 0 || only.ejectedUntil <= Date.now() ? only : undefined;
    }
    const now = Date.now();
    let fallback: Target | undefined;
    for (let i = 0; i < n; i++) {
      const t = targets[(this.#next + i) % n]!;
      if (t.ejectedUntil !== 0 && t.ejectedUntil > now) continue;
      if (t === avoid) {
        fallback = t;
        continue;
      }
      this.#next = (this.#next + i + 1) % n;
      return t;
    }
    return fallback;
  }

  /** Seconds until the first resting target may be tried again (for Retry-After). */
  retryAfter(): number {
    const soonest = Math.min(...this.targets.map((t) => t.ejectedUntil));
    return Math.max(1, Math.ceil((soonest - Date.now()) / 1000));
  }

  succeeded(t: Target): void {
    if (t.failures !== 0) t.failures = 0;
    if (t.ejectedUntil !== 0) t.ejectedUntil = 0;
  }

  failed(t: Target): void {
    t.failures++;
    if (t.failures >= this.#unhealthyFailures) {
      t.ejectedUntil = Date.now() + this.#cooldownMs;
      // half-open after the cooldown: the next failure ejects again at once
      t.failures = this.#unhealthyFailures - 1;
    }
  }

  /** Each target's connections and health, for /metrics. */
  states(): TargetState[] {
    const now = Date.now();
    return this.targets.map((t) => ({
      service: this.service.name,
      target: t.origin,
      busy: t.pool.connections - t.pool.idle,
      idle: t.pool.idle,
      healthy: t.ejectedUntil === 0 || t.ejectedUntil <= now,
    }));
  }

  /** Closes the pools once their in-flight requests are done. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }
}
