// oidc-login / session configuration is checked at create() with the key path of the
// offending key, and the navigation-vs-API decision that picks redirect or 401.
import * as assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { isNavigation } from '../../src/gateway/authn/oidc-login.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import type { GatewayDeps, GatewayRequest } from '../../src/gateway/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { TEST_SECRET } from '../helpers/auth-server.js';

const PATH = 'gateway.services[0].plugins[0].config';

function deps(withStore = true): GatewayDeps {
  return {
    clock: systemClock,
    logger: silentLogger(),
    secret: TEST_SECRET,
    events: { publish: async () => undefined, subscribe: () => () => undefined },
    storage: { jtis: {} },
    ...(withStore ? { sessions: {} as SessionStore } : {}),
  } as unknown as GatewayDeps;
}

function failsAt(name: string, config: Record<string, unknown>, path: string, withStore = true): void {
  assert.throws(
    () => PLUGINS.get(name)!.create(config, deps(withStore), PATH),
    (err: unknown) => err instanceof ConfigError && err.message.includes(path),
    `${name} ${JSON.stringify(config)} → ${path}`,
  );
}

describe('oidc-login and session configuration', () => {
  const good = { issuer: 'http://127.0.0.1:9', client_id: 'gateway', client_secret: 's3cret' };

  it('names the offending key', () => {
    failsAt('oidc-login', { ...good, issuer: 'not a url' }, `${PATH}.issuer`);
    failsAt('oidc-login', { client_id: 'gateway', client_secret: 's' }, `${PATH}.issuer`);
    failsAt('oidc-login', { ...good, client_id: undefined }, `${PATH}.client_id`);
    failsAt('oidc-login', { ...good, client_secret: undefined }, `${PATH}.client_secret`);
    failsAt('oidc-login', { ...good, scopes: ['profile'] }, `${PATH}.scopes`);
    failsAt('oidc-login', { ...good, redirect_uri: '/relative' }, `${PATH}.redirect_uri`);
    failsAt('oidc-login', { ...good, authorization_params: { prompt: 1 } }, `${PATH}.authorization_params.prompt`);
    failsAt('oidc-login', { ...good, unknown_key: true }, `${PATH}.unknown_key`);
    failsAt('session', { realm: 'a"b' }, `${PATH}.realm`);
  });

  it('refuses to start without a session store', () => {
    failsAt('oidc-login', good, PATH, false);
    failsAt('session', {}, PATH, false);
  });

  it('accepts a good configuration (token_endpoint_auth_method none needs no secret)', () => {
    const made = PLUGINS.get('oidc-login')!.create(good, deps(), PATH);
    assert.equal((made as { stage: string }).stage, 'authenticate');
    PLUGINS.get('oidc-login')!.create({ issuer: good.issuer, client_id: 'public', token_endpoint_auth_method: 'none' }, deps(), PATH);
  });
});

describe('isNavigation', () => {
  function gr(method: string, headers: Record<string, string>): GatewayRequest {
    return { method, req: { headers } as unknown as IncomingMessage } as GatewayRequest;
  }
  it('redirects browser navigations only', () => {
    assert.equal(isNavigation(gr('GET', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' })), true);
    assert.equal(isNavigation(gr('HEAD', { accept: 'text/html' })), true);
    assert.equal(isNavigation(gr('GET', { 'sec-fetch-mode': 'navigate', accept: '*/*' })), true);
    assert.equal(isNavigation(gr('GET', { accept: 'application/json' })), false);
    assert.equal(isNavigation(gr('GET', { accept: '*/*' })), false);
    assert.equal(isNavigation(gr('GET', {})), false);
    assert.equal(isNavigation(gr('GET', { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' })), false);
    assert.equal(isNavigation(gr('POST', { accept: 'text/html' })), false);
    assert.equal(isNavigation(gr('GET', { accept: 'text/htmlx' })), false);
  });
});
