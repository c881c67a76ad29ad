// The plugin table: what is not listed here is an unknown plugin (a config error).
import { AUTHN_PLUGINS } from './authn/index.js';
import { AUTHZ_PLUGINS } from './authz/index.js';
import { LIMITS_PLUGINS } from './limits/index.js';
import type { PluginFactory } from './types.js';

export const PLUGINS: ReadonlyMap<string, PluginFactory> = new Map(
  [...AUTHN_PLUGINS, ...AUTHZ_PLUGINS, ...LIMITS_PLUGINS].map((p) => [p.name, p]),
);
