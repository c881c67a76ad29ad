// Plugin factories of this stage, by name (see src/gateway/plugins.ts).
import type { PluginFactory } from '../types.js';
import { corsPlugin } from './cors.js';
import { ipRestrictionPlugin } from './ip-restriction.js';
import { rateLimitingPlugin } from './rate-limiting.js';
import { requestSizeLimitingPlugin } from './request-size-limiting.js';

export const LIMITS_PLUGINS: readonly PluginFactory[] = [rateLimitingPlugin, requestSizeLimitingPlugin, corsPlugin, ipRestrictionPlugin];
