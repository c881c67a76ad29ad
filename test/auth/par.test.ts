// Pushed authorization requests (RFC 9126): openid-client v6 (buildAuthorizationUrlWithPAR)
// and oauth4webapi push the request and the browser goes to the authorization endpoint with
// only client_id and request_uri; the pages carry a request_uri, never the parameters; a bad
// pushed request is refused at the PAR endpoint with the error the authorization endpoint would
// have given; a request_uri of another client, altered, expired or used before is refused
// with an error page; `auth.require_pushed_authorization_requests` (every client) and a
// client's `require_pushed_authorization_requests` refuse plain authorization requests.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { fixedClock } from '../../src/core/clock.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const SECRET = 'par-client-secret-0123456789abcdef0123';
const WEB_CB = 'https://app.example/cb';
const CONF_CB = 'https://conf.example/cb';
const PREFIX = 'urn:ietf:params:oauth:request_uri:';

const CLIENTS = [
  { client_id: 'web', redirect_uris: [WEB_CB], grant_types: ['authorization_code'], scopes: ['openid', 'profile', 'email'], consent: 'skip' },
  {
    client_id: 'conf', client_secret: SECRET, redirect_uris: [CONF_CB], grant_types: ['authorization_code'],
    scopes: ['openid', 'profile', 'email'],
  },
  {
    client_id: 'strict', client_secret: SECRET, redirect_uris: [CONF_CB], grant_types: ['authorization_code'],
    scopes: ['openid'], require_pushed_authorization_requests: true, consent: 'skip',
  },
];

function redirectOf(res: Response, status = 303): URL {
  assert.equal(res.status, status);
  return new URL(res.headers.get('location')!);
}

/** Signs alice in at `url`; allows consent when asked. Every page must carry a request_uri, no parameters. */
async function signIn(url: string): Promise<URL> {
  const browser = new Browser();
  // the PAR endpoint's request_uri is used once: on to a request_uri of the flow's own
  const first = await browser.fetch(url);
  assert.equal(first.status, 302);
  const flow = new URL(first.headers.get('location')!);
  assert.equal(flow.pathname, '/oauth2/authorize');
  assert.ok(flow.searchParams.get('request_uri')!.startsWith(PREFIX));
  assert.notEqual(flow.searchParams.get('request_uri'), new URL(url).searchParams.get('request_uri'));
  const page = await browser.fetch(flow.href);
  assert.equal(page.status, 200);
  const login = parseForm(await page.text());
  assertPushedFields(login.fields);
  const next = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
  if (next.status === 303) return redirectOf(next);
  assert.equal(next.status, 200, 'the consent page');
  const consent = parseForm(await next.text());
  assertPushedFields(consent.fields);
  return redirectOf(await browser.fetch(consent.action, { form: [...consent.fields, ['decision', 'allow']] }));
}

