import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkPluginConfigs } from '../../src/gateway/plugin-check.js';
import {
  assertProductionSecret,
  assertStartable,
  ConfigError,
  interpolateEnv,
  loadConfig,
  parseConfigText,
  rolesToStart,
  type Config,
  type Env,
} from '../../src/config/index.js';

const SECRET = 'x'.repeat(40);

/** Runs `fn`, asserting it throws a ConfigError whose message starts with `prefix`. */
function throwsConfigError(fn: () => unknown, prefix: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.ok(caught.message.startsWith(prefix), `message:\n  ${caught.message}\nshould start with:\n  ${prefix}`);
  return caught;
}

const tempDir = mkdtempSync(join(tmpdir(), 'drawbridge-config-'));
after(() => rmSync(tempDir, { recursive: true, force: true }));

function tempFile(name: string, text: string): string {
  const file = join(tempDir, name);
  writeFileSync(file, text);
  return file;
}

describe('YAML and JSON', () => {
  const yaml = [
    'issuer: https://auth.example.com',
    'storage: "memory:"',
    'auth:',
    '  access_token_ttl: 5m',
    '  clients:',
    '    - client_id: svc',
    '      client_secret: s3cret',
    '      scopes: [orders:read]',
    '',
  ].join('\n');
  const json = JSON.stringify({
    issuer: 'https://auth.example.com',
    storage: 'memory:',
    auth: { access_token_ttl: '5m', clients: [{ client_id: 'svc', client_secret: 's3cret', scopes: ['orders:read'] }] },
  }, null, 2);

  it('reads YAML and JSON into the same config', () => {
    const fromYaml = parseConfigText(yaml, {}, 'drawbridge.yaml');
    assert.equal(fromYaml.auth?.access_token_ttl, 300);
    assert.deepEqual(fromYaml.auth?.clients[0]?.scopes, ['orders:read']);
    assert.deepEqual(parseConfigText(json, {}, 'drawbridge.json'), fromYaml);
  });

  it('loads files by extension (.json, anything else YAML)', () => {
    const expected = parseConfigText(yaml, {}, 'drawbridge.yaml');
    assert.deepEqual(loadConfig(tempFile('a.yaml', yaml), {}), expected);
    assert.deepEqual(loadConfig(tempFile('a.yml', yaml), {}), expected);
    assert.deepEqual(loadConfig(tempFile('a.conf', yaml), {}), expected);
    assert.deepEqual(loadConfig(tempFile('a.json', json), {}), expected);
    assert.deepEqual(loadConfig(tempFile('b.JSON', `\uFEFF${json}`), {}), expected);
  });

  it('accepts storage: memory unquoted, which YAML cannot read as "memory:"', () => {
    assert.equal(parseConfigText('issuer: https://a.example\nstorage: memory\n', {}).storage, 'memory:');
    throwsConfigError(() => parseConfigText('issuer: https://a.example\nstorage: memory:\n', {}, 'm.yaml'), 'm.yaml:2:10: invalid YAML');
  });

  it('parses YAML 1.2: yes/no/on/off stay strings', () => {
    const config = parseConfigText('issuer: https://a.example\nauth:\n  users:\n    - username: no\n', {});
    assert.equal(config.auth?.users[0]?.username, 'no');
  });

  it('reports a YAML syntax error with file, line and column', () => {
    const text = 'issuer: https://a.example\nauth:\n  listen: a: b\n';
    const error = throwsConfigError(() => parseConfigText(text, {}, 'bad.yaml'), 'bad.yaml:3:');
    assert.equal(error.path, '');
    assert.equal(error.location?.source, 'bad.yaml');
    assert.equal(error.location?.line, 3);
    assert.match(error.message, /^bad\.yaml:3:\d+: invalid YAML: /);
  });

  it('rejects duplicate keys, several documents and unknown tags', () => {
    throwsConfigError(() => parseConfigText('issuer: a\nissuer: b\n', {}, 'dup.yaml'), 'dup.yaml:2:1: invalid YAML: Map keys must be unique');
    throwsConfigError(() => parseConfigText('issuer: a\n---\nissuer: b\n', {}, 'multi.yaml'), 'multi.yaml:2:');
    throwsConfigError(() => parseConfigText('issuer: !env ISSUER\n', {}, 'tag.yaml'), 'tag.yaml:1:9: invalid YAML: Unresolved tag');
  });

  it('rejects duplicate keys in JSON too (JSON.parse would keep the last), naming the key and its line', () => {
    const text = '{\n  "issuer": "https://a.example",\n  "auth": { "listen": "127.0.0.1:1",\n    "listen": "127.0.0.1:2" }\n}\n';
    const error = throwsConfigError(() => parseConfigText(text, {}, 'dup.json'), 'dup.json:4:5: invalid JSON: duplicate key "listen"');
    assert.deepEqual(error.location, { source: 'dup.json', line: 4, column: 5 });
    throwsConfigError(() => parseConfigText('{"issuer": "https://a.example", "\\u0069ssuer": "https://b.example"}', {}, 'esc.json'), 'esc.json:1:33: invalid JSON: duplicate key "issuer"');
    // the same key in two objects is no duplicate
    const config = parseConfigText('{"issuer": "https://a.example", "auth": { "listen": "127.0.0.1:1" }, "gateway": { "listen": "127.0.0.1:2" }}', {}, 'ok.json');
    assert.equal(config.gateway?.listen, '127.0.0.1:2');
  });

  it('reports a JSON syntax error with file, line and column', () => {
    const text = '{\n  "issuer": "https://a.example",\n}\n';
    const error = throwsConfigError(() => parseConfigText(text, {}, 'bad.json'), 'bad.json:3:1: invalid JSON: ');
    assert.deepEqual(error.location, { source: 'bad.json', line: 3, column: 1 });
    throwsConfigError(() => parseConfigText('{"issuer": ', {}, 'cut.json'), 'cut.json:1:12: invalid JSON: Unexpected end of JSON input');
  });

  it('adds the location of the offending key to validation errors', () => {
    const text = 'issuer: https://a.example\nauth:\n  clients:\n    - client_id: web\n      foo: 1\n';
    const error = throwsConfigError(() => parseConfigText(text, {}, 'app.yaml'), 'auth.clients[0].foo: unknown key');
    assert.equal(error.path, 'auth.clients[0].foo');
    assert.deepEqual(error.location, { source: 'app.yaml', line: 5, column: 12 });
    assert.match(error.message, /\(at app\.yaml:5:12\)$/);
    // A missing key points at its parent.
    const missing = throwsConfigError(() => parseConfigText('storage: "memory:"\n', {}, 'app.yaml'), 'issuer: required');
    assert.equal(missing.location?.line, 1);
    const json = throwsConfigError(() => parseConfigText('{\n  "issuer": "https://a.example",\n  "log": { "level": "loud" }\n}', {}, 'app.json'), 'log.level: expected one of');
    assert.equal(json.location?.line, 3);
  });

  it("names a consumer credential's unknown key with the expected ones, and where it is", () => {
    const text = 'issuer: https://a.example\ngateway:\n  consumers:\n    - username: u\n      credentials:\n        key-auth: [ { key: k, bogus: 1 } ]\n';
    const error = throwsConfigError(
      () => parseConfigText(text, {}, 'app.yaml'),
      'gateway.consumers[0].credentials.key-auth[0].bogus: unknown key (expected one of: key) (at app.yaml:6:',
    );
    assert.equal(error.expected, 'one of: key');
    throwsConfigError(
      () => parseConfigText(text.replace('key-auth: [ { key: k, bogus: 1 } ]', 'hmac-auth: [ { key_id: k, secret: s, constructor: x } ]'), {}),
      'gateway.consumers[0].credentials.hmac-auth[0].constructor: unknown key (expected one of: key_id, secret)',
    );
    // an unknown type is the gateway's to name (gateway/consumers.ts: "unknown credential type")
    assert.deepEqual(parseConfigText(text.replace('key-auth', 'jwt-auth'), {}).gateway?.consumers[0]?.credentials, { 'jwt-auth': [{ key: 'k', bogus: 1 }] });
  });

  it('names the file it cannot read', () => {
    throwsConfigError(() => loadConfig(join(tempDir, 'missing.yaml'), {}), 'cannot read config file: ENOENT');
  });
});

