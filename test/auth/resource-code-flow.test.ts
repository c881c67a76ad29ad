// RFC 8707 resource indicators in the authorization code flow. At the authorization endpoint
// an invalid or not-allowed `resource` is invalid_target at the redirect URI; the resources
// asked for there are bound to the code and its refresh tokens. At the token endpoint a
// `resource` must be one of them (or, when none was asked for, one the client may target) and
// audience-restricts the token; none asks for all of them. Without any, aud stays the issuer.
// Real flows: the authorization request (through the login form for a fresh browser, so its
// hidden fields carry the repeated `resource`), the code exchanged and the tokens introspected.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, postForm, startAuth, tokenAnswer, type JsonAnswer, type TestServer } from '../helpers/auth-server.js';
import { Browser, signInIfAsked } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const CB = 'https://app.example/cb';
const B = 'https://b.example/';
const C = 'https://c.example/api';
const D = 'https://d.example/';

type Body = Record<string, unknown>;

interface Code {
  code: string;
  verifier: string;
}

describe('resource indicators (RFC 8707) in the authorization code flow', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [
        // public, first-party (no consent page): PKCE, plain OAuth scopes
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['api'], consent: 'skip' },
        { client_id: 'jwt-web', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['api'], consent: 'skip', access_token_format: 'jwt' },
        {
          client_id: 'narrow', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['api'], consent: 'skip',
          audiences: [B, C],
        },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
  });

  after(() => server?.close());

  function authorizeUrl(clientId: string, resources: string[], verifier: string): string {
    const url = new URL(`${server.issuer}/oauth2/authorize`);
    const params: Array<[string, string]> = [
      ['client_id', clientId], ['response_type', 'code'], ['scope', 'api'], ['redirect_uri', CB], ['state', 'st-1'],
      ['code_challenge', createHash('sha256').update(verifier).digest('base64url')], ['code_challenge_method', 'S256'],
      ...resources.map((r): [string, string] => ['resource', r]),
    ];
    url.search = new URLSearchParams(params).toString();
    return url.href;
  }

  /** The redirect back to the client; a fresh browser signs in through the login form on the way. */
  async function authorizeRedirect(browser: Browser, first: Response): Promise<URL> {
    const res = await signInIfAsked(browser, first, 'alice', PASSWORD);
    assert.ok(res.status === 302 || res.status === 303, `a redirect to the client, got ${res.status}`);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.origin + cb.pathname, CB);
    return cb;
  }

  async function authorize(browser: Browser, clientId: string, resources: string[]): Promise<Code> {
    const verifier = randomBytes(32).toString('base64url');
    const cb = await authorizeRedirect(browser, await browser.fetch(authorizeUrl(clientId, resources, verifier)));
    const code = cb.searchParams.get('code');
    assert.ok(code, `a code: ${cb.href}`);
    return { code, verifier };
  }

  function redeem(clientId: string, c: Code, resources: string[] = []): Promise<JsonAnswer> {
    return tokenAnswer(server.issuer, {
      grant_type: 'authorization_code', client_id: clientId, code: c.code, code_verifier: c.verifier, redirect_uri: CB, resource: resources,
    });
  }

  function refresh(clientId: string, token: unknown, resources: string[] = []): Promise<JsonAnswer> {
    return tokenAnswer(server.issuer, { grant_type: 'refresh_token', client_id: clientId, refresh_token: String(token), resource: resources });
  }

  function ok(r: JsonAnswer): Body {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  function invalidTarget(r: JsonAnswer, description?: RegExp): void {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_target');
    if (description) assert.match(String(r.body.error_description), description);
  }

  async function aud(token: unknown): Promise<unknown> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token: String(token) }, { authorization: basic('rs', RS_SECRET) });
    const body = (await res.json()) as Body;
    assert.equal(body.active, true, JSON.stringify(body));
    return body.aud;
  }

  it('no resource anywhere: aud is the issuer, as before', async () => {
    const tokens = ok(await redeem('web', await authorize(new Browser(), 'web', [])));
    assert.equal(await aud(tokens.access_token), server.issuer);
    assert.equal(await aud(ok(await refresh('web', tokens.refresh_token)).access_token), server.issuer);
  });

  it('a resource at authorization: the token (and every refreshed one) is for it; another at refresh → invalid_target', async () => {
    const tokens = ok(await redeem('web', await authorize(new Browser(), 'web', [B])));
    assert.equal(await aud(tokens.access_token), B);
    const refreshed = ok(await refresh('web', tokens.refresh_token));
    assert.equal(await aud(refreshed.access_token), B);
    invalidTarget(await refresh('web', refreshed.refresh_token, [D]), /not requested in the authorization request/);
    // the refusal spent nothing: the same refresh token, for the bound resource
    assert.equal(await aud(ok(await refresh('web', refreshed.refresh_token, [B])).access_token), B);
  });

  it('two resources through the login form: the token endpoint picks one, or gets both by naming none', async () => {
    const browser = new Browser();
    const one = ok(await redeem('web', await authorize(browser, 'web', [B, C]), [C]));
    assert.equal(await aud(one.access_token), C);
    // the refresh token is bound to both: either one, or both again
    assert.equal(await aud(ok(await refresh('web', one.refresh_token, [B])).access_token), B);
    const both = ok(await redeem('web', await authorize(browser, 'web', [B, C])));
    assert.deepEqual(await aud(both.access_token), [B, C]);
  });

  it('a resource at the token endpoint that the authorization request did not name → invalid_target', async () => {
    invalidTarget(await redeem('web', await authorize(new Browser(), 'web', [B]), [D]), /not requested in the authorization request/);
    invalidTarget(await redeem('web', await authorize(new Browser(), 'web', [B]), [B, D]));
  });

  it('none at authorization: a resource at the token endpoint audience-restricts the token, if valid and allowed', async () => {
    const browser = new Browser();
    assert.equal(await aud(ok(await redeem('web', await authorize(browser, 'web', []), [D])).access_token), D);
    for (const bad of ['not a uri', '/relative', 'https://b.example/#frag']) {
      invalidTarget(await redeem('web', await authorize(browser, 'web', []), [bad]));
    }
    // the client's audiences restrict it
    invalidTarget(await redeem('narrow', await authorize(browser, 'narrow', []), [D]), /not allowed for this client/);
    assert.equal(await aud(ok(await redeem('narrow', await authorize(browser, 'narrow', []), [C])).access_token), C);
  });

  it('an invalid or not-allowed resource at authorization → invalid_target at the redirect URI, with state', async () => {
    const browser = new Browser();
    await authorize(browser, 'web', []); // signed in: the errors come back at once
    const tooMany = Array.from({ length: 30 }, (_, i) => `https://b.example/${'x'.repeat(80)}/${i}`); // over 2 KB: they ride in the code
    const cases: Array<[string, string[]]> = [
      ['web', ['not a uri']], ['web', ['/relative']], ['web', ['https://b.example/#frag']], ['narrow', [D]], ['narrow', [B, D]], ['web', tooMany],
    ];
    for (const [clientId, resources] of cases) {
      const res = await browser.fetch(authorizeUrl(clientId, resources, randomBytes(32).toString('base64url')));
      assert.equal(res.status, 302, `${clientId} ${resources.join(' ')}`);
      const cb = new URL(res.headers.get('location')!);
      assert.equal(cb.origin + cb.pathname, CB);
      assert.equal(cb.searchParams.get('error'), 'invalid_target', cb.href);
      assert.equal(cb.searchParams.get('state'), 'st-1');
      assert.equal(cb.searchParams.get('code'), null);
    }
    // also for a browser that is not signed in: refused before the login page
    const fresh = await new Browser().fetch(authorizeUrl('web', ['not a uri'], randomBytes(32).toString('base64url')));
    assert.equal(fresh.status, 302);
    assert.equal(new URL(fresh.headers.get('location')!).searchParams.get('error'), 'invalid_target');
  });

  it('a code whose resources were altered is unknown', async () => {
    const c = await authorize(new Browser(), 'web', [B]);
    const [random] = c.code.split('.');
    const forged = `${random}.${Buffer.from(JSON.stringify([D])).toString('base64url')}`;
    const r = await redeem('web', { ...c, code: forged }, [D]);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
  });

  it('JWT access tokens (RFC 9068) carry the resource as aud', async () => {
    const browser = new Browser();
    const jwt = ok(await redeem('jwt-web', await authorize(browser, 'jwt-web', [B, C]), [B]));
    assert.equal(jose.decodeJwt(String(jwt.access_token)).aud, B);
    const plain = ok(await redeem('jwt-web', await authorize(browser, 'jwt-web', [])));
    assert.equal(jose.decodeJwt(String(plain.access_token)).aud, server.issuer);
  });

  it('a pushed request (RFC 9126) keeps its resources through the login form', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const pushed = await postForm(`${server.issuer}/oauth2/par`, {
      client_id: 'web', response_type: 'code', scope: 'api', redirect_uri: CB, state: 'st-1',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', resource: [B, C],
    });
    assert.equal(pushed.status, 201);
    const { request_uri } = (await pushed.json()) as { request_uri: string };
    const browser = new Browser();
    const first = await browser.fetch(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'web', request_uri })}`);
    assert.equal(first.status, 302);
    const cb = await authorizeRedirect(browser, await browser.fetch(first.headers.get('location')!));
    const tokens = ok(await redeem('web', { code: cb.searchParams.get('code')!, verifier }));
    assert.deepEqual(await aud(tokens.access_token), [B, C]);
    // and a bad one is refused at the PAR endpoint
    const bad = await postForm(`${server.issuer}/oauth2/par`, {
      client_id: 'web', response_type: 'code', scope: 'api', redirect_uri: CB,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', resource: 'not a uri',
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as Body).error, 'invalid_target');
  });
});