/** A plain authorization request where PAR is required: invalid_request at the redirect URI, with the state. Returns its form. */
async function assertPushRequired(issuer: string, clientId: string, state: string): Promise<Record<string, string>> {
  const form = { response_type: 'code', redirect_uri: CONF_CB, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', state };
  const refused = redirectOf(await fetch(`${issuer}/oauth2/authorize?${new URLSearchParams({ client_id: clientId, ...form })}`, { redirect: 'manual' }), 302);
  assert.equal(refused.searchParams.get('error'), 'invalid_request');
  assert.match(refused.searchParams.get('error_description')!, /pushed authorization request endpoint/);
  assert.equal(refused.searchParams.get('state'), state);
  return form;
}

function assertPushedFields(fields: Array<[string, string]>): void {
  // beside the page's own fields (its step, the CSRF token, the consent page's ticket)
  const names = fields.map(([name]) => name).filter((n) => n !== 'action' && n !== 'csrf_token' && n !== 'consent_ticket');
  assert.deepEqual(names.sort(), ['client_id', 'request_uri'], JSON.stringify(fields));
  assert.ok(fields.find(([n]) => n === 'request_uri')![1].startsWith(PREFIX));
}

describe('pushed authorization requests (RFC 9126)', () => {
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  let server: TestServer;
  let par: string;

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }], clients: CLIENTS }, {}, { clock });
    par = `${server.issuer}/oauth2/par`;
  });

  after(() => server.close());

  it('is advertised in discovery, not required by default', async () => {
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.pushed_authorization_request_endpoint, par);
    assert.equal(meta.require_pushed_authorization_requests, false);
  });

  it('openid-client: a confidential client pushes, the browser carries only client_id and request_uri, the code is redeemed', async () => {
    const config = await client.discovery(new URL(server.issuer), 'conf', { redirect_uris: [CONF_CB] }, client.ClientSecretBasic(SECRET), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: CONF_CB, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
    });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    const back = await signIn(url.href);
    assert.equal(back.origin + back.pathname, CONF_CB);
    assert.equal(back.searchParams.get('state'), state);
    const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.email, 'alice@example.com');
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['email', 'openid']);
  });

  it('oauth4webapi: a public client pushes with PKCE; parameters sent beside the request_uri are ignored', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(server.issuer), await oauth.discoveryRequest(new URL(server.issuer), { [oauth.allowInsecureRequests]: true }));
    const web: oauth.Client = { client_id: 'web' };
    const verifier = oauth.generateRandomCodeVerifier();
    const pushed = await oauth.processPushedAuthorizationResponse(
      as, web,
      await oauth.pushedAuthorizationRequest(as, web, oauth.None(), {
        redirect_uri: WEB_CB, response_type: 'code', scope: 'openid', state: 'pushed-state',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }, { [oauth.allowInsecureRequests]: true }),
    );
    assert.equal(pushed.expires_in, 90);
    assert.ok(pushed.request_uri.startsWith(PREFIX));
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: 'web', request_uri: pushed.request_uri, scope: 'openid profile email', state: 'other-state' }).toString();
    const back = await signIn(url.href);
    assert.equal(back.searchParams.get('state'), 'pushed-state', 'the pushed state, not the one beside the request_uri');
    const params = oauth.validateAuthResponse(as, web, back, 'pushed-state');
    const response = await oauth.authorizationCodeGrantRequest(as, web, oauth.None(), params, WEB_CB, verifier, { [oauth.allowInsecureRequests]: true });
    const result = await oauth.processAuthorizationCodeResponse(as, web, response);
    assert.equal(result.scope, 'openid', 'the pushed scope');
  });

  it('a client with require_pushed_authorization_requests: plain requests get invalid_request at its redirect URI', async () => {
    const form = await assertPushRequired(server.issuer, 'strict', 'plain');
    // the other clients are not affected
    const other = await fetch(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'conf', ...form })}`, { redirect: 'manual' });
    assert.equal(other.status, 200);
    const res = await postForm(par, form, { authorization: basic('strict', SECRET) });
    assert.equal(res.status, 201);
    const { request_uri: uri } = (await res.json()) as { request_uri: string };
    const back = await signIn(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'strict', request_uri: uri })}`);
    assert.ok(back.searchParams.get('code'));
    assert.equal(back.searchParams.get('state'), 'plain');
  });

  it('refuses a bad pushed request with the authorization endpoint’s error, as JSON', async () => {
    const base = { response_type: 'code', redirect_uri: CONF_CB, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' };
    const push = async (form: Record<string, string>, auth: string = basic('conf', SECRET)) => {
      const res = await postForm(par, form, { authorization: auth });
      return { status: res.status, cache: res.headers.get('cache-control'), body: (await res.json()) as { error: string; error_description?: string } };
    };
    const cases: Array<[Record<string, string>, number, string]> = [
      [{ ...base, redirect_uri: 'https://evil.example/cb' }, 400, 'invalid_request'],
      [{ ...base, scope: 'openid admin' }, 400, 'invalid_scope'],
      [{ ...base, response_type: 'token' }, 400, 'unauthorized_client'],
      [{ ...base, code_challenge_method: 'plain' }, 400, 'invalid_request'],
      // an unsigned request object (and this client has no keys): refused, not ignored
      [{ ...base, request: 'eyJhbGciOiJub25lIn0.e30.' }, 400, 'invalid_request_object'],
      [{ ...base, request_uri: `${PREFIX}x` }, 400, 'invalid_request'],
      [{ ...base, client_id: 'web' }, 401, 'invalid_client'],
    ];
    for (const [form, status, error] of cases) {
      const r = await push(form);
      assert.equal(r.status, status, JSON.stringify([form, r.body]));
      assert.equal(r.body.error, error, JSON.stringify([form, r.body]));
      assert.equal(r.cache, 'no-store');
    }
    assert.equal((await push(base, basic('conf', 'wrong-secret-0123456789abcdef'))).status, 401);
    const publicWithoutPkce = await postForm(par, { client_id: 'web', response_type: 'code', redirect_uri: WEB_CB, scope: 'openid' });
    assert.equal(publicWithoutPkce.status, 400);
    assert.equal(((await publicWithoutPkce.json()) as { error: string }).error, 'invalid_request');
    assert.equal((await fetch(par)).status, 405);
    const ok = await push(base);
    assert.equal(ok.status, 201);
  });

  it('refuses a request_uri of another client, an altered one, one used before and an expired one, with an error page', async () => {
    const res = await postForm(par, { response_type: 'code', redirect_uri: CONF_CB, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }, { authorization: basic('conf', SECRET) });
    assert.equal(res.status, 201);
    const { request_uri: uri } = (await res.json()) as { request_uri: string };
    const authorize = (clientId: string, requestUri: string) =>
      fetch(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: clientId, request_uri: requestUri })}`, { redirect: 'manual' });
    for (const [clientId, requestUri, why] of [
      ['web', uri, 'belongs to another client'],
      ['conf', `${uri.slice(0, -6)}AAAAAA`, 'not valid'],
      ['conf', 'urn:ietf:params:oauth:request_uri:', 'not valid'],
    ] as const) {
      const page = await authorize(clientId, requestUri);
      assert.equal(page.status, 400, requestUri);
      assert.equal(page.headers.get('location'), null);
      assert.match(await page.text(), new RegExp(why));
    }
    // used once (none of the refusals above counted): then refused; the flow's own request_uri lives on
    const first = await authorize('conf', uri);
    assert.equal(first.status, 302);
    const next = first.headers.get('location')!;
    const again = await authorize('conf', uri);
    assert.equal(again.status, 400);
    assert.match(await again.text(), /already used/);
    for (let i = 0; i < 2; i++) assert.equal((await fetch(next, { redirect: 'manual' })).status, 200, 'the login page, reloaded');
    const res2 = await postForm(par, { response_type: 'code', redirect_uri: CONF_CB, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }, { authorization: basic('conf', SECRET) });
    const { request_uri: unused } = (await res2.json()) as { request_uri: string };
    clock.advance(91);
    const expired = await authorize('conf', unused);
    assert.equal(expired.status, 400);
    assert.match(await expired.text(), /expired/);
    // a request_uri that is not ours (RFC 9101 by reference) is still request_uri_not_supported at the redirect URI
    const foreign = await fetch(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'conf', request_uri: 'https://rp.example/req.jwt', redirect_uri: CONF_CB })}`, { redirect: 'manual' });
    assert.equal(redirectOf(foreign, 302).searchParams.get('error'), 'request_uri_not_supported');
  });
});

describe('auth.require_pushed_authorization_requests', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({ require_pushed_authorization_requests: true, users: [{ username: 'alice', password: PASSWORD }], clients: CLIENTS });
  });

  after(() => server.close());

  it('refuses plain authorization requests and takes pushed ones', async () => {
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.require_pushed_authorization_requests, true);
    const form = await assertPushRequired(server.issuer, 'conf', 's');
    const res = await postForm(`${server.issuer}/oauth2/par`, form, { authorization: basic('conf', SECRET) });
    assert.equal(res.status, 201);
    const { request_uri: uri } = (await res.json()) as { request_uri: string };
    const back = await signIn(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'conf', request_uri: uri })}`);
    assert.ok(back.searchParams.get('code'));
    assert.equal(back.searchParams.get('state'), 's');
  });
});
