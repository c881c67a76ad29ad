// Token exchange (RFC 8693) over real HTTP: oauth4webapi as the client, jose checking issued
// JWTs against the JWKS, introspection and the audit log looking at what was issued, and one
// run through the gateway (oauth2-introspection → internal JWT with `act`, and the internal
// JWT itself exchanged by the service that received it).
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import { fixedClock } from '../../src/core/clock.js';
import { signJwt } from '../../src/crypto/jwt.js';
import { basic, freePort, issued, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from '../gateway/authn-support.js';
import type { RecordedRequest } from '../helpers/gateway.js';

const SECRET = 'token-exchange-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

type Body = Record<string, unknown>;

/** Clients shared by both suites: `web` gets users' tokens, `orders` and `inventory` are services. */
const CLIENTS = [
  // the user-facing app: gets alice's tokens (password grant keeps the test short) and exchanges them
  { client_id: 'web', client_secret: SECRET, grant_types: ['password', 'refresh_token', GRANT], scopes: ['orders:read', 'orders:write', 'inventory:read'] },
  { client_id: 'web-jwt', client_secret: SECRET, grant_types: ['password', GRANT], scopes: ['orders:read', 'orders:write'], access_token_format: 'jwt' },
  // a service that calls inventory on the user's behalf: may only target inventory
  {
    client_id: 'orders',
    client_secret: SECRET,
    grant_types: ['client_credentials', GRANT],
    scopes: ['orders:read', 'inventory:read'],
    audiences: ['inventory', 'https://inventory.example'],
  },
  { client_id: 'inventory', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['inventory:read', 'orders:read', 'orders:write'] },
  // a batch job that acts for users with its own token as the actor token
  { client_id: 'batch', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['orders:read'] },
  // short-lived user tokens, for the lifetime cap
  { client_id: 'short', client_secret: SECRET, grant_types: ['password', GRANT], scopes: ['orders:read'], access_token_ttl: '30s' },
  { client_id: 'no-exchange', client_secret: SECRET, grant_types: ['password'], scopes: ['orders:read'] },
  { client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['password', GRANT], scopes: ['orders:read'] },
  { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
];

describe('token exchange (RFC 8693)', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let dir: string;
  let auditFile: string;
  let aliceId: string;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-exchange-'));
    auditFile = join(dir, 'audit.jsonl');
    server = await startAuth(
      { clients: CLIENTS, users: [{ username: 'alice', password: PASSWORD, claims: { groups: ['staff'] } }], audit: { file: auditFile } },
      {},
      { clock },
    );
    const issuer = new URL(server.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    aliceId = (await server.running.storage.users.getByUsername('alice'))!.id;
  });

  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A token exchange through oauth4webapi; resolves with the parsed response. */
  async function exchange(clientId: string, params: Record<string, string | string[]>): Promise<oauth.TokenEndpointResponse> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
    const client: oauth.Client = { client_id: clientId };
    const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(SECRET), GRANT, form, insecure);
    return oauth.processGenericTokenEndpointResponse(as, client, res);
  }

  /** The same, expecting an OAuth error: returns { status, error, description }. */
  async function refused(clientId: string, params: Record<string, string | string[]>, secret = SECRET) {
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: GRANT, ...params }, { authorization: basic(clientId, secret) });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const json = (await res.json()) as Body;
    assert.notEqual(res.status, 200, JSON.stringify(json));
    assert.notEqual(res.status, 500, JSON.stringify(json));
    return { status: res.status, error: json.error, description: String(json.error_description ?? ''), www: res.headers.get('www-authenticate') };
  }

  async function userToken(clientId: string, scope = 'orders:read orders:write'): Promise<string> {
    const body = await issued(await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'password', username: 'alice', password: PASSWORD, scope }, { authorization: basic(clientId, SECRET) }));
    return String(body.access_token);
  }

  async function serviceToken(clientId: string, scope?: string): Promise<string> {
    const body = await issued(await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, { authorization: basic(clientId, SECRET) }));
    return String(body.access_token);
  }

  async function introspect(token: string): Promise<Body> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('gateway', SECRET) });
    assert.equal(res.status, 200);
    return (await res.json()) as Body;
  }

  async function verifyJwt(token: string, audience?: string) {
    const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri!));
    return jose.jwtVerify(token, jwks, { issuer: server.issuer, typ: 'at+jwt', currentDate: new Date(clock.now() * 1000), ...(audience ? { audience } : {}) });
  }

  /** A JWT signed with the server's current key, like the gateway's internal token. */
  function internalJwt(claims: Body, typ = 'at+jwt'): string {
    const now = clock.now();
    return signJwt(
      server.running.keyring.current,
      { iss: server.issuer, sub: aliceId, aud: 'orders', iat: now, exp: now + 60, jti: randomUUID(), client_id: 'web', scope: 'orders:read', groups: ['staff'], auth_method: 'oauth2', ...claims },
      typ,
    );
  }

  function auditLines(): Body[] {
    if (!existsSync(auditFile)) return [];
    return readFileSync(auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Body);
  }

  async function auditLine(match: (l: Body) => boolean): Promise<Body> {
    for (let i = 0; i < 100; i++) {
      const found = auditLines().find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('no matching audit line');
  }

  it('is advertised in discovery', () => {
    assert.ok(as.grant_types_supported?.includes(GRANT), String(as.grant_types_supported));
  });

  it('exchanges an opaque access token: same sub, act = the requesting client, narrowed to the client, no refresh token', async () => {
    const subject = await userToken('web');
    const res = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, audience: 'orders' });
    assert.equal(res.issued_token_type, ACCESS);
    assert.equal(res.token_type, 'bearer');
    assert.equal(res.expires_in, 600);
    assert.equal(res.scope, 'orders:read orders:write');
    assert.equal(res.refresh_token, undefined);
    assert.equal(res.access_token.split('.').length, 1, 'the client’s format: opaque');
    assert.notEqual(res.access_token, subject);
    const info = await introspect(res.access_token);
    assert.equal(info.active, true);
    assert.equal(info.sub, aliceId);
    assert.equal(info.client_id, 'web');
    assert.equal(info.aud, 'orders');
    assert.deepEqual(info.act, { sub: 'web' });
    const line = await auditLine((l) => l.event === 'token.exchanged' && l.actor === 'web');
    assert.equal(line.client_id, 'web');
    assert.equal(line.sub, aliceId);
    assert.equal(line.subject_type, 'access_token');
    assert.ok(!JSON.stringify(auditLines()).includes(subject), 'the subject token is never written');
    assert.ok(!JSON.stringify(auditLines()).includes(res.access_token), 'the issued token is never written');
  });

  it('a second exchange nests the prior actor (RFC 8693 §4.1); the service may only pass on its own scopes', async () => {
    const subject = await userToken('web');
    const first = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, audience: 'orders' });
    // orders is in the first token's aud: it may exchange it, for inventory
    const second = await exchange('orders', { subject_token: first.access_token, subject_token_type: ACCESS, audience: 'inventory' });
    assert.equal(second.scope, 'orders:read', 'subject scope ∩ the orders client’s scopes');
    const info = await introspect(second.access_token);
    assert.equal(info.sub, aliceId);
    assert.equal(info.client_id, 'orders');
    assert.equal(info.aud, 'inventory');
    assert.deepEqual(info.act, { sub: 'orders', act: { sub: 'web' } });
    // and once more, as a JWT: the whole chain is in the signed token
    const third = await exchange('inventory', { subject_token: second.access_token, subject_token_type: ACCESS, requested_token_type: JWT });
    assert.equal(third.issued_token_type, JWT);
    const { payload } = await verifyJwt(third.access_token);
    assert.deepEqual(payload.act, { sub: 'inventory', act: { sub: 'orders', act: { sub: 'web' } } });
  });

  it('with an actor token, act names the actor’s subject', async () => {
    const subject = await userToken('web');
    const actor = await serviceToken('batch');
    const res = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, actor_token: actor, actor_token_type: ACCESS });
    assert.deepEqual((await introspect(res.access_token)).act, { sub: 'batch' });
    await auditLine((l) => l.event === 'token.exchanged' && l.actor === 'batch' && l.sub === aliceId && l.client_id === 'web');
    // an actor token does not have to be meant for the client, but it must be valid
    const bad = await refused('web', { subject_token: subject, subject_token_type: ACCESS, actor_token: 'not-a-token', actor_token_type: ACCESS });
    assert.equal(bad.error, 'invalid_request');
    assert.match(bad.description, /actor_token/);
  });

  it('exchanges a JWT access token (subject type jwt) and issues a JWT on request that jose verifies with the JWKS', async () => {
    const subject = await userToken('web-jwt', 'orders:read');
    assert.equal(subject.split('.').length, 3);
    const res = await exchange('web-jwt', { subject_token: subject, subject_token_type: JWT, audience: 'orders', requested_token_type: JWT });
    assert.equal(res.issued_token_type, JWT);
    const { payload, protectedHeader } = await verifyJwt(res.access_token, 'orders');
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, aliceId);
    assert.equal(payload.client_id, 'web-jwt');
    assert.equal(payload.scope, 'orders:read');
    assert.deepEqual(payload.act, { sub: 'web-jwt' });
    // the same token as type access_token is accepted too (it is one of our access tokens)
    const again = await exchange('web-jwt', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal(again.access_token.split('.').length, 3, 'the client’s format: jwt');
  });

  it('an opaque client gets a JWT when it asks for requested_token_type jwt; its act and scope survive introspection', async () => {
    const subject = await userToken('web', 'orders:read');
    const res = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, requested_token_type: JWT });
    const { payload } = await verifyJwt(res.access_token);
    assert.deepEqual(payload.act, { sub: 'web' });
    const info = await introspect(res.access_token);
    assert.equal(info.active, true);
    assert.deepEqual(info.act, { sub: 'web' });
  });

  it('exchanges the gateway’s internal JWT (aud = the service); its act nests; groups carry over', async () => {
    const internal = internalJwt({ act: { sub: 'edge' } });
    const res = await exchange('orders', { subject_token: internal, subject_token_type: JWT, audience: 'inventory' });
    const info = await introspect(res.access_token);
    assert.equal(info.sub, aliceId);
    assert.equal(info.scope, 'orders:read');
    assert.deepEqual(info.groups, ['staff']);
    assert.deepEqual(info.act, { sub: 'orders', act: { sub: 'edge' } });
  });

  it('refuses JWTs that are not our access tokens: wrong typ, foreign issuer, other keys, alg none, expired', async () => {
    const tries: Array<[string, string]> = [
      ['an ID token (typ JWT)', internalJwt({}, 'JWT')],
      ['a logout token', internalJwt({}, 'logout+jwt')],
      ['another issuer', internalJwt({ iss: 'https://evil.example' })],
      ['expired', internalJwt({ exp: clock.now() - 1 })],
      ['issued in the future', internalJwt({ iat: clock.now() + 3600 })],
    ];
    const { privateKey } = await jose.generateKeyPair('ES256');
    const kid = server.running.keyring.current.kid;
    tries.push([
      'signed by a key not ours (same kid)',
      await new jose.SignJWT({ sub: aliceId, aud: 'orders', client_id: 'web', scope: 'orders:read' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .setIssuer(server.issuer)
        .setIssuedAt(clock.now())
        .setExpirationTime(clock.now() + 60)
        .sign(privateKey),
    ]);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ iss: server.issuer, sub: aliceId, aud: 'orders', exp: clock.now() + 60 })).toString('base64url');
    tries.push(['alg none', `${header}.${claims}.`]);
    for (const [what, token] of tries) {
      const bad = await refused('orders', { subject_token: token, subject_token_type: JWT });
      assert.equal(bad.status, 400, what);
      assert.equal(bad.error, 'invalid_request', what);
      assert.match(bad.description, /subject_token/, what);
    }
    // an opaque token declared as a JWT
    const opaque = await userToken('web');
    assert.match((await refused('web', { subject_token: opaque, subject_token_type: JWT })).description, /not a JWT/);
  });

  it('the subject token must be meant for the requesting client (aud or client_id)', async () => {
    const subject = await userToken('web');
    const bad = await refused('orders', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal(bad.error, 'invalid_request');
    assert.equal(bad.description, 'subject token was not issued to this client');
    // the internal JWT for orders is not inventory's to exchange
    const internal = internalJwt({});
    assert.equal((await refused('inventory', { subject_token: internal, subject_token_type: JWT })).description, 'subject token was not issued to this client');
    // the audience rule does not apply to the actor token
    const actor = await serviceToken('batch');
    await exchange('orders', { subject_token: internal, subject_token_type: JWT, actor_token: actor, actor_token_type: ACCESS, audience: 'inventory' });
  });

  it('refuses revoked and expired subject tokens, and refresh tokens', async () => {
    const subject = await userToken('web');
    const revoke = await postForm(`${server.issuer}/oauth2/revoke`, { token: subject }, { authorization: basic('web', SECRET) });
    assert.equal(revoke.status, 200);
    const revoked = await refused('web', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal(revoked.error, 'invalid_request');
    assert.match(revoked.description, /invalid, expired or revoked/);

    const jwtSubject = await userToken('web-jwt', 'orders:read');
    await postForm(`${server.issuer}/oauth2/revoke`, { token: jwtSubject }, { authorization: basic('web-jwt', SECRET) });
    assert.match((await refused('web-jwt', { subject_token: jwtSubject, subject_token_type: JWT })).description, /revoked/);

    const short = await userToken('short', 'orders:read');
    clock.advance(31);
    assert.match((await refused('short', { subject_token: short, subject_token_type: ACCESS })).description, /expired/);

    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic('web', SECRET) });
    const refreshToken = String(((await res.json()) as Body).refresh_token);
    assert.equal((await refused('web', { subject_token: refreshToken, subject_token_type: ACCESS })).error, 'invalid_request');
    assert.equal((await refused('web', { subject_token: 'garbage', subject_token_type: ACCESS })).error, 'invalid_request');
  });

  it('the new token never outlives the subject token', async () => {
    const subject = await userToken('short', 'orders:read');
    const before = await introspect(subject);
    clock.advance(10);
    const res = await exchange('short', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal(res.expires_in, 20);
    assert.equal((await introspect(res.access_token)).exp, before.exp);
    // the internal JWT's exp caps it too (web's own lifetime is 600 s)
    const internal = internalJwt({ aud: 'web', exp: clock.now() + 45 });
    const capped = await exchange('web', { subject_token: internal, subject_token_type: JWT, requested_token_type: JWT });
    assert.equal(capped.expires_in, 45);
    assert.equal((await verifyJwt(capped.access_token)).payload.exp, clock.now() + 45);
  });

  it('exchanged tokens belong to the subject token’s grant: revoking the refresh token (the family) revokes them', async () => {
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic('web', SECRET) });
    const pair = (await res.json()) as Body;
    const first = await exchange('web', { subject_token: String(pair.access_token), subject_token_type: ACCESS, audience: 'orders' });
    const second = await exchange('orders', { subject_token: first.access_token, subject_token_type: ACCESS, requested_token_type: JWT });
    assert.equal((await introspect(second.access_token)).active, true);
    const revoke = await postForm(`${server.issuer}/oauth2/revoke`, { token: String(pair.refresh_token) }, { authorization: basic('web', SECRET) });
    assert.equal(revoke.status, 200);
    assert.equal((await introspect(first.access_token)).active, false);
    assert.equal((await introspect(second.access_token)).active, false);
  });

  it('scope: a subset of the subject token’s and the client’s; more is invalid_scope', async () => {
    const subject = await userToken('web', 'orders:read orders:write');
    const narrowed = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, scope: 'orders:read' });
    assert.equal(narrowed.scope, 'orders:read');
    assert.equal((await introspect(narrowed.access_token)).scope, 'orders:read');
    const wider = await refused('web', { subject_token: subject, subject_token_type: ACCESS, scope: 'orders:read inventory:read' });
    assert.equal(wider.error, 'invalid_scope');
    assert.match(wider.description, /inventory:read/);
    // orders may not pass on orders:write although the subject token has it
    const first = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, audience: 'orders' });
    assert.equal((await refused('orders', { subject_token: first.access_token, subject_token_type: ACCESS, scope: 'orders:write' })).error, 'invalid_scope');
  });

  it('audience and resource: only the client’s targets (invalid_target otherwise)', async () => {
    const subject = await userToken('web');
    const first = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, audience: 'orders' });
    const both = await exchange('orders', {
      subject_token: first.access_token,
      subject_token_type: ACCESS,
      audience: 'inventory',
      resource: 'https://inventory.example',
    });
    assert.deepEqual((await introspect(both.access_token)).aud, ['inventory', 'https://inventory.example']);
    const targets: Array<Record<string, string>> = [{ audience: 'billing' }, { resource: 'https://billing.example' }, { resource: 'not a uri' }];
    for (const target of targets) {
      const bad = await refused('orders', { subject_token: first.access_token, subject_token_type: ACCESS, ...target });
      assert.equal(bad.error, 'invalid_target', JSON.stringify(target));
    }
    assert.equal((await refused('orders', { subject_token: first.access_token, subject_token_type: ACCESS, audience: ['inventory', 'inventory'] })).error, 'invalid_request');
  });

  it('no audience or resource: a client limited to audiences gets those as aud, not the issuer (valid everywhere)', async () => {
    const subject = await userToken('web');
    const first = await exchange('web', { subject_token: subject, subject_token_type: ACCESS, audience: 'orders' });
    const unnamed = await exchange('orders', { subject_token: first.access_token, subject_token_type: ACCESS });
    assert.deepEqual((await introspect(unnamed.access_token)).aud, ['inventory', 'https://inventory.example']);
    // a client without audiences: the issuer, as before
    const open = await exchange('web', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal((await introspect(open.access_token)).aud, server.issuer);
  });

  it('parameters: required ones, supported token types only, actor token and type together', async () => {
    const subject = await userToken('web');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ subject_token_type: ACCESS }, /subject_token/],
      [{ subject_token: subject }, /subject_token_type/],
      [{ subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, /subject_token_type .*not supported/],
      [{ subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, /not supported/],
      [{ subject_token: subject, subject_token_type: ACCESS, requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, /requested_token_type/],
      [{ subject_token: subject, subject_token_type: ACCESS, actor_token: subject }, /actor_token_type/],
      [{ subject_token: subject, subject_token_type: ACCESS, actor_token_type: ACCESS }, /actor_token_type given without actor_token/],
      [{ subject_token: subject, subject_token_type: ACCESS, actor_token: subject, actor_token_type: 'urn:x:unknown' }, /actor_token_type/],
    ];
    for (const [params, description] of cases) {
      const bad = await refused('web', params);
      assert.equal(bad.status, 400, JSON.stringify(params));
      assert.equal(bad.error, 'invalid_request', JSON.stringify(params));
      assert.match(bad.description, description);
    }
  });

  it('clients: only confidential ones that list the grant; bad authentication is invalid_client', async () => {
    const subject = await userToken('web');
    const notListed = await refused('no-exchange', { subject_token: subject, subject_token_type: ACCESS });
    assert.equal(notListed.error, 'unauthorized_client');
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: GRANT, client_id: 'spa', subject_token: subject, subject_token_type: ACCESS });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Body).error, 'unauthorized_client');
    const wrongSecret = await refused('web', { subject_token: subject, subject_token_type: ACCESS }, 'wrong-secret');
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.error, 'invalid_client');
    assert.match(String(wrongSecret.www), /^Basic/);
  });

  it('oauth4webapi surfaces our errors as ResponseBodyError', async () => {
    await assert.rejects(exchange('web', { subject_token: 'nope', subject_token_type: ACCESS }), (err: unknown) => {
      assert.ok(err instanceof oauth.ResponseBodyError);
      assert.equal(err.error, 'invalid_request');
      return true;
    });
  });

  it('a delegation chain is bounded (8 actors)', async () => {
    let act: Body = { sub: 'a0' };
    for (let i = 1; i < 8; i++) act = { sub: `a${i}`, act };
    const bad = await refused('orders', { subject_token: internalJwt({ act }), subject_token_type: JWT });
    assert.equal(bad.error, 'invalid_request');
    assert.match(bad.description, /delegation chain/);
    // one actor fewer still goes through
    await exchange('orders', { subject_token: internalJwt({ act: act.act as Body }), subject_token_type: JWT });
  });

  describe('may_act in the subject token (RFC 8693 §4.4)', () => {
    // internalJwt's tokens are meant for `orders` (aud), so `orders` is the requesting client

    it('without an actor token, the requesting client must be the party may_act names', async () => {
      const ok = await exchange('orders', { subject_token: internalJwt({ may_act: { sub: 'orders' } }), subject_token_type: JWT, audience: 'inventory' });
      const info = await introspect(ok.access_token);
      assert.deepEqual(info.act, { sub: 'orders' });
      assert.equal(info.may_act, undefined, 'may_act is not carried into the new token');
      const bad = await refused('orders', { subject_token: internalJwt({ may_act: { sub: 'inventory' } }), subject_token_type: JWT });
      assert.equal(bad.status, 400);
      assert.equal(bad.error, 'invalid_request');
      assert.match(bad.description, /requesting client is not the party the subject token's may_act allows/);
      // client_id names the requesting client as well
      await exchange('orders', { subject_token: internalJwt({ may_act: { client_id: 'orders' } }), subject_token_type: JWT });
      assert.equal((await refused('orders', { subject_token: internalJwt({ may_act: { client_id: 'web' } }), subject_token_type: JWT })).error, 'invalid_request');
    });

    it('with an actor token, its subject must be the party may_act names (the client is not enough)', async () => {
      const actor = await serviceToken('batch');
      const subject = internalJwt({ may_act: { sub: 'batch' } });
      const ok = await exchange('orders', { subject_token: subject, subject_token_type: JWT, actor_token: actor, actor_token_type: ACCESS });
      assert.deepEqual((await introspect(ok.access_token)).act, { sub: 'batch' });
      // may_act names the client, but another party (batch) would act: refused
      const bad = await refused('orders', { subject_token: internalJwt({ may_act: { sub: 'orders' } }), subject_token_type: JWT, actor_token: actor, actor_token_type: ACCESS });
      assert.equal(bad.error, 'invalid_request');
      assert.match(bad.description, /actor token is not the party .* \(sub differs\)/);
      // and may_act naming batch without batch's token: the client would act, refused
      assert.equal((await refused('orders', { subject_token: subject, subject_token_type: JWT })).error, 'invalid_request');
    });

    it('iss, when may_act names it, must be this issuer (both kinds of acting party are ours)', async () => {
      await exchange('orders', { subject_token: internalJwt({ may_act: { sub: 'orders', iss: server.issuer } }), subject_token_type: JWT });
      const bad = await refused('orders', { subject_token: internalJwt({ may_act: { sub: 'orders', iss: 'https://other.example' } }), subject_token_type: JWT });
      assert.equal(bad.error, 'invalid_request');
      assert.match(bad.description, /iss differs/);
    });

    it('a may_act we cannot judge refuses the exchange: not an object, naming no one, unknown members, non-string values', async () => {
      const tries: Array<[string, unknown, RegExp]> = [
        ['a string', 'orders', /not an object/],
        ['null', null, /not an object/],
        ['a list', [{ sub: 'orders' }], /not an object/],
        ['empty', {}, /names no sub or client_id/],
        ['only iss', { iss: 'x' }, /names no sub or client_id/],
        ['an unknown member', { sub: 'orders', aud: 'inventory' }, /cannot check: aud$/],
        ['a number', { sub: 42 }, /sub differs/],
      ];
      for (const [why, mayAct, description] of tries) {
        const bad = await refused('orders', { subject_token: internalJwt({ may_act: mayAct }), subject_token_type: JWT });
        assert.equal(bad.error, 'invalid_request', why);
        assert.match(bad.description, description, why);
      }
    });
  });
});

