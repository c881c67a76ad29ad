// Checks every plugin entry of a config (global, service, route) against its plugin's own
// schema without building anything: what `drawbridge config validate` runs, so a file it
// calls valid also starts. Errors name the key (`gateway.services[0].plugins[1].config.minute`).
import { ConfigError, ConflictingConfigError, keyPath } from '../config/schema.js';
import type { Config, PluginConfig } from '../config/types.js';
import { PLUGIN_DOCS } from './plugin-doc.js';

const SCHEMAS = new Map(PLUGIN_DOCS.map((p) => [p.name, p.schema]));

/** The same rules as compile.ts, without building: known name, once per level, config valid when enabled. */
function checkList(plugins: readonly PluginConfig[], path: string): void {
  const seen = new Map<string, string>();
  plugins.forEach((plugin, i) => {
    const at = keyPath(path, i);
    checkPluginConfig(plugin, at);
    const other = seen.get(plugin.name);
    if (other !== undefined) throw new ConflictingConfigError(keyPath(at, 'name'), `plugin ${plugin.name} is already configured at ${other}`);
    seen.set(plugin.name, at);
  });
}

/** One plugin entry at `at`: a known name, and its config valid by the plugin's schema when enabled. */
export function checkPluginConfig(plugin: PluginConfig, at: string): void {
  const schema = SCHEMAS.get(plugin.name);
  if (schema === undefined) {
    throw new ConfigError(keyPath(at, 'name'), `unknown plugin ${JSON.stringify(plugin.name)} (known: ${[...SCHEMAS.keys()].sort().join(', ')})`);
  }
  if (plugin.enabled) schema.parse(plugin.config, keyPath(at, 'config'));
}

export function checkPluginConfigs(config: Config): void {
  const gw = config.gateway;
  if (gw === undefined) return;
  checkList(gw.plugins, 'gateway.plugins');
  gw.services.forEach((service, s) => {
    checkList(service.plugins, `gateway.services[${s}].plugins`);
    service.routes.forEach((route, r) => checkList(route.plugins, `gateway.services[${s}].routes[${r}].plugins`));
  });
}
