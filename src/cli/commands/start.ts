import cluster from 'node:cluster';
import { Option, type Command } from 'commander';
import { assertStartable, loadConfig } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import { StartupError } from '../errors.js';
import type { Role } from '../run.js';
import { configPathFrom } from '../shared.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('production start: every role the config file configures, in one process (or gateway.workers processes)')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .addOption(new Option('--only <role>', 'start only this role').choices(['auth', 'gateway']))
    .addHelpText(
      'after',
      '\nSignals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP re-reads the config file (gateway services, routes,\n' +
        'plugins, consumers, admin token and TLS certificate files; the auth server\'s clients, users and TLS certificate\n' +
        'files) and reopens the audit log file. Settings a reload cannot apply (listen addresses, workers, storage, …) are\n' +
        'named in a warning.',
    )
    .action(async function start(opts: { config?: string; only?: Role }) {
      const file = configPathFrom(opts);
      // loaded here, not at the top: `--help` and other commands stay fast
      const { groupConfig, reportApplied, superviseWorkers, workerCount } = await import('../../gateway/workers.js');
      const { createLogger } = await import('../../observability/logger.js');
      // a worker serves what its primary says the group serves (the file as of the last
      // SIGHUP, restart-only settings as the group started), not the file as it is now
      const group = cluster.isWorker ? await groupConfig() : undefined;
      const cfg = group?.config ?? loadConfig(file);
      if (group !== undefined && group.pinned.length > 0) {
        createLogger(cfg.log).warn({ keys: group.pinned }, 'these settings changed in the config file and apply at the next start of all workers');
      }
      assertStartable(cfg, opts.only);
      const { run } = await import('../run.js');
      const { reloadOnHangup, stopOnSignals } = await import('../signals.js');
      const workers = workerCount(cfg, opts.only);
      if (workers > 1 && cluster.isPrimary) {
        // the primary only supervises; each worker re-runs this command and serves
        await prepareShared(cfg);
        superviseWorkers({ workers, logger: createLogger(cfg.log), config: cfg });
        return;
      }
      const running = await run(cfg, { only: opts.only });
      stopOnSignals(running);
      reloadOnHangup(running, file, cluster.isWorker ? reportApplied : undefined);
    });
}

/** Before forking: apply migrations and create the first signing key once, not N times at once. */
async function prepareShared(cfg: Config): Promise<void> {
  const { openStorage } = await import('../../storage/open.js');
  const { openKeyring } = await import('../run.js');
  const { systemClock } = await import('../../core/clock.js');
  const { createLogger } = await import('../../observability/logger.js');
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
