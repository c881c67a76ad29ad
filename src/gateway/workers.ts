// `gateway.workers: N | auto`: N worker processes share the listen ports (node:cluster
// hands connections round-robin). The primary serves nothing: it prepares what the
// workers share (migrations, the first signing key), forks them, restarts one that dies,
// forwards SIGHUP, answers /metrics scrapes with every worker's series merged
// (src/gateway/metrics-cluster.ts), and on SIGTERM/SIGINT lets every worker drain, then exits.
// State the workers must agree on (rate limits, revocations, caches) goes through Redis.
// A worker forked later (after a crash) takes its config from the primary, not from the
// file: the file as the workers last applied it (each tells the primary when a SIGHUP's file
// was taken), with the settings a reload cannot apply (listen, storage, …) as the group
// started with them. So workers never listen on different ports or talk to different
// stores, and a file edited without a SIGHUP, or left half-written, neither reaches one
// worker alone nor keeps a replacement from starting.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { changedKeys, ROLE_SECTIONS, waitingKeys } from '../config/changed-keys.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { aggregateWorkerMetrics } from './metrics-cluster.js';

/** How many gateway processes a config asks for (1 when the gateway does not run). */
export function workerCount(config: Config, only?: 'auth' | 'gateway'): number {
  const workers = config.gateway?.workers ?? 1;
  if (only === 'auth' || config.gateway === undefined) return 1;
  return workers === 'auto' ? availableParallelism() : workers;
}

export interface SupervisorOptions {
  workers: number;
  logger: Logger;
  /** ms to wait before restarting a worker that died (doubles while they keep dying early) */
  restartDelay?: number;
  /** a worker that lives shorter than this (ms) counts as failing to start */
  minUptime?: number;
  /** give up (exit 1) after this many workers in a row failed to start */
  maxFailedStarts?: number;
  /** ms the workers get to drain on shutdown before they are killed */
  drainTimeout?: number;
  /** what happens when the supervisor stops (default: process.exit) */
  exit?: (code: number) => void;
  /** the config the group starts with: what workers ask for (groupConfig) */
  config?: Config;
}

/** What a worker forked now is to serve, and the keys that wait for a restart of the group. */
export interface GroupConfig {
  config: Config;
  pinned: string[];
}

export interface Supervisor {
  readonly pids: number[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs in the primary: forks and supervises the workers, which run `drawbridge start` themselves. */
export function superviseWorkers(opts: SupervisorOptions): Supervisor {
  const { logger } = opts;
  const baseDelay = opts.restartDelay ?? 500;
  const minUptime = opts.minUptime ?? 5_000;
  const maxFailedStarts = opts.maxFailedStarts ?? 5;
  const drainTimeout = opts.drainTimeout ?? 30_000;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const started = new Map<Worker, number>();
  let failedStarts = 0;
  let stopping: Promise<void> | undefined;
  const metrics = aggregateWorkerMetrics();
  let current: GroupConfig | undefined = opts.config === undefined ? undefined : { config: opts.config, pinned: [] };

  function fork(): void {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    metrics.add(worker);
    worker.on('message', function onWorkerMessage(msg: unknown) {
      if (isMessage(msg, 'config?') && current !== undefined) worker.send({ drawbridge: 'config', ...current }, undefined, () => undefined);
      // a SIGHUP's file that the worker took (not one it refused): what a replacement serves
      if (isMessage(msg, 'applied') && msg.config !== undefined && opts.config !== undefined) current = pinRestartOnly(msg.config, opts.config);
    });
    worker.once('exit', function onWorkerExit(code, signal) {
      const uptime = Date.now() - (started.get(worker) ?? 0);
      started.delete(worker);
      if (stopping) return;
      failedStarts = uptime < minUptime ? failedStarts + 1 : 0;
      logger.error({ pid: worker.process.pid, code, signal, uptime }, 'gateway worker died; restarting it');
      if (failedStarts >= maxFailedStarts) {
        logger.fatal({ failedStarts }, 'gateway workers keep failing to start; giving up');
        void stop('SIGTERM').then(() => exit(1));
        return;
      }
      const delay = Math.min(baseDelay * 2 ** Math.max(0, failedStarts - 1), 30_000);
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
    });
  }

  function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    stopping ??= (async () => {
      logger.info({ signal, workers: started.size }, 'stopping gateway workers');
      const exits = [...started.keys()].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), drainTimeout);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill(signal);
          }),
      );
      await Promise.all(exits);
    })();
    return stopping;
  }

  for (let i = 0; i < opts.workers; i++) fork();
  const onSignal = (signal: NodeJS.Signals) => {
    void stop(signal).then(() => {
      logger.info('stopped');
      exit(0);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => {
    for (const worker of started.keys()) worker.process.kill('SIGHUP');
  });
  logger.info({ workers: opts.workers }, 'gateway workers started');
  return {
    get pids() {
      return [...started.keys()].flatMap((w) => (w.process.pid === undefined ? [] : [w.process.pid]));
    },
    stop,
  };
}


function isMessage(msg: unknown, kind: string): msg is { drawbridge: string } & Partial<GroupConfig> {
  return typeof msg === 'object' && msg !== null && (msg as { drawbridge?: unknown }).drawbridge === kind;
}

/** In a worker: tells the primary that the gateway took `config` (a SIGHUP's file). */
export function reportApplied(config: Config): void {
  if (cluster.isWorker && process.send !== undefined) process.send({ drawbridge: 'applied', config }, undefined, {}, () => undefined);
}

/**
 * In a worker: what the primary says a worker started now serves, or undefined when the
 * primary does not answer within `timeoutMs` (not a Drawbridge supervisor).
 */
export function groupConfig(timeoutMs = 5000): Promise<GroupConfig | undefined> {
  return new Promise((resolve) => {
    if (!cluster.isWorker || process.send === undefined) return resolve(undefined);
    const done = (group: GroupConfig | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(group);
    };
    const onMessage = (msg: unknown) => {
      if (isMessage(msg, 'config') && msg.config !== undefined) done({ config: msg.config, pinned: msg.pinned ?? [] });
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    process.on('message', onMessage);
    process.send({ drawbridge: 'config?' }, undefined, {}, (err: Error | null) => {
      if (err) done(undefined);
    });
  });
}

/**
 * `file` (the config file as read now) with every setting a reload cannot apply taken from
 * `started` (the group's start), and the keys that differed: the sections' reloadable keys
 * (RELOADED_KEYS) come from the file, except turning TLS on or off.
 */
export function pinRestartOnly(file: Config, started: Config): { config: Config; pinned: string[] } {
  const pinned = changedKeys(started, file, '', ROLE_SECTIONS);
  const config: Config = { ...file };
  for (const key of pinned) (config as unknown as Record<string, unknown>)[key] = (started as unknown as Record<string, unknown>)[key];
  for (const section of ['auth', 'gateway'] as const) {
    const was = started[section] as Record<string, unknown> | undefined;
    const now = file[section] as Record<string, unknown> | undefined;
    if (was === undefined || now === undefined) {
      if (was !== now) {
        pinned.push(section);
        (config as unknown as Record<string, unknown>)[section] = was;
      }
      continue;
    }
    const keys = waitingKeys(section, was, now, '');
    const merged: Record<string, unknown> = { ...now };
    for (const key of keys) merged[key] = was[key];
    (config as unknown as Record<string, unknown>)[section] = merged;
    pinned.push(...keys.map((k) => `${section}.${k}`));
  }
  return { config, pinned };
}