describe('token exchange through the gateway', () => {
  let upstream: Upstream;
  let stack: Stack;
  let issuer: string;

  before(async () => {
    upstream = await startUpstream();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const introspection = { name: 'oauth2-introspection', config: { issuer, client_id: 'gateway', client_secret: SECRET } };
    stack = await startStack({
      top: { issuer },
      auth: { listen: `127.0.0.1:${port}`, clients: CLIENTS, users: [{ username: 'alice', password: PASSWORD }] },
      gateway: {
        services: [
          { name: 'orders', url: upstream.url, routes: [{ paths: ['/orders'] }], plugins: [introspection] },
          { name: 'inventory', url: upstream.url, routes: [{ paths: ['/inventory'] }], plugins: [introspection] },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  /** The internal JWT upstream received, verified by jose with the issuer's JWKS. */
  async function internalClaims(rec: RecordedRequest, audience: string): Promise<jose.JWTPayload> {
    const header = String(rec.headers.authorization);
    assert.ok(header.startsWith('Bearer '), header);
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const { payload } = await jose.jwtVerify(header.slice(7), jwks, { issuer, audience, typ: 'at+jwt' });
    return payload;
  }

  async function token(form: Record<string, string>, clientId: string): Promise<Body> {
    return issued(await postForm(`${issuer}/oauth2/token`, form, { authorization: basic(clientId, SECRET) }));
  }

  it('an exchanged opaque token on an oauth2-introspection route: the internal JWT carries act', async () => {
    const user = await token({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'orders:read' }, 'web');
    const exchanged = await token({ grant_type: GRANT, subject_token: String(user.access_token), subject_token_type: ACCESS, audience: 'orders' }, 'web');
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/orders/1', { headers: { authorization: `Bearer ${String(exchanged.access_token)}` } });
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(upstream.last(), 'orders');
    assert.equal(claims.auth_method, 'oauth2');
    assert.equal(claims.client_id, 'web');
    assert.deepEqual(claims.act, { sub: 'web' });
    // a token that is not delegated carries no act
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/orders/1', { headers: { authorization: `Bearer ${String(user.access_token)}` } })).status, 200);
    assert.equal((await internalClaims(upstream.last(), 'orders')).act, undefined);
  });

  it('the service exchanges the internal JWT it received to call the next service on the user’s behalf', async () => {
    const user = await token({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'orders:read' }, 'web');
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/orders/1', { headers: { authorization: `Bearer ${String(user.access_token)}` } })).status, 200);
    const internal = String(upstream.last().headers.authorization).slice('Bearer '.length);
    const userClaims = await internalClaims(upstream.last(), 'orders');
    // orders (aud of the internal JWT) trades it for a token for inventory
    const exchanged = await token({ grant_type: GRANT, subject_token: internal, subject_token_type: JWT, audience: 'inventory' }, 'orders');
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/inventory/1', { headers: { authorization: `Bearer ${String(exchanged.access_token)}` } });
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(upstream.last(), 'inventory');
    assert.equal(claims.sub, userClaims.sub);
    assert.equal(claims.client_id, 'orders');
    assert.equal(claims.scope, 'orders:read');
    assert.deepEqual(claims.act, { sub: 'orders' });
  });
});
