import type { Command } from 'commander';
import { assertStartable } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import { print, readConfig } from '../shared.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('configuration files: validate');
  config
    .command('validate')
    .description('check a config file; exit 0 when valid, 2 with the offending key otherwise')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .action(async function validate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      // each plugin's own settings, each consumer credential and what `start` refuses before
      // it opens anything (the master secret, a role to run), so that a file called valid here
      // also starts. The plugin checks load every plugin, so they are loaded here and not
      // when the command tree is built (every other command would pay for them).
      const { checkPluginConfigs } = await import('../../gateway/plugin-check.js');
      checkPluginConfigs(cfg);
      await checkConsumerCredentials(cfg);
      assertStartable(cfg);
      const roles = [cfg.auth && 'auth', cfg.gateway && 'gateway'].filter(Boolean).join(', ') || 'none';
      print(`config OK (roles: ${roles}; storage: ${cfg.storage.split(':', 1)[0]})`);
    });
}

/**
 * The checks `drawbridge start` makes when it stores the file's consumer credentials, without
 * storage (gateway/consumers.ts, next to the sync itself so the two cannot drift apart).
 */
async function checkConsumerCredentials(cfg: Config): Promise<void> {
  const consumers = cfg.gateway?.consumers ?? [];
  if (consumers.length === 0) return;
  const { checkConfiguredConsumers } = await import('../../gateway/consumers.js');
  // only to derive the keys the checks run with: nothing prepared here is kept
  await checkConfiguredConsumers({ consumers }, cfg.secret ?? 'config-validate-placeholder-secret');
}
