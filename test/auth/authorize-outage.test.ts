// The authorization endpoint while what it needs is down. A browser is at the other end, so
// the answer is never the JSON 503 the back-channel endpoints give (nor a 500, nor a stack
// trace). RFC 6749 §4.1.2.1 has temporarily_unavailable for exactly this:
//   - the client and its redirect URI established (the client cached in memory, or read
//     before the failure): the error goes back to the redirect URI, with state and iss
//     (RFC 9207), in the response mode asked for (query, fragment, form_post);
//   - the client lookup itself failed: no redirect URI can be trusted, so an HTML error page,
//     503 with Retry-After and Cache-Control: no-store, like the endpoint's other error pages.
// Real servers, real HTTP: PostgreSQL cut through the fault proxy, and a private redis-server
// (SSO sessions and login throttling live there when `redis:` is set) killed.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';
import { within } from '../helpers/poll.js';
import { postgresUrl } from '../helpers/services.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';
import { faultyDatabase, type FaultProxy, type FaultyDatabase } from '../storage/fault-proxy.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const CHALLENGE = createHash('sha256').update('v'.repeat(43)).digest('base64url');
const MODES = ['query', 'fragment', 'form_post'] as const;
type Mode = (typeof MODES)[number];

const users = [{ username: 'alice', password: PASSWORD }];
const clients = [
  { client_id: 'web', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
  { client_id: 'web-b', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
];

function authorizeUrl(issuer: string, clientId: string, extra: Record<string, string> = {}): string {
  const u = new URL(`${issuer}/oauth2/authorize`);
  const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st-1', code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

/** The error page for a request whose client could not be looked up. */
async function assertOutagePage(res: Response, what: string): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 503, `${what}: status (body: ${body.slice(0, 200)})`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/, `${what}: an HTML page, not JSON`);
  assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/, `${what}: Retry-After`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `${what}: Cache-Control`);
  assert.equal(res.headers.get('location'), null, `${what}: no redirect`);
  assert.match(body, /<h1>[^<]+<\/h1>/, `${what}: the page's title`);
  assert.match(body, /temporarily unavailable/i, `${what}: says what is wrong`);
  assert.doesNotMatch(body, /storage|database|redis|ECONN|\n\s+at /i, `${what}: nothing of the cause`);
}

/** The error sent back to the client, the way it asked for answers. */
async function assertRedirectedError(res: Response, mode: Mode, issuer: string, what: string): Promise<void> {
  let got: URLSearchParams;
  if (mode === 'form_post') {
    const body = await res.text();
    assert.equal(res.status, 200, `${what}: the form_post page (body: ${body.slice(0, 200)})`);
    const form = parseForm(body);
    assert.equal(form.action, CB, what);
    got = new URLSearchParams(form.fields);
  } else {
    await res.body?.cancel();
    assert.ok(res.status === 302 || res.status === 303, `${what}: a redirect, got ${res.status}`);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin + location.pathname, CB, what);
    got = new URLSearchParams(mode === 'query' ? location.search : location.hash.slice(1));
    if (mode === 'fragment') assert.equal(location.search, '', `${what}: nothing in the query`);
  }
  assert.equal(got.get('error'), 'temporarily_unavailable', what);
  assert.ok(got.get('error_description'), `${what}: error_description`);
  assert.equal(got.get('state'), 'st-1', `${what}: state`);
  assert.equal(got.get('iss'), issuer, `${what}: iss`);
  assert.equal(got.get('code'), null, `${what}: no code`);
}

/** The login page's form, for a new browser. */
async function loginForm(browser: Browser, url: string): Promise<ParsedForm> {
  const res = await browser.fetch(url);
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 200));
  return parseForm(html);
}

function postLogin(browser: Browser, form: ParsedForm): Promise<Response> {
  return browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
}

const pg = await postgresUrl();

