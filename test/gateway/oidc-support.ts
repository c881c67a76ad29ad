// Shared pieces of the oidc-login / session tests: the plugin table with a session store
// injected (so each suite uses its own store: Redis with a private prefix, or SQL), the
// login driver for our own auth server's pages, and URL helpers.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { sealTokens, sessionTokensKey } from '../../src/sessions/tokens.js';
import type { GatewayDeps, PluginFactory } from '../../src/gateway/types.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { freePort, TEST_SECRET } from '../helpers/gateway.js';

export const PASSWORD = 'correct horse battery staple 42';
export const CLIENT_SECRET = 'gateway-client-secret-0123456789abcdef';

/** PLUGINS with `session` and `oidc-login` seeing `store` (built lazily from the deps) as GatewayDeps.sessions. */
export function pluginsWithStore(makeStore: (deps: GatewayDeps) => SessionStore): ReadonlyMap<string, PluginFactory> {
  let store: SessionStore | undefined;
  const wrapped = new Map(PLUGINS);
  for (const name of ['session', 'oidc-login']) {
    const factory = PLUGINS.get(name)!;
    wrapped.set(name, {
      name,
      create: (config, deps, path) => {
        store ??= makeStore(deps);
        return factory.create(config, { ...deps, sessions: store } as GatewayDeps, path);
      },
    });
  }
  return wrapped;
}

export function locationOf(res: Response, status: number): URL {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}`);
  const location = res.headers.get('location');
  assert.ok(location, 'a Location header');
  return new URL(location, res.url);
}

/** On our auth server: the authorize URL → login page → credentials → the redirect to the gateway's callback. */
export async function signInAtDrawbridge(browser: Browser, authorizeUrl: string, username = 'alice'): Promise<URL> {
  const page = await browser.fetch(authorizeUrl);
  assert.equal(page.status, 200, 'login page');
  const form = parseForm(await page.text());
  const after = await browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
  return locationOf(after, 303);
}

export const HTML = { accept: 'text/html,application/xhtml+xml' };

/**
 * The gateway services of a browser-session test: `app` (/app) signs browsers in at `issuer`
 * through oidc-login (client `gateway`, CLIENT_SECRET), `api` (/api) takes the session cookie.
 */
export function appAndApiServices(upstreamUrl: string, issuer: string, scopes = ['openid', 'email']): Array<Record<string, unknown>> {
  return [
    {
      name: 'app',
      url: upstreamUrl,
      routes: [{ paths: ['/app'] }],
      plugins: [{ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes } }],
    },
    { name: 'api', url: upstreamUrl, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }] },
  ];
}

/** Where a stack will listen: the auth server (its issuer URL) and the gateway, on free ports. */
export async function stackAddresses(): Promise<{ authPort: number; gwPort: number; issuer: string; gw: string }> {
  const authPort = await freePort();
  const gwPort = await freePort();
  return { authPort, gwPort, issuer: `http://127.0.0.1:${authPort}`, gw: `http://127.0.0.1:${gwPort}` };
}

/** The auth server's client `gateway` that oidc-login signs in with at the gateway `gw`; `more` is merged in. */
export function gatewayClient(gw: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: 'gateway',
    client_secret: CLIENT_SECRET,
    redirect_uris: [`${gw}/_drawbridge/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email'],
    consent: 'skip',
    ...more,
  };
}

/** Signs `username` in at the gateway `gw` through oidc-login (appAndApiServices); the browser then holds a gateway session. */
export async function gatewaySession(gw: string, username: string): Promise<Browser> {
  const browser = new Browser();
  const authorize = locationOf(await browser.fetch(`${gw}/app/x`, { headers: HTML }), 302);
  const callback = await signInAtDrawbridge(browser, authorize.href, username);
  assert.equal(locationOf(await browser.fetch(callback.href), 303).pathname, '/app/x');
  assert.equal((await browser.fetch(`${gw}/api/me`)).status, 200);
  return browser;
}

/** A live gateway session of user u1 put straight into `store` (an hour left, tokens sealed with TEST_SECRET); returns its cookie value. */
export async function insertLiveSession(store: SessionStore, now: number): Promise<string> {
  const value = randomBytes(32).toString('base64url');
  const id = sessionIdOf(value);
  const far = now + 3600;
  await store.insert({
    id, sub: 'u1', issuer: 'https://idp.example', client_id: 'gateway', idp_sid: null, claims: {}, scope: ['openid'],
    tokens: sealTokens(sessionTokensKey(TEST_SECRET), id, { access_token: 'at', expires_at: far }),
    access_expires_at: far, created_at: now, last_seen_at: now, expires_at: far,
  });
  return value;
}
