// The client-authentication throttle (auth.client_auth_throttle) under concurrency: a guess
// that is being checked while other guesses fail must not get through once max_failures
// failures are recorded. The throttle was consulted only before the credential was checked,
// so every request of a parallel burst passed that check at once and one burst (across any
// number of instances) could try hundreds of secrets per window, each wrong one answered
// 401 and the right one 200. Now a failure beyond max_failures is answered 429, and a right
// credential is accepted only while fewer than max_failures failures are recorded.
//
// To make the race deterministic, the guess that is right is a private_key_jwt assertion
// whose client's JWKS (jwks_uri) is held back by the test: its request has passed the
// throttle and is waiting on the key set while the wrong guesses fail; then the key set is
// released. With Redis, the two sides run on two auth servers sharing it (as behind a load
// balancer), in process memory on one server. A private_key_jwt client's failures count
// against the sending address only (client-auth-throttle-who.test.ts): every request here
// comes from 127.0.0.1, and that address's window is the one the burst fills.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_FAILURES = 3;

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

async function raceScenario(top: Record<string, unknown>, servers: number): Promise<void> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const jwks = await heldJwks({ keys: [jwk] });
  // a client id of its own per run: the Redis counters are keyed by it
  const clientId = `svc-${randomBytes(6).toString('hex')}`;
  const started: TestServer[] = [];
  try {
    for (let i = 0; i < servers; i++) {
      started.push(
        await startAuth(
          {
            client_auth_throttle: { max_failures: MAX_FAILURES, max_failures_per_ip: MAX_FAILURES, window: '60s' },
            clients: [{ client_id: clientId, jwks_uri: jwks.url, grant_types: ['client_credentials'], scopes: ['a'] }],
          },
          top,
        ),
      );
    }
    const [first, second] = [started[0]!, started[started.length - 1]!];
    const assertion = await new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${first.issuer}/oauth2/token`)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);

    // the right credential: passes the throttle (no failures yet), then waits for the key set
    const right = postForm(`${first.issuer}/oauth2/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion });
    await jwks.requested;

    // meanwhile, on the other server, more wrong guesses than allowed fail
    const wrong = await Promise.all(
      Array.from({ length: MAX_FAILURES + 2 }, (_, i) =>
        postForm(`${second.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, `guess-${i}`) }),
      ),
    );
    for (const res of wrong) {
      await res.arrayBuffer();
      assert.ok(res.status === 401 || res.status === 429, `a wrong guess: ${res.status}`);
    }
    // the counter is shared and atomic: only the first max_failures failures are told so
    const told = wrong.filter((r) => r.status === 401).length;
    assert.ok(told <= MAX_FAILURES, `${told} parallel wrong guesses were answered 401 (max_failures ${MAX_FAILURES})`);

    jwks.release();
    const res = await right;
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 429, `the guess checked while ${MAX_FAILURES + 2} others failed must be throttled: ${JSON.stringify(body)}`);
    assert.equal(body.error, 'temporarily_unavailable');
    assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    assert.equal(body.access_token, undefined);
  } finally {
    await Promise.all(started.map((s) => s.close()));
    await jwks.close();
  }
}

describe('client authentication throttle under concurrent guesses', () => {
  it('in process: a credential checked while the failures reach max_failures is refused (429)', async () => {
    await raceScenario({}, 1);
  });

  const available = redisServerAvailable();
  describe('two auth servers sharing Redis', { skip: !available && 'redis-server not installed' }, () => {
    let redis: PrivateRedis | undefined;
    after(() => redis?.kill());

    it('failures counted on one server refuse a credential being checked on the other (429)', async () => {
      redis = await startPrivateRedis();
      await raceScenario({ redis: redis.url }, 2);
    });
  });
});
