// Issue #2 "Done when": openid-client v6 drives the auth server as a real client —
// discovery → client credentials with each authentication method → introspection (JSON
// and RFC 9701 JWT) → revocation → inactive. JWT access tokens verify with jose against
// the published JWKS before and after a key rotation (in-process and `drawbridge key rotate`).
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { loadConfig } from '../../src/config/index.js';
import { run, type Running } from '../../src/cli/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { freePort, startAuth, TEST_SECRET, type TestServer } from '../helpers/auth-server.js';
import { runCli } from '../cli/spawn.js';

const SECRETS = {
  basic: 'basic-client-secret-0123456789abcdef',
  post: 'post-client-secret-0123456789abcdef',
  jwt: 'jwt-client-secret-0123456789abcdef',
};
const SCOPES = ['orders:read', 'orders:write'];

interface ClientKey {
  privateKey: jose.CryptoKey;
  publicJwk: jose.JWK;
  kid: string;
}

async function clientKey(): Promise<ClientKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicJwk);
  return { privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' }, kid };
}

/** openid-client Configuration over plain HTTP (the test issuer is http://127.0.0.1). */
function discover(
  issuer: string,
  clientId: string,
  metadata: Partial<client.ClientMetadata>,
  auth: client.ClientAuth,
): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, metadata, auth, { execute: [client.allowInsecureRequests] });
}

/** A fresh remote key set per check: no cached JWKS may hide a missing key. */
function remoteJwks(jwksUri: string) {
  return jose.createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 0, cacheMaxAge: 0 });
}

async function verifyAccessToken(token: string, issuer: string, jwksUri: string) {
  return jose.jwtVerify(token, remoteJwks(jwksUri), { issuer, typ: 'at+jwt' });
}

async function jwksKids(jwksUri: string): Promise<string[]> {
  const res = await fetch(jwksUri);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { keys: Array<{ kid: string }> };
  return body.keys.map((k) => k.kid);
}

/** RFC 9068 §2.2: the claims every JWT access token carries. */
function assertAccessTokenClaims(payload: jose.JWTPayload, issuer: string, clientId: string, scope: string): void {
  assert.equal(payload.iss, issuer);
  assert.equal(payload.sub, clientId);
  assert.equal(payload.aud, issuer);
  assert.equal(payload.client_id, clientId);
  assert.equal(payload.scope, scope);
  assert.equal(typeof payload.jti, 'string');
  assert.ok((payload.jti as string).length >= 16);
  assert.equal(typeof payload.iat, 'number');
  assert.equal(typeof payload.exp, 'number');
  assert.equal(payload.exp! - payload.iat!, 600);
}

