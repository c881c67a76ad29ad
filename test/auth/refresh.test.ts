// Refresh tokens (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2): each use
// retires the token; a retired token used again after the grace window revokes the whole
// family; repeats within the window (concurrent refreshes) get the same new pair. Idle and
// absolute lifetimes on a fixed clock, scope narrowing, public clients, revocation.
// Families are started with the password grant (the code flow lives in its own tests).
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'refresh-tests-client-secret-0123456789';
const PASSWORD = 'correct horse battery staple 42';

const CLIENTS = [
  { client_id: 'app', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write'], default_scopes: ['orders:read', 'orders:write'] },
  { client_id: 'other', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'] },
  { client_id: 'no-refresh', client_secret: SECRET, grant_types: ['password'], scopes: ['orders:read'] },
  { client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['password', 'refresh_token'], scopes: ['orders:read'], default_scopes: ['orders:read'] },
  { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
];
const USERS = [{ username: 'alice', password: PASSWORD }];

type Body = Record<string, unknown>;

async function expectBody(res: Response, status: number): Promise<Body> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return JSON.parse(text) as Body;
}

async function expectError(res: Response, status: number, error: string): Promise<Body> {
  const b = await expectBody(res, status);
  assert.equal(b.error, error, JSON.stringify(b));
  return b;
}

function harness(getServer: () => TestServer) {
  const url = (p: string) => `${getServer().issuer}${p}`;
  return {
    async start(clientId = 'app', form: Record<string, string> = {}): Promise<Body> {
      const headers: Record<string, string> = clientId === 'spa' ? {} : { authorization: basic(clientId, SECRET) };
      const extra: Record<string, string> = clientId === 'spa' ? { client_id: 'spa' } : {};
      return expectBody(await postForm(url('/oauth2/token'), { grant_type: 'password', username: 'alice', password: PASSWORD, ...extra, ...form }, headers), 200);
    },
    refresh(refreshToken: string, form: Record<string, string> = {}, clientId = 'app'): Promise<Response> {
      const headers: Record<string, string> = clientId === 'spa' ? {} : { authorization: basic(clientId, SECRET) };
      const extra: Record<string, string> = clientId === 'spa' ? { client_id: 'spa' } : {};
      return postForm(url('/oauth2/token'), { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra, ...form }, headers);
    },
    async active(token: string): Promise<boolean> {
      const b = await expectBody(await postForm(url('/oauth2/introspect'), { token }, { authorization: basic('gateway', SECRET) }), 200);
      return b.active === true;
    },
    async introspect(token: string): Promise<Body> {
      return expectBody(await postForm(url('/oauth2/introspect'), { token }, { authorization: basic('gateway', SECRET) }), 200);
    },
    revoke(token: string, clientId = 'app'): Promise<Response> {
      return postForm(url('/oauth2/revoke'), { token }, { authorization: basic(clientId, SECRET) });
    },
  };
}

describe('refresh tokens: rotation and reuse', () => {
  let server: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  const h = harness(() => server);

  before(async () => {
    server = await startAuth({ clients: CLIENTS, users: USERS }, {}, { clock });
  });

  after(async () => {
    await server?.close();
  });

  it('rotates on every use: a new pair, the old refresh token inactive, the new one active', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    assert.equal(second.token_type, 'Bearer');
    assert.equal(second.expires_in, 600);
    assert.equal(second.scope, 'orders:read orders:write');
    assert.match(String(second.refresh_token), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    assert.equal(await h.active(String(first.refresh_token)), false);
    const rt = await h.introspect(String(second.refresh_token));
    assert.equal(rt.active, true);
    assert.equal(rt.token_use, 'refresh_token');
    assert.equal(rt.token_type, undefined); // RFC 7662 §2.2: an access token type, which a refresh token has none of
    assert.equal(rt.client_id, 'app');
    assert.equal(await h.active(String(second.access_token)), true);
    // the earlier access token stays valid until it expires: rotation is not revocation
    assert.equal(await h.active(String(first.access_token)), true);
    // and the chain goes on
    const third = await expectBody(await h.refresh(String(second.refresh_token)), 200);
    assert.equal(await h.active(String(third.refresh_token)), true);
  });

  it('reuse of a rotated token after the grace window revokes the whole family → invalid_grant', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    const third = await expectBody(await h.refresh(String(second.refresh_token)), 200);
    clock.advance(11); // grace period is 10 s
    const reuse = await expectError(await h.refresh(String(first.refresh_token)), 400, 'invalid_grant');
    assert.equal(reuse.error_description, 'refresh token was already used');
    // every token of the family is dead: the newest refresh token and all access tokens
    for (const t of [third.refresh_token, first.access_token, second.access_token, third.access_token]) {
      assert.equal(await h.active(String(t)), false);
    }
    await expectError(await h.refresh(String(third.refresh_token)), 400, 'invalid_grant');
    // another family of the same user is untouched
    const other = await h.start();
    assert.equal((await h.refresh(String(other.refresh_token))).status, 200);
  });

  it('10 parallel refreshes with one token all succeed with the same new pair; the family stays valid', async () => {
    const first = await h.start();
    const responses = await Promise.all(Array.from({ length: 10 }, () => h.refresh(String(first.refresh_token))));
    const bodies = await Promise.all(responses.map((r) => expectBody(r, 200)));
    for (const b of bodies) assert.deepEqual(b, bodies[0]);
    const pair = bodies[0]!;
    assert.notEqual(pair.refresh_token, first.refresh_token);
    assert.equal(await h.active(String(pair.access_token)), true);
    assert.equal(await h.active(String(pair.refresh_token)), true);
    assert.equal(await h.active(String(first.access_token)), true);
    // a repeat a few seconds later still gets the same pair
    clock.advance(5);
    assert.deepEqual(await expectBody(await h.refresh(String(first.refresh_token)), 200), pair);
    // the new refresh token works
    const next = await expectBody(await h.refresh(String(pair.refresh_token)), 200);
    // after the grace window, a reuse of the first token revokes the family
    clock.advance(6);
    await expectError(await h.refresh(String(first.refresh_token)), 400, 'invalid_grant');
    assert.equal(await h.active(String(next.refresh_token)), false);
    assert.equal(await h.active(String(next.access_token)), false);
    assert.equal(await h.active(String(pair.access_token)), false);
  });

  it('a repeat within the grace window is refused once the family was revoked', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    assert.equal((await h.revoke(String(second.refresh_token))).status, 200);
    await expectError(await h.refresh(String(first.refresh_token)), 400, 'invalid_grant');
  });

  it('a repeat within the grace window after the new pair was itself refreshed → invalid_grant; the family lives', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    const third = await expectBody(await h.refresh(String(second.refresh_token)), 200);
    clock.advance(2);
    // the pair it would get is spent (its refresh token used): not handed out again
    const repeat = await expectError(await h.refresh(String(first.refresh_token)), 400, 'invalid_grant');
    assert.match(String(repeat.error_description), /already used/);
    assert.equal(JSON.stringify(repeat).includes(String(second.refresh_token)), false);
    // the legitimate client's current tokens are untouched, and the chain goes on
    assert.equal(await h.active(String(third.refresh_token)), true);
    assert.equal(await h.active(String(third.access_token)), true);
    await expectBody(await h.refresh(String(third.refresh_token)), 200);
  });

  it('a repeat within the grace window after the new access token was revoked → invalid_grant, never the revoked token', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    assert.equal((await h.revoke(String(second.access_token))).status, 200);
    assert.equal(await h.active(String(second.access_token)), false);
    const repeat = await expectError(await h.refresh(String(first.refresh_token)), 400, 'invalid_grant');
    assert.equal(JSON.stringify(repeat).includes(String(second.access_token)), false);
    // revoking an access token does not end its grant: the new refresh token still works
    assert.equal(await h.active(String(second.refresh_token)), true);
    await expectBody(await h.refresh(String(second.refresh_token)), 200);
  });

  it('the grace-window pair is stored sealed, never in clear', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    const { createHash } = await import('node:crypto');
    const rec = await server.running.storage.tokens.findByDigest(createHash('sha256').update(String(first.refresh_token)).digest('base64url'));
    assert.ok(rec?.refresh?.replacement);
    assert.match(rec.refresh.replacement, /^v1\./);
    assert.ok(!rec.refresh.replacement.includes(String(second.refresh_token)));
    assert.ok(!rec.refresh.replacement.includes(String(second.access_token)));
  });

  it('scope narrowing: a subset for the access token; the refresh token keeps the original scope', async () => {
    const first = await h.start();
    const narrow = await expectBody(await h.refresh(String(first.refresh_token), { scope: 'orders:read' }), 200);
    assert.equal(narrow.scope, 'orders:read');
    assert.equal((await h.introspect(String(narrow.access_token))).scope, 'orders:read');
    assert.equal((await h.introspect(String(narrow.refresh_token))).scope, 'orders:read orders:write');
    const full = await expectBody(await h.refresh(String(narrow.refresh_token)), 200);
    assert.equal(full.scope, 'orders:read orders:write');
  });

  it('scope widening is invalid_scope and leaves the token usable', async () => {
    const first = await h.start('app', { scope: 'orders:read' });
    const b = await expectError(await h.refresh(String(first.refresh_token), { scope: 'orders:read orders:write' }), 400, 'invalid_scope');
    assert.equal(b.error_description, "scope 'orders:write' was not granted to this refresh token");
    assert.equal((await h.refresh(String(first.refresh_token))).status, 200);
  });

  it('a refresh token of another client, an unknown one and an access token are invalid_grant', async () => {
    const first = await h.start();
    await expectError(await h.refresh(String(first.refresh_token), {}, 'other'), 400, 'invalid_grant');
    await expectError(await h.refresh('x'.repeat(43)), 400, 'invalid_grant');
    await expectError(await h.refresh(String(first.access_token)), 400, 'invalid_grant');
    // the attempt by the other client did not burn it
    assert.equal((await h.refresh(String(first.refresh_token))).status, 200);
  });

  it('a missing refresh_token is invalid_request; a client without the grant is unauthorized_client', async () => {
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token' }, { authorization: basic('app', SECRET) });
    await expectError(res, 400, 'invalid_request');
    await expectError(await h.refresh('x'.repeat(43), {}, 'no-refresh'), 400, 'unauthorized_client');
  });

  it('a confidential client must authenticate to refresh', async () => {
    const first = await h.start();
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: String(first.refresh_token), client_id: 'app' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="drawbridge", charset="UTF-8"');
    await expectError(res, 401, 'invalid_client');
  });

  it('a public client refreshes with only its client_id', async () => {
    const first = await h.start('spa');
    assert.equal(typeof first.refresh_token, 'string');
    const second = await expectBody(await h.refresh(String(first.refresh_token), {}, 'spa'), 200);
    assert.equal(second.scope, 'orders:read');
    assert.equal(await h.active(String(second.access_token)), true);
    // without a client_id there is no client
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: String(second.refresh_token) });
    assert.equal(res.status, 401);
    await expectError(res, 401, 'invalid_client');
  });

  it('revoking a refresh token at /oauth2/revoke revokes its family', async () => {
    const first = await h.start();
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    const res = await h.revoke(String(second.refresh_token));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    for (const t of [second.refresh_token, first.access_token, second.access_token]) assert.equal(await h.active(String(t)), false);
    await expectError(await h.refresh(String(second.refresh_token)), 400, 'invalid_grant');
  });
});

