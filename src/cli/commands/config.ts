import type { Command } from 'commander';
import { checkPluginConfigs } from '../../gateway/plugin-check.js';
import { print, readConfig } from '../shared.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('work with configuration files');
  config
    .command('validate')
    .description('check a config file; exit 0 when valid, 2 with the offending key otherwise')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .action(function validate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      // each plugin's own settings too, so that a file called valid here also starts
      checkPluginConfigs(cfg);
      const roles = [cfg.auth && 'auth', cfg.gateway && 'gateway'].filter(Boolean).join(', ') || 'none';
      print(`config OK (roles: ${roles}; storage: ${cfg.storage.split(':', 1)[0]})`);
    });
}