describe('openid-client v6 as a real client', () => {
  let server: TestServer;
  let pk: ClientKey;
  let pkUri: ClientKey;
  let jwksServer: Server;
  let jwksHits = 0;

  before(async () => {
    pk = await clientKey();
    pkUri = await clientKey();
    const jwksPort = await freePort();
    jwksServer = createServer((req, res) => {
      jwksHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [pkUri.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(jwksPort, '127.0.0.1', resolve));
    server = await startAuth({
      clients: [
        { client_id: 'svc-basic', client_secret: SECRETS.basic, scopes: SCOPES, default_scopes: ['orders:read'] },
        { client_id: 'svc-post', client_secret: SECRETS.post, token_endpoint_auth_method: 'client_secret_post', scopes: SCOPES },
        { client_id: 'svc-pkjwt', jwks: { keys: [pk.publicJwk] }, scopes: SCOPES },
        { client_id: 'svc-pkjwt-uri', jwks_uri: `http://127.0.0.1:${jwksPort}/jwks.json`, scopes: SCOPES },
        { client_id: 'svc-jwt', client_secret: SECRETS.jwt, scopes: SCOPES, access_token_format: 'jwt' },
      ],
    });
  });

  after(async () => {
    await server?.close();
    await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  });

  it('discovery finds every endpoint the flow needs', async () => {
    const config = await discover(server.issuer, 'svc-basic', {}, client.ClientSecretBasic(SECRETS.basic));
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, server.issuer);
    assert.equal(meta.token_endpoint, `${server.issuer}/oauth2/token`);
    assert.equal(meta.introspection_endpoint, `${server.issuer}/oauth2/introspect`);
    assert.equal(meta.revocation_endpoint, `${server.issuer}/oauth2/revoke`);
    assert.equal(meta.jwks_uri, `${server.issuer}/.well-known/jwks.json`);
  });

  const methods: Array<{
    name: string;
    clientId: string;
    metadata: () => Partial<client.ClientMetadata>;
    auth: () => client.ClientAuth;
  }> = [
    { name: 'client_secret_basic', clientId: 'svc-basic', metadata: () => ({}), auth: () => client.ClientSecretBasic(SECRETS.basic) },
    { name: 'client_secret_post', clientId: 'svc-post', metadata: () => ({}), auth: () => client.ClientSecretPost(SECRETS.post) },
    {
      name: 'private_key_jwt (jwks)',
      clientId: 'svc-pkjwt',
      metadata: () => ({ token_endpoint_auth_method: 'private_key_jwt' }),
      auth: () => client.PrivateKeyJwt({ key: pk.privateKey, kid: pk.kid }),
    },
    {
      name: 'private_key_jwt (jwks_uri)',
      clientId: 'svc-pkjwt-uri',
      metadata: () => ({ token_endpoint_auth_method: 'private_key_jwt' }),
      auth: () => client.PrivateKeyJwt({ key: pkUri.privateKey, kid: pkUri.kid }),
    },
  ];

  for (const m of methods) {
    it(`${m.name}: token → introspection (JSON and JWT) → revocation → inactive`, async () => {
      const config = await discover(server.issuer, m.clientId, m.metadata(), m.auth());
      const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read orders:write' });
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.expires_in, 600);
      assert.equal(tokens.scope, 'orders:read orders:write');
      assert.match(tokens.access_token, /^[A-Za-z0-9_-]{43,}$/);

      const json = await client.tokenIntrospection(config, tokens.access_token);
      assert.equal(json.active, true);
      assert.equal(json.client_id, m.clientId);
      assert.equal(json.scope, 'orders:read orders:write');
      assert.equal(json.sub, m.clientId);
      assert.equal(json.iss, server.issuer);
      assert.equal(json.token_type, 'Bearer');

      // RFC 9701: the client asks for a signed response through its metadata; the
      // signature is checked against the issuer's JWKS by enableNonRepudiationChecks
      const jwtConfig = await discover(
        server.issuer,
        m.clientId,
        { ...m.metadata(), introspection_signed_response_alg: 'ES256' },
        m.auth(),
      );
      client.enableNonRepudiationChecks(jwtConfig);
      const contentTypes: Array<string | null> = [];
      jwtConfig[client.customFetch] = async (url, options) => {
        const res = await fetch(url, options as RequestInit);
        if (url.endsWith('/oauth2/introspect')) contentTypes.push(res.headers.get('content-type'));
        return res;
      };
      const signed = await client.tokenIntrospection(jwtConfig, tokens.access_token);
      assert.deepEqual(contentTypes, ['application/token-introspection+jwt'], 'the answer really was a JWT');
      assert.equal(signed.active, true);
      assert.equal(signed.client_id, m.clientId);
      assert.equal(signed.scope, 'orders:read orders:write');

      await client.tokenRevocation(config, tokens.access_token);
      assert.deepEqual(await client.tokenIntrospection(config, tokens.access_token), { active: false });
      assert.deepEqual(await client.tokenIntrospection(jwtConfig, tokens.access_token), { active: false });
    });
  }

  it('private_key_jwt with jwks_uri fetched the client keys from the URI', () => {
    assert.ok(jwksHits >= 1, `expected the client's jwks_uri to be fetched, got ${jwksHits} requests`);
  });

  it('a wrong secret surfaces as invalid_client in openid-client', async () => {
    const config = await discover(server.issuer, 'svc-basic', {}, client.ClientSecretBasic('not-the-secret'));
    // a 401 with WWW-Authenticate is reported as the challenge (RFC 6749 §5.2)
    await assert.rejects(client.clientCredentialsGrant(config, {}), (err: unknown) => {
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.cause[0]?.scheme, 'basic');
      assert.equal(err.cause[0]?.parameters.realm, 'drawbridge');
      return true;
    });
  });

  it('JWT access tokens (RFC 9068) verify with jose against the JWKS, before and after an in-process rotation', async () => {
    const config = await discover(server.issuer, 'svc-jwt', {}, client.ClientSecretBasic(SECRETS.jwt));
    const jwksUri = config.serverMetadata().jwks_uri!;
    const first = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    const v1 = await verifyAccessToken(first.access_token, server.issuer, jwksUri);
    assert.equal(v1.protectedHeader.typ, 'at+jwt');
    assert.equal(v1.protectedHeader.alg, 'ES256');
    assertAccessTokenClaims(v1.payload, server.issuer, 'svc-jwt', 'orders:read');
    const oldKid = v1.protectedHeader.kid!;
    assert.equal(oldKid, server.running.keyring.current.kid);
    assert.deepEqual(await jwksKids(jwksUri), [oldKid]);

    const rotated = await server.running.keyring.rotate(3600);
    assert.notEqual(rotated.kid, oldKid);

    const second = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    const v2 = await verifyAccessToken(second.access_token, server.issuer, jwksUri);
    assert.equal(v2.protectedHeader.kid, rotated.kid);
    assertAccessTokenClaims(v2.payload, server.issuer, 'svc-jwt', 'orders:read');
    // the token signed before the rotation keeps verifying and stays active
    const again = await verifyAccessToken(first.access_token, server.issuer, jwksUri);
    assert.equal(again.protectedHeader.kid, oldKid);
    assert.deepEqual(await jwksKids(jwksUri), [rotated.kid, oldKid]);
    assert.equal((await client.tokenIntrospection(config, first.access_token)).active, true);
    assert.equal((await client.tokenIntrospection(config, second.access_token)).active, true);
  });
});