describe('authorization endpoint, PostgreSQL cut', { skip: pg === undefined }, () => {
  let db: FaultyDatabase;
  let proxy: FaultProxy;
  let server: TestServer;

  before(async () => {
    db = await faultyDatabase(pg!);
    proxy = db.proxy;
    server = await startAuth({ users, clients }, { storage: db.url({ connect: 1, query: 1000 }) });
  });
  after(async () => {
    await proxy?.up();
    await server?.close();
    await db?.close();
  });

  async function backUp(): Promise<void> {
    await proxy.up();
    await within(15_000, async () => (await fetch(`${server.issuer}/oauth2/authorize?client_id=nobody-${Math.random()}`)).status === 400, 'storage answers again');
  }

  it('the client cannot be looked up: a 503 HTML error page with Retry-After (GET and the login POST)', async () => {
    // a form from before the outage, for a client nobody asked for yet (nothing cached)
    const browser = new Browser();
    await proxy.down();
    try {
      await assertOutagePage(await browser.fetch(authorizeUrl(server.issuer, 'web-b')), 'GET');
      await assertOutagePage(await browser.fetch(authorizeUrl(server.issuer, 'web-b', { response_mode: 'form_post' })), 'GET form_post');
      await assertOutagePage(
        await browser.fetch(`${server.issuer}/oauth2/authorize`, { form: [['client_id', 'web-b'], ['redirect_uri', CB], ['response_type', 'code'], ['state', 'st-1'], ['action', 'login'], ['username', 'alice'], ['password', PASSWORD]] }),
        'login POST',
      );
    } finally {
      await backUp();
    }
    // and once storage is back, the same request gets its login page
    await loginForm(new Browser(), authorizeUrl(server.issuer, 'web-b'));
  });

  it('the client known (cached in memory): the login POST gets temporarily_unavailable at the redirect URI, in every response mode', async () => {
    // The client cache keeps a client 2 s at most: a round in which it was read again (a slow
    // machine) gets the error page, and is repeated with a fresh cache.
    for (let round = 1; ; round++) {
      const forms = new Map<Mode, { browser: Browser; form: ParsedForm }>();
      for (const mode of MODES) {
        const browser = new Browser();
        forms.set(mode, { browser, form: await loginForm(browser, authorizeUrl(server.issuer, 'web', { response_mode: mode })) });
      }
      await proxy.down();
      let answers: Response[];
      try {
        answers = await Promise.all(MODES.map((mode) => postLogin(forms.get(mode)!.browser, forms.get(mode)!.form)));
      } finally {
        await backUp();
      }
      const stale = answers.some((res) => res.status === 503 && (res.headers.get('content-type') ?? '').startsWith('text/html'));
      if (stale && round < 5) {
        await Promise.all(answers.map((res) => res.body?.cancel()));
        await sleep(2100);
        continue;
      }
      for (const [i, mode] of MODES.entries()) await assertRedirectedError(answers[i]!, mode, server.issuer, mode);
      break;
    }
    // storage back: the same sign-in gets a code
    const browser = new Browser();
    const res = await postLogin(browser, await loginForm(browser, authorizeUrl(server.issuer, 'web')));
    assert.equal(res.status, 303);
    assert.ok(new URL(res.headers.get('location')!).searchParams.get('code'));
  });
});

const redisInstalled = redisServerAvailable();

describe('authorization endpoint, Redis stopped', { skip: !redisInstalled && 'redis-server not installed' }, () => {
  let redis: PrivateRedis;
  let server: TestServer;
  let down = false;

  before(async () => {
    redis = await startPrivateRedis();
    server = await startAuth({ users, clients }, { redis: redis.url });
  });
  after(async () => {
    if (down) await redis.restart();
    await server?.close();
    await redis?.kill();
  });

  it('a signed-in browser (SSO session in Redis) and a login POST (throttle in Redis) get temporarily_unavailable at the redirect URI', async () => {
    const signedIn = new Browser();
    const first = await postLogin(signedIn, await loginForm(signedIn, authorizeUrl(server.issuer, 'web')));
    assert.equal(first.status, 303);
    assert.ok(new URL(first.headers.get('location')!).searchParams.get('code'), 'signed in');
    const forms = new Map<Mode, { browser: Browser; form: ParsedForm }>();
    for (const mode of MODES) {
      const browser = new Browser();
      forms.set(mode, { browser, form: await loginForm(browser, authorizeUrl(server.issuer, 'web', { response_mode: mode })) });
    }

    await redis.kill();
    down = true;
    for (const mode of MODES) {
      const url = authorizeUrl(server.issuer, 'web', { response_mode: mode });
      await assertRedirectedError(await signedIn.fetch(url), mode, server.issuer, `signed in, ${mode}`);
      const { browser, form } = forms.get(mode)!;
      await assertRedirectedError(await postLogin(browser, form), mode, server.issuer, `login POST, ${mode}`);
    }

    await redis.restart();
    down = false;
    // the sessions went with the Redis that was killed: a new sign-in works again
    await within(15_000, async () => {
      const browser = new Browser();
      const res = await postLogin(browser, await loginForm(browser, authorizeUrl(server.issuer, 'web')));
      await res.body?.cancel();
      return res.status === 303 && new URL(res.headers.get('location')!).searchParams.get('code') !== null;
    }, 'sign-in works again');
  });
});
