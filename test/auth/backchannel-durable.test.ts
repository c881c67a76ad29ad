// Back-channel logout deliveries outlive the auth server that ended the session: a delivery
// whose first attempt failed is stored in SQL and retried, with backoff, by whichever instance
// runs, after a restart on the same SQLite file, or by another instance on the same PostgreSQL
// after the first one stopped; two instances polling together never send one delivery twice.
// Real servers and a real relying-party receiver (node:http) that refuses the first attempts;
// the servers share a fixed clock, so the backoff passes by advancing it, not by sleeping
// (an instance sends its own retries when due, and asks storage every IDLE_LOOK_MS).
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import * as jose from 'jose';
import { IDLE_LOOK_MS } from '../../src/auth/logout/retries.js';
import { run, type Running } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import type { Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import { freePort, postForm, testKeys, TEST_SECRET } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { within } from '../helpers/poll.js';
import { migratedPostgresSchema, postgresUrl } from '../helpers/services.js';

const PASSWORD = 'correct horse battery staple 42';
const RP = 'rp';
const RP_CB = 'https://rp.example/cb';

class SharedClock implements Clock {
  t = Math.floor(Date.now() / 1000);
  now(): number {
    return this.t;
  }
}

interface Delivery {
  jti: string;
  token: string;
  status: number;
}

/**
 * The relying party's back-channel logout endpoint: answers each logout (by jti) with the
 * statuses scripted for its attempts, in order (then 200), each after `holdMs`.
 */
async function startReceiver(statuses: number[], holdMs: (attempt: number) => number = () => 0): Promise<{ url: string; got: Delivery[]; byJti(): Map<string, number>; close(): Promise<void> }> {
  const got: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token') ?? '';
      const jti = String(jose.decodeJwt(token).jti);
      const attempt = got.filter((d) => d.jti === jti).length;
      const status = statuses[attempt] ?? 200;
      got.push({ jti, token, status });
      setTimeout(() => {
        res.writeHead(status, { 'cache-control': 'no-store' });
        res.end();
      }, holdMs(attempt));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/bc`,
    got,
    byJti: () => {
      const n = new Map<string, number>();
      for (const d of got) n.set(d.jti, (n.get(d.jti) ?? 0) + 1);
      return n;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function startInstance(opts: { port: number; issuer: string; storage: string; receiver: string; clock: Clock }): Promise<Running> {
  const config = validateConfig({
    issuer: opts.issuer,
    storage: opts.storage,
    secret: TEST_SECRET,
    log: { level: 'silent' },
    keys: testKeys({}),
    auth: {
      listen: `127.0.0.1:${opts.port}`,
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [{ client_id: RP, redirect_uris: [RP_CB], scopes: ['openid'], consent: 'skip', backchannel_logout_uri: opts.receiver, backchannel_logout_session_required: true }],
    },
  });
  return run(config, { logger: silentLogger(), clock: opts.clock });
}

/** Signs alice in to the RP (code flow) in a new browser and returns it with the ID token. */
async function signIn(base: string): Promise<{ browser: Browser; idToken: string }> {
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const u = new URL(`${base}/oauth2/authorize`);
  const params = { client_id: RP, response_type: 'code', scope: 'openid', redirect_uri: RP_CB, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const login = parseForm(await (await browser.fetch(u.href)).text());
  const res = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
  const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
  const token = await postForm(`${base}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: RP_CB, client_id: RP, code_verifier: verifier });
  assert.equal(token.status, 200);
  return { browser, idToken: ((await token.json()) as { id_token: string }).id_token };
}

/** RP-initiated logout that needs no confirmation (the hint names this browser's session). */
async function logOut(base: string, session: { browser: Browser; idToken: string }): Promise<void> {
  const res = await session.browser.fetch(`${base}/oauth2/logout?id_token_hint=${session.idToken}`);
  await res.body?.cancel();
  assert.equal(res.status, 200, 'the signed-out page');
}

const pg = await postgresUrl();

