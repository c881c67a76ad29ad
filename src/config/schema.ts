// THE schema of `Config`, built with the DSL in fields.ts. The schema is the config reference:
// every field carries its doc and default, and README's "Configuration reference" is
// generated from it (`npm run docs:config`). Its `auth` and `gateway` sections live in
// schema-auth.ts and schema-gateway.ts.

import type { Config, KeysConfig, LogConfig, LogLevel, SigningAlg } from './types.js';
import { ConfigError, isPlainObject, Field, format, str, oneOf, bool, duration, object, show, list, keyPath } from './fields.js';
import { tryUrl, storageUrl, issuerUrl } from './formats.js';
import { auth, SIGNING_ALGS } from './schema-auth.js';
import { gateway } from './schema-gateway.js';

// the DSL's names stay importable from here, where plugins and the CLI have always found them
export * from './fields.js';
export { parseCidr } from './formats.js';
export { defaultBruteForce, defaultPasswordPolicy } from './schema-auth.js';

// ─── The Config schema ─────────────────────────────────────────────────────────────────

const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Worker processes cannot share an in-memory database: each would have its own keys. */
function checkWorkers(config: Config): void {
  const n = config.gateway?.workers;
  if (n !== undefined && n !== 1 && config.storage === 'memory:') {
    throw new ConfigError('gateway.workers', 'more than one worker needs a shared storage (sqlite:PATH or postgres://…), not memory:');
  }
}

/** Sessions in Redis need the top-level `redis` URL. */
function checkSessionStore(config: Config): void {
  if (config.gateway?.sessions.store === 'redis' && config.redis === undefined) {
    throw new ConfigError('gateway.sessions.store', 'redis needs the top-level `redis` URL (or use store: sql)');
  }
}

/** Each ID token algorithm once: the list is a set with a default. */
function checkKeys(keys: KeysConfig, path: string): void {
  const at = keyPath(path, 'id_token_algorithms');
  keys.id_token_algorithms.forEach((alg, index) => {
    const first = keys.id_token_algorithms.indexOf(alg);
    if (first !== index) throw new ConfigError(keyPath(at, index), `${alg} is listed twice (already ${keyPath(at, first)})`);
  });
}

/** A client's ID token algorithm is one the keyring keeps a key for. */
function checkIdTokenAlgs(config: Config): void {
  const algs = config.keys.id_token_algorithms;
  config.auth?.clients.forEach((client, index) => {
    const alg = client.id_token_signed_response_alg;
    if (alg !== undefined && !algs.includes(alg)) {
      throw new ConfigError(
        keyPath(keyPath('auth.clients', index), 'id_token_signed_response_alg'),
        `expected one of keys.id_token_algorithms (${algs.join(', ')}), got ${alg}`,
      );
    }
  });
}

/** Two roles in one process cannot bind the same address (port 0 picks a free port). */
function checkListeners(config: Config): void {
  const listeners: Array<[string, string | undefined]> = [
    ['auth.listen', config.auth?.listen],
    ['gateway.listen', config.gateway?.listen],
    ['gateway.admin_listen', config.gateway?.admin_listen],
  ];
  const seen = new Map<string, string>();
  for (const [path, address] of listeners) {
    if (address === undefined || address.endsWith(':0')) continue;
    const other = seen.get(address);
    if (other !== undefined) throw new ConfigError(path, `${address} is already used by ${other}`);
    seen.set(address, path);
  }
}

