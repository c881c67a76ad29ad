// The gateway's oidc-login (relying party) with a provider that signs its ID tokens and
// back-channel logout tokens with RS256: our own auth server on the default
// keys.id_token_algorithms (ES256 main key + RS256), the gateway client registered with
// id_token_signed_response_alg RS256. Login works (the ID token verifies via the JWKS, with
// the RS256 at_hash), upstream still gets the internal JWT signed with the main ES256 key,
// and a logout at the auth server ends the gateway session through an RS256 logout token.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { SessionStore } from '../../src/sessions/types.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { CLIENT_SECRET, gatewayClient, HTML, locationOf, PASSWORD, signInAtDrawbridge, stackAddresses } from './oidc-support.js';

describe('oidc-login against a provider signing ID tokens with RS256', () => {
  let stack: Stack;
  let upstream: Upstream;
  let gw: string;
  let issuer: string;
  let store: SessionStore;

  before(async () => {
    upstream = await startUpstream();
    const addresses = await stackAddresses();
    const { authPort, gwPort } = addresses;
    ({ issuer, gw } = addresses);
    stack = await startStack({
      // the real default, not the test helpers' main-alg-only shortcut
      top: { issuer, keys: { id_token_algorithms: ['ES256', 'RS256'] } },
      auth: {
        listen: `127.0.0.1:${authPort}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }],
        clients: [gatewayClient(gw, { backchannel_logout_uri: `${gw}/_drawbridge/backchannel-logout`, id_token_signed_response_alg: 'RS256' })],
      },
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        sessions: { store: 'sql', cookie_name: 'sid_rs' },
        services: [
          {
            name: 'app',
            url: upstream.url,
            routes: [{ paths: ['/app'] }],
            plugins: [{ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes: ['openid', 'email'] } }],
          },
        ],
      },
    });
    store = stack.gateway.deps.sessions!;
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('login with RS256 ID tokens; upstream gets the ES256 internal JWT; an RS256 logout token ends the session', async () => {
    const browser = new Browser();
    const authorize = locationOf(await browser.fetch(`${gw}/app/x`, { headers: HTML }), 302);
    const callback = await signInAtDrawbridge(browser, authorize.href);
    const back = await browser.fetch(callback.href);
    assert.equal(locationOf(back, 303).pathname, '/app/x', 'the ID token was accepted');
    const id = sessionIdOf(browser.cookies.get('sid_rs')!.value);
    assert.equal((await store.get(id))?.claims.email, 'alice@example.com');

    upstream.reset();
    assert.equal((await browser.fetch(`${gw}/app/y`)).status, 200);
    const internal = String(upstream.last().headers.authorization).slice(7);
    const { protectedHeader } = await jwtVerify(internal, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'app' });
    assert.equal(protectedHeader.alg, 'ES256', 'internal tokens keep the main key');

    // sign out at the auth server itself: the logout token (RS256, like the client's ID tokens) reaches the gateway
    const page = await browser.fetch(`${issuer}/oauth2/logout`);
    assert.equal(page.status, 200);
    const form = parseForm(await page.text());
    const done = await browser.fetch(form.action, { form: [...form.fields, ['action', 'logout']] });
    assert.ok(done.status < 400, String(done.status));
    for (let i = 0; i < 60 && (await store.get(id)) !== undefined; i++) await sleep(50);
    assert.equal(await store.get(id), undefined, 'the RS256 logout token ended the gateway session');
  });
});
