// The admin API on a running gateway: the token, Kong's paths and verbs for consumers,
// credentials, services, routes and plugins, validation that names the field, and changes
// that apply at once without a restart.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/schema.js';
import { assertAdminListenSafe, isLoopbackHost } from '../../src/gateway/admin/index.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';
import { send } from './authn-support.js';

const FILE_KEY = 'file-key-0123456789abcdefghijklmnop';

describe('admin API', () => {
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
        consumers: [{ username: 'from-file', groups: ['file'], credentials: { 'key-auth': [{ key: FILE_KEY }] } }],
        services: [
          {
            name: 'orders',
            url: upstream.url,
            routes: [{ name: 'orders-route', paths: ['/orders'], strip_path: false }],
            plugins: [{ name: 'key-auth' }],
          },
        ],
      },
    });
    base = adminUrlOf(stack);
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  describe('the admin token', () => {
    it('is required: none → 401 with the Bearer challenge', async () => {
      const r = await admin(base, 'GET', '/consumers', undefined, { token: null });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="drawbridge-admin"');
      assert.equal(r.json.error, 'unauthorized');
      assert.equal(r.json.error_description, 'admin token required');
    });

    it('must be right: a wrong Bearer token (or a prefix, or none after Bearer) → 401 invalid_token, in the challenge and the body alike (RFC 6750 §3.1)', async () => {
      for (const authorization of [`Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, `bearer ${ADMIN_TOKEN}x`, 'Bearer ', 'Bearer']) {
        const res = await fetch(`${base}/consumers`, { headers: { authorization } });
        assert.equal(res.status, 401, authorization);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="drawbridge-admin", error="invalid_token"');
        const body = (await res.json()) as { error: string; error_description: string };
        assert.equal(body.error, 'invalid_token', authorization);
        assert.equal(body.error_description, 'invalid admin token');
      }
    });

    it('another scheme is no Bearer token at all: the bare challenge and unauthorized, as with none (and as the gateway answers a route with jwt)', async () => {
      for (const authorization of [`Basic ${ADMIN_TOKEN}`, ADMIN_TOKEN, `Token ${ADMIN_TOKEN}`]) {
        const res = await fetch(`${base}/consumers`, { headers: { authorization } });
        assert.equal(res.status, 401, authorization);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="drawbridge-admin"', authorization);
        const body = (await res.json()) as { error: string; error_description: string };
        assert.equal(body.error, 'unauthorized', authorization);
        assert.equal(body.error_description, 'admin token required');
      }
    });

    it('guards /metrics too; /healthz and /readyz stay open', async () => {
      assert.equal((await admin(base, 'GET', '/metrics', undefined, { token: 'nope' })).status, 401);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
    });

    it('refuses a non-loopback admin listener without a token', () => {
      const names = (path: string) => (err: unknown) => err instanceof ConfigError && err.path === path;
      assert.throws(() => assertAdminListenSafe('0.0.0.0:8001', undefined), names('gateway.admin_token'));
      assert.throws(() => assertAdminListenSafe('10.1.2.3:8001', undefined), /^ConfigError: gateway\.admin_token: required: gateway\.admin_listen 10\.1\.2\.3:8001 is not a loopback address/);
      assert.throws(() => assertAdminListenSafe('[::]:8001', undefined), names('gateway.admin_token'));
      assert.throws(() => assertAdminListenSafe('127.0.0.1:8001', ''), /gateway.admin_token: must not be empty/);
      assert.doesNotThrow(() => assertAdminListenSafe('127.0.0.1:8001', undefined));
      assert.doesNotThrow(() => assertAdminListenSafe('0.0.0.0:8001', ADMIN_TOKEN));
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopbackHost(host), true, host);
      for (const host of ['0.0.0.0', '::', '192.168.1.1', 'example.com', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
    });
  });

  describe('consumers', () => {
    it('POST creates, GET lists and finds by username or id, PATCH changes groups, DELETE removes', async () => {
      const created = await admin(base, 'POST', '/consumers', { username: 'acme', groups: ['partners'] });
      assert.equal(created.status, 201);
      const { id, created_at, updated_at, ...rest } = created.json;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(typeof created_at, 'number');
      assert.equal(updated_at, created_at);
      assert.deepEqual(rest, { username: 'acme', custom_id: null, tags: null, groups: ['partners'], source: 'admin' });

      const list = await admin(base, 'GET', '/consumers');
      assert.equal(list.status, 200);
      assert.equal(list.json.next, null);
      assert.deepEqual(list.json.data.map((c: { username: string }) => c.username), ['acme', 'from-file']);
      assert.deepEqual((await admin(base, 'GET', '/consumers/acme')).json, created.json);
      assert.deepEqual((await admin(base, 'GET', `/consumers/${id}`)).json, created.json);

      const patched = await admin(base, 'PATCH', '/consumers/acme', { groups: ['partners', 'beta'] });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.json.groups, ['partners', 'beta']);
      assert.equal(patched.json.id, id);

      assert.equal((await admin(base, 'POST', '/consumers', { username: 'acme' })).status, 409);
      const del = await admin(base, 'DELETE', '/consumers/acme');
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assert.equal((await admin(base, 'GET', '/consumers/acme')).status, 404);
      assert.equal((await admin(base, 'DELETE', '/consumers/acme')).status, 404);
    });

    it('PUT creates (201) then replaces (200) by username; a form body works too', async () => {
      const first = await admin(base, 'PUT', '/consumers/put-me', 'groups[]=a&groups[]=b', { contentType: 'application/x-www-form-urlencoded' });
      assert.equal(first.status, 201);
      assert.deepEqual(first.json.groups, ['a', 'b']);
      const second = await admin(base, 'PUT', '/consumers/put-me', { groups: [] });
      assert.equal(second.status, 200);
      assert.deepEqual(second.json.groups, []);
      assert.equal(second.json.id, first.json.id);
      assert.equal((await admin(base, 'DELETE', '/consumers/put-me')).status, 204);
    });

    it('validation errors are 400 naming the field', async () => {
      const cases: Array<[unknown, string]> = [
        [{}, 'username'],
        [{ username: 'has space' }, 'username'],
        [{ username: 5 }, 'username'],
        [{ username: 'ok', groups: 'admins' }, 'groups'],
        [{ username: 'ok', groups: [''] }, 'groups'],
        [{ username: 'ok', colour: 'blue' }, 'colour'],
      ];
      for (const [body, field] of cases) {
        const r = await admin(base, 'POST', '/consumers', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.json.error, 'invalid_request');
        assert.deepEqual(Object.keys(r.json.fields), [field], JSON.stringify(body));
        assert.match(r.json.error_description, new RegExp(`^${field}: `));
      }
      const notJson = await admin(base, 'POST', '/consumers', '{"username":', {});
      assert.equal(notJson.status, 400);
      assert.equal(notJson.json.error_description, 'the body is not valid JSON');
      assert.equal((await admin(base, 'PATCH', '/consumers/from-file', { username: 'renamed' })).status, 409);
    });

    it('consumers from the config file are read-only', async () => {
      const file = await admin(base, 'GET', '/consumers/from-file');
      assert.equal(file.json.source, 'config');
      const patch = await admin(base, 'PATCH', '/consumers/from-file', { groups: [] });
      assert.equal(patch.status, 409);
      assert.equal(patch.json.error, 'conflict');
      assert.equal((await admin(base, 'DELETE', '/consumers/from-file')).status, 409);
      const keys = await admin(base, 'GET', '/consumers/from-file/key-auth');
      assert.equal(keys.json.data.length, 1);
      assert.equal((await admin(base, 'DELETE', `/consumers/from-file/key-auth/${keys.json.data[0].id}`)).status, 409);
    });

    it('unknown paths and methods', async () => {
      assert.equal((await admin(base, 'GET', '/nothing')).status, 404);
      assert.equal((await admin(base, 'GET', '/consumers/from-file/oauth2')).status, 404);
      const r = await admin(base, 'DELETE', '/consumers');
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'GET, POST');
    });
  });

  describe('credentials', () => {
    before(async () => {
      assert.equal((await admin(base, 'POST', '/consumers', { username: 'cred-owner', groups: ['g'] })).status, 201);
    });

    it('key-auth: a POST without a key generates one, returned once; it works on the gateway at once', async () => {
      const created = await admin(base, 'POST', '/consumers/cred-owner/key-auth', {});
      assert.equal(created.status, 201);
      const key: string = created.json.key;
      assert.match(key, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(created.json.consumer.username, 'cred-owner');
      assert.equal(created.json.plugin, 'key-auth');

      const listed = await admin(base, 'GET', '/consumers/cred-owner/key-auth');
      assert.equal(listed.json.data.length, 1);
      assert.ok(!listed.text.includes(key), 'the key is never returned again');
      assert.deepEqual(Object.keys(listed.json.data[0]).sort(), ['consumer', 'created_at', 'id', 'plugin', 'source']);
      const one = await admin(base, 'GET', `/consumers/cred-owner/key-auth/${created.json.id}`);
      assert.equal(one.status, 200);
      assert.ok(!one.text.includes(key));

      const r = await send(stack.gatewayUrl, '/orders', { headers: { apikey: key } });
      assert.equal(r.status, 200);
      assert.equal(upstream.last().headers.apikey, undefined);

      assert.equal((await admin(base, 'DELETE', `/consumers/cred-owner/key-auth/${created.json.id}`)).status, 204);
      const after = await send(stack.gatewayUrl, '/orders', { headers: { apikey: key } });
      assert.equal(after.status, 401, 'a deleted key stops working at once');
    });

    it('key-auth: a key unknown a moment ago works right after it is created (negative cache dropped)', async () => {
      const key = 'chosen-key-0123456789abcdefghijkl';
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: key } })).status, 401);
      const created = await admin(base, 'POST', '/consumers/cred-owner/key-auth', { key });
      assert.equal(created.status, 201);
      assert.equal(created.json.key, key);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: key } })).status, 200);
      const dup = await admin(base, 'POST', '/consumers/from-file/key-auth', { key });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.json.fields, { key: 'already in use' });
    });

    it('deleting the consumer ends its keys at once', async () => {
      await admin(base, 'POST', '/consumers', { username: 'short-lived' });
      const { json } = await admin(base, 'POST', '/consumers/short-lived/key-auth', {});
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status, 200);
      assert.equal((await admin(base, 'DELETE', '/consumers/short-lived')).status, 204);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status, 401);
    });

    it('basic-auth: username and password required; the password never comes back', async () => {
      const missing = await admin(base, 'POST', '/consumers/cred-owner/basic-auth', { username: 'alice' });
      assert.equal(missing.status, 400);
      assert.deepEqual(Object.keys(missing.json.fields), ['password']);
      const colon = await admin(base, 'POST', '/consumers/cred-owner/basic-auth', { username: 'a:b', password: 'x' });
      assert.deepEqual(Object.keys(colon.json.fields), ['username']);
      const created = await admin(base, 'POST', '/consumers/cred-owner/basic-auth', { username: 'alice', password: 'pa55word-long' });
      assert.equal(created.status, 201);
      assert.equal(created.json.username, 'alice');
      assert.ok(!created.text.includes('pa55word-long'));
      assert.ok(!created.text.includes('argon2'));
      const listed = await admin(base, 'GET', '/consumers/cred-owner/basic-auth');
      assert.deepEqual(listed.json.data.map((c: { username: string }) => c.username), ['alice']);
      assert.ok(!listed.text.includes('argon2'));
      assert.equal((await admin(base, 'POST', '/consumers/cred-owner/basic-auth', { username: 'alice', password: 'other' })).status, 409);
    });

    it('hmac-auth: a generated secret is returned once; key_id required', async () => {
      const missing = await admin(base, 'POST', '/consumers/cred-owner/hmac-auth', {});
      assert.deepEqual(Object.keys(missing.json.fields), ['key_id']);
      const created = await admin(base, 'POST', '/consumers/cred-owner/hmac-auth', { key_id: 'owner-key' });
      assert.equal(created.status, 201);
      assert.equal(created.json.key_id, 'owner-key');
      assert.match(created.json.secret, /^[A-Za-z0-9_-]{43}$/);
      const listed = await admin(base, 'GET', '/consumers/cred-owner/hmac-auth');
      assert.ok(!listed.text.includes(created.json.secret));
      assert.equal(listed.json.data[0].key_id, 'owner-key');
      const match = await stack.gateway.deps.consumers.hmacCredential('owner-key');
      assert.equal(match?.secret, created.json.secret);
      assert.equal((await admin(base, 'POST', '/consumers/cred-owner/hmac-auth', { key_id: 'owner-key', extra: 1 })).status, 400);
    });

    it('a credential id of another consumer or plugin is not found', async () => {
      const { json } = await admin(base, 'POST', '/consumers/cred-owner/key-auth', {});
      assert.equal((await admin(base, 'GET', `/consumers/from-file/key-auth/${json.id}`)).status, 404);
      assert.equal((await admin(base, 'GET', `/consumers/cred-owner/basic-auth/${json.id}`)).status, 404);
      assert.equal((await admin(base, 'GET', '/consumers/nobody/key-auth')).status, 404);
    });
  });

  describe('services, routes and plugins', () => {
    it('lists the config file entities as read-only', async () => {
      const services = await admin(base, 'GET', '/services');
      assert.equal(services.status, 200);
      assert.equal(services.json.next, null);
      const orders = services.json.data.find((s: { name: string }) => s.name === 'orders');
      assert.equal(orders.source, 'config');
      assert.equal(orders.url, upstream.url);
      assert.equal(orders.routes, undefined);
      const routes = await admin(base, 'GET', '/services/orders/routes');
      assert.deepEqual(routes.json.data.map((r: { id: string }) => r.id), ['orders-route']);
      assert.deepEqual(routes.json.data[0].paths, ['/orders']);
      const plugins = await admin(base, 'GET', '/plugins');
      assert.deepEqual(plugins.json.data.map((p: { name: string; service: unknown }) => [p.name, p.service]), [['key-auth', { id: 'orders' }]]);
      assert.equal((await admin(base, 'PATCH', '/services/orders', { url: 'http://127.0.0.1:1' })).status, 409);
      assert.equal((await admin(base, 'DELETE', '/routes/orders-route')).status, 409);
      assert.equal((await admin(base, 'POST', '/services', { name: 'orders', url: upstream.url })).status, 409);
    });

    it('a service and route created over the API serve traffic at once; PATCH moves it; DELETE ends it', async () => {
      assert.equal((await send(stack.gatewayUrl, '/adm/x')).status, 404);
      const svc = await admin(base, 'POST', '/services', { name: 'adm', url: upstream.url });
      assert.equal(svc.status, 201);
      assert.equal(svc.json.name, 'adm');
      assert.equal(svc.json.source, 'admin');
      const route = await admin(base, 'POST', '/services/adm/routes', { paths: ['/adm'], strip_path: true });
      assert.equal(route.status, 201);
      assert.deepEqual(route.json.service, { id: svc.json.id });

      upstream.reset();
      const r = await send(stack.gatewayUrl, '/adm/x');
      assert.equal(r.status, 200);
      assert.equal(upstream.last().path, '/x');

      const moved = await admin(base, 'PATCH', `/routes/${route.json.id}`, { paths: ['/adm2'] });
      assert.equal(moved.status, 200);
      assert.deepEqual(moved.json.paths, ['/adm2']);
      assert.equal((await send(stack.gatewayUrl, '/adm/x')).status, 404);
      assert.equal((await send(stack.gatewayUrl, '/adm2/y')).status, 200);

      // a plugin on the route: now a key is needed
      const plugin = await admin(base, 'POST', `/routes/${route.json.id}/plugins`, { name: 'key-auth' });
      assert.equal(plugin.status, 201);
      assert.deepEqual(plugin.json.route, { id: route.json.id });
      assert.equal((await send(stack.gatewayUrl, '/adm2/y')).status, 401);
      assert.equal((await send(stack.gatewayUrl, '/adm2/y', { headers: { apikey: FILE_KEY } })).status, 200);
      assert.deepEqual((await admin(base, 'GET', `/routes/${route.json.id}/plugins`)).json.data.map((p: { id: string }) => p.id), [plugin.json.id]);

      const refused = await admin(base, 'DELETE', '/services/adm');
      assert.equal(refused.status, 409);
      assert.equal((await admin(base, 'DELETE', `/plugins/${plugin.json.id}`)).status, 204);
      assert.equal((await send(stack.gatewayUrl, '/adm2/y')).status, 200);
      assert.equal((await admin(base, 'DELETE', `/routes/${route.json.id}`)).status, 204);
      assert.equal((await admin(base, 'DELETE', '/services/adm')).status, 204);
      assert.equal((await send(stack.gatewayUrl, '/adm2/y')).status, 404);
      assert.equal((await admin(base, 'GET', '/services/adm')).status, 404);
    });

    it('PUT creates a service by name, then replaces it', async () => {
      const created = await admin(base, 'PUT', '/services/put-svc', { url: upstream.url });
      assert.equal(created.status, 201);
      assert.equal(created.json.name, 'put-svc');
      const replaced = await admin(base, 'PUT', '/services/put-svc', { url: 'http://127.0.0.1:9' });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.json.id, created.json.id);
      assert.equal(replaced.json.url, 'http://127.0.0.1:9');
      assert.equal((await admin(base, 'DELETE', `/services/${created.json.id}`)).status, 204);
    });

    it('validation errors are 400 naming the field, and nothing is stored', async () => {
      const cases: Array<[string, unknown, string]> = [
        ['/services', { name: 'bad', url: 'not a url' }, 'url'],
        ['/services', { url: upstream.url }, 'name'],
        ['/services', { name: 'bad', url: upstream.url, routes: [] }, 'routes'],
        ['/services', { name: 'bad', url: upstream.url, colour: 1 }, 'colour'],
        ['/services/orders/routes', { paths: ['no-slash'] }, 'paths[0]'],
        ['/services/orders/routes', { strip_path: true }, ''],
        ['/routes', { paths: ['/x'] }, 'service'],
        ['/routes', { paths: ['/x'], service: { name: 'nope' } }, 'service'],
        ['/plugins', { name: 'no-such-plugin' }, 'name'],
        ['/plugins', { name: 'key-auth', config: { key_names: [] } }, 'config.key_names'],
        // the plugin's own schema, as for the config file: a name that would break its 401s' Accept-Signature
        ['/plugins', { name: 'hmac-auth', config: { enforce_headers: ['content-type', 'x\\y'] } }, 'config.enforce_headers[1]'],
      ];
      const before = await admin(base, 'GET', '/plugins');
      for (const [path, body, field] of cases) {
        const r = await admin(base, 'POST', path, body);
        assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.json.error, 'invalid_request');
        assert.deepEqual(Object.keys(r.json.fields), [field === '' ? '@entity' : field], `${path} ${JSON.stringify(body)}: ${r.text}`);
      }
      assert.deepEqual((await admin(base, 'GET', '/plugins')).json, before.json, 'a refused plugin was rolled back');
      assert.equal((await admin(base, 'GET', '/services/bad')).status, 404);
      // the gateway still serves what it served
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: FILE_KEY } })).status, 200);
    });

    it('a plugin whose config the plugin itself rejects is refused (400 naming the field) and rolled back; a second one of a kind at one level is a conflict (409)', async () => {
      const r = await admin(base, 'POST', '/routes/orders-route/plugins', { name: 'key-auth', config: { key_in_header: false } });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(r.json.fields, { 'config.key_in_header': 'key_in_header and key_in_query cannot both be false' });
      assert.deepEqual((await admin(base, 'GET', '/routes/orders-route/plugins')).json.data, []);
      const dup = await admin(base, 'POST', '/services/orders/plugins', { name: 'key-auth' });
      assert.equal(dup.status, 409, dup.text);
      assert.equal(dup.json.error, 'conflict');
      assert.deepEqual(Object.keys(dup.json.fields), ['name']);
      assert.equal((await admin(base, 'GET', '/services/orders/plugins')).json.data.length, 1);
    });
  });

  describe('metrics', () => {
    it('serves the Prometheus text format with the gateway requests', async () => {
      await send(stack.gatewayUrl, '/orders', { headers: { apikey: FILE_KEY } });
      const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      assert.match(text, /^# HELP drawbridge_requests_total /m);
      assert.match(text, /^# TYPE drawbridge_request_duration_seconds histogram$/m);
      assert.match(text, /^drawbridge_requests_total\{service="orders",route="orders-route",status="200"\} [1-9]\d*$/m);
      assert.match(text, /^drawbridge_requests_total\{service="orders",route="orders-route",status="401"\} [1-9]\d*$/m);
      assert.match(text, /^drawbridge_request_duration_seconds_count\{service="orders",route="orders-route"\} [1-9]\d*$/m);
      assert.match(text, /^drawbridge_auth_failures_total\{plugin="key-auth",reason="[a-z_]+"\} [1-9]\d*$/m);
      // the live route table's targets: the connection the request used is idle now, the target healthy
      const target = `service="orders",target="${new URL(upstream.url).origin}"`;
      assert.match(text, new RegExp(`^drawbridge_upstream_connections\\{${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')},state="idle"\\} [1-9]\\d*$`, 'm'));
      assert.ok(text.includes(`drawbridge_upstream_connections{${target},state="busy"} 0\n`));
      assert.ok(text.includes(`drawbridge_upstream_target_healthy{${target}} 1\n`));
    });
  });
});
