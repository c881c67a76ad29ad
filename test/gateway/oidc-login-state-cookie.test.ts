// Regression (cookie tossing, RFC 9700 §4.7): on https the login-state cookie was
// `drawbridge_login_<state prefix>` with Path=/_drawbridge/callback and no `__Host-` prefix,
// so a sibling subdomain could plant one for a state of its own making (a login CSRF), though
// the session cookie itself is `__Host-`. Now, on https, it is
// `__Host-drawbridge_login_<prefix>` (Secure, Path=/), only that name is accepted at the
// callback, and, being sent on every path, it is stripped from requests proxied upstream.
// http keeps the old cookie. The gateway sees https through a trusted proxy's
// X-Forwarded-Proto, as behind a TLS-terminating load balancer; our own auth server signs in.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Browser } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { send, type Reply } from './authn-support.js';
import { CLIENT_SECRET, PASSWORD, signInAtDrawbridge } from './oidc-support.js';

const HTTPS = { 'x-forwarded-proto': 'https' };
const NAVIGATE = { accept: 'text/html' };

function setCookies(reply: Reply): string[] {
  const value = reply.headers['set-cookie'];
  return value === undefined ? [] : value;
}

/** name=value of a Set-Cookie line. */
function pair(line: string): string {
  return line.split(';', 1)[0]!;
}

describe('oidc-login: the login-state cookie on https is __Host-', () => {
  let stack: Stack;
  let upstream: Upstream;
  let gwPort: number;
  let issuer: string;

  before(async () => {
    upstream = await startUpstream();
    const authPort = await freePort();
    gwPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    stack = await startStack({
      top: { issuer },
      auth: {
        listen: `127.0.0.1:${authPort}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD }],
        clients: [
          {
            client_id: 'gateway',
            client_secret: CLIENT_SECRET,
            redirect_uris: [`https://127.0.0.1:${gwPort}/_drawbridge/callback`, `http://127.0.0.1:${gwPort}/_drawbridge/callback`],
            grant_types: ['authorization_code', 'refresh_token'],
            scopes: ['openid'],
            consent: 'skip',
          },
        ],
      },
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        trusted_proxies: ['127.0.0.1/32'],
        sessions: { store: 'sql' },
        consumers: [{ username: 'partner', credentials: { 'key-auth': [{ key: 'partner-key-0123456789' }] } }],
        services: [
          {
            name: 'app',
            url: upstream.url,
            routes: [{ paths: ['/app'] }],
            plugins: [{ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes: ['openid'] } }],
          },
          // key-auth decides first: the session plugin only hides what it would have read
          { name: 'mixed', url: upstream.url, routes: [{ paths: ['/mixed'] }], plugins: [{ name: 'key-auth' }, { name: 'session' }] },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  const gw = () => `http://127.0.0.1:${gwPort}`;

  /** Starts a login on `/app/page` (https when `secure`): the login-state Set-Cookie and the authorize URL. */
  async function startLogin(secure: boolean): Promise<{ cookie: string; authorize: string }> {
    const reply = await send(gw(), '/app/page', { headers: { ...NAVIGATE, ...(secure ? HTTPS : {}) } });
    assert.equal(reply.status, 302, reply.text);
    const cookie = setCookies(reply).find((c) => c.includes('drawbridge_login_'));
    assert.ok(cookie, 'a login-state cookie');
    return { cookie, authorize: String(reply.headers.location) };
  }

  it('https: __Host-drawbridge_login_<prefix>, Secure, Path=/, no Domain; http: as before', async () => {
    const secure = await startLogin(true);
    assert.match(secure.cookie, /^__Host-drawbridge_login_[A-Za-z0-9_-]{16}=/);
    assert.match(secure.cookie, /; Path=\/(;|$)/);
    assert.match(secure.cookie, /; Secure/);
    assert.match(secure.cookie, /; HttpOnly/);
    assert.match(secure.cookie, /; SameSite=Lax/);
    assert.doesNotMatch(secure.cookie, /Domain=/i);
    assert.match(new URL(secure.authorize).searchParams.get('redirect_uri')!, /^https:/);

    const plain = await startLogin(false);
    assert.match(plain.cookie, /^drawbridge_login_[A-Za-z0-9_-]{16}=/);
    assert.match(plain.cookie, /; Path=\/_drawbridge\/callback(;|$)/);
    assert.doesNotMatch(plain.cookie, /Secure/);
  });

  it('https: the callback takes only the __Host- cookie (a planted unprefixed one is refused), then clears it', async () => {
    const { cookie, authorize } = await startLogin(true);
    const callback = await signInAtDrawbridge(new Browser(), authorize);
    assert.equal(callback.protocol, 'https:');
    const target = callback.pathname + callback.search;
    // the same sealed value under the name a sibling subdomain can set
    const planted = pair(cookie).replace(/^__Host-/, '');
    const refused = await send(gw(), target, { headers: { ...HTTPS, accept: 'application/json', cookie: planted } });
    assert.equal(refused.status, 400, refused.text);
    assert.match(String(refused.json.error_description), /state mismatch/);

    const done = await send(gw(), target, { headers: { ...HTTPS, cookie: pair(cookie) } });
    assert.equal(done.status, 303, done.text);
    const set = setCookies(done);
    assert.ok(set.some((c) => /^__Host-drawbridge_session=[A-Za-z0-9_-]{43};/.test(c)), `a __Host- session cookie: ${set.join(' | ')}`);
    const cleared = set.find((c) => c.startsWith(`${pair(cookie).split('=')[0]}=;`));
    assert.ok(cleared, 'the login-state cookie is cleared');
    assert.match(cleared, /Max-Age=0/);
    assert.match(cleared, /; Path=\/(;|$)/);
    assert.match(cleared, /; Secure/);
  });

  it('http: the login still completes with the unprefixed cookie', async () => {
    const { cookie, authorize } = await startLogin(false);
    const callback = await signInAtDrawbridge(new Browser(), authorize);
    const done = await send(gw(), callback.pathname + callback.search, { headers: { cookie: pair(cookie) } });
    assert.equal(done.status, 303, done.text);
    assert.ok(setCookies(done).some((c) => /^drawbridge_session=/.test(c)));
  });

  it('https: login-state cookies never reach upstream (a session route, and a route another authenticator decided)', async () => {
    const { cookie, authorize } = await startLogin(true);
    const callback = await signInAtDrawbridge(new Browser(), authorize);
    const done = await send(gw(), callback.pathname + callback.search, { headers: { ...HTTPS, cookie: pair(cookie) } });
    const session = pair(setCookies(done).find((c) => c.startsWith('__Host-drawbridge_session='))!);
    // an abandoned login in another tab keeps its cookie for 10 minutes, on every path
    const other = pair((await startLogin(true)).cookie);
    upstream.reset();
    const page = await send(gw(), '/app/x', { headers: { ...HTTPS, ...NAVIGATE, cookie: `theme=dark; ${other}; ${session}; lang=en` } });
    assert.equal(page.status, 200, page.text);
    assert.equal(upstream.last().headers.cookie, 'theme=dark; lang=en');

    upstream.reset();
    const api = await send(gw(), '/mixed/x', { headers: { ...HTTPS, apikey: 'partner-key-0123456789', cookie: `${other}; theme=dark` } });
    assert.equal(api.status, 200, api.text);
    assert.equal(upstream.last().headers.cookie, 'theme=dark');
    await send(gw(), '/mixed/x', { headers: { ...HTTPS, apikey: 'partner-key-0123456789', cookie: other } });
    assert.equal(upstream.last().headers.cookie, undefined, 'nothing else: no Cookie header at all');
  });
});
