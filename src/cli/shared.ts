// Helpers shared by the CLI commands.
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { AuditLog } from '../observability/audit.js';
import type { Storage } from '../storage/types.js';

export { UsageError } from './errors.js';
import { UsageError } from './errors.js';

export function configPathFrom(opts: { config?: string }): string {
  const file = opts.config ?? process.env.DRAWBRIDGE_CONFIG;
  if (!file) throw new UsageError('--config FILE is required (or set DRAWBRIDGE_CONFIG)');
  return file;
}

export function readConfig(opts: { config?: string }): Config {
  return loadConfig(configPathFrom(opts));
}

export async function withStorage<T>(config: Config, fn: (storage: Storage) => Promise<T>, autoMigrate?: boolean): Promise<T> {
  // loaded on demand: the SQL drivers cost more start-up time than the rest of the CLI
  const { openStorage } = await import('../storage/open.js');
  const storage = await openStorage(config.storage, autoMigrate === undefined ? {} : { autoMigrate });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

export function print(line = ''): void {
  process.stdout.write(line + '\n');
}

export function printTable(rows: Array<Record<string, string | number>>, columns: string[]): void {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  print(line(columns.map((c) => c.toUpperCase())));
  for (const r of rows) print(line(columns.map((c) => String(r[c] ?? ''))));
}

/** commander collector for repeatable options */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/[ ,]+/).filter(Boolean)];
}

/** The audit file when one is configured (never stdout: it would mix with the command's output). */
export async function openAudit(cfg: Config): Promise<AuditLog> {
  const a = cfg.auth?.audit;
  if (!a || !a.enabled || a.file === undefined) return { record() {} };
  // loaded on demand, as the storage drivers are
  const { fileAudit } = await import('../observability/audit.js');
  return fileAudit(a.file);
}