export const configSchema: Field<Config> = object<Config>(
  {
    issuer: issuerUrl.doc('Public base URL of the auth server; tokens carry it as `iss`.'),
    storage: storageUrl
      .default('sqlite:./.drawbridge/drawbridge.db')
      .sensitive()
      .doc('Database: `memory:` (tests; in YAML quote it or write `memory`), `sqlite:PATH` or `postgres://…` / `postgresql://…`. A PostgreSQL URL may set `connect_timeout` (seconds to get a connection, default 5) and `query_timeout` (milliseconds a query may take, default 10000; 0: none); past either, the request gets a 503.'),
    redis: format('URL', 'a redis:// or rediss:// URL', (text) =>
      /^rediss?:\/\//.test(text) && tryUrl(text) ? text : undefined,
    )
      .optional()
      .sensitive()
      .doc('Shared sessions, revocation events and rate limits; required for more than one instance.'),
    secret: str()
      .optional()
      .sensitive()
      .doc('Master secret (cookie keys, key encryption at rest, consumer credential digests); at least 32 characters outside `drawbridge dev` (`start`, `config validate`, `key rotate` and `consumer credential add`/`rotate` refuse a shorter one).'),
    keys: object<KeysConfig>(
      {
        algorithm: oneOf(SIGNING_ALGS)
          .default('ES256')
          .doc('Algorithm of the main signing key: access tokens, introspection answers, the gateway\'s internal tokens.'),
        id_token_algorithms: list(oneOf(SIGNING_ALGS), { min: 1 })
          .derive<KeysConfig>('`[RS256, algorithm]` without duplicates', (k) => [...new Set<SigningAlg>(['RS256', k.algorithm])])
          .doc('Algorithms ID tokens (and back-channel logout tokens) may be signed with; the first is the default, a client picks another with `id_token_signed_response_alg`. Each has its own current key, published in the JWKS. RS256 first by default: OIDC Discovery requires it to be offered, and OIDC Core and Dynamic Client Registration make it the default that relying parties expect when a client names no algorithm.'),
        refresh_interval: duration(1).default('2s').doc('How often running instances look for a rotated key.'),
        publish_ahead: duration()
          .default('15m')
          .doc('How long `drawbridge key rotate` publishes a new key in the JWKS before it signs anything; every instance then switches to it on its own. Longer than the JWKS cache lifetime verifiers are expected to use (10 min in the SDK and the gateway\'s `jwt` plugin; common libraries use 5–10 min), so they all hold the new key before the first token under it arrives. `0`: the new key signs at once (as `key rotate --now`), and cached verifiers refuse its tokens until they refetch.'),
      },
      checkKeys,
    )
      .default({})
      .doc('Token signing keys.'),
    log: object<LogConfig>({
      level: oneOf(LOG_LEVELS).default('info').doc('Least severe level that is logged.'),
      pretty: bool().optional().doc('Human-readable logs; absent: pretty when stdout is a terminal.'),
    })
      .default({})
      .doc('Logging.'),
    auth: auth.optional().doc('The authorization server; absent: this config runs no auth server.'),
    gateway: gateway.optional().doc('The API gateway; absent: this config runs no gateway.'),
  },
  function checkConfig(config) {
    checkListeners(config);
    checkIdTokenAlgs(config);
    checkSessionStore(config);
    checkWorkers(config);
  },
);

/** Validates a parsed config file (after `${VAR}` interpolation) into a `Config`. */
export function validateConfig(raw: unknown): Config {
  if (!isPlainObject(raw)) {
    throw new ConfigError('', `expected the config to be an object with keys like issuer, auth, gateway; got ${show(raw)}`);
  }
  rejectPrototypeKeys(raw, '');
  return configSchema.parse(raw, '');
}

/**
 * No key anywhere may be `__proto__`: where free-form maps (plugin config, claims, route
 * headers) are copied by assignment, it sets the copy's prototype instead of being a key of
 * its own, and escapes the unknown-key check. (`constructor` and `prototype` copy as plain
 * keys: in a fixed-shape object they are unknown keys like any other.)
 */
function rejectPrototypeKeys(value: unknown, path: string): void {
  if (Array.isArray(value)) value.forEach((item: unknown, index) => rejectPrototypeKeys(item, keyPath(path, index)));
  else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__') throw new ConfigError(keyPath(path, key), '"__proto__" is not allowed as a key');
      rejectPrototypeKeys(item, keyPath(path, key));
    }
  }
}
