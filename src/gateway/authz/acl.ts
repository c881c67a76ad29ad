// `acl` (authorize stage), as Kong's: `allow` or `deny` a list of groups. The caller's
// groups are the identity's groups plus its consumer's groups. Exactly one of the lists.
import { bool, ConfigError, keyPath, list, object, str } from '../../config/schema.js';
import { forbidden } from '../errors.js';
import type { Authorizer, GatewayRequest, PluginFactory } from '../types.js';

interface AclConfig {
  allow?: string[];
  deny?: string[];
  hide_groups_header: boolean;
}

export const aclConfigSchema = object<AclConfig>(
  {
    allow: list(str(), { min: 1 }).optional().doc('Groups allowed in; everyone else gets 403.'),
    deny: list(str(), { min: 1 }).optional().doc('Groups refused with 403; everyone else gets in.'),
    hide_groups_header: bool()
      .default(false)
      .doc("`true` keeps the caller's groups out of `X-Consumer-Groups` upstream (they stay in the internal token)."),
  },
  function checkAcl(value, path) {
    if (value.allow !== undefined && value.deny !== undefined) {
      throw new ConfigError(keyPath(path, 'deny'), 'not allowed together with allow');
    }
    if (value.allow === undefined && value.deny === undefined) {
      throw new ConfigError(keyPath(path, 'allow'), 'required unless deny is set', { expected: 'exactly one of allow or deny' });
    }
  },
);

const NO_GROUPS: readonly string[] = Object.freeze([]);

/** Whether the caller — the identity's own groups (token claims) or its consumer's — is in `set`. */
function inAny(own: readonly string[], consumer: readonly string[], set: ReadonlySet<string>): boolean {
  for (const group of own) if (set.has(group)) return true;
  if (consumer !== own) for (const group of consumer) if (set.has(group)) return true;
  return false;
}

/** X-Consumer-Groups: both lists, deduplicated (merged only when they differ). */
function groupsHeader(own: readonly string[], consumer: readonly string[]): string {
  if (consumer.length === 0 || consumer === own) return own.join(', ');
  if (own.length === 0) return consumer.join(', ');
  return [...new Set([...own, ...consumer])].join(', ');
}

export function createAcl(config: Record<string, unknown>, path: string): Authorizer {
  const settings = aclConfigSchema.parse(config, path);
  const allow = settings.allow === undefined ? undefined : new Set(settings.allow);
  const deny = new Set(settings.deny ?? []);
  const hideGroups = settings.hide_groups_header;
  return {
    name: 'acl',
    authorize: function authorizeAcl(gr: GatewayRequest): void {
      const identity = gr.identity;
      // Kong needs an authenticated consumer too; without an authenticator on the route
      // nobody is identified, and there is no challenge to offer, so 403 rather than 401.
      if (identity === undefined) throw forbidden('no consumer identified', 'acl_no_identity');
      const own = identity.groups;
      const consumer = identity.consumer?.groups ?? NO_GROUPS;
      const refused = allow !== undefined ? !inAny(own, consumer, allow) : inAny(own, consumer, deny);
      if (refused) throw forbidden('you cannot consume this service', 'acl');
      if (hideGroups) (gr.omitUpstreamHeaders ??= new Set()).add('x-consumer-groups');
      else if (own.length > 0 || consumer.length > 0) gr.upstreamHeaders['x-consumer-groups'] = groupsHeader(own, consumer);
    },
  };
}

export const aclPlugin: PluginFactory = {
  name: 'acl',
  create: function createAclPlugin(config, _deps, path) {
    return { stage: 'authorize', impl: createAcl(config, path) };
  },
};
