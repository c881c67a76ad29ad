import * as assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, validateConfig, type ClientConfig } from '../../src/config/index.js';

const issuer = 'https://auth.example.com';
/** A P-256 public key (RFC 7515 Appendix A.3's). */
const EC_PUBLIC_JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

/** Asserts a ConfigError at `path` whose message starts with `path: problem`. */
function rejects(raw: unknown, path: string, problem: string): ConfigError {
  let caught: unknown;
  try {
    validateConfig(raw);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.path, path);
  const prefix = path === '' ? problem : `${path}: ${problem}`;
  assert.ok(caught.message.startsWith(prefix), `message:\n  ${caught.message}\nshould start with:\n  ${prefix}`);
  return caught;
}

function withAuth(auth: Record<string, unknown>): Record<string, unknown> {
  return { issuer, auth };
}

function withClient(client: Record<string, unknown>): Record<string, unknown> {
  return withAuth({ clients: [client] });
}

function withGateway(gateway: Record<string, unknown>): Record<string, unknown> {
  return { issuer, gateway };
}

function withService(service: Record<string, unknown>): Record<string, unknown> {
  return withGateway({ services: [service] });
}

function clientOf(raw: Record<string, unknown>): ClientConfig {
  return validateConfig(withClient(raw)).auth!.clients[0]!;
}

