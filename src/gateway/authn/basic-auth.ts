// `basic-auth` (RFC 7617): `Authorization: Basic base64(user-id ":" password)` (or
// `Proxy-Authorization`, as Kong), checked against the consumer's argon2id hash. argon2id
// costs ~15 ms by design, so a successful check is remembered for `cache_ttl` under a
// keyed digest of user-id and password; concurrent requests with the same credential
// share one check; a failure is never remembered as a success.
import { verify as argon2Verify } from '@node-rs/argon2';
import { bool, duration, object, str } from '../../config/schema.js';
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
import { authParam, consumerIdentity, DEFAULT_REALM, headerValue, hideAuthorization, instanceNamespace, realmField } from './common.js';
import { hasControlCharacter } from '../../core/text.js';

interface BasicAuthConfig {
  realm: string;
  hide_credentials: boolean;
  cache_ttl: number;
  anonymous?: string;
}

export const basicAuthConfigSchema = object<BasicAuthConfig>({
  realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Basic` challenge.'),
  hide_credentials: bool().default(true).doc('Remove the `Authorization` header before proxying.'),
  cache_ttl: duration()
    .default('60s')
    .doc('How long a successful password check is remembered (0: argon2id on every request).'),
  anonymous: str().optional().doc('Consumer to proceed as when no credential is presented.'),
});

/**
 * Verified when a user-id is unknown, so an unknown user costs as much as a wrong
 * password and response times do not reveal which user-ids exist. Same parameters as
 * stored hashes (m=19 MiB, t=2, p=1).
 */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$7iE/AVUVYjFB47xIN1iyGA$L4TTl90lqeKNDq9PuY9Z4dRchhFAqn5cl3n2r+nd4Gs';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// RFC 7617 §2: user-id and password must not contain control characters
const utf8 = new TextDecoder('utf-8', { fatal: true });

type BasicCredentials = { username: string; password: string; raw: string };

/** The credentials of a `Basic` authorization parameter, or undefined when malformed. */
export function parseBasic(token68: string): BasicCredentials | undefined {
  if (token68.length % 4 !== 0 || !BASE64.test(token68)) return undefined;
  let raw: string;
  try {
    raw = utf8.decode(Buffer.from(token68, 'base64'));
  } catch {
    return undefined; // not UTF-8 (charset="UTF-8" is what we ask for)
  }
  const colon = raw.indexOf(':');
  if (colon <= 0 || hasControlCharacter(raw)) return undefined;
  return { username: raw.slice(0, colon), password: raw.slice(colon + 1), raw };
}

export const basicAuth: PluginFactory = {
  name: 'basic-auth',
  create: function createBasicAuth(config, deps, path): PluginInstance {
    return { stage: 'authenticate', impl: basicAuthenticator(basicAuthConfigSchema.parse(config, path), deps) };
  },
};

function basicAuthenticator(settings: BasicAuthConfig, deps: GatewayDeps): Authenticator {
  const { cache, digester } = authnShared(deps);
  const namespace = instanceNamespace('basic-auth');
  const challenge = `Basic realm="${settings.realm}", charset="UTF-8"`;
  const hide = settings.hide_credentials;
  const ttl = settings.cache_ttl;
  const inFlight = new Map<string, Promise<AuthnResult>>();

  function fail(description: string, reason: string): AuthnResult {
    return { kind: 'fail', error: unauthorized(description, challenge, reason) };
  }

  async function check(credentials: BasicCredentials, cacheKey: string): Promise<AuthnResult> {
    let match;
    try {
      match = await deps.consumers.basicCredential(credentials.username);
    } catch (err) {
      deps.logger.error({ err, plugin: 'basic-auth' }, 'consumer lookup failed');
      return { kind: 'fail', error: serviceUnavailable('credential store unavailable') };
    }
    const valid = await verifyPassword(match?.password_hash ?? DUMMY_HASH, credentials.password, deps);
    if (match === undefined || !valid) return fail('invalid username or password', 'invalid_credentials');
    const result: AuthnResult = Object.freeze({ kind: 'ok', identity: consumerIdentity('basic-auth', match) });
    if (ttl > 0) cache.set(cacheKey, result, deps.clock.now() + ttl, { consumer: match.consumer.username });
    return result;
  }

  function checkOnce(credentials: BasicCredentials, cacheKey: string): Promise<AuthnResult> {
    let pending = inFlight.get(cacheKey);
    if (pending === undefined) {
      pending = check(credentials, cacheKey).finally(() => inFlight.delete(cacheKey));
      inFlight.set(cacheKey, pending);
    }
    return pending;
  }

  return {
    name: 'basic-auth',
    challenge,
    hide: hide ? hideAuthorization : undefined,
    authenticate: function authenticateBasic(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
      const headers = gr.req.headers;
      let header = 'authorization';
      let param = authParam(headerValue(headers, header), 'basic');
      if (param === undefined) {
        header = 'proxy-authorization';
        param = authParam(headerValue(headers, header), 'basic');
        if (param === undefined) return SKIP;
      }
      if (hide) gr.stripHeaders.add(header);
      const credentials = parseBasic(param);
      if (credentials === undefined) return fail('malformed Basic credentials', 'malformed');
      const cacheKey = digester.cacheKey(namespace, credentials.raw);
      return cache.get<AuthnResult>(cacheKey) ?? checkOnce(credentials, cacheKey);
    },
  };
}

async function verifyPassword(hash: string, password: string, deps: GatewayDeps): Promise<boolean> {
  try {
    return await argon2Verify(hash, password);
  } catch (err) {
    // a stored hash argon2 cannot parse: refuse, and tell the operator
    deps.logger.warn({ err: (err as Error).message, plugin: 'basic-auth' }, 'password hash could not be verified');
    return false;
  }
}
