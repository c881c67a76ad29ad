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
    .description(
      'make new keys current, one per algorithm in use (keys.algorithm and keys.id_token_algorithms); ' +
        'the old ones stay published until every token they signed has expired',
    )
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--alg <alg>', 'rotate only the key of this algorithm: ES256, RS256 or EdDSA, one of those in use')
    .action(async function rotateKey(opts: { config?: string; alg?: string }) {
      const cfg = readConfig(opts);
      if (opts.alg !== undefined && !isSigningAlg(opts.alg)) throw new UsageError(`--alg: expected ES256, RS256 or EdDSA, got "${opts.alg}"`);
      // every algorithm in use, the main one first: a rotation policy (or a suspected leak of
      // the key table) concerns all keys alike, and an RS256 key kept only for ID tokens
      // would otherwise never be rotated
      const inUse = [...new Set([cfg.keys.algorithm, ...cfg.keys.id_token_algorithms])];
      if (opts.alg !== undefined && !inUse.includes(opts.alg)) {
        // the main algorithm changes with keys.algorithm, not here: a key of an alg nothing
        // signs with would only be published
        throw new UsageError(`--alg: ${opts.alg} is not in use; expected one of keys.algorithm, keys.id_token_algorithms: ${inUse.join(', ')}`);
      }
      const algs = opts.alg !== undefined ? [opts.alg] : inUse;
      const { createLogger } = await import('../../observability/logger.js');
      const { maxTokenLifetime, openKeyring } = await import('../run.js');
      await withStorage(cfg, async (s) => {
        const keyring = openKeyring({ ...cfg, keys: { ...cfg.keys, refresh_interval: 0 } }, s, systemClock, createLogger({ level: 'silent' }));
        await keyring.start();
        for (const alg of algs) {
          const before = keyring.currentFor(alg).kid;
          const rec = await keyring.rotate(maxTokenLifetime(cfg), alg);
          print(`rotated: ${before} → ${rec.kid} (${rec.alg}); running instances switch within ${cfg.keys.refresh_interval}s`);
        }
        // a full rotation also ends current keys of algorithms this config no longer uses
        if (opts.alg === undefined) {
          for (const k of await keyring.demoteUnused(maxTokenLifetime(cfg))) {
            print(`demoted: ${k.kid} (${k.alg}), not in keys.algorithm / keys.id_token_algorithms; published until its tokens have expired`);
          }
        }
      });
    });
}
