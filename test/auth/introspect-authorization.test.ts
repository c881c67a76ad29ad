// Who may introspect what (RFC 7662 §4: the server SHOULD require that protected resources be
// specifically authorized). A client learns about a token issued to itself or whose `aud`
// names it; any other token only with the `introspect` scope among its allowed scopes.
// Everyone else hears { "active": false } (§2.2), as JSON and as an RFC 9701 JWT.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'introspect-authz-secret-0123456789abc';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_INTROSPECTION = 'application/token-introspection+jwt';

describe('introspection is limited to authorized clients', () => {
  let server: TestServer;
  let own: string; // issued to `owner`, aud the issuer
  let forTarget: string; // issued to `owner`, aud [target]

  before(async () => {
    server = await startAuth({
      clients: [
        { client_id: 'owner', client_secret: SECRET, grant_types: ['client_credentials', TOKEN_EXCHANGE], scopes: ['orders:read'] },
        { client_id: 'target', client_secret: SECRET, scopes: [] },
        { client_id: 'stranger', client_secret: SECRET, scopes: ['orders:read'] },
        { client_id: 'gateway', client_secret: SECRET, scopes: ['introspect'] },
      ],
    });
    const token = async (form: Record<string, string>) => {
      const res = await postForm(`${server.issuer}/oauth2/token`, form, { authorization: basic('owner', SECRET) });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { access_token: string }).access_token;
    };
    own = await token({ grant_type: 'client_credentials' });
    forTarget = await token({ grant_type: TOKEN_EXCHANGE, subject_token: own, subject_token_type: ACCESS_TOKEN, audience: 'target' });
  });
  after(() => server?.close());

  async function introspect(clientId: string, token: string): Promise<Record<string, unknown>> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic(clientId, SECRET) });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  }

  async function introspectJwt(clientId: string, token: string): Promise<unknown> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic(clientId, SECRET), accept: JWT_INTROSPECTION });
    assert.equal(res.headers.get('content-type'), JWT_INTROSPECTION);
    const jwks = jose.createRemoteJWKSet(new URL(`${server.issuer}/.well-known/jwks.json`));
    const { payload } = await jose.jwtVerify(await res.text(), jwks, { issuer: server.issuer, audience: clientId, typ: 'token-introspection+jwt' });
    return payload.token_introspection;
  }

  it('the client the token was issued to sees it active', async () => {
    assert.equal((await introspect('owner', own)).active, true);
    assert.equal((await introspect('owner', forTarget)).active, true);
  });

  it('a client named in the token’s aud sees it active, and no other token', async () => {
    const body = await introspect('target', forTarget);
    assert.equal(body.active, true);
    assert.equal(body.aud, 'target');
    assert.deepEqual(await introspect('target', own), { active: false });
  });

  it('a client with the introspect scope sees any token', async () => {
    assert.equal((await introspect('gateway', own)).active, true);
    assert.equal((await introspect('gateway', forTarget)).active, true);
    assert.equal(((await introspectJwt('gateway', own)) as { active: boolean }).active, true);
  });

  it('any other confidential client hears { active: false }, as JSON and as a JWT', async () => {
    assert.deepEqual(await introspect('stranger', own), { active: false });
    assert.deepEqual(await introspect('stranger', forTarget), { active: false });
    assert.deepEqual(await introspectJwt('stranger', own), { active: false });
    // and it cannot tell an unknown token from one it may not see
    assert.deepEqual(await introspect('stranger', 'no-such-token'), { active: false });
  });
});
