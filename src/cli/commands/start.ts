import { Option, type Command } from 'commander';
import { assertProductionSecret } from '../../config/index.js';
import { run, type Role, type Running } from '../run.js';
import { readConfig } from '../shared.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('production start: every role the config file configures, in one process')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .addOption(new Option('--only <role>', 'start only this role').choices(['auth', 'gateway']))
    .action(async function start(opts: { config?: string; only?: Role }) {
      const cfg = readConfig(opts);
      assertProductionSecret(cfg);
      const running = await run(cfg, { only: opts.only });
      stopOnSignals(running);
    });
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
