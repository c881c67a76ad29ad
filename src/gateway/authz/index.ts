// Plugin factories of this stage, by name (see src/gateway/plugins.ts).
import type { PluginFactory } from '../types.js';
import { aclPlugin } from './acl.js';
import { scopesPlugin } from './scopes.js';

export const AUTHZ_PLUGINS: readonly PluginFactory[] = [aclPlugin, scopesPlugin];