describe('${VAR} interpolation', () => {
  const parse = (yaml: string, env: Env): Config => parseConfigText(`issuer: https://a.example\n${yaml}`, env);

  it('substitutes ${VAR} anywhere in a string value', () => {
    const config = parse('secret: ${S}\nredis: redis://${HOST}:6379/0\n', { S: SECRET, HOST: 'cache' });
    assert.equal(config.secret, SECRET);
    assert.equal(config.redis, 'redis://cache:6379/0');
  });

  it('uses ${VAR:-default} when VAR is unset or empty', () => {
    assert.equal(parse('redis: ${R:-redis://fallback:6379}\n', {}).redis, 'redis://fallback:6379');
    assert.equal(parse('redis: ${R:-redis://fallback:6379}\n', { R: '' }).redis, 'redis://fallback:6379');
    assert.equal(parse('redis: ${R:-redis://fallback:6379}\n', { R: 'redis://set:6379' }).redis, 'redis://set:6379');
    assert.equal(parse('secret: "a${EMPTY:-}b"\n', {}).secret, 'ab');
    assert.equal(parse('secret: ${EMPTY}x\n', { EMPTY: '' }).secret, 'x');
  });

  it('writes $${ as a literal ${ and leaves other $ alone', () => {
    assert.equal(parse('secret: $${NOT_A_VAR}\n', {}).secret, '${NOT_A_VAR}');
    assert.equal(parse('secret: pa$$word$x\n', {}).secret, 'pa$$word$x');
    assert.equal(parse('secret: "$${A}${A}"\n', { A: 'v' }).secret, '${A}v');
  });

  it('names the key path of an unset variable', () => {
    const error = throwsConfigError(() => parse('secret: ${DRAWBRIDGE_SECRET}\n', {}), 'secret: environment variable DRAWBRIDGE_SECRET is not set');
    assert.equal(error.path, 'secret');
    throwsConfigError(
      () => parse('auth:\n  clients:\n    - client_id: web\n      client_secret: ${WEB_SECRET}\n', {}),
      'auth.clients[0].client_secret: environment variable WEB_SECRET is not set',
    );
  });

  it('rejects malformed placeholders', () => {
    throwsConfigError(() => parse('secret: ${OPEN\n', {}), 'secret: unterminated ${');
    throwsConfigError(() => parse('secret: ${}\n', {}), 'secret: invalid placeholder ${}');
    throwsConfigError(() => parse('secret: ${1X}\n', {}), 'secret: invalid placeholder ${1X}');
  });

  it('keeps a substituted value a single string, whatever it contains', () => {
    const tricky = 'a: b\n- c\n{ x: 1 }\n"quoted" #comment';
    assert.equal(parse('secret: ${S}\n', { S: tricky }).secret, tricky);
    assert.equal(parse('secret: ${A}\n', { A: '${B}', B: 'nested' }).secret, '${B}');
  });

  it('leaves numeric-looking values strings, which the schema accepts', () => {
    const config = parse('auth:\n  access_token_ttl: ${TTL}\n  clients:\n    - client_id: ${ID}\n      client_secret: x\n', { TTL: '30', ID: '30' });
    assert.equal(config.auth?.access_token_ttl, 30);
    assert.equal(config.auth?.clients[0]?.client_id, '30');
  });

  it('interpolates JSON too, but never keys', () => {
    const config = parseConfigText('{ "issuer": "${ISSUER}", "log": { "level": "${LEVEL:-warn}" } }', { ISSUER: 'https://j.example' }, 'c.json');
    assert.equal(config.issuer, 'https://j.example');
    assert.equal(config.log.level, 'warn');
    assert.deepEqual(interpolateEnv({ '${K}': '${V}' }, { K: 'k', V: 'v' }), { '${K}': 'v' });
  });

  it('walks lists and free-form objects', () => {
    assert.deepEqual(interpolateEnv({ a: [1, '${X}', { b: '${X}', c: null, d: true }] }, { X: 'x' }), { a: [1, 'x', { b: 'x', c: null, d: true }] });
    throwsConfigError(() => interpolateEnv({ a: [{ b: '${NOPE}' }] }, {}), 'a[0].b: environment variable NOPE is not set');
  });
});

