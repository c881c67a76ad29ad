// Config validation of the authentication plugins: registered by name, defaults, unknown
// keys and wrong types refused with a ConfigError naming `${path}.key`, and each
// plugin's own rules (sha1 needs allow_sha1; jwt keys must be asymmetric public keys …).
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { ConfigError } from '../../src/config/index.js';
import { basicAuthConfigSchema } from '../../src/gateway/authn/basic-auth.js';
import { hmacAuthConfigSchema } from '../../src/gateway/authn/hmac/config.js';
import { jwtConfigSchema } from '../../src/gateway/authn/jwt.js';
import { keyAuthConfigSchema } from '../../src/gateway/authn/key-auth.js';
import { isInnerList, parseDictionary } from '../../src/gateway/authn/hmac/structured-fields.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import type { GatewayRequest } from '../../src/gateway/types.js';
import { unitDeps, type UnitDeps } from './authn-support.js';

const PATH = 'gateway.services[0].plugins[0].config';

describe('authentication plugin config', () => {
  let deps: UnitDeps;
  let jwk: Record<string, unknown>;

  before(async () => {
    deps = await unitDeps();
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
  });

  after(async () => {
    await deps?.close();
  });

  async function create(name: string, config: Record<string, unknown>) {
    const factory = PLUGINS.get(name);
    assert.ok(factory, `${name} is registered`);
    return factory.create(config, deps, PATH);
  }

  async function configError(name: string, config: Record<string, unknown>): Promise<ConfigError> {
    try {
      await create(name, config);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err;
    }
    assert.fail(`expected a ConfigError for ${JSON.stringify(config)}`);
  }

  it('registers key-auth, basic-auth, hmac-auth and jwt as authenticate-stage plugins with their challenges', async () => {
    const challenges: Record<string, string> = {
      'key-auth': 'Key realm="drawbridge"',
      'basic-auth': 'Basic realm="drawbridge", charset="UTF-8"',
      'hmac-auth': 'Signature realm="drawbridge", alg="hmac-sha256", headers="@method @authority @path @query content-digest"',
      jwt: 'Bearer realm="drawbridge"',
    };
    for (const [name, challenge] of Object.entries(challenges)) {
      const instance = await create(name, name === 'jwt' ? { issuers: [{ issuer: 'https://i.test', keys: [jwk] }] } : {});
      assert.equal(instance.stage, 'authenticate');
      assert.ok(instance.stage === 'authenticate');
      assert.equal(instance.impl.name, name);
      assert.equal(instance.impl.challenge, challenge);
    }
  });

  it('fills in the documented defaults', () => {
    assert.deepEqual(keyAuthConfigSchema.parse({}, PATH), {
      key_names: ['apikey'],
      key_in_header: true,
      key_in_query: false,
      hide_credentials: true,
      realm: 'drawbridge',
      cache_ttl: 60,
    });
    assert.deepEqual(basicAuthConfigSchema.parse({}, PATH), { realm: 'drawbridge', hide_credentials: true, cache_ttl: 60 });
    const hmac = hmacAuthConfigSchema.parse({}, PATH);
    assert.equal(hmac.clock_skew, 300);
    assert.equal(hmac.max_body, 1024 * 1024);
    assert.equal(hmac.enforce_nonce, false);
    assert.equal(hmac.legacy, false);
    assert.deepEqual(hmac.algorithms, ['hmac-sha256', 'hmac-sha384', 'hmac-sha512']);
    const jwt = jwtConfigSchema.parse({ issuers: [{ issuer: 'i', keys: [jwk] }], audience: 'api' }, PATH);
    assert.deepEqual(jwt.audience, ['api']);
    assert.equal(jwt.leeway, 30);
    assert.equal(jwt.jwks_refetch_interval, 60);
    assert.deepEqual(jwt.cookie_names, []);
    assert.deepEqual(jwt.issuers[0]!.algorithms, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);
    assert.deepEqual(jwt.issuers[0]!.typ, ['at+jwt']);
    assert.deepEqual(jwtConfigSchema.parse({ issuers: [{ issuer: 'i', keys: [jwk], typ: ['JWT', 'application/at+jwt'] }] }, PATH).issuers[0]!.typ, ['JWT', 'application/at+jwt']);
  });

  it('refuses unknown keys and wrong types, naming the key', async () => {
    const cases: Array<[string, Record<string, unknown>, string, string?]> = [
      ['key-auth', { key_name: ['x'] }, `${PATH}.key_name`],
      ['key-auth', { key_names: 'apikey' }, `${PATH}.key_names`, `${PATH}.key_names: expected a list, got "apikey"`],
      ['key-auth', { key_names: ['bad name'] }, `${PATH}.key_names[0]`],
      ['key-auth', { key_in_header: false }, `${PATH}.key_in_header`],
      ['key-auth', { hide_credentials: 'yes' }, `${PATH}.hide_credentials`, `${PATH}.hide_credentials: expected true or false, got "yes"`],
      ['basic-auth', { realm: 'a"b' }, `${PATH}.realm`],
      ['basic-auth', { cache_ttl: '1 minute' }, `${PATH}.cache_ttl`],
      ['basic-auth', { anonymous: 5 }, `${PATH}.anonymous`],
      ['hmac-auth', { clock_skew: -1 }, `${PATH}.clock_skew`],
      ['hmac-auth', { max_body: 'huge' }, `${PATH}.max_body`],
      ['hmac-auth', { algorithms: ['hmac-sha1'] }, `${PATH}.algorithms[0]`, `${PATH}.algorithms[0]: hmac-sha1 needs allow_sha1: true`],
      ['hmac-auth', { algorithms: ['hmac-md5'] }, `${PATH}.algorithms[0]`],
      ['hmac-auth', { enforce_headers: ['Content-Type'] }, `${PATH}.enforce_headers[0]`],
      ['hmac-auth', { secret: 'x' }, `${PATH}.secret`],
      ['jwt', {}, `${PATH}.issuers`, `${PATH}.issuers: required`],
      ['jwt', { issuers: [] }, `${PATH}.issuers`],
      ['jwt', { issuers: [{ issuer: 'i' }] }, `${PATH}.issuers[0].jwks_uri`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], jwks_uri: 'https://i/jwks' }] }, `${PATH}.issuers[0].keys`],
      ['jwt', { issuers: [{ issuer: 'i', jwks_uri: 'ftp://i/jwks' }] }, `${PATH}.issuers[0].jwks_uri`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], algorithms: ['HS256'] }] }, `${PATH}.issuers[0].algorithms[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], algorithms: ['none'] }] }, `${PATH}.issuers[0].algorithms[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }] }, `${PATH}.issuers[0].keys[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk] }, { issuer: 'i', keys: [jwk] }] }, `${PATH}.issuers[1].issuer`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], typ: [] }] }, `${PATH}.issuers[0].typ`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], typ: 'JWT' }] }, `${PATH}.issuers[0].typ`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], typ: ['at+jwt', 'at+jwt; charset=utf-8'] }] }, `${PATH}.issuers[0].typ[1]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], typ: ['a/b/c'] }] }, `${PATH}.issuers[0].typ[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk], typ: [''] }] }, `${PATH}.issuers[0].typ[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk] }], audience: [] }, `${PATH}.audience`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk] }], leeway: 'soon' }, `${PATH}.leeway`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk] }], cookie_names: ['a;b'] }, `${PATH}.cookie_names[0]`],
      ['jwt', { issuers: [{ issuer: 'i', keys: [jwk] }], header_names: ['authorization'] }, `${PATH}.header_names`],
    ];
    for (const [name, config, path, message] of cases) {
      const err = await configError(name, config);
      assert.equal(err.path, path, `${name} ${JSON.stringify(config)}: ${err.message}`);
      if (message !== undefined) assert.equal(err.message, message);
    }
  });

  it('hmac-auth enforce_headers: lower-case field names (RFC 9110 tokens) or derived components, so Accept-Signature stays a valid structured field', async () => {
    const at = `${PATH}.enforce_headers[1]`;
    // each would break the quoted component names of Accept-Signature, or name nothing a request can sign
    for (const bad of ['Content-Type', 'x\\y', 'a"b', 'x y', 'x\ty', 'x-é', 'x-€', 'x-\u{1F600}', '', 'x(y)', 'a,b', 'a:b', 'a;b', '@', '@status', '@query-param', '@Method', '@foo', 'x@y']) {
      const err = await configError('hmac-auth', { enforce_headers: ['content-type', bad] });
      assert.equal(err.path, at, `${JSON.stringify(bad)}: ${err.message}`);
      assert.match(err.message, /^gateway\.services\[0\]\.plugins\[0\]\.config\.enforce_headers\[1\]: expected a lower-case header field name \(an RFC 9110 token: letters, digits and !#\$%&'\*\+-\.\^_`\|~\) or a derived component \(@method, @authority, @scheme, @target-uri, @request-target, @path, @query\), got /, JSON.stringify(bad));
      assert.ok(err.message.endsWith(`got ${JSON.stringify(bad)}`), err.message);
    }
    assert.equal((await configError('hmac-auth', { enforce_headers: [5] })).path, `${PATH}.enforce_headers[0]`);

    // every tchar, and the derived components: taken, and the 401's Accept-Signature parses with each named
    const good = ['content-type', 'x-api-key', "x!#$%&'*+-.^_`|~09az", 'digest', '@target-uri', '@method', '@request-target', '@scheme'];
    const instance = await create('hmac-auth', { enforce_headers: good });
    assert.ok(instance.stage === 'authenticate' && instance.impl.requested);
    const header = instance.impl.requested({ query: 'a=1', req: { headers: { 'content-length': '2' } } } as unknown as GatewayRequest)['accept-signature']!;
    const sig1 = parseDictionary(header).get('sig1');
    assert.ok(sig1 && isInnerList(sig1), header);
    const names = sig1.items.map((item) => item.value);
    for (const name of good) assert.ok(names.includes(name), `${name} in ${header}`);
  });

  it('accepts hmac-sha1 with allow_sha1, and anonymous on every authenticator', async () => {
    assert.equal((await create('hmac-auth', { allow_sha1: true, algorithms: ['hmac-sha1', 'hmac-sha256'], legacy: true })).stage, 'authenticate');
    for (const name of ['key-auth', 'basic-auth', 'hmac-auth']) {
      assert.equal((await create(name, { anonymous: 'guest' })).stage, 'authenticate');
    }
    assert.equal((await create('jwt', { issuers: [{ issuer: 'i', keys: [jwk] }], anonymous: 'guest' })).stage, 'authenticate');
  });
});
