import type { Command } from 'commander';
import { StartupError } from '../errors.js';
import { print, readConfig } from '../shared.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (SQLite also migrates itself on start)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .action(async function migrate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      const { openStorage } = await import('../../storage/open.js');
      try {
        // open without migrating and without refusing pending migrations, so that
        // migrate() itself applies them and reports what it applied
        const storage = await openStorage(cfg.storage, { autoMigrate: false, checkMigrations: false });
        let applied: string[];
        try {
          applied = await storage.migrate();
        } finally {
          await storage.close();
        }
        print(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`);
      } catch (err) {
        throw new StartupError((err as Error).message, 1, err);
      }
    });
}