describe('refresh tokens: idle and absolute lifetimes', () => {
  let server: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  const h = harness(() => server);

  before(async () => {
    server = await startAuth({ clients: CLIENTS, users: USERS, refresh_token_ttl: '1h', refresh_token_idle_ttl: '10m' }, {}, { clock });
  });

  after(async () => {
    await server?.close();
  });

  it('dies when unused for the idle lifetime; each use starts the period anew', async () => {
    const first = await h.start();
    clock.advance(9 * 60);
    const second = await expectBody(await h.refresh(String(first.refresh_token)), 200);
    clock.advance(9 * 60);
    const third = await expectBody(await h.refresh(String(second.refresh_token)), 200);
    clock.advance(9 * 60);
    assert.equal(await h.active(String(third.refresh_token)), true);
    clock.advance(1 * 60); // exactly 10 minutes unused
    assert.equal(await h.active(String(third.refresh_token)), false, 'introspection knows the idle lifetime too');
    const b = await expectError(await h.refresh(String(third.refresh_token)), 400, 'invalid_grant');
    assert.equal(b.error_description, 'refresh token has expired (unused for too long)');
  });

  it('dies at the absolute lifetime however often it is used', async () => {
    let current = await h.start();
    for (let used = 0; used < 6; used++) {
      clock.advance(9 * 60); // 54 minutes in the end
      current = await expectBody(await h.refresh(String(current.refresh_token)), 200);
    }
    clock.advance(6 * 60); // 60 minutes since the family began
    const b = await expectError(await h.refresh(String(current.refresh_token)), 400, 'invalid_grant');
    assert.equal(b.error_description, 'refresh token has expired');
    assert.equal(await h.active(String(current.refresh_token)), false);
  });
});
