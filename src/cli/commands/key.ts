import type { Command } from 'commander';
import { assertProductionSecret } from '../../config/index.js';
import { systemClock } from '../../core/clock.js';
import { isSigningAlg } from '../../crypto/algorithms.js';
import { print, printTable, readConfig, UsageError, withStorage } from '../shared.js';

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('signing keys: list and rotate');
  key
    .command('list')
    .description('list signing keys (next: published, signs from TAKES_OVER; current; previous still published; retired)')
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
            created: iso(k.created_at),
            published_until: k.publish_until ? iso(k.publish_until) : '',
            // a next key: when it takes over (every instance switches on its own by then)
            takes_over: k.status === 'next' && k.activates_at !== undefined ? iso(k.activates_at) : '',
          })),
          ['kid', 'alg', 'status', 'created', 'published_until', 'takes_over'],
        );
      });
    });
  key
    .command('rotate')
    .description(
      'new keys, one per algorithm in use (keys.algorithm and keys.id_token_algorithms): each is published in the JWKS ' +
        'at once and signs once keys.publish_ahead has passed (so verifiers caching the JWKS know it by then), when every ' +
        'instance switches to it on its own; the old ones stay published until every token they signed has expired',
    )
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--alg <alg>', 'rotate only the key of this algorithm: ES256, RS256 or EdDSA, one of those in use')
    .option(
      '--now',
      'emergency (a leaked key): the new keys sign at once, and a next key still waiting is discarded; ' +
        'verifiers that cached the JWKS refuse the new tokens until they refetch it',
    )
    .action(async function rotateKey(opts: { config?: string; alg?: string; now?: boolean }) {
      const cfg = readConfig(opts);
      assertProductionSecret(cfg); // the new private keys are sealed under it
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
      const ahead = opts.now === true ? 0 : cfg.keys.publish_ahead;
      const { createLogger } = await import('../../observability/logger.js');
      const { openKeyring, storedTokenLifetime } = await import('../run.js');
      await withStorage(cfg, async (s) => {
        const keyring = openKeyring({ ...cfg, keys: { ...cfg.keys, refresh_interval: 0 } }, s, systemClock, createLogger({ level: 'silent' }));
        await keyring.start();
        // how long a replaced key stays published: the longest-lived token of any client, stored ones too
        const lifetime = await storedTokenLifetime(cfg, s);
        for (const alg of algs) {
          const before = keyring.currentFor(alg).kid;
          if (ahead === 0) {
            const waiting = keyring.nextFor(alg);
            const rec = await keyring.rotate(lifetime, alg);
            print(`rotated: ${before} → ${rec.kid} (${rec.alg}); signing now; running instances switch within ${cfg.keys.refresh_interval}s`);
            if (waiting !== undefined) print(`discarded: ${waiting.key.kid} (${alg}), the next key that was waiting; it never signed anything`);
            continue;
          }
          const { key: rec, created } = await keyring.prepareNext(ahead, alg);
          const at = iso(rec.activates_at ?? systemClock.now());
          if (created) {
            print(`rotated: ${before} → ${rec.kid} (${rec.alg}); published now, signs from ${at} (keys.publish_ahead ${ahead}s); every instance switches on its own`);
          } else {
            // rotating again would only push the switch back; --now is the way to hurry it
            print(`waiting: ${rec.kid} (${rec.alg}) is already the next key, published, signs from ${at}; nothing new made (--now switches at once)`);
          }
        }
        // a full rotation also ends current keys of algorithms this config no longer uses
        if (opts.alg === undefined) {
          for (const k of await keyring.demoteUnused(lifetime)) {
            print(`demoted: ${k.kid} (${k.alg}), not in keys.algorithm / keys.id_token_algorithms; published until its tokens have expired`);
          }
        }
      });
    });
}

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}
