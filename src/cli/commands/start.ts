import cluster from 'node:cluster';
import { Option, type Command } from 'commander';
import { assertProductionSecret, loadConfig } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import { systemClock } from '../../core/clock.js';
import { superviseWorkers, workerCount } from '../../gateway/workers.js';
import { createLogger } from '../../observability/logger.js';
import { openStorage } from '../../storage/open.js';
import { openKeyring, run, StartupError, type Role, type Running } from '../run.js';
import { configPathFrom } from '../shared.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('production start: every role the config file configures, in one process (or gateway.workers processes)')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .addOption(new Option('--only <role>', 'start only this role').choices(['auth', 'gateway']))
    .action(async function start(opts: { config?: string; only?: Role }) {
      const file = configPathFrom(opts);
      const cfg = loadConfig(file);
      assertProductionSecret(cfg);
      const workers = workerCount(cfg, opts.only);
      if (workers > 1 && cluster.isPrimary) {
        // the primary only supervises; each worker re-runs this command and serves
        await prepareShared(cfg);
        superviseWorkers({ workers, logger: createLogger(cfg.log) });
        return;
      }
      const running = await run(cfg, { only: opts.only });
      stopOnSignals(running);
      reloadOnHangup(running, file);
    });
}

/** Before forking: apply migrations and create the first signing key once, not N times at once. */
async function prepareShared(cfg: Config): Promise<void> {
  let storage;
  try {
    storage = await openStorage(cfg.storage);
  } catch (err) {
    throw new StartupError((err as Error).message, 1, err);
  }
  const keyring = openKeyring(cfg, storage, systemClock, createLogger({ level: 'silent' }));
  try {
    await keyring.start();
  } finally {
    keyring.stop();
    await storage.close();
  }
}

/** SIGTERM / SIGINT: stop accepting, drain in-flight requests, close pools, exit 0. */
export function stopOnSignals(running: Running): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.logger.info({ signal }, 'shutting down: draining in-flight requests');
    running.close().then(
      () => {
        running.logger.info('stopped');
        process.exit(0);
      },
      (err) => {
        running.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** SIGHUP: re-read the config file and reload the gateway's services, routes, plugins and consumers. */
export function reloadOnHangup(running: Running, file: string): void {
  process.on('SIGHUP', () => {
    const gateway = running.gateway;
    if (!gateway) return;
    let next: Config;
    try {
      next = loadConfig(file);
    } catch (err) {
      running.logger.error({ err: (err as Error).message }, 'reload: config file rejected; keeping the running configuration');
      return;
    }
    gateway.reload(next).catch((err: unknown) => {
      running.logger.error({ err: (err as Error).message }, 'reload failed; keeping the running configuration');
    });
  });
}
