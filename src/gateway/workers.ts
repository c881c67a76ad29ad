// `gateway.workers: N | auto`: N worker processes share the listen ports (node:cluster
// hands connections round-robin). The primary serves nothing: it prepares what the
// workers share (migrations, the first signing key), forks them, restarts one that dies,
// forwards SIGHUP, answers /metrics scrapes with every worker's series merged
// (src/gateway/metrics-cluster.ts), and on SIGTERM/SIGINT lets every worker drain, then exits.
// State the workers must agree on (rate limits, revocations, caches) goes through Redis.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
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

  function fork(): void {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    metrics.add(worker);
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

