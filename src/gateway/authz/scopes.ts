// `scopes` (authorize stage): scopes the caller's token must carry, for every method
// (`required`) and per method (`methods`, in addition). Missing → 403 insufficient_scope
// naming every scope the request needs, with the RFC 6750 §3 challenge when the caller
// presented a Bearer token (jwt, oauth2-introspection); a caller who authenticated with
// another scheme (hmac-auth, key-auth, basic-auth, a session cookie) or none (anonymous)
// gets the same 403 without a Bearer challenge, which is not theirs to answer.
//
//   - name: scopes
//     config:
//       required: [orders]                  # every method
//       methods:                            # in addition, for these methods
//         POST: [orders:write]
//         DELETE: [orders:write, orders:admin]
//
// HEAD without its own entry needs what GET needs (it is a GET without the body).
import { ConfigError, format, keyPath, list, mapOf, object } from '../../config/schema.js';
import { forbidden, insufficientScope } from '../errors.js';
import { BEARER_AUTHENTICATED, type Authorizer, type GatewayRequest, type PluginFactory } from '../types.js';

interface ScopesConfig {
  required: string[];
  methods: Record<string, string[]>;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3
const METHOD = /^[A-Za-z]+$/;

const scope = format('scope', 'a scope (non-empty, no spaces or quotes)', (text) => (SCOPE_TOKEN.test(text) ? text : undefined));

export const scopesConfigSchema = object<ScopesConfig>(
  {
    required: list(scope).default([]).doc('Scopes needed for every method.'),
    methods: mapOf(list(scope), 'method')
      .default({})
      .doc('Scopes needed in addition for one method: `POST: [orders:write]`. HEAD falls back to GET.'),
  },
  function checkScopes(value, path) {
    const methods = keyPath(path, 'methods');
    const seen = new Set<string>();
    for (const method of Object.keys(value.methods)) {
      if (!METHOD.test(method)) throw new ConfigError(keyPath(methods, method), 'expected an HTTP method like GET as key');
      if (seen.has(method.toUpperCase())) throw new ConfigError(keyPath(methods, method), 'method listed twice');
      seen.add(method.toUpperCase());
    }
    if (value.required.length === 0 && Object.values(value.methods).every((scopes) => scopes.length === 0)) {
      throw new ConfigError(keyPath(path, 'required'), 'name at least one scope in required or methods');
    }
  },
);

/** method → every scope it needs (required ∪ methods[method]), fixed at start. */
function compile(settings: ScopesConfig): Map<string, readonly string[]> {
  const byMethod = new Map<string, readonly string[]>();
  for (const [method, extra] of Object.entries(settings.methods)) {
    byMethod.set(method.toUpperCase(), [...new Set([...settings.required, ...extra])]);
  }
  const get = byMethod.get('GET');
  if (get !== undefined && !byMethod.has('HEAD')) byMethod.set('HEAD', get);
  return byMethod;
}

function hasAll(granted: readonly string[], needed: readonly string[]): boolean {
  for (const scope of needed) if (!granted.includes(scope)) return false;
  return true;
}

export function createScopes(config: Record<string, unknown>, path: string): Authorizer {
  const settings = scopesConfigSchema.parse(config, path);
  const byMethod = compile(settings);
  const fallback: readonly string[] = settings.required;
  return {
    name: 'scopes',
    authorize: function authorizeScopes(gr: GatewayRequest): void {
      const needed = byMethod.get(gr.method) ?? fallback;
      if (needed.length === 0) return;
      const identity = gr.identity;
      if (identity === undefined) throw forbidden('no consumer identified', 'scopes_no_identity');
      if (!hasAll(identity.scope, needed)) throw insufficientScope(needed, undefined, BEARER_AUTHENTICATED[identity.auth_method] === true);
    },
  };
}

export const scopesPlugin: PluginFactory = {
  name: 'scopes',
  create: function createScopesPlugin(config, _deps, path) {
    return { stage: 'authorize', impl: createScopes(config, path) };
  },
};
