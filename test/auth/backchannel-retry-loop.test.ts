// The auth server's loop that retries back-channel logout deliveries (src/auth/logout/retries.ts)
// used to claim due deliveries once a second, a query a second per instance even with nothing
// pending. Now an idle instance asks storage when the next delivery is due once every
// IDLE_LOOK_MS, a retry it schedules itself goes out when due without a query in between, and
// a delivery stored elsewhere (another instance, the CLI) is found at the next ask. Real SQLite
// (memory:) with its calls counted, a real receiver, a fixed clock. The loop runs at a faster
// pace than the server's (PACE), so the suite takes seconds, not the server's idle intervals.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { AttemptsUnderWay, RetryAlarm, sendBackchannelLogouts, type BackchannelDeps } from '../../src/auth/logout/backchannel.js';
import { startBackchannelRetries, type BackchannelRetries } from '../../src/auth/logout/retries.js';
import { fixedClock } from '../../src/core/clock.js';
import type { SigningKey } from '../../src/crypto/jwt.js';
import { within } from '../helpers/poll.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage } from '../../src/storage/open.js';
import type { BackchannelLogoutRepo, PendingLogoutRecord, Storage } from '../../src/storage/types.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The loop's paces here (the server's: a clock look every 1 s, a storage ask every 5 s). The
 * looks are 20 times as frequent as the asks, a wider gap than the server's, so that "sent at
 * a look" and "sent at the next ask" stay apart on a loaded machine.
 */
const PACE = { pollMs: 100, idleLookMs: 2000 };
/** Several clock looks, well short of the next storage ask. */
const FEW_LOOKS_MS = 600;

/** The repository with every call named in `calls`. */
function counted(repo: BackchannelLogoutRepo, calls: string[]): BackchannelLogoutRepo {
  return new Proxy(repo, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function signingKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: 'k1', alg: 'ES256', privateKey, publicKey, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> };
}

describe('back-channel logout retry loop: cheap when idle, on time when something is due', () => {
  let receiver: Server;
  let uri: string;
  /** statuses to answer, in order, then 200 */
  let script: number[] = [];
  let received = 0;
  let storage: Storage;
  let calls: string[];
  let retries: BackchannelRetries | undefined;
  const key = signingKey();
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        res.writeHead(script.shift() ?? 200);
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    uri = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/bc`;
  });
  after(() => new Promise((resolve) => receiver.close(resolve)));

  beforeEach(async () => {
    storage = await openStorage('memory:');
    calls = [];
    script = [];
    received = 0;
  });
  afterEach(async () => {
    await retries?.stop();
    retries = undefined;
    await storage.close();
  });

  /** What the auth server's loop and its first attempts share: one alarm, one set of attempts. */
  function serverDeps(): BackchannelDeps {
    return {
      issuer: 'https://issuer.example',
      signingKey: () => key,
      clock,
      logger: silentLogger(),
      storage: { backchannelLogouts: counted(storage.backchannelLogouts, calls) },
      client: async (id) => ({ client_id: id, backchannel_logout_uri: uri, backchannel_logout_session_required: false }),
      underWay: new AttemptsUnderWay(),
      retryAlarm: new RetryAlarm(),
    };
  }

  function pending(jti: string, over: Partial<PendingLogoutRecord> = {}): PendingLogoutRecord {
    return { jti, client_id: 'rp', sub: 'u1', sid: null, created_at: clock.now(), attempts: 1, due_at: clock.now(), claim: null, ...over };
  }

  it('with nothing pending, storage is asked once at the start and not again before the idle ask', async () => {
    retries = startBackchannelRetries(serverDeps(), PACE);
    await sleep(FEW_LOOKS_MS);
    assert.ok(calls.length <= 1, `calls in ${FEW_LOOKS_MS} ms: ${calls.join(', ')}`);
    assert.deepEqual(calls, ['nextDue']);
  });

  it('while storage fails, a retry that is due is tried again at the idle pace, not every second', async () => {
    const deps = serverDeps();
    const failing = new Proxy(deps.storage.backchannelLogouts, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args); // counted
          throw new Error('the database did not answer');
        };
      },
    });
    deps.retryAlarm!.set(clock.now() - 1); // one of this instance's retries, due
    retries = startBackchannelRetries({ ...deps, storage: { backchannelLogouts: failing } }, PACE);
    await sleep(FEW_LOOKS_MS);
    assert.deepEqual(calls, ['claimDue', 'nextDue'], `calls in ${FEW_LOOKS_MS} ms: ${calls.join(', ')}`);
  });

  it('a retry this instance schedules goes out when due, without waiting for the next ask', async () => {
    const deps = serverDeps();
    retries = startBackchannelRetries(deps, PACE);
    await within(1000, () => calls.length > 0, 'the first ask');
    script = [500];
    const [first] = await sendBackchannelLogouts(deps, [{ client: { client_id: 'rp', backchannel_logout_uri: uri, backchannel_logout_session_required: false }, sub: 'u1', sid: null }]);
    assert.equal(first?.pending, true, 'refused once: left for a retry');
    const [row] = await storage.backchannelLogouts.list();
    await sleep(FEW_LOOKS_MS);
    assert.equal(received, 1, 'not before it is due');
    calls.length = 0;
    clock.advance(row!.due_at - clock.now());
    const due = Date.now();
    await within(PACE.idleLookMs, () => received === 2, 'the retry');
    const took = Date.now() - due;
    assert.ok(took < PACE.idleLookMs / 2, `sent at a clock look after it was due, not at the next ask (${took} ms)`);
    assert.equal(calls[0], 'claimDue', `claimed without asking first: ${calls.join(', ')}`);
    await within(1000, async () => (await storage.backchannelLogouts.list()).length === 0, 'delivered: deleted');
  });

  it('a delivery stored elsewhere (another instance, the CLI) is found at the next ask; a full batch, the rest at once', async () => {
    retries = startBackchannelRetries(serverDeps(), PACE);
    await within(1000, () => calls.length > 0, 'the first ask');
    for (let i = 0; i < 25; i++) await storage.backchannelLogouts.insert(pending(`j${String(i).padStart(2, '0')}`));
    await within(PACE.idleLookMs + 2500, () => received === 25, () => `all 25 sent (${received})`);
    assert.equal(calls.filter((c) => c === 'claimDue').length, 2, `a batch of 20, then the other 5: ${calls.join(', ')}`);
  });
});
