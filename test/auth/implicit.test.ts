// The implicit grant (RFC 6749 §4.2, OIDC Core §3.2), a legacy flow off unless a client lists
// `implicit`: id_token, id_token token and token, in the fragment by default (never the
// query), form_post allowed; nonce required with an ID token; at_hash with an access token;
// never a refresh token. ID tokens are verified with jose against the published JWKS.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://spa.example/cb';
const SECRET = 'implicit-test-introspection-secret-0123';

describe('implicit grant', () => {
  let server: TestServer;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    server = await startAuth({
      users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }],
      clients: [
        { client_id: 'spa', redirect_uris: [CB], grant_types: ['implicit'], scopes: ['openid', 'email', 'orders:read'], consent: 'skip' },
        { client_id: 'code-only', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
        { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    jwks = createRemoteJWKSet(new URL(`${server.issuer}/.well-known/jwks.json`));
  });

  after(() => server.close());

  function authorizeUrl(params: Record<string, string>): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ client_id: 'spa', redirect_uri: CB, scope: 'openid email', state: 'st-1', ...params })) u.searchParams.set(k, v);
    return u.href;
  }

  /** Signs in on the login page and returns the final answer (a redirect or a form_post page). */
  async function signIn(url: string): Promise<Response> {
    const browser = new Browser();
    const first = await browser.fetch(url);
    assert.equal(first.status, 200, 'the login page');
    const form = parseForm(await first.text());
    return browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
  }

  function fragment(res: Response): URLSearchParams {
    assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin + location.pathname, CB);
    assert.equal(location.search, '', 'nothing in the query');
    return new URLSearchParams(location.hash.slice(1));
  }

  async function verifyIdToken(token: string): Promise<Record<string, unknown>> {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: server.issuer, audience: 'spa' });
    assert.equal(protectedHeader.alg, 'ES256');
    return payload as Record<string, unknown>;
  }

  function atHash(token: string): string {
    return createHash('sha256').update(token, 'ascii').digest().subarray(0, 16).toString('base64url');
  }

  it('response_type=id_token: a signed ID token with the nonce in the fragment; no access or refresh token', async () => {
    const p = fragment(await signIn(authorizeUrl({ response_type: 'id_token', nonce: 'n-0S6_WzA2Mj' })));
    assert.equal(p.get('state'), 'st-1');
    assert.equal(p.get('iss'), server.issuer);
    assert.equal(p.get('access_token'), null);
    assert.equal(p.get('refresh_token'), null);
    assert.equal(p.get('code'), null);
    const claims = await verifyIdToken(p.get('id_token')!);
    assert.equal(claims.nonce, 'n-0S6_WzA2Mj');
    assert.equal(claims.at_hash, undefined, 'no at_hash without an access token');
    assert.equal(claims.email, 'alice@example.com', 'scope claims go in the ID token when there is no access token');
    assert.deepEqual(claims.amr, ['pwd']);
  });

  it('response_type="token id_token" (any order): access token + ID token with a matching at_hash; the token works', async () => {
    const p = fragment(await signIn(authorizeUrl({ response_type: 'token id_token', nonce: 'n-2', scope: 'openid orders:read' })));
    const access = p.get('access_token')!;
    assert.ok(access);
    assert.equal(p.get('token_type'), 'Bearer');
    assert.equal(p.get('expires_in'), '600');
    assert.equal(p.get('scope'), 'openid orders:read');
    assert.equal(p.get('refresh_token'), null, 'never a refresh token');
    const claims = await verifyIdToken(p.get('id_token')!);
    assert.equal(claims.nonce, 'n-2');
    assert.equal(claims.at_hash, atHash(access));
    const introspection = await postForm(`${server.issuer}/oauth2/introspect`, { token: access }, { authorization: basic('gateway', SECRET) });
    const info = (await introspection.json()) as Record<string, unknown>;
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'spa');
    assert.equal(info.scope, 'openid orders:read');
  });

  it('response_type=token (OAuth 2.0 implicit): an access token only, no nonce needed', async () => {
    const p = fragment(await signIn(authorizeUrl({ response_type: 'token', scope: 'orders:read' })));
    assert.ok(p.get('access_token'));
    assert.equal(p.get('id_token'), null);
    assert.equal(p.get('scope'), 'orders:read');
  });

  it('response_mode=form_post: the tokens in an auto-submitting form to the redirect URI', async () => {
    const res = await signIn(authorizeUrl({ response_type: 'id_token token', nonce: 'n-3', response_mode: 'form_post' }));
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.ok(html.includes(`action="${CB}"`));
    const idToken = /name="id_token" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(idToken);
    assert.equal((await verifyIdToken(idToken)).nonce, 'n-3');
  });

  it('nonce is required when an ID token is returned; the error goes to the fragment', async () => {
    for (const type of ['id_token', 'id_token token']) {
      const p = fragment(await new Browser().fetch(authorizeUrl({ response_type: type })));
      assert.equal(p.get('error'), 'invalid_request', type);
      assert.match(p.get('error_description')!, /nonce/);
      assert.equal(p.get('state'), 'st-1');
    }
  });

  it('response_mode=query is refused for token responses (the error in the fragment)', async () => {
    const res = await new Browser().fetch(authorizeUrl({ response_type: 'id_token', nonce: 'n', response_mode: 'query' }));
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.search, '');
    const p = new URLSearchParams(location.hash.slice(1));
    assert.equal(p.get('error'), 'invalid_request');
    assert.match(p.get('error_description')!, /query/);
  });

  it('a client without implicit: unauthorized_client at its redirect URI; the code flow is unaffected', async () => {
    for (const type of ['id_token', 'token', 'id_token token']) {
      const res = await new Browser().fetch(authorizeUrl({ client_id: 'code-only', response_type: type, nonce: 'n', scope: 'openid' }));
      assert.equal(res.status, 302, type);
      const p = new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1));
      assert.equal(p.get('error'), 'unauthorized_client', type);
      assert.equal(p.get('access_token'), null);
    }
    // and the implicit-only client may not use the code flow
    const code = await new Browser().fetch(authorizeUrl({ response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    assert.equal(new URL(code.headers.get('location')!).searchParams.get('error'), 'unauthorized_client');
  });

  it('hybrid and unknown response types are unsupported_response_type', async () => {
    for (const type of ['code id_token', 'code token', 'id_token id_token', 'banana']) {
      const res = await new Browser().fetch(authorizeUrl({ response_type: type, nonce: 'n' }));
      assert.equal(res.status, 302, type);
      const location = new URL(res.headers.get('location')!);
      const p = location.hash ? new URLSearchParams(location.hash.slice(1)) : location.searchParams;
      assert.equal(p.get('error'), 'unsupported_response_type', type);
    }
  });

  it('discovery lists exactly the accepted response types and modes', async () => {
    const m = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    assert.deepEqual(m.response_types_supported, ['code', 'id_token', 'id_token token', 'token']);
    assert.deepEqual(m.response_modes_supported, ['query', 'fragment', 'form_post']);
    assert.ok(m.grant_types_supported!.includes('implicit'));
  });
});