describe('assertProductionSecret, assertStartable', () => {
  const base = { issuer: 'https://a.example', storage: 'memory:', keys: { algorithm: 'ES256', id_token_algorithms: ['ES256', 'RS256'], refresh_interval: 2, publish_ahead: 900 }, log: { level: 'info' } } as const;

  it('requires a secret of at least 32 characters', () => {
    const missing = throwsConfigError(() => assertProductionSecret({ ...base }), 'secret: required outside "drawbridge dev"; expected at least 32 characters');
    assert.equal(missing.path, 'secret');
    throwsConfigError(() => assertProductionSecret({ ...base, secret: 'short' }), 'secret: required outside "drawbridge dev"; expected at least 32 characters, got 5');
    assertProductionSecret({ ...base, secret: 'x'.repeat(32) });
  });

  it('assertStartable: the secret, then a role to run (what start and config validate both refuse)', () => {
    const auth = parseConfigText(`issuer: https://a.example\nsecret: ${SECRET}\nauth: {}\n`, {}).auth!;
    throwsConfigError(() => assertStartable({ ...base, auth }), 'secret: required outside "drawbridge dev"');
    const error = throwsConfigError(() => assertStartable({ ...base, secret: SECRET }), 'the config configures neither auth nor gateway; nothing to start');
    assert.equal(error.path, '');
    throwsConfigError(() => assertStartable({ ...base, secret: SECRET, auth }, 'gateway'), 'gateway: required by --only gateway');
    assertStartable({ ...base, secret: SECRET, auth });
    assertStartable({ ...base, secret: SECRET, auth }, 'auth');
    assert.deepEqual(rolesToStart({ ...base, auth }), ['auth']);
  });

  it('assertStartable: a gateway introspecting at this file\'s own auth server with a client of the file needs its introspect scope', () => {
    const yaml = (scopes: string, plugin: string, issuer = 'https://a.example') => `issuer: https://a.example
secret: ${SECRET}
auth:
  clients:
    - { client_id: web, client_secret: s, scopes: [openid] }
    - { client_id: gw, client_secret: s, scopes: ${scopes} }
gateway:
  services:
    - name: orders
      url: http://127.0.0.1:7001
      routes:
        - { paths: [/orders], plugins: [ { name: oauth2-introspection, config: { issuer: "${issuer}", client_id: ${plugin}, client_secret: s } } ] }
`;
    const error = throwsConfigError(
      () => assertStartable(parseConfigText(yaml('[]', 'gw'), {})),
      `gateway.services[0].routes[0].plugins[0].config.client_id: names auth client "gw", which may not introspect other clients' tokens; expected "introspect" in auth.clients[1].scopes`,
    );
    assert.equal(error.path, 'gateway.services[0].routes[0].plugins[0].config.client_id');
    assert.equal(error.expected, '"introspect" in auth.clients[1].scopes');
    // --only gateway too: the auth server it asks is still this file's
    throwsConfigError(() => assertStartable(parseConfigText(yaml('[openid]', 'gw'), {}), 'gateway'), 'gateway.services[0].routes[0].plugins[0].config.client_id: names auth client "gw"');
    assertStartable(parseConfigText(yaml('[introspect]', 'gw'), {}));
    assertStartable(parseConfigText(yaml('[introspect]', 'gw'), {}), 'gateway');
    // a client the file does not configure (made with the CLI), or another issuer: not judged here
    assertStartable(parseConfigText(yaml('[]', 'cli-made'), {}));
    assertStartable(parseConfigText(yaml('[]', 'gw', 'https://other.example'), {}));
    // a global plugin is named by its own path
    const global = yaml('[]', 'gw').replace(/routes:\n.*\n$/, 'routes: [ { paths: [/x] } ]\n') + '  plugins: [ { name: oauth2-introspection, config: { issuer: "https://a.example/", client_id: gw, client_secret: s } } ]\n';
    throwsConfigError(() => assertStartable(parseConfigText(global, {})), 'gateway.plugins[0].config.client_id: names auth client "gw"');
  });
});

