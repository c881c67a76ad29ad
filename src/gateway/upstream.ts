// The targets of one service: an UpstreamPool per target (h1/pool.ts, created at compile time),
// round-robin selection, and health checks:
// - passive: a target that fails N times in a row (connection refused/reset, timeouts) rests
//   for `cooldown`, then gets live traffic again; one more failure puts it back to rest at once;
// - active (opt-in, `healthchecks.active.interval`): every target is probed with a GET in the
//   background; `unhealthy_failures` failed probes in a row take it out of rotation until
//   `healthy_successes` good ones in a row bring it back. A target taken out this way gets no
//   live traffic at all, so only the probes tell when it has recovered.
import type { ActiveHealthcheckConfig, ServiceConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { UpstreamPool, type UpstreamResponseHandler } from './h1/pool.js';
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
  /** taken out of rotation by the active health check */
  down: boolean;
  /** consecutive good / failed probes (active health check) */
  probeSuccesses: number;
  probeFailures: number;
  /** a probe is in flight */
  probing: boolean;
}

export class ServiceUpstream {
  readonly service: CompiledService;
  readonly targets: readonly Target[];
  readonly #unhealthyFailures: number;
  readonly #cooldownMs: number;
  #next = 0;
  readonly #active: ActiveHealthcheckConfig;
  readonly #logger: Logger | undefined;
  #prober: NodeJS.Timeout | null = null;

  constructor(service: CompiledService, config: ServiceConfig, logger?: Logger) {
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
      return {
        url,
        origin: url.origin,
        basePath: url.pathname.replace(/\/+$/, ''),
        pool,
        failures: 0,
        ejectedUntil: 0,
        down: false,
        probeSuccesses: 0,
        probeFailures: 0,
        probing: false,
      };
    });
    this.#active = config.healthchecks.active;
    this.#logger = logger;
    if (this.#active.interval > 0) this.#prober = setInterval(() => this.probeAll(), this.#active.interval).unref();
  }

  /** One round of active health checks: a probe per target that has none in flight. */
  probeAll(): void {
    for (const t of this.targets) if (!t.probing) this.#probe(t);
  }

  #probe(t: Target): void {
    t.probing = true;
    const { http_path, timeout, unhealthy_statuses } = this.#active;
    t.pool.dispatch(
      { method: 'GET', path: http_path, headers: ['user-agent', 'drawbridge-healthcheck'], body: null },
      new Probe(timeout, unhealthy_statuses, (ok) => {
        t.probing = false;
        this.#probed(t, ok);
      }),
    );
  }

  #probed(t: Target, ok: boolean): void {
    const active = this.#active;
    const log = { service: this.service.name, target: t.origin };
    if (ok) {
      t.probeFailures = 0;
      if (t.down && ++t.probeSuccesses >= active.healthy_successes) {
        t.down = false;
        t.probeSuccesses = 0;
        this.#logger?.info(log, 'upstream target passed its health checks: back in rotation');
      }
    } else {
      t.probeSuccesses = 0;
      if (!t.down && ++t.probeFailures >= active.unhealthy_failures) {
        t.down = true;
        t.probeFailures = 0;
        this.#logger?.warn(log, 'upstream target failed its health checks: out of rotation');
      }
    }
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
      return inRotation(only) ? only : undefined;
    }
    let fallback: Target | undefined;
    for (let i = 0; i < n; i++) {
      const t = targets[(this.#next + i) % n]!;
      if (!inRotation(t)) continue;
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
    // a target the probes took out is checked again after the next interval at the soonest
    const probeAt = Date.now() + this.#active.interval;
    const soonest = Math.min(...this.targets.map((t) => (t.down ? probeAt : t.ejectedUntil)));
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
    return this.targets.map((t) => ({
      service: this.service.name,
      target: t.origin,
      busy: t.pool.connections - t.pool.idle,
      idle: t.pool.idle,
      healthy: inRotation(t),
    }));
  }

  /** Closes the pools once their in-flight requests are done. */
  async close(): Promise<void> {
    if (this.#prober !== null) clearInterval(this.#prober);
    this.#prober = null;
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }
}

/** Whether `t` takes traffic: not taken out by the probes, not resting after failures (the clock is read only then). */
function inRotation(t: Target): boolean {
  return !t.down && (t.ejectedUntil === 0 || t.ejectedUntil <= Date.now());
}

/** One active health-check probe: good unless it fails to connect, times out or answers an unhealthy status. */
class Probe implements UpstreamResponseHandler {
  #timer: NodeJS.Timeout | null = null;
  #ok = false;
  #done: ((ok: boolean) => void) | null;

  constructor(
    readonly timeout: number,
    readonly unhealthy: readonly number[],
    done: (ok: boolean) => void,
  ) {
    this.#done = done;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#timer = setTimeout(() => abort(), this.timeout);
    this.#timer.unref();
  }

  onHeaders(statusCode: number): boolean {
    this.#ok = !this.unhealthy.includes(statusCode);
    return true;
  }

  onData(): boolean {
    return true; // the body is read and dropped, so the connection can be reused
  }

  onComplete(): void {
    this.#end(this.#ok);
  }

  onError(): void {
    this.#end(false);
  }

  #end(ok: boolean): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    const done = this.#done;
    this.#done = null;
    done?.(ok);
  }
}
