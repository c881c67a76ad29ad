// The gateway's oidc-login with pushed authorization requests (RFC 9126) at our own auth
// server. `auto` pushes when the provider's discovery requires it, `always` whenever the
// provider has the endpoint, `never` not at all; a pushed login sends the browser with only
// client_id and request_uri, and ends in a session as a plain one does. Against a client the
// provider requires PAR of (client metadata, not in discovery), only `always` signs in.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Browser, parseForm } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { CLIENT_SECRET, HTML, locationOf, PASSWORD } from './oidc-support.js';

/** A gateway route → the provider, through the pushed request's redirect when there is one, → signed in, back at the route. */
async function signIn(browser: Browser, gatewayUrl: string, authorize: URL): Promise<Response> {
  let page = await browser.fetch(authorize.href);
  // the PAR endpoint's request_uri is used once: on to the flow's own
  if (page.status === 302) page = await browser.fetch(locationOf(page, 302).href);
  assert.equal(page.status, 200, 'login page');
  const form = parseForm(await page.text());
  const callback = locationOf(await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] }), 303);
  assert.equal(callback.origin, new URL(gatewayUrl).origin);
  return browser.fetch(callback.href);
}

async function startProvider(requireAll: boolean, requireClient: boolean): Promise<{ stack: Stack; upstream: Upstream; gw: string }> {
  const upstream = await startUpstream();
  const authPort = await freePort();
  const gwPort = await freePort();
  const issuer = `http://127.0.0.1:${authPort}`;
  const gw = `http://127.0.0.1:${gwPort}`;
  const oidc = (mode: string) => ({ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes: ['openid', 'email'], pushed_authorization_requests: mode } });
  const stack = await startStack({
    top: { issuer },
    auth: {
      listen: `127.0.0.1:${authPort}`,
      brute_force: { enabled: false },
      require_pushed_authorization_requests: requireAll,
      users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }],
      clients: [
        {
          client_id: 'gateway', client_secret: CLIENT_SECRET, redirect_uris: [`${gw}/_drawbridge/callback`],
          grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'email'], consent: 'skip',
          require_pushed_authorization_requests: requireClient,
        },
      ],
    },
    gateway: {
      listen: `127.0.0.1:${gwPort}`,
      sessions: { store: 'sql' },
      services: [
        { name: 'auto', url: upstream.url, routes: [{ paths: ['/auto'] }], plugins: [oidc('auto')] },
        { name: 'always', url: upstream.url, routes: [{ paths: ['/always'] }], plugins: [oidc('always')] },
        { name: 'never', url: upstream.url, routes: [{ paths: ['/never'] }], plugins: [oidc('never')] },
      ],
    },
  });
  return { stack, upstream, gw };
}

/** A provider for the enclosing describe's tests, started before and closed after them. */
function eachProvider(requireAll: boolean, requireClient: boolean): () => Awaited<ReturnType<typeof startProvider>> {
  let p: Awaited<ReturnType<typeof startProvider>> | undefined;
  before(async () => (p = await startProvider(requireAll, requireClient)));
  after(async () => {
    await p?.stack.close();
    await p?.upstream.close();
  });
  return () => p!;
}

const pushed = (url: URL) => [...url.searchParams.keys()].sort().join(',') === 'client_id,request_uri';

describe('oidc-login: a provider that requires PAR of every client (discovery)', () => {
  const provider = eachProvider(true, false);

  it('auto and always push and sign in; never sends a plain request the provider refuses', async () => {
    const p = provider();
    for (const route of ['/auto', '/always']) {
      const browser = new Browser();
      const authorize = locationOf(await browser.fetch(`${p.gw}${route}/x`, { headers: HTML }), 302);
      assert.ok(pushed(authorize), authorize.href);
      const back = await signIn(browser, p.gw, authorize);
      assert.equal(locationOf(back, 303).pathname, `${route}/x`);
      assert.equal((await browser.fetch(`${p.gw}${route}/y`)).status, 200, 'the session works');
    }
    const browser = new Browser();
    const authorize = locationOf(await browser.fetch(`${p.gw}/never/x`, { headers: HTML }), 302);
    assert.equal(pushed(authorize), false);
    assert.equal(authorize.searchParams.get('scope'), 'openid email');
    const refused = locationOf(await browser.fetch(authorize.href), 302);
    assert.equal(refused.searchParams.get('error'), 'invalid_request');
  });
});

describe('oidc-login: a provider that requires PAR of the gateway client only', () => {
  const provider = eachProvider(false, true);

  it('always pushes and signs in; auto, seeing no requirement in discovery, sends a plain request', async () => {
    const p = provider();
    const browser = new Browser();
    const authorize = locationOf(await browser.fetch(`${p.gw}/always/x`, { headers: HTML }), 302);
    assert.ok(pushed(authorize));
    assert.equal(locationOf(await signIn(browser, p.gw, authorize), 303).pathname, '/always/x');
    const plain = locationOf(await new Browser().fetch(`${p.gw}/auto/x`, { headers: HTML }), 302);
    assert.equal(pushed(plain), false);
    assert.equal(locationOf(await fetch(plain.href, { redirect: 'manual' }), 302).searchParams.get('error'), 'invalid_request');
  });
});
