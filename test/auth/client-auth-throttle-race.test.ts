// The client-authentication throttle (auth.client_auth_throttle) under concurrency: a guess
// that is being checked while other guesses fail must not get through once max_failures
// failures are recorded. The throttle was consulted only before the credential was checked,
// so every request of a parallel burst passed that check at once and one burst (across any
// number of instances) could try hundreds of secrets per window, each wrong one answered
// 401 and the right one 200. Now a failure beyond max_failures is answered 429, and a right
// secret is accepted only while fewer than max_failures failures are recorded.
//
// A client without a secret (private_key_jwt here) guesses nothing when it succeeds, so its
// right credential is not looked at again once checked: an assertion checked while its
// address's failures reach the limit is accepted (it was refused 429 as well, a second
// throttle read for every such request that protected nothing); the address stays locked
// out for what comes next.
//
// Deterministic: the right secret's request is held by a hook on the throttle's counters,
// at its last look before its credential is checked, while the wrong guesses fail; the right
// assertion's request waits on its client's JWKS (jwks_uri), held back by the test. With
// Redis, the two sides run on two auth servers sharing it (as behind a load balancer), in
// process memory on one server. Every request comes from 127.0.0.1: a private_key_jwt
// client's failures count against that address only (client-auth-throttle-who.test.ts).
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_FAILURES = 3;
const SECRET = 'the-right-secret-0123456789abcdef';

/** Serves one JWKS; while `held`, answers only when release() is called. */
async function heldJwks(jwks: unknown): Promise<{ url: string; requested: Promise<void>; release(): void; close(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let requested!: () => void;
  const asked = new Promise<void>((resolve) => (requested = resolve));
  const server: Server = createServer(async (_req, res) => {
    requested();
    await released;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    requested: asked,
    release,
    close: () =>
      new Promise<void>((resolve) => {
        release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The wrong guesses: more failures than allowed, sent with the client's id; all 401 or 429, at most max_failures 401. */
async function wrongGuesses(server: TestServer, clientId: string): Promise<void> {
  const wrong = await Promise.all(
    Array.from({ length: MAX_FAILURES + 2 }, (_, i) =>
      postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, `guess-${i}`) }),
    ),
  );
  for (const res of wrong) {
    await res.arrayBuffer();
    assert.ok(res.status === 401 || res.status === 429, `a wrong guess: ${res.status}`);
  }
  // the counter is shared and atomic: only the first max_failures failures are told so
  const told = wrong.filter((r) => r.status === 401).length;
  assert.ok(told <= MAX_FAILURES, `${told} parallel wrong guesses were answered 401 (max_failures ${MAX_FAILURES})`);
}

async function startServers(count: number, clients: unknown[], top: Record<string, unknown>): Promise<TestServer[]> {
  const started: TestServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      started.push(await startAuth({ client_auth_throttle: { max_failures: MAX_FAILURES, max_failures_per_ip: MAX_FAILURES, window: '60s' }, clients }, top));
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  return started;
}

/** A right secret checked while more than max_failures wrong ones fail: refused (429). */
async function secretScenario(top: Record<string, unknown>, servers: number): Promise<void> {
  // a client id of its own per run: the Redis counters are keyed by it
  const clientId = `app-${randomBytes(6).toString('hex')}`;
  const started = await startServers(servers, [{ client_id: clientId, client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'] }], top);
  const [first, second] = [started[0]!, started[started.length - 1]!];
  const failures = first.running.auth!.ctx.failures;
  const firstAtLimit = failures.firstAtLimit.bind(failures);
  let guessed = false;
  // the right secret's last look before its credential is checked (the one naming the client):
  // it passes, and the wrong guesses fail before the check goes on
  failures.firstAtLimit = async (keys, limit) => {
    const state = await firstAtLimit(keys, limit);
    if (!guessed && keys.includes(`client:${clientId}`)) {
      guessed = true;
      await wrongGuesses(second, clientId);
    }
    return state;
  };
  try {
    const res = await postForm(`${first.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, SECRET) });
    const body = (await res.json()) as Record<string, unknown>;
    assert.ok(guessed, 'the wrong guesses failed while the right secret was being checked');
    assert.equal(res.status, 429, `the secret checked while ${MAX_FAILURES + 2} guesses failed must be throttled: ${JSON.stringify(body)}`);
    assert.equal(body.error, 'temporarily_unavailable');
    assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    assert.equal(body.access_token, undefined);
  } finally {
    await Promise.all(started.map((s) => s.close()));
  }
}

/** A right assertion checked while its address's failures pass max_failures: accepted; the address is locked out after. */
async function assertionScenario(top: Record<string, unknown>, servers: number): Promise<void> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const jwks = await heldJwks({ keys: [jwk] });
  const clientId = `svc-${randomBytes(6).toString('hex')}`;
  let started: TestServer[] = [];
  try {
    started = await startServers(servers, [{ client_id: clientId, jwks_uri: jwks.url, grant_types: ['client_credentials'], scopes: ['a'] }], top);
    const [first, second] = [started[0]!, started[started.length - 1]!];
    const assertion = () =>
      new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(`${first.issuer}/oauth2/token`)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(privateKey);
    const token = async () => postForm(`${first.issuer}/oauth2/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion() });

    // the right credential: passes the throttle (no failures yet), then waits for the key set
    const right = token();
    await Promise.race([jwks.requested, right.then((r) => assert.fail(`answered before its key set was fetched: ${r.status}`))]);
    // meanwhile, on the other server, more wrong guesses than allowed fail (against the address)
    await wrongGuesses(second, clientId);
    jwks.release();
    const res = await right;
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, `a signed assertion guesses nothing: ${JSON.stringify(body)}`);
    assert.ok(body.access_token);
    // what comes next from the address is refused before any work
    const next = await token();
    assert.equal(next.status, 429, await next.text());
  } finally {
    await Promise.all(started.map((s) => s.close()));
    await jwks.close();
  }
}

describe('client authentication throttle under concurrent guesses', () => {
  it('in process: a secret checked while the failures reach max_failures is refused (429)', async () => {
    await secretScenario({}, 1);
  });

  it('in process: an assertion checked while its address reaches max_failures is accepted; the address is locked out after', async () => {
    await assertionScenario({}, 1);
  });

  const available = redisServerAvailable();
  // a Redis of its own per test: the failures of 127.0.0.1 one test records would lock out the next
  describe('two auth servers sharing Redis', { skip: !available && 'redis-server not installed' }, () => {
    let redis: PrivateRedis | undefined;
    afterEach(async () => {
      await redis?.kill();
      redis = undefined;
    });

    it('failures counted on one server refuse a secret being checked on the other (429)', async () => {
      redis = await startPrivateRedis();
      await secretScenario({ redis: redis.url }, 2);
    });

    it('failures counted on one server do not refuse an assertion being checked on the other', async () => {
      redis = await startPrivateRedis();
      await assertionScenario({ redis: redis.url }, 2);
    });
  });
});
