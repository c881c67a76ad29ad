import type { Command } from 'commander';
import { StartupError } from '../run.js';
import { print, readConfig, withStorage } from '../shared.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (SQLite also migrates itself on start)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .action(async function migrate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      try {
        const applied = await withStorage(cfg, (s) => s.migrate(), false).catch(async (err: Error) => {
          // openStorage refuses PostgreSQL with pending migrations unless asked to migrate
          if (/pending migration/.test(err.message)) return withStorage(cfg, (s) => s.migrate(), true);
          throw err;
        });
        print(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`);
      } catch (err) {
        throw new StartupError((err as Error).message, 1, err);
      }
    });
}
