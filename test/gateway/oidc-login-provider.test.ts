// Issue #5: `oidc-login` against an independent OpenID provider — `oidc-provider` from npm,
// with its development login pages — found through discovery: login, callback, the
// internal JWT upstream, RP-initiated logout to its end_session_endpoint, and a logout at
// the provider reaching the gateway as a real back-channel logout token.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwtVerify } from 'jose';
import Provider from 'oidc-provider';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { Browser } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { CLIENT_SECRET, HTML, locationOf, pluginsWithStore } from './oidc-support.js';

const url = await redisUrl();

/** Follows the provider's redirects and submits its development login and consent forms until it sends the browser to `stopAt`. */
async function signInAtOidcProvider(browser: Browser, start: string, stopAt: string, login: string): Promise<URL> {
  let next = start;
  for (let step = 0; step < 12; step++) {
    if (next.startsWith(stopAt)) return new URL(next);
    const res = await browser.fetch(next, { headers: HTML });
    if (res.status >= 300 && res.status < 400) {
      next = new URL(res.headers.get('location')!, next).href;
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, html.slice(0, 400));
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(action && prompt, `a form on ${next}: ${html.slice(0, 300)}`);
    const form: Array<[string, string]> = [['prompt', prompt]];
    if (prompt === 'login') form.push(['login', login], ['password', 'anything']);
    const posted = await browser.fetch(new URL(action, next).href, { form });
    next = locationOf(posted, posted.status).href;
  }
  throw new Error('too many steps at the provider');
}

describe('oidc-login against oidc-provider (npm) as an independent IdP', { skip: url === undefined ? 'Redis not reachable' : undefined }, () => {
  let idp: Server;
  let issuer: string;
  let stack: Stack;
  let upstream: Upstream;
  let store: RedisSessionStore;
  let gw: string;

  before(async () => {
    upstream = await startUpstream({ name: 'app' });
    const gwPort = await freePort();
    gw = `http://127.0.0.1:${gwPort}`;
    idp = createServer();
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'gateway',
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${gw}/_drawbridge/callback`],
          post_logout_redirect_uris: [`${gw}/signed-out`],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          id_token_signed_response_alg: 'ES256',
          backchannel_logout_uri: `${gw}/_drawbridge/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
      jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'idp-es256', alg: 'ES256', use: 'sig' }] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      conformIdTokenClaims: false,
      // the gateway listens on loopback, which oidc-provider's SSRF guard refuses: let the test through
      fetch: (target: string, options: Record<string, unknown>) => globalThis.fetch(target, { ...options, dispatcher: undefined } as RequestInit),
      claims: { openid: ['sub'], email: ['email'], profile: ['name', 'preferred_username'] },
      findAccount: async (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: async () => ({ sub: id, email: `${id}@example.com`, name: `User ${id}`, preferred_username: id }),
      }),
      features: {
        devInteractions: { enabled: true },
        revocation: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: { enabled: true },
      },
    });
    idp.on('request', provider.callback());
    store = new RedisSessionStore({ redis: url!, prefix: `test:gws:${randomBytes(6).toString('hex')}:` });
    assert.ok(await store.ready(2000), 'the Redis session store is connected');
    stack = await startStack({
      auth: false,
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        services: [
          {
            name: 'app',
            url: upstream.url,
            routes: [{ paths: ['/app'] }],
            plugins: [
              {
                name: 'oidc-login',
                config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes: ['openid', 'profile', 'email'], post_logout_redirect_uri: `${gw}/signed-out` },
              },
            ],
          },
        ],
      },
      plugins: pluginsWithStore(() => store),
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await store?.close();
    idp?.closeAllConnections();
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  async function login(browser: Browser, user: string): Promise<Response> {
    const first = await browser.fetch(`${gw}/app/home?tab=2`, { headers: HTML });
    const authorize = locationOf(first, 302);
    assert.equal(authorize.origin, issuer);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    const callback = await signInAtOidcProvider(browser, authorize.href, `${gw}/_drawbridge/callback`, user);
    const back = await browser.fetch(callback.href, { headers: HTML });
    assert.equal(back.status, 303, await back.clone().text());
    assert.equal(back.headers.get('location'), '/app/home?tab=2');
    return browser.fetch(`${gw}/app/home?tab=2`, { headers: HTML });
  }

  it('login, callback and the internal JWT upstream', async () => {
    upstream.reset();
    const browser = new Browser();
    const landed = await login(browser, 'bob');
    assert.equal(landed.status, 200);
    const auth = String(upstream.last().headers.authorization);
    // no auth server in this stack: the internal JWT verifies with the gateway's key
    const key = stack.running.keyring.current;
    const { payload } = await jwtVerify(auth.slice(7), key.publicKey, { issuer: stack.issuer, audience: 'app' });
    assert.equal(payload.auth_method, 'session');
    assert.equal(payload.sub, 'bob');
    assert.equal(payload.email, 'bob@example.com');
    assert.equal(payload.preferred_username, 'bob');
    assert.equal(payload.sid, sessionIdOf(browser.cookies.get('drawbridge_session')!.value));
  });

  it('logout redirects to the end_session_endpoint with id_token_hint and post_logout_redirect_uri', async () => {
    const browser = new Browser();
    assert.equal((await login(browser, 'carol')).status, 200);
    const id = sessionIdOf(browser.cookies.get('drawbridge_session')!.value);
    const res = await browser.fetch(`${gw}/_drawbridge/logout`);
    const end = locationOf(res, 303);
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { end_session_endpoint: string };
    assert.equal(end.origin + end.pathname, meta.end_session_endpoint);
    assert.ok(end.searchParams.get('id_token_hint'), 'id_token_hint');
    assert.equal(end.searchParams.get('post_logout_redirect_uri'), `${gw}/signed-out`);
    assert.ok(end.searchParams.get('state'));
    assert.equal(await store.get(id), undefined);
    assert.equal(browser.cookies.has('drawbridge_session'), false);
  });

  it('a logout at the provider ends the gateway session by back-channel logout', async () => {
    const browser = new Browser();
    assert.equal((await login(browser, 'dave')).status, 200);
    const id = sessionIdOf(browser.cookies.get('drawbridge_session')!.value);
    const session = await store.get(id);
    assert.ok(session?.idp_sid, 'oidc-provider put sid into the ID token');
    // sign out at the provider itself (its own confirm page), not through the gateway
    const page = await browser.fetch(`${issuer}/session/end`, { headers: HTML });
    const html = await page.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(action && xsrf, html.slice(0, 300));
    const done = await browser.fetch(new URL(action, issuer).href, { form: [['xsrf', xsrf], ['logout', 'yes']] });
    assert.ok(done.status === 303 || done.status === 302 || done.status === 200, String(done.status));
    for (let i = 0; i < 50 && (await store.get(id)) !== undefined; i++) await sleep(50);
    assert.equal(await store.get(id), undefined, 'the provider\'s logout token ended the session');
  });
});
