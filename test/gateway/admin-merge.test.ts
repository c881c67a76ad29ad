// mergeAdminEntities: the config file's gateway section plus admin-created services,
// routes and plugins, each validated by the config schema; the file config is untouched.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, validateConfig } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { mergeAdminEntities } from '../../src/gateway/admin/index.js';
import type { EntityRecord } from '../../src/storage/types.js';

function fileGateway(): GatewayConfig {
  return validateConfig({
    issuer: 'http://127.0.0.1:9',
    storage: 'memory:',
    gateway: {
      services: [{ name: 'orders', url: 'http://127.0.0.1:7001', routes: [{ name: 'orders-route', paths: ['/orders'] }] }],
      plugins: [{ name: 'cors' }],
    },
  }).gateway!;
}

function entity(kind: EntityRecord['kind'], id: string, body: Record<string, unknown>): EntityRecord {
  return { kind, id, name: typeof body.name === 'string' && kind !== 'plugin' ? body.name : null, body, created_at: 1, updated_at: 1 };
}

describe('mergeAdminEntities', () => {
  it('appends admin services, attaches routes and scopes plugins, leaving the file config as it was', () => {
    const file = fileGateway();
    const snapshot = structuredClone(file);
    const merged = mergeAdminEntities(file, [
      entity('service', 'svc-1', { name: 'billing', url: 'http://127.0.0.1:7002', connect_timeout: '250ms' }),
      entity('route', 'r-1', { service: 'svc-1', paths: ['/billing'], strip_path: false }),
      entity('route', 'r-2', { service: 'orders', paths: ['/orders-v2'] }),
      entity('plugin', 'p-global', { name: 'key-auth' }),
      entity('plugin', 'p-svc', { name: 'acl', config: { allow: ['x'] }, service: 'svc-1' }),
      entity('plugin', 'p-route', { name: 'basic-auth', route: 'r-2' }),
      entity('plugin', 'p-file-route', { name: 'hmac-auth', route: 'orders-route' }),
    ]);
    assert.deepEqual(file, snapshot, 'the file config is not modified');
    assert.deepEqual(merged.services.map((s) => s.name), ['orders', 'billing']);
    const billing = merged.services[1]!;
    assert.equal(billing.connect_timeout, 250, 'validated by the schema (milliseconds)');
    assert.equal(billing.read_timeout, 60_000, 'schema defaults applied');
    assert.deepEqual(billing.routes.map((r) => [r.id, r.paths, r.strip_path]), [['r-1', ['/billing'], false]]);
    assert.deepEqual(billing.plugins.map((p) => p.name), ['acl']);
    const orders = merged.services[0]!;
    assert.deepEqual(orders.routes.map((r) => r.id ?? r.name), ['orders-route', 'r-2']);
    assert.deepEqual(orders.routes[0]!.plugins.map((p) => p.name), ['hmac-auth']);
    assert.deepEqual(orders.routes[1]!.plugins.map((p) => p.name), ['basic-auth']);
    assert.equal(orders.routes[1]!.strip_path, true);
    assert.deepEqual(merged.plugins.map((p) => p.name), ['cors', 'key-auth']);
  });

  it('no entities: the same services and plugins', () => {
    const file = fileGateway();
    assert.deepEqual(mergeAdminEntities(file, []), file);
  });

  it('names the entity and field of a stored body the schema rejects, or a dangling reference', () => {
    const cases: Array<[EntityRecord[], string]> = [
      [[entity('service', 's9', { name: 'x', url: 'nope' })], 'admin.services[s9].url'],
      [[entity('route', 'r9', { service: 'gone', paths: ['/x'] })], 'admin.routes[r9].service'],
      [[entity('route', 'r9', { service: 'orders', paths: ['x'] })], 'admin.routes[r9].paths[0]'],
      [[entity('plugin', 'p9', { name: 'key-auth', route: 'gone' })], 'admin.plugins[p9].route'],
      [[entity('plugin', 'p9', { name: 'key-auth', service: 'gone' })], 'admin.plugins[p9].service'],
      // a stored plugin's own config, as a stricter release reads it (an older one took `x(y`),
      // is named by the plugin's admin id, not by where the merge put it
      [[entity('plugin', 'p9', { name: 'hmac-auth', route: 'orders-route', config: { enforce_headers: ['x(y'] } })], 'admin.plugins[p9].config.enforce_headers[0]'],
      [[entity('plugin', 'p9', { name: 'rate-limiting', config: { minute: -1 } })], 'admin.plugins[p9].config.minute'],
    ];
    for (const [entities, path] of cases) {
      assert.throws(() => mergeAdminEntities(fileGateway(), entities), (err: unknown) => err instanceof ConfigError && err.path === path, path);
    }
  });
});
