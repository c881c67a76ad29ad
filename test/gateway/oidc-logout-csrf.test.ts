// Regression (logout CSRF): a form on another site POSTing to /_drawbridge/logout arrives
// without the SameSite=Lax session cookie, and was answered 303 with
// `Set-Cookie: drawbridge_session=; Max-Age=0`: the browser lost its cookie while the
// session lived on in the store. Now a POST another site started (Sec-Fetch-Site:
// cross-site, or an Origin that is not the gateway's) gets the "Sign out?" page, as the
// cross-site GET already did, and a logout never clears a cookie the request did not carry.
// Raw HTTP for each header combination, then real Chromium: a page on http://localhost:N
// auto-submits a form to the gateway on http://127.0.0.1:M (another site).
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SessionStore } from '../../src/sessions/types.js';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { insertLiveSession } from './oidc-support.js';
import { send, type Reply } from './authn-support.js';

const available = chromiumAvailable();

describe('/_drawbridge/logout started by another site', () => {
  let upstream: Upstream;
  let stack: Stack;
  let store: SessionStore;
  let gw: string;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      gateway: {
        sessions: { store: 'sql' },
        services: [{ name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }] }],
      },
    });
    store = stack.gateway.deps.sessions!;
    gw = stack.gatewayUrl;
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  /** A live session in the store; returns its cookie value. */
  const newSession = () => insertLiveSession(store, Math.floor(Date.now() / 1000));

  const logout = (headers: Record<string, string>) =>
    send(gw, '/_drawbridge/logout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: '' });

  function assertAsked(reply: Reply, why: string): void {
    assert.equal(reply.status, 200, `${why}: ${reply.status} ${reply.text}`);
    assert.match(reply.text, /<form method="post" action="\/_drawbridge\/logout">/, why);
    assert.equal(reply.headers['set-cookie'], undefined, `${why}: no cookie is touched`);
  }

  it('a cross-site POST (Sec-Fetch-Site, or a foreign or null Origin) only gets the "Sign out?" page', async () => {
    const value = await newSession();
    const cookie = `drawbridge_session=${value}`;
    const cases: Array<[string, Record<string, string>]> = [
      ['Sec-Fetch-Site: cross-site, without the cookie (as a browser sends it)', { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }],
      ['Sec-Fetch-Site: cross-site, with the cookie', { 'sec-fetch-site': 'cross-site', cookie }],
      ['a foreign Origin (no Sec-Fetch-Site)', { origin: 'http://evil.example', cookie }],
      ['a sibling origin (same-site)', { 'sec-fetch-site': 'same-site', origin: 'http://other.127.0.0.1.nip.io', cookie }],
      ['Origin: null', { origin: 'null', cookie }],
      ['another port of this host', { origin: gw.replace(/:\d+$/, ':1'), cookie }],
    ];
    for (const [why, headers] of cases) assertAsked(await logout(headers), why);
    assert.ok((await store.get(sessionIdOf(value))) !== undefined, 'the session lives on');
    assert.equal((await send(gw, '/api/x', { headers: { cookie, accept: 'application/json' } })).status, 200);
  });

  it('a POST from this origin signs out and clears the cookie; without a cookie nothing is cleared', async () => {
    const value = await newSession();
    const signedOut = await logout({ origin: gw, 'sec-fetch-site': 'same-origin', cookie: `drawbridge_session=${value}` });
    assert.equal(signedOut.status, 303);
    assert.deepEqual(signedOut.headers['set-cookie'], ['drawbridge_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);
    assert.equal(await store.get(sessionIdOf(value)), undefined, 'the session ended');
    // no cookie: nothing to end, nothing to clear (curl-style and same-origin alike)
    for (const headers of [{}, { origin: gw }, { 'sec-fetch-site': 'same-origin' }] as Array<Record<string, string>>) {
      const reply = await logout(headers);
      assert.equal(reply.status, 303, JSON.stringify(headers));
      assert.equal(reply.headers['set-cookie'], undefined, JSON.stringify(headers));
    }
    // a browser vouching for same-origin is believed (an Origin we would spell otherwise: a proxy's scheme)
    const other = await newSession();
    const vouched = await logout({ 'sec-fetch-site': 'same-origin', origin: gw.replace('http:', 'https:'), cookie: `drawbridge_session=${other}` });
    assert.equal(vouched.status, 303);
    assert.equal(await store.get(sessionIdOf(other)), undefined);
  });

  it('Chromium: a page on another site that auto-submits a logout form neither signs out nor drops the cookie', { skip: !available }, async () => {
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>win a prize</title><form id="f" method="post" action="${gw}/_drawbridge/logout"></form>` +
          `<script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    let chrome: RunningChromium | undefined;
    try {
      const value = await newSession();
      chrome = await launchChromium();
      const context = await chrome.newContext();
      await context.addCookies([{ name: 'drawbridge_session', value, url: gw, httpOnly: true, sameSite: 'Lax' }]);
      const page = await context.newPage();
      const gatewayHost = new URL(gw).host;
      const landed = page.waitForURL((url) => url.host === gatewayHost, { waitUntil: 'load' });
      await page.goto(`http://localhost:${(attacker.address() as AddressInfo).port}/`);
      await landed;
      const kept = (await context.cookies(gw)).find((c) => c.name === 'drawbridge_session');
      assert.equal(kept?.value, value, 'the browser keeps its session cookie');
      assert.ok((await store.get(sessionIdOf(value))) !== undefined, 'the session lives on');
      assert.equal(new URL(page.url()).pathname, '/_drawbridge/logout');
      assert.equal(await page.textContent('h1', { timeout: 2000 }), 'Sign out?');
      // the user's own choice on the page: a same-origin POST, which signs out
      await Promise.all([page.waitForURL(`${gw}/`), page.click('button[type=submit]')]);
      assert.equal(await store.get(sessionIdOf(value)), undefined, 'signed out');
      assert.equal((await context.cookies(gw)).find((c) => c.name === 'drawbridge_session'), undefined, 'and the cookie is gone');
    } finally {
      await chrome?.close();
      await new Promise<void>((resolve) => attacker.close(() => resolve()));
    }
  });
});