describe('oauth4webapi smoke', () => {
  let server: TestServer;
  before(async () => {
    server = await startAuth({ clients: [{ client_id: 'svc', client_secret: SECRETS.basic, scopes: SCOPES }] });
  });
  after(() => server?.close());

  it('discovery + clientCredentialsGrantRequest + processClientCredentialsResponse', async () => {
    const issuer = new URL(server.issuer);
    const discovered = await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true });
    const as = await oauth.processDiscoveryResponse(issuer, discovered);
    assert.equal(as.token_endpoint, `${server.issuer}/oauth2/token`);
    const c: oauth.Client = { client_id: 'svc' };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      c,
      oauth.ClientSecretBasic(SECRETS.basic),
      new URLSearchParams({ scope: 'orders:write' }),
      { [oauth.allowInsecureRequests]: true },
    );
    const result = await oauth.processClientCredentialsResponse(as, c, response);
    assert.equal(result.token_type, 'bearer');
    assert.equal(result.scope, 'orders:write');
    assert.equal(result.expires_in, 600);
    assert.equal(typeof result.access_token, 'string');
  });
});

describe('JWT access tokens with RS256 and EdDSA signing keys', () => {
  for (const alg of ['RS256', 'EdDSA'] as const) {
    it(`${alg}: the token verifies with jose and the JWKS advertises the algorithm`, async (t) => {
      const server = await startAuth(
        { clients: [{ client_id: 'svc-jwt', client_secret: SECRETS.jwt, scopes: SCOPES, access_token_format: 'jwt' }] },
        { keys: { algorithm: alg } },
      );
      t.after(() => server.close());
      const config = await discover(server.issuer, 'svc-jwt', {}, client.ClientSecretBasic(SECRETS.jwt));
      const meta = config.serverMetadata();
      assert.deepEqual(meta.introspection_signing_alg_values_supported, [alg]);
      const tokens = await client.clientCredentialsGrant(config, {});
      const { payload, protectedHeader } = await verifyAccessToken(tokens.access_token, server.issuer, meta.jwks_uri!);
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assertAccessTokenClaims(payload, server.issuer, 'svc-jwt', 'orders:read orders:write');
      const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: jose.JWK[] };
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0]!.alg, alg);
      assert.equal(jwks.keys[0]!.kty, alg === 'RS256' ? 'RSA' : 'OKP');
      assert.equal(jwks.keys[0]!.d, undefined, 'no private key material in the JWKS');

      // RFC 9701 response signed with this algorithm, checked by openid-client
      const jwtConfig = await discover(server.issuer, 'svc-jwt', { introspection_signed_response_alg: alg }, client.ClientSecretBasic(SECRETS.jwt));
      client.enableNonRepudiationChecks(jwtConfig);
      assert.equal((await client.tokenIntrospection(jwtConfig, tokens.access_token)).active, true);
    });
  }
});