describe('full configs', () => {
  it('validates the ARCHITECTURE §4 example', () => {
    const text = `
issuer: http://127.0.0.1:9000        # public base URL of the auth server
storage: sqlite:./.drawbridge/drawbridge.db   # memory: | sqlite:PATH | postgres://…
redis: redis://127.0.0.1:6379        # optional; shared sessions, revocation, rate limits
secret: \${DRAWBRIDGE_SECRET}         # master secret: cookie keys, key encryption at rest
auth:
  listen: 127.0.0.1:9000
  tls: { cert: /etc/tls/cert.pem, key: /etc/tls/key.pem }
  access_token_ttl: 10m
  refresh_token_ttl: 30d
  clients:
    - client_id: web
      client_secret: web-secret
      redirect_uris: [ https://app.example.com/callback ]
      grant_types: [authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange]
      scopes: [openid, profile, email, orders:read]
      token_endpoint_auth_method: client_secret_basic
      access_token_format: opaque    # opaque (default) | jwt (RFC 9068)
  users:
    - username: alice
      password: alice-password
      claims: { email: alice@example.com, name: Alice, groups: [admin] }
gateway:
  listen: 127.0.0.1:8000
  admin_listen: 127.0.0.1:8001       # admin API + metrics; requires admin_token
  admin_token: \${DRAWBRIDGE_ADMIN_TOKEN}
  services:
    - name: orders                   # becomes the internal token's aud
      url: http://127.0.0.1:7001     # or targets: [ … ] for several instances
      routes:
        - { paths: [/orders], methods: [GET, POST], strip_path: false }
      plugins:
        - { name: key-auth, config: { header: x-api-key } }
  consumers:
    - username: partner-a
      groups: [partners]
      credentials:
        key-auth: [ { key: partner-key } ]
        basic-auth: [ { username: partner-a, password: partner-password } ]
        hmac-auth: [ { key_id: partner-a, secret: hmac-secret } ]
  plugins: [ { name: rate-limiting } ]  # global plugins
`;
    const config = parseConfigText(text, { DRAWBRIDGE_SECRET: SECRET, DRAWBRIDGE_ADMIN_TOKEN: 'admin-token' }, 'architecture.yaml');
    assert.equal(config.secret, SECRET);
    assert.deepEqual(config.auth?.tls, { cert: '/etc/tls/cert.pem', key: '/etc/tls/key.pem' });
    assert.equal(config.auth?.clients[0]?.grant_types.length, 4);
    assert.deepEqual(config.auth?.users[0]?.claims, { email: 'alice@example.com', name: 'Alice', groups: ['admin'] });
    assert.deepEqual(config.gateway?.services[0]?.routes, [
      { paths: ['/orders'], methods: ['GET', 'POST'], regex_priority: 0, strip_path: false, preserve_host: false, plugins: [] },
    ]);
    assert.deepEqual(Object.keys(config.gateway?.consumers[0]?.credentials ?? {}), ['key-auth', 'basic-auth', 'hmac-auth']);
    assert.deepEqual(config.gateway?.plugins, [{ name: 'rate-limiting', enabled: true, config: {} }]);
    assertProductionSecret(config);
  });

  it('validates examples/drawbridge.example.yaml', () => {
    // Compiled to dist/test/config/, three levels below the repository root.
    const example = fileURLToPath(new URL('../../../examples/drawbridge.example.yaml', import.meta.url));
    const env: Env = {
      DATABASE_URL: 'postgres://drawbridge:db-password@db.internal:5432/drawbridge',
      DRAWBRIDGE_SECRET: SECRET,
      DRAWBRIDGE_ADMIN_TOKEN: 'admin-token-0123456789',
      WEB_CLIENT_SECRET: 'web-client-secret',
      GATEWAY_CLIENT_SECRET: 'gateway-client-secret',
      PARTNER_A_API_KEY: 'partner-a-api-key',
      PARTNER_A_PASSWORD: 'partner-a-password',
      PARTNER_A_HMAC_SECRET: 'partner-a-hmac-secret',
    };
    const config = loadConfig(example, env);
    checkPluginConfigs(config); // every plugin's own settings, as `drawbridge config validate` checks them
    assertStartable(config); // the secret, and the gateway's introspecting client has `introspect`
    assert.equal(config.storage, env.DATABASE_URL);
    assert.equal(config.redis, 'redis://127.0.0.1:6379');
    assert.ok(config.auth && config.gateway, 'both roles are configured');
    assert.deepEqual(config.auth.clients.map((c) => [c.client_id, c.token_endpoint_auth_method]), [
      ['web', 'client_secret_basic'],
      ['spa', 'none'],
      ['orders', 'client_secret_basic'],
      ['partner-a', 'private_key_jwt'],
      ['gateway', 'client_secret_basic'],
    ]);
    assert.deepEqual(config.gateway.services.map((s) => s.name), ['orders', 'inventory']);
    assert.equal(config.gateway.consumers[0]?.credentials['key-auth']?.[0]?.key, env.PARTNER_A_API_KEY);
    assert.equal(config.gateway.admin_token, env.DRAWBRIDGE_ADMIN_TOKEN);
    // Every ${VAR} in the example is one the docs mention; an unset one is named.
    throwsConfigError(() => loadConfig(example, { ...env, DATABASE_URL: undefined }), 'storage: environment variable DATABASE_URL is not set');
  });
});
