// Two gateway instances sharing PostgreSQL and Redis, as in production: a consumer, a key
// and a route created through the admin API of one instance work on the other within a
// second, without a restart; deletions end access there just as fast.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl, redisUrl, type TestSchema } from '../helpers/services.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';
import { send } from './authn-support.js';
import { within } from '../helpers/poll.js';

const pg = await postgresUrl();
const redis = await redisUrl();

describe('admin changes across two instances (PostgreSQL + Redis)', { skip: (pg === undefined || redis === undefined) && 'PostgreSQL or Redis not reachable' }, () => {
  let upstream: Upstream;
  let schema: TestSchema;
  let a: Stack;
  let b: Stack;
  let adminA: string;

  before(async () => {
    upstream = await startUpstream();
    schema = await migratedPostgresSchema(pg!);
    const services = [{ name: 'orders', url: upstream.url, routes: [{ paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] }];
    const top = { storage: schema.url, redis };
    a = await startStack({ auth: false, top, gateway: { admin_listen: '127.0.0.1:0', admin_token: ADMIN_TOKEN, services } });
    b = await startStack({ auth: false, top, gateway: { services } });
    adminA = adminUrlOf(a);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await schema?.drop();
  });

  it('a consumer and key created on A authenticate on B within a second; deleting the consumer ends it on B', async () => {
    assert.equal((await admin(adminA, 'POST', '/consumers', { username: 'roaming' })).status, 201);
    const { json } = await admin(adminA, 'POST', '/consumers/roaming/key-auth', {});
    await within(1000, async () => (await send(b.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status === 200, 'new key on B');
    assert.equal((await send(a.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status, 200);
    assert.equal((await admin(adminA, 'DELETE', '/consumers/roaming')).status, 204);
    await within(1000, async () => (await send(b.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status === 401, 'deleted consumer on B');
  });

  it('a service and route created on A serve traffic on B within a second', async () => {
    assert.equal((await send(b.gatewayUrl, '/fresh')).status, 404);
    assert.equal((await admin(adminA, 'POST', '/services', { name: 'fresh', url: upstream.url })).status, 201);
    assert.equal((await admin(adminA, 'POST', '/services/fresh/routes', { paths: ['/fresh'] })).status, 201);
    await within(1000, async () => (await send(b.gatewayUrl, '/fresh')).status === 200, 'new route on B');
  });
});