describe('`drawbridge key rotate` against a SQLite-file server started from a config file', () => {
  let dir: string;
  let configFile: string;
  let running: Running;
  let issuer: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-rotate-'));
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    configFile = join(dir, 'drawbridge.yaml');
    await writeFile(
      configFile,
      [
        `issuer: ${issuer}`,
        `storage: sqlite:${join(dir, 'drawbridge.db')}`,
        `secret: ${TEST_SECRET}`,
        'log: { level: silent }',
        'keys: { refresh_interval: 1s }',
        'auth:',
        `  listen: 127.0.0.1:${port}`,
        '  clients:',
        '    - client_id: svc-jwt',
        `      client_secret: ${SECRETS.jwt}`,
        '      scopes: [orders:read]',
        '      access_token_format: jwt',
        '',
      ].join('\n'),
    );
    running = await run(loadConfig(configFile), { logger: silentLogger() });
  });

  after(async () => {
    await running?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('old tokens keep verifying, new tokens carry the new kid, the JWKS lists both', async () => {
    const config = await discover(issuer, 'svc-jwt', {}, client.ClientSecretBasic(SECRETS.jwt));
    const jwksUri = config.serverMetadata().jwks_uri!;
    const first = await client.clientCredentialsGrant(config, {});
    const oldKid = (await verifyAccessToken(first.access_token, issuer, jwksUri)).protectedHeader.kid!;

    const rotate = await runCli(['key', 'rotate', '--now', '--config', configFile]);
    assert.equal(rotate.code, 0, rotate.stderr);
    const m = /^rotated: (\S+) → (\S+) \(ES256\)/m.exec(rotate.stdout);
    assert.ok(m !== null, `unexpected output: ${rotate.stdout}`);
    assert.equal(m![1], oldKid);
    const newKid = m![2]!;
    assert.notEqual(newKid, oldKid);

    // every algorithm in use is rotated: the default keys.id_token_algorithms adds RS256
    const rs = /^rotated: (\S+) → (\S+) \(RS256\)/m.exec(rotate.stdout);
    assert.ok(rs !== null, `unexpected output: ${rotate.stdout}`);
    assert.notEqual(rs[2], rs[1]);

    // the running instance re-reads keys every refresh_interval (1 s here)
    const switched = () => running.keyring.current.kid === newKid && running.keyring.currentFor('RS256').kid === rs[2];
    const until = Date.now() + 10_000;
    while (!switched() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(running.keyring.current.kid, newKid, 'the running server did not pick up the rotated key');
    assert.equal(running.keyring.currentFor('RS256').kid, rs[2], 'the running server did not pick up the rotated RS256 key');

    // the current keys first (the main one leading), then both previous ones, still published
    const kids = await jwksKids(jwksUri);
    assert.deepEqual(kids.slice(0, 2), [newKid, rs[2]]);
    assert.deepEqual(kids.slice(2).sort(), [oldKid, rs[1]!].sort());
    const second = await client.clientCredentialsGrant(config, {});
    const v2 = await verifyAccessToken(second.access_token, issuer, jwksUri);
    assert.equal(v2.protectedHeader.kid, newKid);
    assertAccessTokenClaims(v2.payload, issuer, 'svc-jwt', 'orders:read');
    const v1 = await verifyAccessToken(first.access_token, issuer, jwksUri);
    assert.equal(v1.protectedHeader.kid, oldKid);
    assert.equal((await client.tokenIntrospection(config, first.access_token)).active, true);
  });
});
