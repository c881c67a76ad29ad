// Regression: with `gateway.sessions.idle_timeout` under a minute, sessions in active use
// ended. last_seen_at was written at most once a minute while the idle check reads it on
// every request, so a session used every 4 s with idle_timeout 10s was found idle 10 s
// after its last touch. Now it is touched every min(60 s, idle_timeout / 2). Fixed clock
// (the gateway's and the SQL store's), real gateway and listener.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { touchInterval } from '../../src/gateway/authn/session.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { insertLiveSession } from './oidc-support.js';
import { send } from './authn-support.js';

const START = 1_900_000_000;

describe('gateway sessions with a short idle_timeout', () => {
  const clock = fixedClock(START);
  let upstream: Upstream;
  let stack: Stack;
  let store: SessionStore;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      clock,
      gateway: {
        sessions: { store: 'sql', idle_timeout: '10s' },
        services: [{ name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }] }],
      },
    });
    store = stack.gateway.deps.sessions!;
    assert.ok(store, 'the gateway built its session store');
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  const newSession = () => insertLiveSession(store, clock.now());

  const get = (value: string) => send(stack.gatewayUrl, '/api/x', { headers: { cookie: `drawbridge_session=${value}`, accept: 'application/json' } });

  it('touches every half idle_timeout when that is under a minute', () => {
    assert.equal(touchInterval(1800), 60);
    assert.equal(touchInterval(120), 60);
    assert.equal(touchInterval(10), 5);
    assert.equal(touchInterval(1), 0.5);
  });

  it('a session used every 4 s lives on well past 10 s; one left alone for 10 s ends', async () => {
    const value = await newSession();
    for (let i = 1; i <= 10; i++) {
      clock.advance(4);
      const reply = await get(value);
      assert.equal(reply.status, 200, `request ${i}, ${4 * i} s after sign-in: ${reply.text}`);
    }
    const seen = await store.get(sessionIdOf(value));
    assert.ok(seen !== undefined && clock.now() - seen.last_seen_at < 10, 'last_seen_at kept up');
    clock.advance(10);
    const idle = await get(value);
    assert.equal(idle.status, 401, 'idle for idle_timeout: over');
    assert.equal(await store.get(sessionIdOf(value)), undefined, 'and deleted');
  });
});
