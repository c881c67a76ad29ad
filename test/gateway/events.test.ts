// The event bus (src/gateway/events.ts): in-process without Redis; over real Redis pub/sub
// between two buses on separate connections, as between two gateway processes.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createEventBus, EVENTS_CHANNEL, parseEvent, type RunningEventBus } from '../../src/gateway/events.js';
import type { GatewayEvent } from '../../src/gateway/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { redisUrl } from '../helpers/services.js';

/** Collects events until `count` have arrived. */
function collect(bus: RunningEventBus, count: number): Promise<GatewayEvent[]> {
  const seen: GatewayEvent[] = [];
  return new Promise((resolve) => {
    const off = bus.subscribe((e) => {
      seen.push(e);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

describe('events: in-process', () => {
  it('delivers published events to every subscriber, never synchronously inside publish', async () => {
    const bus = createEventBus(undefined, silentLogger());
    await bus.ready();
    const a = collect(bus, 2);
    const b = collect(bus, 2);
    let deliveredDuringPublish = false;
    const off = bus.subscribe(() => (deliveredDuringPublish = true));
    const published = bus.publish({ type: 'credentials.changed', consumer: 'x' });
    assert.equal(deliveredDuringPublish, false, 'listeners never run inside publish');
    await published;
    off();
    await bus.publish({ type: 'config.changed' });
    const expected = [{ type: 'credentials.changed', consumer: 'x' }, { type: 'config.changed' }];
    assert.deepEqual(await a, expected);
    assert.deepEqual(await b, expected);
    await bus.close();
  });

  it('unsubscribe stops delivery; a throwing listener does not stop the others', async () => {
    const bus = createEventBus(undefined, silentLogger());
    let removed = 0;
    const off = bus.subscribe(() => removed++);
    off();
    bus.subscribe(() => {
      throw new Error('listener bug');
    });
    const got = collect(bus, 1);
    await bus.publish({ type: 'session.revoked', sid: 's1' });
    assert.deepEqual(await got, [{ type: 'session.revoked', sid: 's1' }]);
    assert.equal(removed, 0);
    await bus.close();
  });
});

describe('parseEvent', () => {
  it('accepts known types only', () => {
    assert.deepEqual(parseEvent('{"type":"token.revoked","jti":"j"}'), { type: 'token.revoked', jti: 'j' });
    for (const bad of ['', 'null', '[]', '"config.changed"', '{"type":"rm -rf"}', '{"typ":"config.changed"}', '{']) {
      assert.equal(parseEvent(bad), undefined, bad);
    }
  });
});

const url = await redisUrl();

describe('events: Redis pub/sub between two buses', { skip: url === undefined && 'Redis not reachable' }, () => {
  let redisA: Redis;
  let redisB: Redis;
  let busA: RunningEventBus;
  let busB: RunningEventBus;

  before(async () => {
    redisA = new Redis(url!);
    redisB = new Redis(url!);
    busA = createEventBus(redisA, silentLogger());
    busB = createEventBus(redisB, silentLogger());
    await Promise.all([busA.ready(), busB.ready()]);
  });

  after(async () => {
    await Promise.all([busA.close(), busB.close()]);
    await Promise.all([redisA.quit(), redisB.quit()]);
  });

  it('an event published on one bus reaches subscribers of both, once each', async () => {
    const onA = collect(busA, 2);
    const onB = collect(busB, 2);
    await busA.publish({ type: 'credentials.changed', consumer: 'partner-a' });
    await busB.publish({ type: 'token.revoked', digest: 'd1' });
    const expected = [
      { type: 'credentials.changed', consumer: 'partner-a' },
      { type: 'token.revoked', digest: 'd1' },
    ];
    assert.deepEqual(await onA, expected);
    assert.deepEqual(await onB, expected);
  });

  it('the shared connection stays usable for commands (the subscriber is its own connection)', async () => {
    assert.equal(await redisA.ping(), 'PONG');
    assert.equal(await redisA.set(`drawbridge:test:${process.pid}`, '1', 'EX', 5), 'OK');
  });

  it('ignores malformed messages on the channel and keeps delivering', async () => {
    const onB = collect(busB, 1);
    await redisA.publish(EVENTS_CHANNEL, 'not json');
    await redisA.publish(EVENTS_CHANNEL, JSON.stringify({ type: 'unknown.kind' }));
    await busA.publish({ type: 'config.changed' });
    assert.deepEqual(await onB, [{ type: 'config.changed' }]);
  });
});
