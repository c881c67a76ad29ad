// Shared pieces of the oidc-login / session tests: the plugin table with a session store
// injected (so each suite uses its own store: Redis with a private prefix, or SQL), the
// login driver for our own auth server's pages, and URL helpers.
import * as assert from 'node:assert/strict';
import { PLUGINS } from '../../src/gateway/plugins.js';
import type { GatewayDeps, PluginFactory } from '../../src/gateway/types.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { Browser, parseForm } from '../helpers/browser.js';

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