describe('defaults', () => {
  it('fills the top level', () => {
    assert.deepEqual(validateConfig({ issuer }), {
      issuer,
      storage: 'sqlite:./.drawbridge/drawbridge.db',
      keys: { algorithm: 'ES256', id_token_algorithms: ['RS256', 'ES256'], refresh_interval: 2, publish_ahead: 900 },
      log: { level: 'info' },
    });
  });

  it('fills auth', () => {
    assert.deepEqual(validateConfig(withAuth({})).auth, {
      listen: '127.0.0.1:9000',
      access_token_ttl: 600,
      refresh_token_ttl: 30 * 86400,
      refresh_token_idle_ttl: 7 * 86400,
      refresh_grace_period: 10,
      introspection_jwt_ttl: 60,
      max_body_size: 65536,
      require_pushed_authorization_requests: false,
      client_auth_throttle: { max_failures: 10, max_failures_per_ip: 100, window: 60 },
      clients: [],
      users: [],
    });
  });

  it('treats an empty YAML value (null) as absent', () => {
    const config = validateConfig({ issuer, redis: null, auth: { clients: null } });
    assert.equal(config.redis, undefined);
    assert.deepEqual(config.auth?.clients, []);
  });

  it('fills a public client', () => {
    assert.deepEqual(clientOf({ client_id: 'spa', redirect_uris: ['https://app.example.com/cb'], scopes: ['openid'] }), {
      client_id: 'spa',
      redirect_uris: ['https://app.example.com/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid'],
      default_scopes: ['openid'],
      token_endpoint_auth_method: 'none',
      access_token_format: 'opaque',
      post_logout_redirect_uris: [],
      backchannel_logout_session_required: false,
    });
  });

  it('gives a client with a secret client_secret_basic and client_credentials', () => {
    const client = clientOf({ client_id: 'svc', client_secret: 's3cret', scopes: ['a', 'b'] });
    assert.equal(client.token_endpoint_auth_method, 'client_secret_basic');
    assert.deepEqual(client.grant_types, ['client_credentials']);
    assert.deepEqual(client.default_scopes, ['a', 'b']);
    assert.deepEqual(client.redirect_uris, []);
  });

  it('treats client_secret_sha256 as a secret and lower-cases it', () => {
    const client = clientOf({ client_id: 'svc', client_secret_sha256: 'AB'.repeat(32) });
    assert.equal(client.token_endpoint_auth_method, 'client_secret_basic');
    assert.deepEqual(client.grant_types, ['client_credentials']);
    assert.equal(client.client_secret_sha256, 'ab'.repeat(32));
  });

  it('gives a client with keys private_key_jwt and client_credentials', () => {
    for (const keys of [{ jwks_uri: 'https://partner.example/jwks' }, { jwks: { keys: [EC_PUBLIC_JWK] } }]) {
      const client = clientOf({ client_id: 'partner', ...keys });
      assert.equal(client.token_endpoint_auth_method, 'private_key_jwt');
      assert.deepEqual(client.grant_types, ['client_credentials']);
    }
  });

  it('keeps explicit default_scopes', () => {
    const client = clientOf({ client_id: 'svc', client_secret: 'x', scopes: ['a', 'b'], default_scopes: ['b'] });
    assert.deepEqual(client.default_scopes, ['b']);
  });

  it('fills users, gateway, services, routes, plugins and consumers', () => {
    const config = validateConfig({
      issuer,
      auth: { users: [{ username: 'alice', password: 'pw' }] },
      gateway: {
        services: [{ name: 'orders', url: 'http://127.0.0.1:7001', routes: [{ paths: ['/orders'] }], plugins: [{ name: 'key-auth' }] }],
        consumers: [{ username: 'partner' }],
      },
    });
    assert.deepEqual(config.auth?.users, [{ username: 'alice', password: 'pw', claims: {} }]);
    assert.deepEqual(config.gateway, {
      listen: '127.0.0.1:8000',
      hsts: { max_age: 31_536_000, include_subdomains: false, preload: false },
      workers: 1,
      trusted_proxies: [],
      strip_headers: [],
      forward_auth: {
        enabled: true,
        path: '/_drawbridge/authz',
        allow: ['127.0.0.0/8', '::1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
      },
      sessions: { cookie_name: 'drawbridge_session', idle_timeout: 1800, absolute_timeout: 43200, refresh_before: 60 },
      internal_token_ttl: 60,
      services: [
        {
          name: 'orders',
          url: 'http://127.0.0.1:7001',
          connect_timeout: 5000,
          read_timeout: 60_000,
          retries: 1,
          tls_verify: true,
          healthchecks: {
            passive: { unhealthy_failures: 3, cooldown: 10 },
            active: { http_path: '/', interval: 0, timeout: 1000, healthy_successes: 2, unhealthy_failures: 3, unhealthy_statuses: [500, 502, 503, 504] },
          },
          routes: [{ paths: ['/orders'], regex_priority: 0, strip_path: true, preserve_host: false, plugins: [] }],
          plugins: [{ name: 'key-auth', enabled: true, config: {} }],
        },
      ],
      consumers: [{ username: 'partner', groups: [], credentials: {} }],
      plugins: [],
    });
  });

  it('gives every config its own default arrays', () => {
    const first = validateConfig(withAuth({}));
    first.auth!.clients.push({} as ClientConfig);
    assert.deepEqual(validateConfig(withAuth({})).auth!.clients, []);
  });

  it('removes trailing slashes from the issuer', () => {
    assert.equal(validateConfig({ issuer: 'https://auth.example.com/' }).issuer, 'https://auth.example.com');
    assert.equal(validateConfig({ issuer: 'https://example.com/auth//' }).issuer, 'https://example.com/auth');
  });

  it('accepts numbers and booleans as strings (what ${VAR} yields)', () => {
    const config = validateConfig({
      issuer,
      auth: { access_token_ttl: '30', client_auth_throttle: { max_failures: '5' } },
      gateway: { services: [{ name: 's', url: 'http://s', routes: [{ paths: ['/'], strip_path: 'false' }] }] },
    });
    assert.equal(config.auth?.access_token_ttl, 30);
    assert.equal(config.auth?.client_auth_throttle.max_failures, 5);
    assert.equal(config.gateway?.services[0]?.routes[0]?.strip_path, false);
  });

  it('normalizes route methods and hosts', () => {
    const route = validateConfig(withService({ name: 's', url: 'http://s', routes: [{ methods: ['get'], hosts: ['API.example.com'] }] }))
      .gateway!.services[0]!.routes[0]!;
    assert.deepEqual(route.methods, ['GET']);
    assert.deepEqual(route.hosts, ['api.example.com']);
  });
});

describe('durations and sizes', () => {
  const ttl = (value: unknown): number => validateConfig(withAuth({ access_token_ttl: value })).auth!.access_token_ttl;
  const bodySize = (value: unknown): number => validateConfig(withAuth({ max_body_size: value })).auth!.max_body_size;

  it('parses durations into seconds', () => {
    assert.equal(ttl('30s'), 30);
    assert.equal(ttl('10m'), 600);
    assert.equal(ttl('12h'), 43200);
    assert.equal(ttl('30d'), 2592000);
    assert.equal(ttl(45), 45);
    assert.equal(ttl('45'), 45);
  });

  it('rejects malformed durations', () => {
    for (const bad of ['ten', '1.5h', '10 m', '1w', '-1', '', 1.5, -5, true]) {
      rejects(withAuth({ access_token_ttl: bad }), 'auth.access_token_ttl', 'expected a duration like 30s, 10m, 12h or 30d, got');
    }
    const error = rejects(withAuth({ access_token_ttl: 'ten' }), 'auth.access_token_ttl', 'expected');
    assert.equal(error.message, 'auth.access_token_ttl: expected a duration like 30s, 10m, 12h or 30d, got "ten"');
  });

  it('rejects a zero lifetime', () => {
    rejects(withAuth({ access_token_ttl: '0s' }), 'auth.access_token_ttl', 'expected a duration of at least 1s, got "0s"');
  });

  it('parses sizes into bytes', () => {
    assert.equal(bodySize('64kb'), 65536);
    assert.equal(bodySize('1mb'), 1048576);
    assert.equal(bodySize('2MB'), 2097152);
    assert.equal(bodySize('512b'), 512);
    assert.equal(bodySize(1000), 1000);
    assert.equal(bodySize('1000'), 1000);
  });

  it('rejects malformed sizes', () => {
    for (const bad of ['big', '1tb', '-1', '1.5mb', -1]) {
      rejects(withAuth({ max_body_size: bad }), 'auth.max_body_size', 'expected a size like 64kb or 1mb, got');
    }
  });
});

describe('shape errors', () => {
  it('rejects a config that is not an object', () => {
    for (const raw of [null, undefined, [], 'issuer: x', 42]) rejects(raw, '', 'expected the config to be an object');
  });

  it('names unknown keys and the expected ones', () => {
    rejects({ issuer, foo: 1 }, 'foo', 'unknown key (expected one of: issuer, storage, redis, secret, keys, log, auth, gateway)');
    rejects(withClient({ client_id: 'web', foo: 1 }), 'auth.clients[0].foo', 'unknown key (expected one of: client_id, client_name, client_secret, ');
    rejects(withService({ name: 's', url: 'http://s', routes: [{ paths: ['/'], strip: true }] }), 'gateway.services[0].routes[0].strip', 'unknown key (expected one of: id, name, hosts, paths, methods, headers, regex_priority, strip_path, preserve_host, plugins)');
  });

  it('reports a missing required key', () => {
    rejects({}, 'issuer', 'required');
    rejects(withClient({ client_secret: 'x' }), 'auth.clients[0].client_id', 'required');
    rejects(withGateway({ plugins: [{ config: {} }] }), 'gateway.plugins[0].name', 'required');
  });

  it('names the enum values and what was got', () => {
    const clients = [
      { client_id: 'a', client_secret: 'x' },
      { client_id: 'b', client_secret: 'x' },
      { client_id: 'c', client_secret: 'x', grant_types: ['foo'] },
    ];
    const error = rejects(withAuth({ clients }), 'auth.clients[2].grant_types[0]', 'expected one of "authorization_code", "refresh_token", "client_credentials", ');
    assert.match(error.message, /"implicit", got "foo"$/);
    rejects({ issuer, keys: { algorithm: 'HS256' } }, 'keys.algorithm', 'expected one of "ES256", "RS256", "EdDSA", got "HS256"');
    rejects({ issuer, log: { level: 'verbose' } }, 'log.level', 'expected one of "trace", ');
    rejects(withClient({ client_id: 'c', client_secret: 'x', access_token_format: 'JWT' }), 'auth.clients[0].access_token_format', 'expected one of "opaque", "jwt", got "JWT"');
  });

  it('names the expected type', () => {
    rejects({ issuer: 42 }, 'issuer', 'expected an absolute http(s) URL without query or fragment, got 42');
    rejects({ issuer, auth: 'yes' }, 'auth', 'expected an object, got "yes"');
    rejects(withAuth({ clients: { web: {} } }), 'auth.clients', 'expected a list, got an object');
    rejects(withClient({ client_id: '' }), 'auth.clients[0].client_id', 'expected a string of at most 256 characters without control characters, got ""');
    // PostgreSQL's key index refuses a few kB, and no endpoint looks up a longer id
    rejects(withClient({ client_id: 'c'.repeat(257) }), 'auth.clients[0].client_id', 'expected a string of at most 256 characters without control characters');
    rejects(withClient({ client_id: 'a\nb' }), 'auth.clients[0].client_id', 'expected a string of at most 256 characters without control characters');
    assert.equal(clientOf({ client_id: 'c'.repeat(256), client_secret: 'x' }).client_id.length, 256);
    rejects(withClient({ client_id: 'c', client_secret: 'x', grant_types: [] }), 'auth.clients[0].grant_types', 'expected at least 1 item(s), got 0');
    rejects({ issuer, log: { pretty: 'yes' } }, 'log.pretty', 'expected true or false, got "yes"');
    rejects(withAuth({ client_auth_throttle: { max_failures: 0 } }), 'auth.client_auth_throttle.max_failures', 'expected an integer of at least 1, got 0');
  });

  it('does not show secret values in errors', () => {
    const error = rejects({ issuer, storage: 'mysql://root:hunter2@db/app' }, 'storage', 'expected memory:, sqlite:PATH or a postgres:// URL, got a 27-character string (not shown)');
    assert.doesNotMatch(error.message, /hunter2/);
    const credential = rejects(withGateway({ consumers: [{ username: 'p', credentials: { 'key-auth': ['hunter2'] } }] }), 'gateway.consumers[0].credentials.key-auth[0]', 'expected an object, got a 7-character string');
    assert.doesNotMatch(credential.message, /hunter2/);
    assert.doesNotMatch(rejects({ issuer, secret: 12345 }, 'secret', 'expected a non-empty string').message, /12345/);
  });
});

describe('top-level formats', () => {
  it('accepts only absolute http(s) issuers without query or fragment', () => {
    for (const bad of ['auth.example.com', '/auth', 'ftp://auth.example.com', 'https://auth.example.com?x=1', 'https://auth.example.com/#a', 'https://user:pw@auth.example.com', 'http:auth.example.com', 'https://auth example.com']) {
      rejects({ issuer: bad }, 'issuer', 'expected an absolute http(s) URL without query or fragment');
    }
    assert.equal(validateConfig({ issuer: 'http://127.0.0.1:9000' }).issuer, 'http://127.0.0.1:9000');
  });

  it('accepts memory:, sqlite:PATH and postgres URLs as storage', () => {
    for (const good of ['memory:', 'sqlite:./data.db', 'sqlite:/var/lib/drawbridge.db', 'postgres://u:p@db:5432/app', 'postgresql://db/app']) {
      assert.equal(validateConfig({ issuer, storage: good }).storage, good);
    }
    // Unquoted `memory:` is a YAML mapping key, so `memory` is accepted and normalized.
    assert.equal(validateConfig({ issuer, storage: 'memory' }).storage, 'memory:');
    for (const bad of ['memory:x', 'sqlite:', './data.db', 'mysql://db/app', 'postgres:db']) {
      rejects({ issuer, storage: bad }, 'storage', 'expected memory:, sqlite:PATH or a postgres:// URL');
    }
  });

  it("checks a postgres URL's connect_timeout (seconds) and query_timeout (ms), never showing the URL", () => {
    const good = 'postgres://u:secret-pw@db/app?connect_timeout=3&query_timeout=0';
    assert.equal(validateConfig({ issuer, storage: good }).storage, good);
    for (const bad of ['connect_timeout=0', 'connect_timeout=1.5', 'connect_timeout=abc']) {
      const error = rejects({ issuer, storage: `postgres://u:secret-pw@db/app?${bad}` }, 'storage', "the postgres URL's connect_timeout must be a whole number of seconds above 0");
      assert.doesNotMatch(error.message, /secret-pw/);
    }
    for (const bad of ['query_timeout=-1', 'query_timeout=2s', 'query_timeout=']) {
      rejects({ issuer, storage: `postgresql://db/app?${bad}` }, 'storage', "the postgres URL's query_timeout must be a whole number of milliseconds (0: none)");
    }
  });

  it('accepts redis:// and rediss:// URLs', () => {
    assert.equal(validateConfig({ issuer, redis: 'rediss://:pw@cache:6380/0' }).redis, 'rediss://:pw@cache:6380/0');
    for (const bad of ['http://cache:6379', 'cache:6379', 'redis:cache']) {
      rejects({ issuer, redis: bad }, 'redis', 'expected a redis:// or rediss:// URL');
    }
  });

  it('accepts host:port listen addresses', () => {
    for (const good of ['127.0.0.1:9000', '0.0.0.0:0', 'localhost:65535', '[::1]:9000', '[::]:443']) {
      assert.equal(validateConfig(withAuth({ listen: good })).auth!.listen, good);
    }
    for (const bad of ['9000', ':9000', 'localhost', 'localhost:65536', '::1:9000', 'http://localhost:9000', '[::1]']) {
      rejects(withAuth({ listen: bad }), 'auth.listen', 'expected host:port with a port from 0 to 65535');
    }
    rejects(withGateway({ admin_listen: 'x', admin_token: 't' }), 'gateway.admin_listen', 'expected host:port');
  });

  it('rejects two roles on the same address', () => {
    rejects({ issuer, auth: { listen: '127.0.0.1:8000' }, gateway: {} }, 'gateway.listen', '127.0.0.1:8000 is already used by auth.listen');
    validateConfig({ issuer, auth: { listen: '127.0.0.1:0' }, gateway: { listen: '127.0.0.1:0' } });
  });
});

describe('auth checks', () => {
  it('requires unique client_id and username', () => {
    rejects(withAuth({ clients: [{ client_id: 'web', client_secret: 'x' }, { client_id: 'api', client_secret: 'x' }, { client_id: 'web', client_secret: 'y' }] }), 'auth.clients[2].client_id', 'duplicate client_id "web" (already used by auth.clients[0])');
    rejects(withAuth({ users: [{ username: 'alice' }, { username: 'alice' }] }), 'auth.users[1].username', 'duplicate username "alice"');
  });

  it('needs a secret for client_secret_basic and client_secret_post', () => {
    for (const method of ['client_secret_basic', 'client_secret_post']) {
      rejects(withClient({ client_id: 'c', token_endpoint_auth_method: method, grant_types: ['client_credentials'] }), 'auth.clients[0].token_endpoint_auth_method', `${method} needs client_secret or client_secret_sha256`);
    }
    assert.equal(clientOf({ client_id: 'c', client_secret: 'x', token_endpoint_auth_method: 'client_secret_post' }).token_endpoint_auth_method, 'client_secret_post');
  });

  it('checks client_secret_sha256', () => {
    rejects(withClient({ client_id: 'c', client_secret_sha256: 'abc' }), 'auth.clients[0].client_secret_sha256', 'expected 64 hex characters (a SHA-256 digest)');
    rejects(withClient({ client_id: 'c', client_secret: 'x', client_secret_sha256: 'a'.repeat(64) }), 'auth.clients[0].client_secret_sha256', 'not allowed together with client_secret');
  });

  it('needs keys and no secret for private_key_jwt', () => {
    rejects(withClient({ client_id: 'c', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'] }), 'auth.clients[0].token_endpoint_auth_method', 'private_key_jwt needs jwks or jwks_uri');
    rejects(withClient({ client_id: 'c', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://p.example/jwks', client_secret: 'x' }), 'auth.clients[0].client_secret', 'not allowed with token_endpoint_auth_method private_key_jwt');
    rejects(withClient({ client_id: 'c', jwks_uri: 'file:///etc/jwks.json' }), 'auth.clients[0].jwks_uri', 'expected an absolute http(s) URL');
    rejects(withClient({ client_id: 'c', jwks: { keys: [] } }), 'auth.clients[0].jwks.keys', 'expected at least 1 item(s)');
    rejects(withClient({ client_id: 'c', jwks: { keys: [EC_PUBLIC_JWK] }, jwks_uri: 'https://p.example/jwks' }), 'auth.clients[0].jwks_uri', 'not allowed together with jwks');
  });

  it('needs keys for require_signed_request_object: true (a client without them could never sign one)', () => {
    const base = { client_id: 'c', redirect_uris: ['https://a.example/cb'], grant_types: ['authorization_code'] };
    rejects(withClient({ ...base, client_secret: 'x', require_signed_request_object: true }), 'auth.clients[0].require_signed_request_object', 'request objects are verified with the client\'s keys: needs jwks or jwks_uri');
    rejects(withClient({ ...base, require_signed_request_object: 'yes' }), 'auth.clients[0].require_signed_request_object', 'expected');
    assert.equal(clientOf({ ...base, jwks: { keys: [EC_PUBLIC_JWK] }, require_signed_request_object: true }).require_signed_request_object, true);
    assert.equal(clientOf({ ...base, client_secret: 'x', jwks_uri: 'https://p.example/jwks', require_signed_request_object: true }).require_signed_request_object, true);
    // false, or absent, asks nothing of the client
    assert.equal(clientOf({ ...base, client_secret: 'x', require_signed_request_object: false }).require_signed_request_object, false);
    assert.equal('require_signed_request_object' in clientOf({ ...base, client_secret: 'x' }), false);
  });

  it('takes only usable public JWKs as client keys, never a private or symmetric one', () => {
    const at = 'auth.clients[0].jwks.keys[0]';
    rejects(withClient({ client_id: 'c', jwks: { keys: [{ kty: 'EC' }] } }), at, 'not a usable EC public key');
    rejects(withClient({ client_id: 'c', jwks: { keys: [{ ...EC_PUBLIC_JWK, x: '!' }] } }), at, 'not a usable EC public key');
    rejects(withClient({ client_id: 'c', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }), `${at}.k`, 'a private key member');
    rejects(withClient({ client_id: 'c', jwks: { keys: [{ kty: 'HMAC' }] } }), `${at}.kty`, 'expected "EC", "RSA" or "OKP"');
    rejects(withClient({ client_id: 'c', jwks: { keys: ['a key'] } }), at, 'expected a public JWK');
    // an RSA key shorter than 2048 bits (jose would refuse every assertion it signs): refused now
    const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
    rejects(withClient({ client_id: 'c', jwks: { keys: [{ kty: 'RSA', n: 'abc', e: 'AQAB' }] } }), `${at}.n`, 'expected an RSA key of at least 2048 bits, got 15');
    rejects(withClient({ client_id: 'c', jwks: { keys: [rsa(1024)] } }), `${at}.n`, 'expected an RSA key of at least 2048 bits, got 1024');
    assert.equal(clientOf({ client_id: 'c', jwks: { keys: [rsa(2048)] } }).jwks!.keys.length, 1);
    // a private key given by mistake: refused, and its secret member is not shown
    const d = 'private-member-value-0123456789';
    assert.throws(() => validateConfig(withClient({ client_id: 'c', jwks: { keys: [{ ...EC_PUBLIC_JWK, d }] } })), (err: Error) => err.message.includes(`${at}.d`) && !err.message.includes(d));
  });

  it('forbids a secret and client_credentials for a none client', () => {
    rejects(withClient({ client_id: 'c', token_endpoint_auth_method: 'none', client_secret: 'x', redirect_uris: ['https://a/cb'] }), 'auth.clients[0].client_secret', 'not allowed with token_endpoint_auth_method none');
    rejects(withClient({ client_id: 'c', token_endpoint_auth_method: 'none', client_secret_sha256: 'a'.repeat(64) }), 'auth.clients[0].client_secret_sha256', 'not allowed with token_endpoint_auth_method none');
    rejects(withClient({ client_id: 'c', grant_types: ['refresh_token', 'client_credentials'] }), 'auth.clients[0].grant_types[1]', 'client_credentials needs an authenticated client');
  });

  it('needs a redirect URI for authorization_code and implicit', () => {
    rejects(withClient({ client_id: 'c' }), 'auth.clients[0].redirect_uris', 'at least one redirect URI is required for grant type authorization_code');
    rejects(withClient({ client_id: 'c', grant_types: ['implicit'] }), 'auth.clients[0].redirect_uris', 'at least one redirect URI is required for grant type implicit');
  });

  it('accepts only absolute redirect URIs without fragment', () => {
    assert.deepEqual(clientOf({ client_id: 'c', redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1/cb'] }).redirect_uris, ['com.example.app:/cb', 'http://127.0.0.1/cb']);
    rejects(withClient({ client_id: 'c', redirect_uris: ['https://a.example/cb#x'] }), 'auth.clients[0].redirect_uris[0]', 'expected an absolute URL without fragment, got "https://a.example/cb#x"');
    rejects(withClient({ client_id: 'c', redirect_uris: ['https://a.example/cb', '/cb'] }), 'auth.clients[0].redirect_uris[1]', 'expected an absolute URL without fragment');
  });

  it('refuses an audience written as a URI that is no resource indicator (RFC 8707 §2), naming its key', () => {
    // service names, and URIs the token endpoint takes as `resource`, are kept as written
    const ok = ['orders', 'Orders API', 'https://api.example/v1', 'urn:example:orders', 'https://[::1]:8443/x', 'https://api.example/a%20b'];
    assert.deepEqual(clientOf({ client_id: 'c', client_secret: 'x', audiences: ok }).audiences, ok);
    // a value that starts with a scheme and ':' is a URI, and would never be a valid resource
    const bad = ['https://api.example/a b', 'https://api.example/{tenant}', 'https://api.example/a|b', 'urn:x:^', 'https://api.example/%zz', 'https://api.example/#top', 'https://api.example/[x]', 'https://api.example/caf\u00e9', 'https://'];
    for (const value of bad) {
      const err = rejects(
        withAuth({ clients: [{ client_id: 'a', client_secret: 'x' }, { client_id: 'b', client_secret: 'x', audiences: ['orders', value] }] }),
        'auth.clients[1].audiences[1]',
        'expected a service name or a resource indicator (an absolute URI as RFC 3986 writes it, without a fragment)',
      );
      assert.ok(err.message.includes(JSON.stringify(value)), err.message);
    }
  });

  it('needs default_scopes within scopes', () => {
    rejects(withClient({ client_id: 'c', client_secret: 'x', scopes: ['a'], default_scopes: ['a', 'admin'] }), 'auth.clients[0].default_scopes[1]', '"admin" is not one of the client\'s scopes');
  });

  it('accepts only scope tokens as scopes', () => {
    rejects(withClient({ client_id: 'c', client_secret: 'x', scopes: ['a b'] }), 'auth.clients[0].scopes[0]', 'expected a scope (non-empty, no spaces), got "a b"');
    rejects(withClient({ client_id: 'c', client_secret: 'x', scopes: ['a', ''] }), 'auth.clients[0].scopes[1]', 'expected a scope (non-empty, no spaces), got ""');
    rejects(withClient({ client_id: 'c', client_secret: 'x', scopes: [7] }), 'auth.clients[0].scopes[0]', 'expected a scope');
  });

  it('allows at most one of password and password_hash, and only argon2id hashes', () => {
    rejects(withAuth({ users: [{ username: 'a', password: 'x', password_hash: '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA' }] }), 'auth.users[0].password_hash', 'not allowed together with password');
    rejects(withAuth({ users: [{ username: 'a', password_hash: '$2b$10$abcdefghijklmnopqrstuv' }] }), 'auth.users[0].password_hash', 'expected an argon2id PHC string starting with $argon2id$, got a 29-character string (not shown)');
  });
});

describe('gateway checks', () => {
  it('requires unique service names and consumer usernames', () => {
    rejects(withGateway({ services: [{ name: 'orders', url: 'http://a' }, { name: 'orders', url: 'http://b' }] }), 'gateway.services[1].name', 'duplicate name "orders" (already used by gateway.services[0])');
    rejects(withGateway({ consumers: [{ username: 'p' }, { username: 'p' }] }), 'gateway.consumers[1].username', 'duplicate username "p"');
  });

  it('needs exactly one of url and targets', () => {
    rejects(withService({ name: 's' }), 'gateway.services[0].url', 'required unless targets is set');
    rejects(withService({ name: 's', url: 'http://a', targets: ['http://b'] }), 'gateway.services[0].targets', 'not allowed together with url');
    rejects(withService({ name: 's', targets: [] }), 'gateway.services[0].targets', 'expected at least 1 item(s)');
    rejects(withService({ name: 's', targets: ['http://a', 'a:7001'] }), 'gateway.services[0].targets[1]', 'expected an absolute http(s) URL, got "a:7001"');
  });

  it('checks routes', () => {
    const service = (route: Record<string, unknown>) => withService({ name: 's', url: 'http://s', routes: [route] });
    rejects(service({}), 'gateway.services[0].routes[0]', 'needs at least one of hosts, paths, methods or headers');
    rejects(service({ paths: ['orders'] }), 'gateway.services[0].routes[0].paths[0]', 'expected a path starting with /, or a regex starting with ~, got "orders"');
    // prefixes are taken in the form requests are matched in (written otherwise, they could never match)
    const at = 'gateway.services[0].routes[0].paths[0]';
    const written = ['/a b', '/café', '/%61dmin', '/caf%c3%a9', '/a/../b', '/50%', "/a-b_c.d~e!$&'()*+,=:@", '~/o/\\d+'];
    const taken = validateConfig(service({ paths: written })).gateway!.services[0]!.routes[0]!;
    assert.deepEqual(taken.paths, ['/a%20b', '/caf%C3%A9', '/admin', '/caf%C3%A9', '/b', '/50%25', "/a-b_c.d~e!$&'()*+,=:@", '~/o/\\d+']);
    // path parameters are cut off a request path before routing: a prefix with ; never matched
    rejects(service({ paths: ['/x;v=1'] }), at, 'expected a path without ; (path parameters are not part of the route');
    rejects(service({ paths: ['/a#b'] }), at, 'expected a path without a query (?) or a fragment (#), got "/a#b"');
    rejects(service({ paths: ['/a?b=1'] }), at, 'expected a path without a query (?) or a fragment (#)');
    rejects(service({ paths: ['/a/..;/b'] }), at, 'expected a path without ; (path parameters');
    rejects(service({ paths: ['~/orders/(['] }), at, 'expected a valid regular expression after ~ (Invalid regular expression');
    // hosts: one wildcard, the whole leftmost or rightmost label (README, as Kong)
    const hosts = validateConfig(service({ hosts: ['example.*', 'API.example.*:8443', '*.example.com'] })).gateway!.services[0]!.routes[0]!;
    assert.deepEqual(hosts.hosts, ['example.*', 'api.example.*:8443', '*.example.com']);
    for (const host of ['*.example.*', 'ex*.com', 'a.*.com', '*']) {
      rejects(service({ hosts: [host] }), 'gateway.services[0].routes[0].hosts[0]', 'expected a host name like api.example.com, *.example.com or example.*');
    }
    rejects(service({ headers: { 'x-version': 'v1' } }), 'gateway.services[0].routes[0].headers.x-version', 'expected a list, got "v1"');
    rejects(service({ headers: { 'x-version': [1] } }), 'gateway.services[0].routes[0].headers.x-version[0]', 'expected a non-empty string, got 1');
    const route = validateConfig(service({ headers: { 'x-version': ['v1', 'v2'] } })).gateway!.services[0]!.routes[0]!;
    assert.deepEqual(route.headers, { 'x-version': ['v1', 'v2'] });
  });

  it('keeps plugin config and consumer credentials free-form', () => {
    const config = validateConfig(
      withGateway({
        plugins: [{ name: 'rate-limiting', enabled: false, config: { per_minute: 60, nested: { any: ['thing'] } } }],
        consumers: [{ username: 'p', groups: ['partners'], credentials: { 'key-auth': [{ key: 'k1' }, { key: 'k2' }], 'hmac-auth': [{ key_id: 'i', secret: 's' }] } }],
      }),
    );
    assert.deepEqual(config.gateway?.plugins, [{ name: 'rate-limiting', enabled: false, config: { per_minute: 60, nested: { any: ['thing'] } } }]);
    assert.deepEqual(config.gateway?.consumers[0]?.credentials, { 'key-auth': [{ key: 'k1' }, { key: 'k2' }], 'hmac-auth': [{ key_id: 'i', secret: 's' }] });
    rejects(withGateway({ plugins: [{ name: 'p', config: [] }] }), 'gateway.plugins[0].config', 'expected an object, got a list');
    rejects(withGateway({ consumers: [{ username: 'p', credentials: { 'key-auth': { key: 'k' } } }] }), 'gateway.consumers[0].credentials.key-auth', 'expected a list, got an object');
  });

  it('requires admin_token with admin_listen', () => {
    rejects(withGateway({ admin_listen: '127.0.0.1:8001' }), 'gateway.admin_token', 'required when admin_listen is set');
  });

  it('refuses what the gateway would drop or could never match (audit): url credentials or query, ; in a prefix, a header name that is no token, headers.host, __proto__ keys, a short admin token off loopback', () => {
    const url = rejects(withService({ name: 's', url: 'http://user:hunter2-pw@h:1/x' }), 'gateway.services[0].url', 'expected an http(s) URL without user:password@');
    assert.ok(!url.message.includes('hunter2'), url.message);
    rejects(withService({ name: 's', url: 'http://h:1/x?token=t' }), 'gateway.services[0].url', 'expected an http(s) URL without a query (?) or fragment (#)');
    rejects(withService({ name: 's', targets: ['http://h:1', 'http://u@h:2'] }), 'gateway.services[0].targets[1]', 'expected an http(s) URL without user:password@');
    const route = (r: Record<string, unknown>) => withService({ name: 's', url: 'http://s', routes: [r] });
    rejects(route({ headers: { 'bad header': ['x'] } }), 'gateway.services[0].routes[0].headers["bad header"]', 'expected a header name (an HTTP token');
    rejects(route({ headers: { Host: ['a.example'] } }), 'gateway.services[0].routes[0].headers.Host', 'match the Host header with hosts, not headers');
    rejects(
      withGateway({ plugins: [{ name: 'p', config: JSON.parse('{"__proto__":{"x":1}}') }] }),
      'gateway.plugins[0].config.__proto__',
      '"__proto__" is not allowed as a key',
    );
    rejects(withGateway({ admin_listen: '0.0.0.0:8001', admin_token: 'a' }), 'gateway.admin_token', 'expected at least 32 characters, got 1: gateway.admin_listen 0.0.0.0:8001 is not a loopback address');
    assert.doesNotThrow(() => validateConfig(withGateway({ admin_listen: '127.0.0.1:8001', admin_token: 'a' })));
    assert.doesNotThrow(() => validateConfig(withGateway({ admin_listen: '0.0.0.0:8001', admin_token: 'a'.repeat(32) })));
  });

  it('rejects a service name with spaces', () => {
    rejects(withService({ name: 'my orders', url: 'http://s' }), 'gateway.services[0].name', 'expected a name without spaces');
  });
});
