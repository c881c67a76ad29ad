import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { isSigningAlg } from '../../crypto/algorithms.js';
import { print, printTable, readConfig, UsageError, withStorage } from '../shared.js';

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('signing keys: list and rotate');
  key
    .command('list')
    .description('list signing keys (current, previous still published, retired)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .action(async function listKeys(opts: { config?: string }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const keys = await s.keys.list();
        printTable(
          keys.map((k) => ({
            kid: k.kid,
            alg: k.alg,
            status: k.status,
            created: new Date(k.created_at * 1000).toISOString(),
            published_until: k.publish_until ? new Date(k.publish_until * 1000).toISOString() : '',
          })),
          ['kid', 'alg', 'status', 'created', 'published_until'],
        );
      });
    });
  key
    .command('rotate')
    .description('make a new key current; the old one stays published until every token it signed has expired')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--alg <alg>', 'algorithm of the new key: ES256, RS256 or EdDSA (default: keys.algorithm)')
    .action(async function rotateKey(opts: { config?: string; alg?: string }) {
      const cfg = readConfig(opts);
      if (opts.alg !== undefined && !isSigningAlg(opts.alg)) throw new UsageError(`--alg: expected ES256, RS256 or EdDSA, got "${opts.alg}"`);
      const alg = opts.alg ?? cfg.keys.algorithm;
      const { createLogger } = await import('../../observability/logger.js');
      const { maxTokenLifetime, openKeyring } = await import('../run.js');
      await withStorage(cfg, async (s) => {
        const keyring = openKeyring({ ...cfg, keys: { ...cfg.keys, refresh_interval: 0 } }, s, systemClock, createLogger({ level: 'silent' }));
        await keyring.start();
        const before = keyring.current.kid;
        const rec = await keyring.rotate(maxTokenLifetime(cfg), alg);
        print(`rotated: ${before} → ${rec.kid} (${rec.alg}); running instances switch within ${cfg.keys.refresh_interval}s`);
      });
    });
}
