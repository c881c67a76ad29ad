// OIDC Back-Channel Logout 1.0: when a session ends at RP-initiated logout, every client that
// received tokens in it (and asked for back-channel logout) gets a logout token POSTed to
// its backchannel_logout_uri. Real receivers (node:http) verify each token with jose against
// the published JWKS; a receiver answering 500 once gets the retry, one answering 400 none.
// That deliveries outlive the server and are retried by any instance: backchannel-durable.
// Sessions in SQL here (no redis:), the Redis store is covered by logout.test.ts.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as client from 'openid-client';
import { BACKCHANNEL_LOGOUT_EVENT, DEFAULT_RETRY_DELAYS, MAX_DELIVERY_AGE, sendBackchannelLogouts, type BackchannelDeps } from '../../src/auth/logout/backchannel.js';
import { logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { retryDueLogouts } from '../../src/auth/logout/retries.js';
import { logoutDepsWithoutServer } from '../../src/auth/users/sign-out.js';
import { fixedClock } from '../../src/core/clock.js';
import type { AuditEvent } from '../../src/observability/audit.js';
import { openStorage } from '../../src/storage/open.js';
import { silentLogger } from '../../src/observability/logger.js';
import { freePort, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { within } from '../helpers/poll.js';

const PASSWORD = 'correct horse battery staple 42';

interface Received {
  path: string;
  contentType: string | undefined;
  token: string;
  at: number;
}

describe('back-channel logout', () => {
  let server: TestServer;
  let receiver: Server;
  let base: string;
  const received: Received[] = [];
  /** per path: statuses to answer, in order (then 200); 'hang' never answers */
  const script = new Map<string, Array<number | 'hang'>>();

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    receiver = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        received.push({ path: req.url!, contentType: req.headers['content-type'], token: body.get('logout_token') ?? '', at: Date.now() });
        const next = script.get(req.url!)?.shift() ?? 200;
        if (next === 'hang') return; // the sender's timeout ends it
        res.writeHead(next, { 'cache-control': 'no-store' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    const rp = (id: string, extra: Record<string, unknown> = {}) => ({
      client_id: id, redirect_uris: [`https://${id}.example/cb`], scopes: ['openid'], consent: 'skip', post_logout_redirect_uris: [`https://${id}.example/bye`], ...extra,
    });
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD, claims: {} }],
      clients: [
        rp('web', { backchannel_logout_uri: `${base}/bc/web`, backchannel_logout_session_required: true }),
        rp('flaky', { backchannel_logout_uri: `${base}/bc/flaky` }),
        rp('refuser', { backchannel_logout_uri: `${base}/bc/refuser` }),
        rp('quiet'), // no back-channel URI: told nothing
        rp('unused', { backchannel_logout_uri: `${base}/bc/unused` }), // never used in the session
      ],
    });
  });

  after(async () => {
    await server?.close();
    receiver?.closeAllConnections();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  });

  async function signIn(browser: Browser, clientId: string): Promise<{ id_token: string; refresh_token: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const redirectUri = `https://${clientId}.example/cb`;
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    let res = await browser.fetch(u.href);
    if (res.status === 200) {
      const form = parseForm(await res.text());
      res = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
    }
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const token = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier });
    assert.equal(token.status, 200);
    return (await token.json()) as { id_token: string; refresh_token: string };
  }

  const waitFor = (pred: () => boolean, ms: number) => within(ms, pred, () => `timed out; received ${JSON.stringify(received.map((r) => r.path))}`);

  const jwks = () => jose.createRemoteJWKSet(new URL(`${server.issuer}/.well-known/jwks.json`), { cooldownDuration: 0, cacheMaxAge: 0 });

  it('every client of the session gets a verifiable logout token; 500 is retried, 400 is not; the redirect does not wait', async () => {
    received.length = 0;
    script.set('/bc/flaky', [500]);
    script.set('/bc/refuser', [400]);
    const browser = new Browser();
    const web = await signIn(browser, 'web');
    await signIn(browser, 'flaky');
    await signIn(browser, 'refuser');
    await signIn(browser, 'quiet');
    const idClaims = jose.decodeJwt(web.id_token);
    assert.equal(typeof idClaims.sid, 'string');

    const config = await client.discovery(new URL(server.issuer), 'web', {}, client.None(), { execute: [client.allowInsecureRequests] });
    const started = Date.now();
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: web.id_token, post_logout_redirect_uri: 'https://web.example/bye', state: 'k' }).href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'https://web.example/bye?state=k');
    assert.ok(Date.now() - started < 900, 'the redirect is not held up by the retry schedule');

    await waitFor(() => received.filter((r) => r.path === '/bc/flaky').length === 2, 8000);
    await waitFor(() => received.some((r) => r.path === '/bc/web'), 2000);
    await new Promise((r) => setTimeout(r, 1300)); // a retry for the refuser would have come by now

    const paths = received.map((r) => r.path).sort();
    assert.deepEqual(paths, ['/bc/flaky', '/bc/flaky', '/bc/refuser', '/bc/web']);
    const flaky = received.filter((r) => r.path === '/bc/flaky');
    assert.ok(flaky[1]!.at - flaky[0]!.at >= 900, `retried after the backoff (${flaky[1]!.at - flaky[0]!.at} ms)`);

    for (const r of received) {
      assert.equal(r.contentType, 'application/x-www-form-urlencoded');
      const aud = r.path.slice('/bc/'.length);
      const { payload, protectedHeader } = await jose.jwtVerify(r.token, jwks(), { issuer: server.issuer, audience: aud, typ: 'logout+jwt', maxTokenAge: '2m' });
      assert.equal(protectedHeader.typ, 'logout+jwt');
      assert.deepEqual(payload.events, { [BACKCHANNEL_LOGOUT_EVENT]: {} });
      assert.equal('nonce' in payload, false);
      assert.equal(payload.sub, idClaims.sub);
      assert.equal(payload.sid, idClaims.sid);
      assert.equal(payload.exp! - payload.iat!, 120);
      assert.equal(typeof payload.jti, 'string');
    }
    // the retry repeats the same message (same jti): a receiver can tell it is one logout
    assert.equal(jose.decodeJwt(flaky[0]!.token).jti, jose.decodeJwt(flaky[1]!.token).jti);
    // the session's refresh token died with it
    const r = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: web.refresh_token, client_id: 'web' });
    assert.equal(r.status, 400);
  });

  it('a receiver that never answers: the attempt times out and is retried; after the last retry, or with the client deleted, it is given up, with an audit event', async () => {
    received.length = 0;
    script.set('/bc/hang', ['hang', 'hang']);
    script.set('/bc/down', [503, 503, 503]);
    const ctx = server.running.auth!.ctx;
    // a store and clock of its own: the server's retries do not see these deliveries
    const store = await openStorage('memory:');
    const clock = fixedClock(ctx.clock.now());
    const events: AuditEvent[] = [];
    const deleted = new Set<string>();
    const client = (id: string) => ({ client_id: id, backchannel_logout_uri: `${base}/bc/${id === 'x' ? 'hang' : 'down'}`, backchannel_logout_session_required: false });
    const deps: BackchannelDeps = {
      issuer: ctx.endpoints.issuer, signingKey: () => ctx.keyring.current, clock, logger: silentLogger(), storage: store,
      client: async (id) => (deleted.has(id) ? undefined : client(id)), audit: { record: (e) => void events.push(e) }, retryDelays: [1, 1], timeoutMs: 300,
    };
    try {
      assert.deepEqual(await sendBackchannelLogouts(deps, [{ client: client('x'), sub: 'u1', sid: null }]), [{ client_id: 'x', delivered: false, attempts: 1, pending: true }]);
      assert.deepEqual(await retryDueLogouts(deps), [], 'not due yet');
      clock.advance(2);
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'x', delivered: false, attempts: 2, pending: true }]);
      clock.advance(2);
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'x', delivered: true, attempts: 3, status: 200 }]);
      assert.equal(received.length, 3);
      assert.deepEqual(await store.backchannelLogouts.list(), [], 'delivered: deleted');
      const { payload } = await jose.jwtVerify(received[2]!.token, jwks(), { issuer: server.issuer, audience: 'x', typ: 'logout+jwt', currentDate: new Date(clock.now() * 1000) });
      assert.equal(payload.sub, 'u1');
      assert.equal('sid' in payload, false, 'no sid when none is known');
      assert.equal(new Set(received.map((r) => jose.decodeJwt(r.token).jti)).size, 1, 'one logout, one jti');

      received.length = 0;
      assert.deepEqual(await sendBackchannelLogouts(deps, [{ client: client('y'), sub: 'u1', sid: 's' }]), [{ client_id: 'y', delivered: false, attempts: 1, status: 503, pending: true }]);
      clock.advance(2);
      await retryDueLogouts(deps);
      clock.advance(2);
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'y', delivered: false, attempts: 3, status: 503 }]);
      assert.equal(received.length, 3);
      assert.deepEqual(await store.backchannelLogouts.list(), [], 'given up: deleted');
      assert.deepEqual(events, [{ event: 'logout.backchannel_failed', user_id: 'u1', sid: 's', client_id: 'y', attempts: 3, reason: 'retries_exhausted', status: 503, error: 'HTTP 503' }]);

      // the client deleted before its retry: dropped, not sent
      events.length = 0;
      received.length = 0;
      script.set('/bc/down', [503]);
      await sendBackchannelLogouts(deps, [{ client: client('y'), sub: 'u2', sid: 's2' }]);
      deleted.add('y');
      clock.advance(2);
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'y', delivered: false, attempts: 1 }]);
      assert.equal(received.length, 1);
      assert.deepEqual(await store.backchannelLogouts.list(), []);
      assert.deepEqual(events.map((e) => [e.event, e.reason, e.user_id]), [['logout.backchannel_failed', 'client_gone', 'u2']]);
    } finally {
      await store.close();
    }
  });

  /** Deps on a store and clock of their own (the server's retries do not see these deliveries), sending to /bc/<path>. */
  async function ownDeps(path: string, over: Partial<BackchannelDeps> = {}) {
    const ctx = server.running.auth!.ctx;
    const store = await openStorage('memory:');
    const clock = fixedClock(ctx.clock.now());
    const events: AuditEvent[] = [];
    const rp = { client_id: path, backchannel_logout_uri: `${base}/bc/${path}`, backchannel_logout_session_required: false };
    const deps: BackchannelDeps = {
      issuer: ctx.endpoints.issuer, signingKey: () => ctx.keyring.current, clock, logger: silentLogger(), storage: store,
      client: async () => rp, audit: { record: (e) => void events.push(e) }, timeoutMs: 300, ...over,
    };
    return { deps, store, clock, events, rp };
  }

  it('the default schedule: retried past the third failure, with gaps growing to an hour, for most of a day; then given up', async () => {
    received.length = 0;
    script.set('/bc/down-default', new Array<number>(60).fill(503));
    // no retryDelays: the default schedule
    const { deps, store, clock, events, rp } = await ownDeps('down-default');
    try {
      const start = clock.now();
      assert.deepEqual(await sendBackchannelLogouts(deps, [{ client: rp, sub: 'u1', sid: 's' }]), [{ client_id: 'down-default', delivered: false, attempts: 1, status: 503, pending: true }]);
      const gaps: number[] = [];
      for (let row = (await store.backchannelLogouts.list())[0]; row !== undefined; row = (await store.backchannelLogouts.list())[0]) {
        gaps.push(row.due_at - clock.now());
        clock.advance(row.due_at - clock.now() - 1);
        assert.deepEqual(await retryDueLogouts(deps), [], 'not before its time');
        clock.advance(1);
        const [result] = await retryDueLogouts(deps);
        if (row.attempts === 3) assert.deepEqual(result, { client_id: 'down-default', delivered: false, attempts: 4, status: 503, pending: true }, 'retried after the third failure');
      }
      // each wait is its delay and a second (the clock counts whole seconds)
      assert.deepEqual(gaps.slice(0, 8), [2, 6, 26, 121, 601, 1801, 3601, 3601]);
      assert.deepEqual(gaps, DEFAULT_RETRY_DELAYS.map((d) => d + 1));
      assert.ok(gaps.every((gap, i) => i === 0 || gap >= gaps[i - 1]!), 'the gaps never shrink');
      const span = clock.now() - start;
      assert.ok(span < MAX_DELIVERY_AGE && span + 3601 >= MAX_DELIVERY_AGE, `the last retry within the day, as late as an hourly one can be (${span} s)`);
      assert.equal(received.filter((r) => r.path === '/bc/down-default').length, DEFAULT_RETRY_DELAYS.length + 1);
      assert.deepEqual(events, [{ event: 'logout.backchannel_failed', user_id: 'u1', sid: 's', client_id: 'down-default', attempts: DEFAULT_RETRY_DELAYS.length + 1, reason: 'retries_exhausted', status: 503, error: 'HTTP 503' }]);
    } finally {
      script.delete('/bc/down-default');
      await store.close();
    }
  });

  it('a delivery is given up at the end of its schedule, when its next retry would come a day after the logout, and when found a day old', async () => {
    received.length = 0;
    script.set('/bc/down-long', new Array<number>(10).fill(503));
    const { deps, store, clock, events, rp } = await ownDeps('down-long', { retryDelays: [20 * 3600, 20 * 3600] });
    try {
      await sendBackchannelLogouts(deps, [{ client: rp, sub: 'u1', sid: null }]);
      clock.advance(20 * 3600 + 1);
      // the second retry would come 40 h after the logout: given up now, not kept for nothing
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'down-long', delivered: false, attempts: 2, status: 503 }]);
      assert.deepEqual(await store.backchannelLogouts.list(), []);
      assert.deepEqual(events.map((e) => [e.reason, e.attempts]), [['expired', 2]]);
      assert.equal(received.length, 2);

      // the auth servers were all down for a day: found that old, it is given up unsent
      events.length = 0;
      const now = clock.now();
      await store.backchannelLogouts.insert({ jti: 'old', client_id: 'down-long', sub: 'u2', sid: null, created_at: now - MAX_DELIVERY_AGE, attempts: 1, due_at: now, claim: null });
      assert.deepEqual(await retryDueLogouts(deps), [{ client_id: 'down-long', delivered: false, attempts: 1 }]);
      assert.deepEqual(events.map((e) => [e.reason, e.user_id]), [['expired', 'u2']]);
      assert.equal(received.length, 2, 'not sent');
      assert.deepEqual(await store.backchannelLogouts.list(), []);
    } finally {
      script.delete('/bc/down-long');
      await store.close();
    }
  });

  it('the latest retry the config accepts is sent; a second later, it would be given up unsent, so the config refuses it', async () => {
    const { validateConfig } = await import('../../src/config/index.js');
    const configured = (retry_delays: unknown[]) => validateConfig({ issuer: 'https://id.example', storage: 'memory:', auth: { backchannel_logout: { retry_delays } } }).auth!.backchannel_logout!.retry_delays!;
    received.length = 0;
    script.set('/bc/late', new Array<number>(10).fill(503));
    // retry 2 comes 40001 + 46398 s = a second short of a day after the logout, at the earliest
    const { deps, store, clock, events, rp } = await ownDeps('late', { retryDelays: configured([40000, MAX_DELIVERY_AGE - 40003]) });
    try {
      const start = clock.now();
      await sendBackchannelLogouts(deps, [{ client: rp, sub: 'u1', sid: null }]);
      for (let row = (await store.backchannelLogouts.list())[0]; row !== undefined; row = (await store.backchannelLogouts.list())[0]) {
        clock.advance(row.due_at - clock.now());
        await retryDueLogouts(deps);
      }
      assert.equal(clock.now() - start, MAX_DELIVERY_AGE - 1, 'the last retry a second short of a day after the logout');
      assert.equal(received.length, 3, 'the first attempt and both retries sent');
      assert.deepEqual(events.map((e) => [e.reason, e.attempts]), [['retries_exhausted', 3]]);

      // one second more: that retry would be given up at the attempt before it, unsent
      received.length = 0;
      events.length = 0;
      const later = { ...deps, retryDelays: [40000, MAX_DELIVERY_AGE - 40002] };
      await sendBackchannelLogouts(later, [{ client: rp, sub: 'u1', sid: null }]);
      clock.advance((await store.backchannelLogouts.list())[0]!.due_at - clock.now());
      await retryDueLogouts(later);
      assert.deepEqual(await store.backchannelLogouts.list(), []);
      assert.deepEqual(events.map((e) => [e.reason, e.attempts]), [['expired', 2]]);
      assert.equal(received.length, 2, 'retry 2 never sent');
      assert.throws(() => configured([40000, MAX_DELIVERY_AGE - 40002]), /retry_delays\[1\]: expected at most 46397s/);
    } finally {
      script.delete('/bc/late');
      await store.close();
    }
  });

  it('auth.backchannel_logout.retry_delays reaches the retries of a running server: retried when configured, given up after the last', async () => {
    received.length = 0;
    script.set('/bc/configured', [503, 503, 503]);
    const clock = fixedClock(Math.floor(Date.now() / 1000));
    const configured = await startAuth(
      { brute_force: { enabled: false }, backchannel_logout: { retry_delays: ['2s'] }, clients: [{ client_id: 'configured', redirect_uris: ['https://configured.example/cb'], scopes: ['openid'], backchannel_logout_uri: `${base}/bc/configured` }] },
      {},
      { clock },
    );
    try {
      const ctx = configured.running.auth!.ctx;
      const deps = logoutDeps(ctx);
      assert.deepEqual(deps.retryDelays, [2]);
      // a gateway's admin API alone (users/sign-out.ts) reads it too
      const alone = logoutDepsWithoutServer({ config: configured.config, storage: ctx.storage, keyring: ctx.keyring, clock, logger: silentLogger(), redis: undefined, publish: async () => undefined, audit: undefined });
      assert.deepEqual(alone.retryDelays, [2]);

      const rp = (await ctx.clients.get('configured'))!;
      assert.deepEqual(await sendBackchannelLogouts(deps, [{ client: rp, sub: 'u1', sid: null }]), [{ client_id: 'configured', delivered: false, attempts: 1, status: 503, pending: true }]);
      const [row] = await ctx.storage.backchannelLogouts.list();
      assert.equal(row!.due_at - clock.now(), 3, 'the configured delay, and a second');
      clock.advance(3);
      const sent = () => received.filter((r) => r.path === '/bc/configured').length;
      await within(3000, () => sent() === 2, () => `the server's retry (${sent()} sent)`);
      await within(2000, async () => (await ctx.storage.backchannelLogouts.list()).length === 0, 'given up after the last configured retry');
      clock.advance(3600);
      await new Promise((resolve) => setTimeout(resolve, 1200)); // a further retry would have come by now
      assert.equal(sent(), 2);
    } finally {
      script.delete('/bc/configured');
      await configured.close();
    }
  });

  it('config: auth.backchannel_logout.retry_delays is a list of 1 to 100 durations, each retry within a day of the logout', async () => {
    const { validateConfig, ConfigError } = await import('../../src/config/index.js');
    const cfg = (backchannel_logout: unknown) => validateConfig({ issuer: 'https://id.example', storage: 'memory:', auth: { backchannel_logout } });
    assert.deepEqual(cfg({ retry_delays: [1, 5, '25', '2m', '1h', '20h'] }).auth!.backchannel_logout, { retry_delays: [1, 5, 25, 120, 3600, 72000] });
    // 100 retries 14 min 20 s apart (each wait is its delay and a second): the last 86100 s after the logout
    assert.deepEqual(cfg({ retry_delays: new Array<number>(100).fill(860) }).auth!.backchannel_logout!.retry_delays!.length, 100);
    // the default schedule passes its own rule
    assert.deepEqual(cfg({ retry_delays: [...DEFAULT_RETRY_DELAYS] }).auth!.backchannel_logout!.retry_delays, DEFAULT_RETRY_DELAYS);
    // as late as a retry can come: its delays and a second each add up to a second short of a day
    assert.deepEqual(cfg({ retry_delays: [MAX_DELIVERY_AGE - 2] }).auth!.backchannel_logout!.retry_delays, [MAX_DELIVERY_AGE - 2]);
    assert.deepEqual(cfg({ retry_delays: [40000, MAX_DELIVERY_AGE - 40003] }).auth!.backchannel_logout!.retry_delays, [40000, MAX_DELIVERY_AGE - 40003]);
    assert.equal(cfg(undefined).auth!.backchannel_logout, undefined);
    assert.deepEqual(cfg({}).auth!.backchannel_logout, {});
    const refused = (value: unknown, path: string, expected: RegExp) =>
      assert.throws(
        () => cfg(value),
        (err: Error) => err instanceof ConfigError && err.path === path && err.message.startsWith(`${path}: `) && expected.test(err.message),
        `${JSON.stringify(value)}: ${path} ${expected}`,
      );
    const at = 'auth.backchannel_logout.retry_delays';
    refused({ retry_delays: [] }, at, /expected at least 1 item/);
    refused({ retry_delays: new Array<number>(101).fill(1) }, at, /expected at most 100 item\(s\), got 101/);
    refused({ retry_delays: 5 }, at, /expected a list, got 5/);
    refused({ retry_delays: [1, 0] }, `${at}[1]`, /expected a duration of at least 1s, got 0/);
    refused({ retry_delays: [-5] }, `${at}[0]`, /expected a duration like 30s/);
    refused({ retry_delays: [1, 2, 1.5] }, `${at}[2]`, /expected a duration like 30s/);
    refused({ retry_delays: ['soon'] }, `${at}[0]`, /got "soon"/);
    // a retry that would come a day or more after the logout could never be sent (the delivery is given up then)
    refused({ retry_delays: [MAX_DELIVERY_AGE - 1] }, `${at}[0]`, /expected at most 86398s \(23h59m58s\) here: .*got 86399/);
    refused({ retry_delays: ['24h'] }, `${at}[0]`, /expected at most 86398s \(23h59m58s\) here: .*a day after the logout.*got "24h"/);
    refused({ retry_delays: [MAX_DELIVERY_AGE + 1] }, `${at}[0]`, /expected at most 86398s .*got 86401/);
    refused({ retry_delays: ['2d'] }, `${at}[0]`, /expected at most 86398s .*got "2d"/);
    refused({ retry_delays: [40000, MAX_DELIVERY_AGE - 40002] }, `${at}[1]`, /expected at most 46397s \(12h53m17s\) here: .*got 46398/);
    refused({ retry_delays: [1, 5, '25', '2m', '1h', '24h'] }, `${at}[5]`, /expected at most 82642s \(22h57m22s\) here/);
    refused({ retry_delays: new Array<number>(100).fill(900) }, `${at}[95]`, /expected at most 803s \(13m23s\) here: .*got 900/);
    // the earlier retries take the whole day: no room for another
    refused({ retry_delays: [MAX_DELIVERY_AGE - 3, 1] }, `${at}[1]`, /expected no retry 2: retry 1 comes 86398s after the logout at the earliest.*got 1/);
    refused({ retries: [1] }, 'auth.backchannel_logout.retries', /unknown key/);
    refused([1, 5], 'auth.backchannel_logout', /expected an object/);
  });

  it('client config: backchannel_logout_uri must be https, or http on loopback', async () => {
    const { validateConfig, ConfigError } = await import('../../src/config/index.js');
    const cfg = (uri: string) => validateConfig({ issuer: 'https://id.example', storage: 'memory:', auth: { clients: [{ client_id: 'c', redirect_uris: ['https://rp.example/cb'], backchannel_logout_uri: uri }] } });
    assert.equal(cfg('https://rp.example/bc').auth!.clients[0]!.backchannel_logout_uri, 'https://rp.example/bc');
    assert.equal(cfg('http://127.0.0.1:7000/bc').auth!.clients[0]!.backchannel_logout_session_required, false);
    assert.equal(cfg('http://localhost:7000/bc').auth!.clients[0]!.post_logout_redirect_uris.length, 0);
    assert.throws(() => cfg('http://rp.example/bc'), (err: Error) => err instanceof ConfigError && /auth\.clients\[0\]\.backchannel_logout_uri/.test(err.message));
    assert.throws(() => cfg('https://rp.example/bc#x'), ConfigError);
  });
});
