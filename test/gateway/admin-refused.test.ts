// The admin server's central catch answers core's Refused, whichever handler throws it: 400
// naming the field, 404 or 409, never a 500. (The /users handlers throw it through the user
// operations; admin-users.test.ts covers those answers end to end.)
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Refused } from '../../src/core/refused.js';
import type { AdminContext } from '../../src/gateway/admin/context.js';
import { adminHandler } from '../../src/gateway/admin/server.js';
import { silentLogger } from '../../src/observability/logger.js';

describe('admin API: core Refused from any handler', () => {
  let refusal: Refused;
  let server: Server;
  let base: string;

  before(async () => {
    // /metrics is not a /users handler: its scrape throws the refusal under test
    const ctx = {
      logger: silentLogger(),
      metrics: {
        scrape: async () => {
          throw refusal;
        },
      },
    } as unknown as AdminContext;
    const handle = adminHandler(ctx, undefined);
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      void handle(req, res, { requestId: 'req-1', path: url.pathname, query: url.search });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function answer(r: Refused): Promise<{ status: number; body: Record<string, unknown> }> {
    refusal = r;
    const res = await fetch(`${base}/metrics`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('invalid: 400 invalid_request naming the field', async () => {
    const { status, body } = await answer(new Refused('invalid', 'too short', 'password'));
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_request');
    assert.deepEqual(body.fields, { password: 'too short' });
  });

  it('not_found: 404', async () => {
    const { status, body } = await answer(new Refused('not_found', 'no user "ghost"'));
    assert.equal(status, 404);
    assert.equal(body.error, 'not_found');
    assert.equal(body.error_description, 'no user "ghost"');
  });

  it('conflict: 409, naming the field when it has one', async () => {
    const plain = await answer(new Refused('conflict', 'user "alice" comes from the config file'));
    assert.equal(plain.status, 409);
    assert.equal(plain.body.error, 'conflict');
    assert.equal(plain.body.fields, undefined);
    const named = await answer(new Refused('conflict', 'already taken', 'username'));
    assert.equal(named.status, 409);
    assert.deepEqual(named.body.fields, { username: 'already taken' });
  });
});