describe('back-channel logout deliveries are durable', () => {
  it('a server restarted on the same SQLite file retries what the stopped one left, with backoff, the same logout each time', async (t) => {
    const dir = await mkdtemp('/tmp/h2-bc-');
    const receiver = await startReceiver([500, 503]);
    const clock = new SharedClock();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const at = { port, issuer, storage: `sqlite:${join(dir, 'db.sqlite')}`, receiver: receiver.url, clock };
    let server: Running | undefined = await startInstance(at);
    t.after(async () => {
      await server?.close();
      await receiver.close();
      await rm(dir, { recursive: true, force: true });
    });

    const session = await signIn(issuer);
    const { sid, sub } = jose.decodeJwt(session.idToken);
    await logOut(issuer, session);
    await within(2000, () => receiver.got.length === 1, 'the first attempt');
    const first = server;
    await within(2000, async () => (await first.storage.backchannelLogouts.list())[0]?.attempts === 1, 'its retry scheduled');
    await server.close();
    server = undefined;

    // stored for the retry: what mints the token, never the token
    const store = await openStorage(at.storage);
    const [row] = await store.backchannelLogouts.list();
    const raw = await sqlHandleOf(store)!.db.selectFrom('backchannel_logouts').selectAll().execute();
    await store.close();
    assert.ok(row, 'the delivery is stored');
    assert.deepEqual({ client_id: row.client_id, sub: row.sub, sid: row.sid, attempts: row.attempts, claim: row.claim }, { client_id: RP, sub, sid, attempts: 1, claim: null });
    assert.ok(row.due_at > clock.t, 'not due at once: backoff');
    for (const value of Object.values(raw[0]!)) assert.doesNotMatch(String(value), /^eyJ|\..*\./, 'no signed token in the database');

    server = await startInstance(at);
    await sleep(1200);
    assert.equal(receiver.got.length, 1, 'not retried before its time');
    clock.t = row.due_at;
    await within(2000, () => receiver.got.length === 2, 'the second attempt, by the restarted server');
    const restarted = server;
    await within(2000, async () => (await restarted.storage.backchannelLogouts.list())[0]?.attempts === 2, 'its retry scheduled');
    const [again] = await server.storage.backchannelLogouts.list();
    assert.ok(again!.due_at - clock.t > 5, `a longer backoff the second time (${again!.due_at - clock.t} s)`);
    clock.t = again!.due_at;
    await within(2000, () => receiver.got.length === 3, 'the third attempt');
    await within(2000, async () => (await restarted.storage.backchannelLogouts.list()).length === 0, 'the delivered logout is deleted');

    // each attempt a valid logout token of its own, for the same logout (jti)
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    for (const d of receiver.got) {
      const { payload } = await jose.jwtVerify(d.token, jwks, { issuer, audience: RP, typ: 'logout+jwt', currentDate: new Date(clock.t * 1000) });
      assert.equal(payload.sub, sub);
      assert.equal(payload.sid, sid);
      assert.equal(payload.jti, receiver.got[0]!.jti);
    }
    assert.deepEqual(receiver.got.map((d) => d.status), [500, 503, 200]);
  });

  it('two instances on PostgreSQL: each retry is sent once; the other instance retries what a stopped one left', { skip: pg === undefined && 'PostgreSQL not reachable' }, async (t) => {
    const schema = await migratedPostgresSchema(pg!);
    // every logout refused once; each retry held a while, so that the other instance may ask
    // storage while it is under way (and find it claimed)
    const receiver = await startReceiver([500], (attempt) => (attempt === 1 ? 1100 : 0));
    const clock = new SharedClock();
    const [portA, portB] = [await freePort(), await freePort()];
    const issuer = `http://127.0.0.1:${portA}`; // one issuer, as behind a load balancer
    let a: Running | undefined = await startInstance({ port: portA, issuer, storage: schema.url, receiver: receiver.url, clock });
    const b = await startInstance({ port: portB, issuer, storage: schema.url, receiver: receiver.url, clock });
    t.after(async () => {
      await a?.close();
      await b.close();
      await receiver.close();
      await schema.drop();
    });

    for (let i = 0; i < 4; i++) await logOut(issuer, await signIn(issuer));
    await within(3000, () => receiver.got.length === 4, 'four first attempts');
    const first = a;
    await within(2000, async () => (await first.storage.backchannelLogouts.list()).filter((r) => r.attempts === 1).length === 4, 'four retries scheduled');
    const stored = await a.storage.backchannelLogouts.list();
    clock.t = Math.max(...stored.map((r) => r.due_at));
    await within(4000, () => [...receiver.byJti().values()].every((n) => n === 2) && receiver.byJti().size === 4, 'every logout retried');
    await sleep(1200); // both instances look again
    assert.deepEqual([...receiver.byJti().values()], [2, 2, 2, 2], 'each retry sent once, by one instance');
    assert.deepEqual(await b.storage.backchannelLogouts.list(), []);

    // A ends a session, its attempt fails, and A stops: B retries it
    await logOut(issuer, await signIn(issuer));
    await within(2000, () => receiver.byJti().size === 5, 'the first attempt');
    await within(2000, async () => (await b.storage.backchannelLogouts.list())[0]?.attempts === 1, 'its retry scheduled');
    await a.close();
    a = undefined;
    const [left] = await b.storage.backchannelLogouts.list();
    assert.equal(left?.attempts, 1, 'left for a retry');
    clock.t = left.due_at;
    // B finds it at its next ask
    await within(IDLE_LOOK_MS + 3000, () => [...receiver.byJti().values()].every((n) => n === 2), 'retried by B');
    await within(2000, async () => (await b.storage.backchannelLogouts.list()).length === 0, 'and deleted');
  });
});
