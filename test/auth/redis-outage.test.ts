// A Redis outage at the auth server (`redis:` configured): the client-authentication throttle
// counts in Redis, so with Redis gone /oauth2/token, /oauth2/introspect and /oauth2/revoke
// cannot tell whether a client is locked out. They answer 503 temporarily_unavailable with
// Retry-After (RFC 7009 §2.2.1 names 503 for "temporarily unable to revoke"), never a 500,
// and never let the request through unthrottled; once Redis is back they answer again,
// without a restart.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { within } from '../helpers/poll.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';

const available = redisServerAvailable();
const SECRET = 'redis-outage-client-secret-0123456789';

describe('auth server with Redis down', { skip: !available && 'redis-server not installed' }, () => {
  let redis: PrivateRedis;
  let server: TestServer;
  const auth = basic('svc', SECRET);

  before(async () => {
    redis = await startPrivateRedis();
    server = await startAuth(
      { clients: [{ client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'] }] },
      { redis: redis.url },
    );
  });
  let down = false;
  after(async () => {
    if (down) await redis.restart(); // a test that failed mid-outage: closing quits the connection
    await server?.close();
    await redis?.kill();
  });

  const token = (form: Record<string, string> = {}, headers: Record<string, string> = { authorization: auth }) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', ...form }, headers);
  const introspect = (t: string) => postForm(`${server.issuer}/oauth2/introspect`, { token: t }, { authorization: auth });
  const revoke = (t: string) => postForm(`${server.issuer}/oauth2/revoke`, { token: t }, { authorization: auth });

  async function expectUnavailable(res: Response, what: string): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, 503, `${what}: status (body: ${text})`);
    assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/, `${what}: Retry-After`);
    assert.equal(res.headers.get('cache-control'), 'no-store', `${what}: Cache-Control`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.equal(body.error, 'temporarily_unavailable', `${what}: error`);
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
  }

  it('answers 503 with Retry-After at token, introspect and revoke, and recovers when Redis is back', async () => {
    const issued = await token();
    assert.equal(issued.status, 200, await issued.clone().text());
    const { access_token } = (await issued.json()) as { access_token: string };

    await redis.kill();
    down = true;
    await expectUnavailable(await token(), 'token');
    await expectUnavailable(await introspect(access_token), 'introspect');
    await expectUnavailable(await revoke(access_token), 'revoke');
    // a wrong secret is not let through to be checked unthrottled either
    await expectUnavailable(await token({}, { authorization: basic('svc', 'wrong') }), 'token with a wrong secret');

    await redis.restart();
    down = false;
    await within(15_000, async () => (await token()).status === 200, 'token endpoint answers again');
    const active = (await (await introspect(access_token)).json()) as { active: boolean };
    assert.equal(active.active, true, 'the token issued before the outage is still active');
    assert.equal((await revoke(access_token)).status, 200);
    assert.deepEqual(await (await introspect(access_token)).json(), { active: false });
  });
});
