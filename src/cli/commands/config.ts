import type { Command } from 'commander';
import { ConfigError, keyPath } from '../../config/schema.js';
import type { Config } from '../../config/types.js';
import { CREDENTIAL_PLUGINS, CredentialInputError, credentialKeys, isCredentialPlugin, prepareCredential } from '../../gateway/credentials.js';
import { checkPluginConfigs } from '../../gateway/plugin-check.js';
import { print, readConfig } from '../shared.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('work with configuration files');
  config
    .command('validate')
    .description('check a config file; exit 0 when valid, 2 with the offending key otherwise')
    .option('-c, --config <file>', 'config file (YAML or JSON); default $DRAWBRIDGE_CONFIG')
    .action(async function validate(opts: { config?: string }) {
      const cfg = readConfig(opts);
      // each plugin's own settings and each consumer credential too, so that a file called
      // valid here also starts
      checkPluginConfigs(cfg);
      await checkConsumerCredentials(cfg);
      const roles = [cfg.auth && 'auth', cfg.gateway && 'gateway'].filter(Boolean).join(', ') || 'none';
      print(`config OK (roles: ${roles}; storage: ${cfg.storage.split(':', 1)[0]})`);
    });
}

/** What the field of each credential type identifies it by (unique across all consumers). */
const IDENTITY_FIELD = { 'key-auth': 'key', 'basic-auth': 'username', 'hmac-auth': 'key_id' } as const;

/**
 * The checks `drawbridge start` makes when it stores the file's consumer credentials
 * (gateway/consumers.ts), without storage: a known credential type, known fields, valid
 * values (the same prepareCredential), and no key, username or key_id used by two consumers.
 */
async function checkConsumerCredentials(cfg: Config): Promise<void> {
  const consumers = cfg.gateway?.consumers ?? [];
  if (consumers.length === 0) return;
  // only to run prepareCredential: nothing prepared here is kept
  const keys = credentialKeys(cfg.secret ?? 'config-validate-placeholder-secret');
  const seen = new Map<string, { consumer: number; path: string }>();
  for (const [i, consumer] of consumers.entries()) {
    for (const [plugin, entries] of Object.entries(consumer.credentials)) {
      const pluginPath = keyPath(keyPath(keyPath('gateway.consumers', i), 'credentials'), plugin);
      if (!isCredentialPlugin(plugin)) {
        throw new ConfigError(pluginPath, 'unknown credential type', { expected: CREDENTIAL_PLUGINS.join(', ') });
      }
      for (const [j, input] of entries.entries()) {
        const entryPath = keyPath(pluginPath, j);
        try {
          await prepareCredential(plugin, input, keys, { generate: false });
        } catch (err) {
          if (err instanceof CredentialInputError) throw new ConfigError(keyPath(entryPath, err.field), err.message.slice(err.field.length + 2));
          throw err;
        }
        const field = IDENTITY_FIELD[plugin];
        const id = `${plugin}\n${String(input[field])}`;
        const first = seen.get(id);
        // start refuses one credential for two consumers (a repeat within one consumer is harmless)
        if (first !== undefined && first.consumer !== i) throw new ConfigError(keyPath(entryPath, field), `already used by consumer "${consumers[first.consumer]!.username}" at ${first.path}`);
        if (first === undefined) seen.set(id, { consumer: i, path: keyPath(entryPath, field) });
      }
    }
  }
}
