// The admin API and gateway config validation against the defects of an outside audit: a 500
// for a deeply nested body, a `__proto__` key that took effect past validation, a service URL
// whose credentials or query were dropped without a word, pagination that skipped entities
// after a delete, Kong divergences (no plugin cascade on delete, missing paths, routes that
// can never match, metric labels), and a one-character admin token on 0.0.0.0. Every
// assertion here failed before its fix.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, validateConfig } from '../../src/config/schema.js';
import { parseConfigText } from '../../src/config/load.js';
import { assertAdminListenSafe } from '../../src/gateway/admin/index.js';
import { configPart, validateRoute } from '../../src/gateway/admin/merge.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';
import { send } from './authn-support.js';

const FORM = 'application/x-www-form-urlencoded';

function withGateway(gateway: Record<string, unknown>): Record<string, unknown> {
  return { issuer: 'http://127.0.0.1:9000', storage: 'memory:', gateway };
}

function rejects(raw: Record<string, unknown>, path: string, problem: RegExp): ConfigError {
  let caught: unknown;
  try {
    validateConfig(raw);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError at ${path}, got ${String(caught)}`);
  assert.equal(caught.path, path, caught.message);
  assert.match(caught.problem, problem);
  return caught;
}

describe('admin API audit fixes', () => {
  let upstream: Upstream;
  let stack: Stack;
  let base: string;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        services: [{ name: 'file-svc', url: upstream.url, routes: [{ name: 'file-route', paths: ['/file'] }] }],
      },
    });
    base = adminUrlOf(stack);
    assert.equal((await admin(base, 'POST', '/services', { name: 'audit', url: upstream.url })).status, 201);
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  describe('deeply nested bodies (were a 500: RangeError in the NUL walk)', () => {
    it('JSON objects or lists 5,000 levels deep, and a form key of 5,000 parts: 400 naming the limit', async () => {
      const deepObject = `{"name":"deep","url":"${upstream.url}","x":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      const deepList = `{"name":"deep","url":"${upstream.url}","x":${'['.repeat(5000)}${']'.repeat(5000)}}`;
      const deepForm = `name=deep&x${'.a'.repeat(5000)}=1`;
      for (const [body, type] of [[deepObject, undefined], [deepList, undefined], [deepForm, FORM]] as const) {
        const r = await admin(base, 'POST', '/services', body, type === undefined ? {} : { contentType: type });
        assert.equal(r.status, 400, r.text.slice(0, 200));
        assert.equal(r.json.error, 'invalid_request');
        assert.match(r.json.error_description, /more than 64 levels deep/);
      }
      // 65 levels: refused; 64 (the body itself is one): taken to validation, which names the field
      const at = (levels: number) => `{"name":"deep","url":"${upstream.url}","x":${'{"a":'.repeat(levels - 1)}1${'}'.repeat(levels - 1)}}`;
      assert.match((await admin(base, 'POST', '/services', at(65))).json.error_description, /64 levels/);
      assert.deepEqual(Object.keys((await admin(base, 'POST', '/services', at(64))).json.fields), ['x']);
      assert.equal((await admin(base, 'GET', '/services/deep')).status, 404);
    });

    it('brackets inside strings do not count as nesting', async () => {
      const r = await admin(base, 'POST', '/routes', { service: { name: 'audit' }, paths: ['/brackets'], headers: { 'x-b': ['{'.repeat(200) + '['.repeat(200)] } });
      assert.equal(r.status, 201, r.text);
      assert.equal((await admin(base, 'DELETE', `/routes/${r.json.id}`)).status, 204);
    });
  });

  describe('__proto__, constructor and prototype keys', () => {
    it('a top-level __proto__ is refused (it skipped the unknown-key check and strip_path/preserve_host took effect)', async () => {
      const body = `{"__proto__":{"strip_path":false,"preserve_host":true},"paths":["/proto"],"service":{"name":"audit"}}`;
      const r = await admin(base, 'POST', '/routes', body);
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(Object.keys(r.json.fields), ['__proto__']);
      assert.equal(r.json.fields.__proto__, '"__proto__" is not a field name');
      assert.equal((await send(stack.gatewayUrl, '/proto/x')).status, 404);
      for (const [path, raw] of [
        ['/services', `{"name":"proto-svc","url":"${upstream.url}","__proto__":{"retries":3}}`],
        ['/plugins', `{"name":"key-auth","__proto__":{"enabled":false}}`],
      ] as const) {
        const refused = await admin(base, 'POST', path, raw);
        assert.equal(refused.status, 400, path);
        assert.deepEqual(Object.keys(refused.json.fields), ['__proto__'], path);
      }
      assert.equal((await admin(base, 'GET', '/services/proto-svc')).status, 404);
      assert.deepEqual((await admin(base, 'GET', '/plugins')).json.data, []);
    });

    it('anywhere in the body, in POST and PATCH: the field is named', async () => {
      const nested = await admin(base, 'POST', '/plugins', `{"name":"key-auth","config":{"constructor":{"prototype":{"x":1}}}}`);
      assert.equal(nested.status, 400);
      assert.deepEqual(Object.keys(nested.json.fields), ['config.constructor']);
      const patch = await admin(base, 'PATCH', '/services/audit', `{"__proto__":{"read_timeout":1}}`);
      assert.equal(patch.status, 400);
      assert.deepEqual(Object.keys(patch.json.fields), ['__proto__']);
      const headers = await admin(base, 'POST', '/routes', `{"service":"audit","paths":["/h"],"headers":{"__proto__":["a"]}}`);
      assert.deepEqual(Object.keys(headers.json.fields), ['headers.__proto__']);
    });

    it('an admin path segment named like an Object.prototype member is a 404 (/constructor found Object and never answered)', async () => {
      for (const path of ['/constructor', '/__proto__', '/toString', '/hasOwnProperty']) {
        const r = await fetch(base + path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5000) });
        assert.equal(r.status, 404, path);
        await r.body?.cancel();
      }
    });

    it('a stored body copied for validation keeps __proto__ as its own key, so the schema names it', () => {
      assert.throws(
        () => validateRoute(configPart(JSON.parse('{"__proto__":{"strip_path":false},"paths":["/a"]}') as Record<string, unknown>)),
        (err: unknown) => err instanceof ConfigError && err.path === '__proto__',
      );
    });

    it('config files (JSON and YAML) refuse __proto__ wherever keys are free-form', () => {
      const json = JSON.stringify(withGateway({ plugins: [{ name: 'key-auth', config: {} }] })).replace('"config":{}', '"config":{"__proto__":{"key_names":["x"]}}');
      assert.throws(() => parseConfigText(json, {}, 'c.json'), (err: unknown) => err instanceof ConfigError && err.path === 'gateway.plugins[0].config.__proto__');
      const yaml = [
        'issuer: http://127.0.0.1:9000',
        'storage: memory',
        'gateway:',
        '  services:',
        '    - name: s',
        '      url: http://127.0.0.1:7001',
        '      routes:',
        '        - paths: [/a]',
        '          headers: { __proto__: [x] }',
        '',
      ].join('\n');
      assert.throws(() => parseConfigText(yaml, {}, 'c.yaml'), /gateway\.services\[0\]\.routes\[0\]\.headers\.__proto__: "__proto__" is not allowed as a key/);
      // constructor and prototype are plain keys in a copy: unknown keys where the shape is fixed
      assert.throws(() => parseConfigText(yaml.replace('headers: { __proto__: [x] }', 'constructor: 1'), {}, 'c.yaml'), /routes\[0\]\.constructor: unknown key/);
    });
  });

  describe('service URLs with credentials or a query (were dropped without a word)', () => {
    it('the admin API refuses them in url and targets, naming the field and never echoing the value', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: 'cred', url: 'http://user:s3cret-pass@127.0.0.1:7001/api' }, 'url'],
        [{ name: 'cred', url: 'http://s3cret-pass@127.0.0.1:7001' }, 'url'],
        [{ name: 'cred', url: 'http://127.0.0.1:7001/api?token=s3cret-pass' }, 'url'],
        [{ name: 'cred', url: 'http://127.0.0.1:7001/api#s3cret-pass' }, 'url'],
        [{ name: 'cred', targets: ['http://127.0.0.1:7001', 'http://u:s3cret-pass@127.0.0.1:7002'] }, 'targets[1]'],
        [{ name: 'cred', url: 'http://u:s3cret-pass@127.0.0.1:7001', host: '127.0.0.1' }, 'url'],
        [{ name: 'cred', host: '127.0.0.1', path: '/a?token=s3cret-pass' }, 'path'],
      ];
      for (const [body, field] of cases) {
        const r = await admin(base, 'POST', '/services', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.deepEqual(Object.keys(r.json.fields), [field], JSON.stringify(body));
        assert.doesNotMatch(r.text, /s3cret/);
      }
      const creds = await admin(base, 'POST', '/services', cases[0]![0]);
      assert.match(creds.json.fields.url, /without user:password@/);
      const query = await admin(base, 'POST', '/services', cases[2]![0]);
      assert.match(query.json.fields.url, /without a query \(\?\) or fragment/);
      const patch = await admin(base, 'PATCH', '/services/audit', { url: 'http://a:b@127.0.0.1:1' });
      assert.equal(patch.status, 400);
      assert.equal((await admin(base, 'GET', '/services/cred')).status, 404);
    });

    it('the config file refuses them, naming the key', () => {
      const err = rejects(withGateway({ services: [{ name: 's', url: 'http://user:pass-word@h:1/x' }] }), 'gateway.services[0].url', /without user:password@/);
      assert.doesNotMatch(err.message, /pass-word/);
      rejects(withGateway({ services: [{ name: 's', url: 'https://h/x?token=t' }] }), 'gateway.services[0].url', /without a query/);
      rejects(withGateway({ services: [{ name: 's', targets: ['http://h:1', 'http://u@h:2'] }] }), 'gateway.services[0].targets[1]', /without user:password@/);
      assert.doesNotThrow(() => validateConfig(withGateway({ services: [{ name: 's', url: 'http://h:1/base/path' }] })));
    });
  });

  describe('pagination', () => {
    it('the offset is a cursor: deleting an entity of page 1 makes page 2 skip nothing', async () => {
      const names = ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e'];
      for (const username of names) assert.equal((await admin(base, 'POST', '/consumers', { username })).status, 201);
      const first = await admin(base, 'GET', '/consumers?size=2');
      assert.deepEqual(first.json.data.map((c: { username: string }) => c.username), ['pg-a', 'pg-b']);
      assert.match(first.json.next, /^\/consumers\?size=2&offset=[A-Za-z0-9_-]+$/);
      assert.equal((await admin(base, 'DELETE', '/consumers/pg-a')).status, 204);
      const second = await admin(base, 'GET', first.json.next);
      assert.deepEqual(second.json.data.map((c: { username: string }) => c.username), ['pg-c', 'pg-d']);
      // the page's last entity gone too: the cursor still knows where it was
      assert.equal((await admin(base, 'DELETE', '/consumers/pg-d')).status, 204);
      const third = await admin(base, 'GET', second.json.next);
      assert.deepEqual(third.json.data.map((c: { username: string }) => c.username), ['pg-e']);
      assert.equal(third.json.next, null);
      for (const offset of ['%%%', Buffer.from('2').toString('base64url'), Buffer.from('{"a":1}').toString('base64url')]) {
        const r = await admin(base, 'GET', `/consumers?size=2&offset=${offset}`);
        assert.equal(r.status, 400, offset);
        assert.deepEqual(Object.keys(r.json.fields), ['offset']);
      }
    });

    it('services: file ones first, then admin ones by creation, stable under deletes', async () => {
      for (const name of ['pgs-1', 'pgs-2', 'pgs-3']) assert.equal((await admin(base, 'POST', '/services', { name, url: upstream.url })).status, 201);
      const all = (await admin(base, 'GET', '/services')).json.data.map((s: { name: string }) => s.name);
      // (within one second of creation, the id orders them: ids are time-ordered, UUIDv7)
      assert.deepEqual(all.slice(-3).sort(), ['pgs-1', 'pgs-2', 'pgs-3']);
      const size = all.length - 2;
      const first = await admin(base, 'GET', `/services?size=${size}`);
      assert.deepEqual(first.json.data.map((s: { name: string }) => s.name), all.slice(0, size));
      assert.equal((await admin(base, 'DELETE', `/services/${all[size - 1]}`)).status, 204);
      const rest: string[] = [];
      for (let path: string | null = first.json.next; path !== null; ) {
        const page: Record<string, any> = (await admin(base, 'GET', path)).json;
        rest.push(...page.data.map((s: { name: string }) => s.name));
        path = page.next;
      }
      assert.deepEqual(rest, all.slice(size));
      for (const name of all.slice(size)) assert.equal((await admin(base, 'DELETE', `/services/${name}`)).status, 204);
    });
  });

  describe('Kong divergences', () => {
    it('DELETE of a route or a service deletes its plugins with it (Kong cascades); a service with routes is still a 409', async () => {
      const svc = await admin(base, 'POST', '/services', { name: 'cascade', url: upstream.url });
      const route = await admin(base, 'POST', '/services/cascade/routes', { paths: ['/cascade'] });
      const routePlugin = await admin(base, 'POST', `/routes/${route.json.id}/plugins`, { name: 'key-auth' });
      const servicePlugin = await admin(base, 'POST', '/services/cascade/plugins', { name: 'basic-auth' });
      assert.equal(routePlugin.status, 201);
      assert.equal(servicePlugin.status, 201);
      assert.equal((await send(stack.gatewayUrl, '/cascade/x')).status, 401);

      const refused = await admin(base, 'DELETE', '/services/cascade');
      assert.equal(refused.status, 409);
      assert.match(refused.json.error_description, /route/);
      assert.equal((await admin(base, 'DELETE', `/routes/${route.json.id}`)).status, 204);
      assert.equal((await admin(base, 'GET', `/plugins/${routePlugin.json.id}`)).status, 404);
      assert.equal((await admin(base, 'GET', `/plugins/${servicePlugin.json.id}`)).status, 200);
      assert.equal((await admin(base, 'DELETE', `/services/${svc.json.id}`)).status, 204);
      assert.equal((await admin(base, 'GET', `/plugins/${servicePlugin.json.id}`)).status, 404);
      assert.deepEqual((await admin(base, 'GET', '/plugins')).json.data, []);
    });

    it('Kong’s /key-auths, /basic-auths, /hmac-auths list and get credentials across consumers, never a secret', async () => {
      await admin(base, 'POST', '/consumers', { username: 'cred-a' });
      await admin(base, 'POST', '/consumers', { username: 'cred-b' });
      const keyA = await admin(base, 'POST', '/consumers/cred-a/key-auth', {});
      const keyB = await admin(base, 'POST', '/consumers/cred-b/key-auth', { key: 'cred-b-key-0123456789abcdefghij' });
      const basic = await admin(base, 'POST', '/consumers/cred-b/basic-auth', { username: 'bob', password: 'bob-password-123' });
      const hmac = await admin(base, 'POST', '/consumers/cred-a/hmac-auth', { key_id: 'hk', secret: 'hmac-secret-0123456789abcdef' });
      assert.equal(keyA.status, 201);
      assert.ok(typeof keyA.json.key === 'string');

      const keys = await admin(base, 'GET', '/key-auths');
      assert.equal(keys.status, 200);
      assert.deepEqual(keys.json.data.map((c: { id: string; consumer: { username: string } }) => [c.id, c.consumer.username]), [[keyA.json.id, 'cred-a'], [keyB.json.id, 'cred-b']]);
      assert.doesNotMatch(keys.text, new RegExp(`${keyA.json.key}|cred-b-key`));
      for (const c of keys.json.data) assert.equal(c.key, undefined);
      const paged = await admin(base, 'GET', '/key-auths?size=1');
      assert.equal(paged.json.data.length, 1);
      assert.equal((await admin(base, 'GET', paged.json.next)).json.data[0].id, keyB.json.id);

      assert.deepEqual((await admin(base, 'GET', `/key-auths/${keyB.json.id}`)).json.consumer, { id: keyB.json.consumer.id, username: 'cred-b' });
      assert.equal((await admin(base, 'GET', `/basic-auths/bob`)).json.id, basic.json.id);
      assert.equal((await admin(base, 'GET', `/basic-auths/${basic.json.id}`)).json.username, 'bob');
      const h = await admin(base, 'GET', '/hmac-auths/hk');
      assert.equal(h.json.id, hmac.json.id);
      assert.equal(h.json.secret, undefined);
      assert.doesNotMatch((await admin(base, 'GET', '/hmac-auths')).text, /hmac-secret/);
      assert.doesNotMatch((await admin(base, 'GET', '/basic-auths')).text, /bob-password|argon2/);
      // another plugin's credential by id, a key in the URL, a write: not here
      assert.equal((await admin(base, 'GET', `/basic-auths/${keyA.json.id}`)).status, 404);
      assert.equal((await admin(base, 'GET', `/key-auths/cred-b-key-0123456789abcdefghij`)).status, 404);
      const write = await admin(base, 'DELETE', `/key-auths/${keyA.json.id}`);
      assert.equal(write.status, 405);
      assert.equal(write.headers.get('allow'), 'GET');
    });

    it('Kong’s /routes/{id}/service answers the route’s service', async () => {
      const route = await admin(base, 'POST', '/services/audit/routes', { name: 'svc-of', paths: ['/svc-of'] });
      const svc = await admin(base, 'GET', `/routes/${route.json.id}/service`);
      assert.equal(svc.status, 200);
      assert.equal(svc.json.name, 'audit');
      assert.equal((await admin(base, 'GET', '/routes/svc-of/service')).json.name, 'audit');
      assert.equal((await admin(base, 'GET', '/routes/file-route/service')).json.name, 'file-svc');
      assert.equal((await admin(base, 'GET', '/routes/nope/service')).status, 404);
      assert.equal((await admin(base, 'DELETE', `/routes/${route.json.id}`)).status, 204);
    });

    it('routes that could never match are refused: a prefix with ;, a header name that is no token, headers.host', async () => {
      const cases: Array<[Record<string, unknown>, string, RegExp]> = [
        [{ paths: ['/api;v=1'] }, 'paths[0]', /without ;/],
        [{ paths: ['/ok', '/a;b/c'] }, 'paths[1]', /without ;/],
        [{ headers: { 'bad header': ['x'] } }, 'headers["bad header"]', /HTTP token/],
        [{ headers: { Host: ['example.com'] } }, 'headers.Host', /with hosts/],
      ];
      for (const [route, field, problem] of cases) {
        const r = await admin(base, 'POST', '/services/audit/routes', route);
        assert.equal(r.status, 400, JSON.stringify(route));
        assert.deepEqual(Object.keys(r.json.fields), [field]);
        assert.match(r.json.fields[field], problem);
        rejects(withGateway({ services: [{ name: 's', url: 'http://h:1', routes: [route] }] }), `gateway.services[0].routes[0].${field}`, problem);
      }
      // a regex may hold ; (it matches the path as it is), and a plain header name is fine
      assert.doesNotThrow(() => validateConfig(withGateway({ services: [{ name: 's', url: 'http://h:1', routes: [{ paths: ['~/a;b'], headers: { 'x-version': ['2'] } }] }] })));
    });

    it('metrics label an admin-made route by its name (README: name is for metrics), not its UUID', async () => {
      const route = await admin(base, 'POST', '/services/audit/routes', { name: 'named-route', paths: ['/named'] });
      assert.equal((await send(stack.gatewayUrl, '/named/x')).status, 200);
      const text = (await admin(base, 'GET', '/metrics')).text;
      assert.match(text, /^drawbridge_requests_total\{service="audit",route="named-route",status="200"\} 1$/m);
      assert.ok(!text.includes(route.json.id), 'the UUID is no label');
      const unnamed = await admin(base, 'POST', '/services/audit/routes', { paths: ['/unnamed'] });
      assert.equal((await send(stack.gatewayUrl, '/unnamed/x')).status, 200);
      assert.ok((await admin(base, 'GET', '/metrics')).text.includes(`route="${unnamed.json.id}"`), 'without a name: the id');
      await admin(base, 'DELETE', `/routes/${route.json.id}`);
      await admin(base, 'DELETE', `/routes/${unnamed.json.id}`);
    });
  });
});

describe('gateway.admin_token strength', () => {
  it('at least 32 characters when admin_listen is not a loopback address (config and listener)', () => {
    for (const listen of ['0.0.0.0:8001', '10.1.2.3:8001', '[::]:8001', 'admin.internal:8001']) {
      rejects(withGateway({ admin_listen: listen, admin_token: 'a' }), 'gateway.admin_token', /expected at least 32 characters, got 1: gateway\.admin_listen .* is not a loopback address/);
      assert.throws(() => assertAdminListenSafe(listen, 'short-token'), /gateway\.admin_token: expected at least 32 characters, got 11/);
      assert.doesNotThrow(() => validateConfig(withGateway({ admin_listen: listen, admin_token: 'x'.repeat(32) })));
    }
    for (const listen of ['127.0.0.1:8001', '[::1]:8001', 'localhost:8001']) {
      assert.doesNotThrow(() => validateConfig(withGateway({ admin_listen: listen, admin_token: 'a' })), listen);
      assert.doesNotThrow(() => assertAdminListenSafe(listen, 'a'), listen);
    }
  });
});
