// `key-auth`: an API key in a header (any of `key_names`, case-insensitive) or, only when
// `key_in_query: true`, a query parameter. Keys are looked up by the consumer store (which
// keeps only a keyed digest of each key); a found key is cached under our own keyed digest.
// Challenge: `Key realm="drawbridge"` (Kong sends `Key realm="kong"`).
import { bool, ConfigError, duration, keyPath, list, object, str } from '../../config/schema.js';
import { serviceUnavailable, unauthorized } from '../errors.js';
import {
  SKIP,
  type Authenticator,
  type AuthnResult,
  type GatewayDeps,
  type GatewayRequest,
  type PluginFactory,
  type PluginInstance,
} from '../types.js';
import { authnShared } from './cache.js';
import { consumerIdentity, DEFAULT_REALM, headerValue, instanceNamespace, queryValues, realmField } from './common.js';

interface KeyAuthConfig {
  key_names: string[];
  key_in_header: boolean;
  key_in_query: boolean;
  hide_credentials: boolean;
  realm: string;
  cache_ttl: number;
  anonymous?: string;
}

const KEY_NAME = /^[A-Za-z0-9_.~-]+$/;

export const keyAuthConfigSchema = object<KeyAuthConfig>(
  {
    key_names: list(str(), { min: 1 })
      .default(['apikey'])
      .doc('Header names (case-insensitive) and query parameter names that carry the key.'),
    key_in_header: bool().default(true).doc('Look for the key in request headers.'),
    key_in_query: bool()
      .default(false)
      .doc('Also look in the query string (keys in URLs end up in logs and browser history).'),
    hide_credentials: bool().default(true).doc('Remove the key from the request before proxying.'),
    realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Key` challenge.'),
    cache_ttl: duration().default('60s').doc('How long a recognised key is remembered (0: look it up every time).'),
    anonymous: str().optional().doc('Consumer to proceed as when no credential is presented.'),
  },
  function checkKeyAuth(value, path) {
    value.key_names.forEach((name, index) => {
      if (!KEY_NAME.test(name)) {
        throw new ConfigError(keyPath(keyPath(path, 'key_names'), index), 'expected a header/parameter name (letters, digits, - _ . ~)');
      }
    });
    if (!value.key_in_header && !value.key_in_query) {
      throw new ConfigError(keyPath(path, 'key_in_header'), 'key_in_header and key_in_query cannot both be false');
    }
  },
);

export const keyAuth: PluginFactory = {
  name: 'key-auth',
  create: function createKeyAuth(config, deps, path): PluginInstance {
    return { stage: 'authenticate', impl: keyAuthenticator(keyAuthConfigSchema.parse(config, path), deps) };
  },
};

function keyAuthenticator(settings: KeyAuthConfig, deps: GatewayDeps): Authenticator {
  const { cache, digester } = authnShared(deps);
  const namespace = instanceNamespace('key-auth');
  const challenge = `Key realm="${settings.realm}"`;
  const headerNames = settings.key_in_header ? settings.key_names.map((name) => name.toLowerCase()) : [];
  const queryNames = settings.key_in_query ? settings.key_names : [];
  const hide = settings.hide_credentials;
  const ttl = settings.cache_ttl;
  const clock = deps.clock;
  const consumers = deps.consumers;

  /** Every place a key may be goes, not only the one we read: no key may reach upstream. */
  function hideKeys(gr: GatewayRequest): void {
    for (const name of headerNames) gr.stripHeaders.add(name);
    for (const name of queryNames) gr.stripQuery.add(name);
  }

  function fail(description: string, reason: string): AuthnResult {
    return { kind: 'fail', error: unauthorized(description, challenge, reason) };
  }

  /** Sync on a cache hit (the cached value is the frozen result itself). */
  function lookup(key: string): AuthnResult | Promise<AuthnResult> {
    const cacheKey = digester.cacheKey(namespace, key);
    return cache.get<AuthnResult>(cacheKey) ?? fetchKey(key, cacheKey);
  }

  async function fetchKey(key: string, cacheKey: string): Promise<AuthnResult> {
    let match;
    try {
      match = await consumers.byKey(key);
    } catch (err) {
      deps.logger.error({ err, plugin: 'key-auth' }, 'consumer lookup failed');
      return { kind: 'fail', error: serviceUnavailable('credential store unavailable') };
    }
    if (match === undefined) return fail('invalid API key', 'invalid_credentials');
    const result: AuthnResult = Object.freeze({ kind: 'ok', identity: consumerIdentity('key-auth', match) });
    if (ttl > 0) cache.set(cacheKey, result, clock.now() + ttl, { consumer: match.consumer.username });
    return result;
  }

  return {
    name: 'key-auth',
    challenge,
    hide: hide ? hideKeys : undefined,
    authenticate: function authenticateKey(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
      const headers = gr.req.headers;
      for (const name of headerNames) {
        const key = headerValue(headers, name);
        if (key === undefined) continue;
        if (hide) hideKeys(gr);
        if (key === '') return fail('malformed API key', 'malformed');
        return lookup(key);
      }
      if (queryNames.length > 0 && gr.query !== '') {
        for (const name of queryNames) {
          const values = queryValues(gr.query, name);
          if (values !== null && values.length === 0) continue;
          if (hide) hideKeys(gr);
          if (values === null || values.length > 1 || values[0] === '') return fail('malformed API key', 'malformed');
          return lookup(values[0]!);
        }
      }
      return SKIP;
    },
  };
}
