import type { Command } from 'commander';
import { devBanner, devConfig } from '../dev.js';
import { run } from '../run.js';
import { UsageError } from '../shared.js';
import { stopOnSignals } from './start.js';

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('run everything on embedded defaults (SQLite in ./.drawbridge, generated keys, demo clients)')
    .option('--dir <dir>', 'state directory', './.drawbridge')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'auth server port', '9000')
    .action(async function dev(opts: { dir: string; host: string; port: string }) {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0-65535, got "${opts.port}"`);
      const cfg = devConfig({ dir: opts.dir, host: opts.host, port });
      const running = await run(cfg, { dev: true });
      stopOnSignals(running);
      process.stdout.write(devBanner(cfg));
    });
}
