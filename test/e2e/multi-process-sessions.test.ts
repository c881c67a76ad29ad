// Issue #5 "Done when", browser sessions across real processes: one auth server and two
// gateway processes (A and B, `drawbridge start --only …`) sharing Redis (sessions and
// events) and storage. Chromium signs in through gateway A's `oidc-login` route; the same
// cookie works on gateway B (cookies are per host, not per port: 127.0.0.1:A and
// 127.0.0.1:B share them); ending the user's sessions at the auth server — with
// `drawbridge session revoke --user`, and by RP-initiated logout at the auth server, whose
// back-channel logout reaches gateway A — makes both gateways refuse the cookie within 1 s
// (measured and printed).
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { BrowserContext, Page } from 'playwright-core';
import { submitLogin, watchPages } from '../helpers/browser-flow.js';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { startUpstream, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';
import { get, sleep, startCluster, startIntrospectionRelay, type Cluster, type IntrospectionRelay, type Reply } from './multi-process-support.js';

const PASSWORD = 'correct horse battery staple 42';
const WEB = { id: 'e2e-web', secret: 'e2e-web-secret-0123456789-abcdefghijkl' };
const COOKIE = 'drawbridge_session';
const LIMIT_MS = 1000;
const POLL_MS = 5;

const browser = chromiumAvailable();
const privateRedis = redisServerAvailable();
const sharedRedis = privateRedis ? undefined : await redisUrl();
const skip = !browser || (!privateRedis && sharedRedis === undefined);

describe('multi-process browser sessions: sign in on gateway A, served by gateway B, ended everywhere', { skip }, () => {
  let redis: PrivateRedis | undefined;
  let upstream: Upstream;
  let relay: IntrospectionRelay;
  /** between the auth server and gateway A's back-channel logout endpoint: counts deliveries */
  let backchannel: IntrospectionRelay;
  let cluster: Cluster;
  let chrome: RunningChromium;
  let a: string;
  let b: string;

  before(async () => {
    redis = privateRedis ? await startPrivateRedis() : undefined;
    upstream = await startUpstream();
    relay = await startIntrospectionRelay();
    backchannel = await startIntrospectionRelay();
    cluster = await startCluster({
      redis: redis?.url ?? sharedRedis!,
      upstream: upstream.url,
      relay,
      extend: ({ issuer, gatewayUrls }) => {
        backchannel.target = `${gatewayUrls[0]}/_drawbridge/backchannel-logout`;
        return {
        auth: {
          users: ['alice', 'bob', 'carol'].map((username) => ({
            username,
            password: PASSWORD,
            claims: { name: username, email: `${username}@example.com`, email_verified: true },
          })),
        },
        clients: [
          {
            client_id: WEB.id,
            client_secret: WEB.secret,
            redirect_uris: gatewayUrls.map((u) => `${u}/_drawbridge/callback`),
            grant_types: ['authorization_code', 'refresh_token'],
            scopes: ['openid', 'profile', 'email'],
            consent: 'skip',
            // one URI per client: A's (through the counting relay); B shares A's session store
            backchannel_logout_uri: backchannel.url,
          },
        ],
        services: [
          {
            name: 'web',
            url: upstream.url,
            routes: [{ paths: ['/app'], strip_path: false }],
            plugins: [{ name: 'oidc-login', config: { issuer, client_id: WEB.id, client_secret: WEB.secret, scopes: ['openid', 'profile', 'email'] } }],
          },
        ],
        };
      },
    });
    [a, b] = cluster.gateways.map((g) => g.url) as [string, string];
    chrome = await launchChromium();
  });

  after(async () => {
    await chrome?.close();
    await cluster?.close();
    await relay?.close();
    await backchannel?.close();
    await upstream?.close();
    await redis?.kill();
  });

  /** Signs `username` in through gateway A in a fresh browser context; returns the context and the cookie. */
  async function signInThroughA(username: string): Promise<{ context: BrowserContext; page: Page; cookie: string }> {
    const context = await chrome.newContext();
    const log = watchPages(context, cluster.issuer);
    const page = await context.newPage();
    await page.goto(`${a}/app/home?x=1`);
    assert.ok(page.url().startsWith(`${cluster.issuer}/`), `redirected to the auth server's login page, at ${page.url()}\n${cluster.logs()}`);
    await submitLogin(page, username, PASSWORD);
    await page.waitForURL((u) => u.origin === a && u.pathname === '/app/home');
    assert.equal(new URL(page.url()).search, '?x=1', 'back to the URL the login started from');
    const body = JSON.parse((await page.locator('body').textContent()) ?? '') as { url?: string };
    assert.equal(body.url, '/app/home?x=1', 'upstream answered the original request');
    assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), ['login']);
    const cookies = await context.cookies(a);
    const session = cookies.find((c) => c.name === COOKIE);
    assert.ok(session, `a ${COOKIE} cookie on ${a}: ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true);
    return { context, page, cookie: `${COOKIE}=${session.value}` };
  }

  /** The internal JWT upstream received last, verified with the issuer's JWKS. */
  async function internalClaims() {
    const header = upstream.last().headers.authorization;
    assert.ok(typeof header === 'string' && header.startsWith('Bearer '), `upstream Authorization: ${String(header)}`);
    assert.ok(!String(upstream.last().headers.cookie ?? '').includes(COOKIE), 'the session cookie does not reach upstream');
    const jwks = createRemoteJWKSet(new URL(`${cluster.issuer}/.well-known/jwks.json`));
    return (await jwtVerify(header.slice(7), jwks, { issuer: cluster.issuer, audience: 'web', typ: 'at+jwt' })).payload;
  }

  /** Polls both gateways with the cookie (an API call: no login redirect) until each answers 401. */
  async function refusedEverywhere(cookie: string, from: number): Promise<number[]> {
    return Promise.all(
      [a, b].map(async (url) => {
        let reply: Reply = await get(`${url}/app/api`, { cookie, accept: 'application/json' });
        while (reply.status === 200 && performance.now() - from < 3 * LIMIT_MS) {
          await sleep(POLL_MS);
          reply = await get(`${url}/app/api`, { cookie, accept: 'application/json' });
        }
        assert.equal(reply.status, 401, `${url}: ${reply.status} ${reply.text}`);
        return performance.now() - from;
      }),
    );
  }

  it('Chromium signs in through gateway A; the same cookie works on gateway B; both send a session JWT upstream', async () => {
    const { context, page } = await signInThroughA('alice');
    try {
      const claimsA = await internalClaims();
      assert.equal(claimsA.auth_method, 'session');
      assert.equal(typeof claimsA.sid, 'string');
      // gateway B: same host, other port → the browser sends the same cookie; no login page
      const log = watchPages(context, cluster.issuer);
      upstream.reset();
      await page.goto(`${b}/app/other`);
      assert.equal(new URL(page.url()).origin, b);
      assert.equal(JSON.parse((await page.locator('body').textContent()) ?? '').url, '/app/other');
      assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), [], 'no login page on gateway B');
      const claimsB = await internalClaims();
      assert.equal(claimsB.auth_method, 'session');
      assert.equal(claimsB.sub, claimsA.sub);
      assert.equal(claimsB.sid, claimsA.sid, 'one session, served by both gateways');
    } finally {
      await context.close();
    }
  });

  it('`drawbridge session revoke --user` ends the gateway session: both gateways refuse the cookie within 1 s', async () => {
    const { context, cookie } = await signInThroughA('bob');
    try {
      for (const url of [a, b]) assert.equal((await get(`${url}/app/api`, { cookie, accept: 'application/json' })).status, 200);
      const listed = await cluster.cli(['session', 'list', '--user', 'bob']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /gateway/, `a gateway session of bob is listed:\n${listed.stdout}`);
      const start = performance.now();
      const revoked = await cluster.cli(['session', 'revoke', '--user', 'bob']);
      assert.equal(revoked.code, 0, `session revoke: ${revoked.stderr}${revoked.stdout}`);
      const done = performance.now();
      const delays = await refusedEverywhere(cookie, done);
      process.stdout.write(
        `# session revoke --user (CLI ran ${(done - start).toFixed(0)} ms): refused by gateway A after ${delays[0]!.toFixed(1)} ms, B after ${delays[1]!.toFixed(1)} ms\n`,
      );
      for (const d of delays) assert.ok(d < LIMIT_MS, `took ${d} ms`);
      const after = await cluster.cli(['session', 'list', '--user', 'bob']);
      assert.doesNotMatch(after.stdout, /gateway/, `no gateway session of bob left:\n${after.stdout}`);
    } finally {
      await context.close();
    }
  });

  it('RP-initiated logout at the auth server: its back-channel logout ends the gateway session on both within 1 s', async () => {
    const { context, page, cookie } = await signInThroughA('carol');
    try {
      for (const url of [a, b]) assert.equal((await get(`${url}/app/api`, { cookie, accept: 'application/json' })).status, 200);
      // the user signs out at the auth server itself (not through a gateway): only the
      // back-channel logout token can tell the gateways
      await page.goto(`${cluster.issuer}/oauth2/logout`);
      const delivered = backchannel.calls;
      const responded = page.waitForResponse((r) => r.url().startsWith(`${cluster.issuer}/oauth2/logout`) && r.request().method() === 'POST');
      const clicked = performance.now();
      await page.getByRole('button', { name: /sign out/i }).click();
      const answer = await responded;
      const start = performance.now();
      assert.ok(answer.status() < 400, `the sign-out answered ${answer.status()}`);
      const delays = await refusedEverywhere(cookie, start);
      process.stdout.write(
        `# RP-initiated logout at the auth server (click → response ${(start - clicked).toFixed(0)} ms): ` +
          `refused by gateway A after ${delays[0]!.toFixed(1)} ms, B after ${delays[1]!.toFixed(1)} ms from the logout response\n`,
      );
      for (const d of delays) assert.ok(d < LIMIT_MS, `took ${d} ms`);
      // the logout token did reach gateway A, which accepted it
      const until = performance.now() + 5000;
      while (backchannel.calls === delivered && performance.now() < until) await sleep(20);
      assert.equal(backchannel.calls - delivered, 1, 'one back-channel logout token delivered');
      assert.equal(backchannel.statuses.at(-1), 200, `gateway A answered the logout token with ${backchannel.statuses.at(-1)}\n${cluster.logs()}`);
      // a navigation now starts a new login instead of being served
      await page.goto(`${b}/app/home`);
      assert.ok(page.url().startsWith(`${cluster.issuer}/`), `a new login, at ${page.url()}`);
    } finally {
      await context.close();
    }
  });
});
