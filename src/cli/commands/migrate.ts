import type { Command } from 'commander';
import { openStorage } from '../../storage/open.js';
import { StartupError } from '../run.js';
import { print, readConfig } from '../shared.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (SQLite also migrates itself on start)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .action(async function migrate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      let applied: string[];
      try {
        const storage = await openStorage(cfg.storage, { autoMigrate: false, checkMigrations: false });
        try {
          applied = await storage.migrate();
        } finally {
          await storage.close();
        }
      } catch (err) {
        throw new StartupError((err as Error).message, 1, err);
      }
      print(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`);
    });
}
