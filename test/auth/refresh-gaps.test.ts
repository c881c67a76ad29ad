// Issue #3, second "Done when" bullet, on storage that runs concurrently: refresh.test.ts
// covers rotation, reuse detection and parallel refresh on `memory:`; here the same races
// run on PostgreSQL (asynchronous: interleavings really happen) and a SQLite file. Families
// are started with the password grant; a fixed clock steps past the grace window.
import * as assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { persistentTargets, type PersistentTarget } from '../helpers/storage-targets.js';

const SECRET = 'refresh-gaps-client-secret-0123456789';
const PASSWORD = 'correct horse battery staple 42';
const GRACE = 10;

type Body = Record<string, unknown>;

const targets = persistentTargets('drawbridge-refresh-race-');

async function start(t: TestContext, target: PersistentTarget): Promise<{ server: TestServer; clock: ReturnType<typeof fixedClock> } | undefined> {
  const storage = await target.storage(t);
  if (storage === undefined) return undefined;
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  const server = await startAuth(
    {
      brute_force: { enabled: false },
      refresh_grace_period: `${GRACE}s`,
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [
        { client_id: 'app', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'], default_scopes: ['orders:read'] },
        { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    },
    { storage },
    { clock },
  );
  t.after(() => server.close());
  return { server, clock };
}

async function body(res: Response, status: number): Promise<Body> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as Body;
}

function token(server: TestServer, form: Record<string, string>): Promise<Response> {
  return postForm(`${server.issuer}/oauth2/token`, form, { authorization: basic('app', SECRET) });
}

const family = (server: TestServer) => token(server, { grant_type: 'password', username: 'alice', password: PASSWORD }).then((r) => body(r, 200));
const refresh = (server: TestServer, rt: unknown) => token(server, { grant_type: 'refresh_token', refresh_token: String(rt) });

async function active(server: TestServer, t: unknown): Promise<boolean> {
  const res = await postForm(`${server.issuer}/oauth2/introspect`, { token: String(t) }, { authorization: basic('gateway', SECRET) });
  return (await body(res, 200)).active === true;
}

for (const target of targets) {
  describe(`refresh races on ${target.name}`, () => {
    it('10 parallel refreshes of one token: all succeed with the same new pair, which works', async (t) => {
      const s = await start(t, target);
      if (!s) return t.skip(`${target.name} not available`);
      const first = await family(s.server);
      const bodies = await Promise.all(Array.from({ length: 10 }, async () => body(await refresh(s.server, first.refresh_token), 200)));
      for (const b of bodies) assert.deepEqual(b, bodies[0]);
      const pair = bodies[0]!;
      assert.notEqual(pair.refresh_token, first.refresh_token);
      assert.equal(await active(s.server, pair.refresh_token), true);
      assert.equal(await active(s.server, pair.access_token), true);
      await body(await refresh(s.server, pair.refresh_token), 200);
    });

    it('5 parallel reuses after the grace window: all invalid_grant, the whole family revoked', async (t) => {
      const s = await start(t, target);
      if (!s) return t.skip(`${target.name} not available`);
      const first = await family(s.server);
      const second = await body(await refresh(s.server, first.refresh_token), 200);
      const third = await body(await refresh(s.server, second.refresh_token), 200);
      s.clock.advance(GRACE + 1);
      const reuses = await Promise.all(Array.from({ length: 5 }, () => refresh(s.server, first.refresh_token)));
      for (const r of reuses) assert.equal((await body(r, 400)).error, 'invalid_grant');
      for (const tok of [third.refresh_token, third.access_token, second.access_token]) assert.equal(await active(s.server, tok), false);
    });

    it('a refresh racing a detected reuse: once both answered, no token of the family is active', async (t) => {
      const s = await start(t, target);
      if (!s) return t.skip(`${target.name} not available`);
      for (let round = 0; round < 3; round++) {
        const first = await family(s.server);
        const second = await body(await refresh(s.server, first.refresh_token), 200);
        s.clock.advance(GRACE + 1);
        // the thief replays the retired token while the client refreshes with the current one
        const [legit, replay]: Response[] = await Promise.all([refresh(s.server, second.refresh_token), refresh(s.server, first.refresh_token)]);
        assert.equal((await body(replay, 400)).error, 'invalid_grant');
        const issued = legit.status === 200 ? await body(legit, 200) : undefined;
        if (!issued) assert.equal((await body(legit, 400)).error, 'invalid_grant');
        for (const tok of [second.refresh_token, second.access_token, issued?.refresh_token, issued?.access_token]) {
          if (tok !== undefined) assert.equal(await active(s.server, tok), false, `round ${round}: a token of the revoked family is still active`);
        }
      }
    });
  });
}
