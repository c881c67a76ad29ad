// The admin API and `drawbridge consumer …` driven as a Kong user drives Kong's, against a
// real gateway on PostgreSQL: each case here is a deviation an outside audit found (a 500 for
// bad input, a Kong verb or form that did not work, a README promise not kept), so every
// assertion failed before its fix.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../cli/spawn.js';
import { startStack, startUpstream, TEST_SECRET, type Stack, type Upstream } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';
import { send } from './authn-support.js';

const pg = await postgresUrl();
const FILE_KEY = 'contract-file-key-0123456789abcdef';
const FILE_PLUGIN_SECRET = 'file-plugin-client-secret-0123456789';

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

describe('admin API contract, as a Kong user drives it (PostgreSQL)', { skip: pg === undefined && 'PostgreSQL not reachable' }, () => {
  let upstream: Upstream;
  let schema: TestSchema;
  let stack: Stack;
  let base: string;
  let dir: string;
  let configFile: string;

  before(async () => {
    upstream = await startUpstream();
    schema = await migratedPostgresSchema(pg!);
    stack = await startStack({
      auth: false,
      top: { storage: schema.url },
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        consumers: [{ username: 'file-consumer', credentials: { 'key-auth': [{ key: FILE_KEY }] } }],
        services: [
          { name: 'orders', url: upstream.url, routes: [{ name: 'orders-route', paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] },
          { name: 'basic', url: upstream.url, routes: [{ name: 'basic-route', paths: ['/basic'] }], plugins: [{ name: 'basic-auth' }] },
          {
            name: 'introspected',
            url: upstream.url,
            routes: [{ name: 'introspected-route', paths: ['/introspected'] }],
            plugins: [{ name: 'oauth2-introspection', config: { issuer: 'http://127.0.0.1:9', client_id: 'gateway', client_secret: FILE_PLUGIN_SECRET } }],
          },
        ],
      },
    });
    base = adminUrlOf(stack);
    // the CLI on the same database, as an operator next to the running gateway
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-admin-contract-'));
    configFile = join(dir, 'drawbridge.yaml');
    await writeFile(configFile, [`issuer: http://127.0.0.1:9`, `storage: ${JSON.stringify(schema.url)}`, `secret: ${TEST_SECRET}`, ''].join('\n'));
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await schema?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('the admin token', () => {
    it('takes the Bearer scheme in any case (RFC 7235 §2.1), and still only the right token', async () => {
      for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
        const res = await fetch(`${base}/consumers`, { headers: { authorization: `${scheme} ${ADMIN_TOKEN}` } });
        assert.equal(res.status, 200, scheme);
      }
      for (const authorization of [`bearer ${ADMIN_TOKEN}x`, `Bearer  ${ADMIN_TOKEN}`]) {
        const res = await fetch(`${base}/consumers`, { headers: { authorization } });
        assert.equal(res.status, 401, authorization);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="drawbridge-admin", error="invalid_token"');
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
      }
      // no Bearer token at all: the bare challenge (RFC 6750 §3.1)
      for (const authorization of [ADMIN_TOKEN, `Token ${ADMIN_TOKEN}`]) {
        const res = await fetch(`${base}/consumers`, { headers: { authorization } });
        assert.equal(res.status, 401, authorization);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="drawbridge-admin"');
        assert.equal(((await res.json()) as { error: string }).error, 'unauthorized');
      }
    });
  });

  describe('bad input is a 4xx with the standard body, never a 500', () => {
    it('an id or name with a control character in the path is not found (PostgreSQL refused the NUL: 500)', async () => {
      await admin(base, 'POST', '/consumers', { username: 'nul-owner' });
      for (const path of ['/consumers/%00', '/consumers/a%00b', '/services/%00', '/routes/%00', '/plugins/%00', '/consumers/nul-owner/key-auth/%00', '/consumers/%01/basic-auth']) {
        const r = await admin(base, 'GET', path);
        assert.equal(r.status, 404, `${path}: ${r.text}`);
        assert.equal(r.json.error, 'not_found');
        assert.equal(typeof r.json.request_id, 'string');
      }
      assert.equal((await admin(base, 'DELETE', '/consumers/%00')).status, 404);
    });

    it('a NUL anywhere in a body is a 400 naming the field', async () => {
      const cases: Array<[string, unknown, string]> = [
        ['/consumers/nul-owner/basic-auth', { username: 'a\u0000b', password: 'pw-0123456789' }, 'username'],
        ['/consumers/nul-owner/hmac-auth', { key_id: 'k\u0000' }, 'key_id'],
        ['/services', { name: 'nul\u0000svc', url: upstream.url }, 'name'],
        ['/plugins', { name: 'cors', config: { origins: ['https://a.example', 'https://b\u0000'] } }, 'config.origins[1]'],
      ];
      for (const [path, body, field] of cases) {
        const r = await admin(base, 'POST', path, body);
        assert.equal(r.status, 400, `${path}: ${r.text}`);
        assert.equal(r.json.error, 'invalid_request');
        assert.deepEqual(Object.keys(r.json.fields), [field], r.text);
        assert.match(r.json.error_description, new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `));
      }
    });

    it('a key, username or key_id with a control character is refused: it could never be presented in a header', async () => {
      for (const [plugin, body, field] of [
        ['key-auth', { key: 'key-with-newline\n0123456789' }, 'key'],
        ['basic-auth', { username: 'tab\tname', password: 'pw-0123456789' }, 'username'],
        ['hmac-auth', { key_id: 'bell\u0007' }, 'key_id'],
      ] as const) {
        const r = await admin(base, 'POST', `/consumers/nul-owner/${plugin}`, body);
        assert.equal(r.status, 400, r.text);
        assert.deepEqual(r.json.fields, { [field]: 'must not contain control characters' });
      }
    });

    it('groups with a control character or a comma are refused (a control character made every proxied request of the consumer a 502)', async () => {
      for (const groups of [['ok', 'bad\u0001'], ['a,b'], ['line\nbreak']]) {
        const r = await admin(base, 'PUT', '/consumers/nul-owner', { groups });
        assert.equal(r.status, 400, r.text);
        assert.deepEqual(Object.keys(r.json.fields), ['groups']);
      }
      const { json } = await admin(base, 'POST', '/consumers/nul-owner/key-auth', {});
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: json.key } })).status, 200);
    });
  });

  describe('consumers: Kong’s PUT, ids and null', () => {
    it('PUT /consumers/{id} with the username in the body replaces (it was a 400 "must match the path")', async () => {
      const created = await admin(base, 'POST', '/consumers', { username: 'put-by-id', groups: ['a'] });
      assert.equal(created.status, 201);
      const r = await admin(base, 'PUT', `/consumers/${created.json.id}`, { username: 'put-by-id', groups: ['b'] });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, created.json.id);
      assert.deepEqual(r.json.groups, ['b']);
      // a rename stays refused, as with PATCH
      const rename = await admin(base, 'PUT', `/consumers/${created.json.id}`, { username: 'renamed' });
      assert.equal(rename.status, 400);
      assert.deepEqual(Object.keys(rename.json.fields), ['username']);
    });

    it('PUT /consumers/{uuid} that does not exist creates the consumer under that id', async () => {
      const id = '3f1c2a9e-5b7d-4e21-9a0b-6c8d7e9f0a1b';
      const r = await admin(base, 'PUT', `/consumers/${id}`, { username: 'made-by-put-id' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.id, id);
      assert.equal(r.json.username, 'made-by-put-id');
      assert.equal((await admin(base, 'GET', `/consumers/${id}`)).json.username, 'made-by-put-id');
    });

    it('POST honours a given id (it was silently replaced by another), refuses a taken or malformed one', async () => {
      const id = '7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d';
      const r = await admin(base, 'POST', '/consumers', { username: 'given-id', id });
      assert.equal(r.status, 201);
      assert.equal(r.json.id, id);
      assert.equal((await admin(base, 'GET', `/consumers/${id}`)).status, 200);
      assert.equal((await admin(base, 'POST', '/consumers', { username: 'given-id-2', id })).status, 409);
      const bad = await admin(base, 'POST', '/consumers', { username: 'given-id-3', id: 'not-a-uuid' });
      assert.equal(bad.status, 400);
      assert.deepEqual(Object.keys(bad.json.fields), ['id']);
    });

    it('PATCH with groups: null resets them, as null does in Kong (it was a 400)', async () => {
      await admin(base, 'POST', '/consumers', { username: 'null-groups', groups: ['x'] });
      const r = await admin(base, 'PATCH', '/consumers/null-groups', { groups: null });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.groups, []);
    });

    it('an admin PUT keeps a CLI-made consumer a CLI one (source was overwritten with "admin")', async () => {
      const made = await runCli(['consumer', 'create', 'cli-made', '--config', configFile]);
      assert.equal(made.code, 0, made.stderr);
      const r = await admin(base, 'PUT', '/consumers/cli-made', { groups: ['g'] });
      assert.equal(r.status, 200);
      assert.equal(r.json.source, 'cli');
    });
  });

  describe('credentials: PATCH and PUT (README promised them; only GET and DELETE answered)', () => {
    before(async () => {
      assert.equal((await admin(base, 'POST', '/consumers', { username: 'rotator' })).status, 201);
    });

    it('key-auth PATCH changes the key in place: the old one stops, the new one works at once; the key is not echoed', async () => {
      const oldKey = 'rotate-old-0123456789abcdefghij';
      const newKey = 'rotate-new-0123456789abcdefghij';
      const created = await admin(base, 'POST', '/consumers/rotator/key-auth', { key: oldKey });
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: oldKey } })).status, 200);
      const r = await admin(base, 'PATCH', `/consumers/rotator/key-auth/${created.json.id}`, { key: newKey });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, created.json.id);
      assert.equal(r.json.created_at, created.json.created_at);
      assert.ok(!r.text.includes(newKey), 'a key the caller chose is not sent back by PATCH');
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: oldKey } })).status, 401);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: newKey } })).status, 200);

      // a key in use elsewhere: 409, and the credential keeps its key
      const taken = await admin(base, 'PATCH', `/consumers/rotator/key-auth/${created.json.id}`, { key: FILE_KEY });
      assert.equal(taken.status, 409);
      assert.deepEqual(taken.json.fields, { key: 'already in use' });
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: newKey } })).status, 200);
      assert.equal((await admin(base, 'GET', `/consumers/rotator/key-auth/${created.json.id}`)).status, 200);

      const unknown = await admin(base, 'PATCH', `/consumers/rotator/key-auth/${created.json.id}`, { kee: 'x' });
      assert.equal(unknown.status, 400);
      assert.deepEqual(Object.keys(unknown.json.fields), ['kee']);
    });

    it('key-auth PUT replaces (a left-out key is generated and shown once) or creates under a UUID', async () => {
      const created = await admin(base, 'POST', '/consumers/rotator/key-auth', {});
      const replaced = await admin(base, 'PUT', `/consumers/rotator/key-auth/${created.json.id}`, {});
      assert.equal(replaced.status, 200, replaced.text);
      assert.match(replaced.json.key, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(replaced.json.key, created.json.key);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: created.json.key } })).status, 401);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: replaced.json.key } })).status, 200);
      assert.ok(!(await admin(base, 'GET', `/consumers/rotator/key-auth/${created.json.id}`)).text.includes(replaced.json.key));

      const id = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';
      const made = await admin(base, 'PUT', `/consumers/rotator/key-auth/${id}`, { key: 'put-made-0123456789abcdefghijk' });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.json.id, id);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: 'put-made-0123456789abcdefghijk' } })).status, 200);
      assert.equal((await admin(base, 'PUT', '/consumers/rotator/key-auth/not-a-uuid', {})).status, 404);
    });

    it('basic-auth PATCH: a new username keeps the password; a new password replaces it (argon2id, never shown)', async () => {
      const created = await admin(base, 'POST', '/consumers/rotator/basic-auth', { username: 'rot-user', password: 'first-password-1' });
      assert.equal(created.status, 201);
      assert.equal((await send(stack.gatewayUrl, '/basic', { headers: basic('rot-user', 'first-password-1') })).status, 200);
      const renamed = await admin(base, 'PATCH', `/consumers/rotator/basic-auth/${created.json.id}`, { username: 'rot-user-2' });
      assert.equal(renamed.status, 200, renamed.text);
      assert.equal(renamed.json.username, 'rot-user-2');
      assert.equal((await send(stack.gatewayUrl, '/basic', { headers: basic('rot-user', 'first-password-1') })).status, 401);
      assert.equal((await send(stack.gatewayUrl, '/basic', { headers: basic('rot-user-2', 'first-password-1') })).status, 200);
      const repassed = await admin(base, 'PATCH', `/consumers/rotator/basic-auth/${created.json.id}`, { password: 'second-password-2' });
      assert.equal(repassed.status, 200);
      assert.ok(!repassed.text.includes('second-password-2') && !repassed.text.includes('argon2'));
      assert.equal((await send(stack.gatewayUrl, '/basic', { headers: basic('rot-user-2', 'first-password-1') })).status, 401);
      assert.equal((await send(stack.gatewayUrl, '/basic', { headers: basic('rot-user-2', 'second-password-2') })).status, 200);
      const stored = await stack.gateway.deps.consumers.basicCredential('rot-user-2');
      assert.match(stored!.password_hash, /^\$argon2id\$/);
      // Kong's other address of a basic-auth credential: its username
      const byName = await admin(base, 'GET', '/consumers/rotator/basic-auth/rot-user-2');
      assert.equal(byName.status, 200, byName.text);
      assert.equal(byName.json.id, created.json.id);
      assert.equal((await admin(base, 'GET', '/consumers/file-consumer/basic-auth/rot-user-2')).status, 404, 'only under its own consumer');
    });

    it('hmac-auth PATCH: a new key_id reseals the same secret under it', async () => {
      const created = await admin(base, 'POST', '/consumers/rotator/hmac-auth', { key_id: 'rot-hmac-1' });
      const r = await admin(base, 'PATCH', `/consumers/rotator/hmac-auth/${created.json.id}`, { key_id: 'rot-hmac-2' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.key_id, 'rot-hmac-2');
      assert.equal(r.json.secret, undefined);
      assert.equal(await stack.gateway.deps.consumers.hmacCredential('rot-hmac-1'), undefined);
      assert.equal((await stack.gateway.deps.consumers.hmacCredential('rot-hmac-2'))?.secret, created.json.secret);
      assert.equal((await admin(base, 'DELETE', '/consumers/rotator/hmac-auth/rot-hmac-2')).status, 204, 'addressed by key_id');
      assert.equal(await stack.gateway.deps.consumers.hmacCredential('rot-hmac-2'), undefined);
    });

    it('a credential from the config file cannot be changed (409); an unknown id is 404', async () => {
      const listed = await admin(base, 'GET', '/consumers/file-consumer/key-auth');
      const id = listed.json.data[0].id;
      assert.equal((await admin(base, 'PATCH', `/consumers/file-consumer/key-auth/${id}`, { key: 'x-0123456789abcdef' })).status, 409);
      assert.equal((await admin(base, 'PUT', `/consumers/file-consumer/key-auth/${id}`, {})).status, 409);
      assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { apikey: FILE_KEY } })).status, 200);
      assert.equal((await admin(base, 'PATCH', '/consumers/rotator/key-auth/0b1c2d3e-4f50-4617-8899-000000000000', { key: 'y-0123456789abcdef' })).status, 404);
    });
  });

  describe('services, routes and plugins', () => {
    it('PATCH merges a plugin’s config key by key, as Kong does (it replaced the whole config)', async () => {
      const svc = await admin(base, 'POST', '/services', { name: 'merge-svc', url: upstream.url });
      assert.equal(svc.status, 201);
      const plugin = await admin(base, 'POST', '/services/merge-svc/plugins', { name: 'rate-limiting', config: { minute: 5, hour: 100 } });
      assert.equal(plugin.status, 201, plugin.text);
      const r = await admin(base, 'PATCH', `/plugins/${plugin.json.id}`, { config: { minute: 10 } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.config, { minute: 10, hour: 100 });
      const removed = await admin(base, 'PATCH', `/plugins/${plugin.json.id}`, { config: { hour: null } });
      assert.deepEqual(removed.json.config, { minute: 10 });
    });

    it('an id or name the config file uses is a 409 (a second "orders-route" was stored beside the file’s)', async () => {
      const cases: Array<[string, unknown]> = [
        ['/routes', { id: 'orders-route', paths: ['/clash-1'], service: { name: 'orders' } }],
        ['/routes', { name: 'orders-route', paths: ['/clash-2'], service: { name: 'orders' } }],
        ['/services/orders/routes', { name: 'basic-route', paths: ['/clash-3'] }],
        ['/services', { id: 'orders', name: 'clash-svc', url: upstream.url }],
      ];
      for (const [path, body] of cases) {
        const r = await admin(base, 'POST', path, body);
        assert.equal(r.status, 409, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.json.error, 'conflict');
      }
      const routes = await admin(base, 'GET', '/routes');
      assert.equal(routes.json.data.filter((r: { id: string; name?: string }) => r.id === 'orders-route' || r.name === 'orders-route').length, 1);
      assert.equal((await send(stack.gatewayUrl, '/clash-1')).status, 404);
    });

    it('a service given Kong’s way (protocol, host, port, path) is created; PATCH of one part moves only it (they were unknown keys)', async () => {
      const port = new URL(upstream.url).port;
      const svc = await admin(base, 'POST', '/services', { name: 'parts-svc', protocol: 'http', host: '127.0.0.1', port: Number(port), path: '/base' });
      assert.equal(svc.status, 201, svc.text);
      assert.equal(svc.json.url, `http://127.0.0.1:${port}/base`);
      assert.equal((await admin(base, 'POST', '/services/parts-svc/routes', { paths: ['/parts'] })).status, 201);
      upstream.reset();
      assert.equal((await send(stack.gatewayUrl, '/parts/x')).status, 200);
      assert.equal(upstream.last().path, '/base/x');
      const moved = await admin(base, 'PATCH', '/services/parts-svc', { path: '/other' });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(moved.json.url, `http://127.0.0.1:${port}/other`);
      for (const [body, field] of [[{ name: 'parts-bad', port: 80 }, 'host'], [{ name: 'parts-bad', host: 'h', protocol: 'grpc' }, 'protocol'], [{ name: 'parts-bad', host: 'h', port: 'x' }, 'port']] as const) {
        const r = await admin(base, 'POST', '/services', body);
        assert.equal(r.status, 400, r.text);
        assert.deepEqual(Object.keys(r.json.fields), [field]);
      }
    });

    it('a plugin’s secret settings are never shown (GET /plugins listed the client_secret, the config file’s too)', async () => {
      const secret = 'admin-plugin-client-secret-0123456789';
      const created = await admin(base, 'POST', '/services/merge-svc/plugins', {
        name: 'oauth2-introspection',
        config: { issuer: 'http://127.0.0.1:9', client_id: 'gateway', client_secret: secret },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.config.client_id, 'gateway');
      assert.equal(created.json.config.client_secret, undefined);
      const one = await admin(base, 'GET', `/plugins/${created.json.id}`);
      const all = await admin(base, 'GET', '/plugins');
      for (const r of [created, one, all]) {
        assert.ok(!r.text.includes(secret) && !r.text.includes(FILE_PLUGIN_SECRET), r.text);
      }
      assert.ok(all.json.data.some((p: { name: string; source: string }) => p.name === 'oauth2-introspection' && p.source === 'config'));
      // PATCH keeps the stored secret; PUT without one is refused naming it
      const patched = await admin(base, 'PATCH', `/plugins/${created.json.id}`, { config: { client_id: 'gateway-2' } });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.config.client_id, 'gateway-2');
      const put = await admin(base, 'PUT', `/plugins/${created.json.id}`, { name: 'oauth2-introspection', service: { name: 'merge-svc' }, config: one.json.config });
      assert.equal(put.status, 400);
      assert.deepEqual(Object.keys(put.json.fields), ['config.client_secret']);
    });

    it('Kong’s form style: `config.minute=5` nests, `paths[]=` lists, `curl -F` (multipart) works', async () => {
      await admin(base, 'POST', '/services', { name: 'form-svc', url: upstream.url });
      const plugin = await admin(base, 'POST', '/services/form-svc/plugins', 'name=rate-limiting&config.minute=5&config.hour=50', {
        contentType: 'application/x-www-form-urlencoded',
      });
      assert.equal(plugin.status, 201, plugin.text);
      // stored typed, as Kong stores form values: numbers, not "5"
      assert.equal(plugin.json.config.minute, 5);
      assert.equal(plugin.json.config.hour, 50);
      assert.deepEqual(Object.keys(plugin.json.config).sort(), ['hour', 'minute']);

      const form = new FormData();
      form.append('paths[]', '/form-multi');
      form.append('strip_path', 'true');
      const res = await fetch(`${base}/services/form-svc/routes`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: form });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      assert.deepEqual((JSON.parse(text) as { paths: string[] }).paths, ['/form-multi']);
      assert.equal((JSON.parse(text) as { strip_path: unknown }).strip_path, true);
      upstream.reset();
      assert.equal((await send(stack.gatewayUrl, '/form-multi/x')).status, 200);
      assert.equal(upstream.last().path, '/x');

      const plain = await admin(base, 'POST', '/consumers', 'username=x', { contentType: 'text/plain' });
      assert.equal(plain.status, 415);
      assert.match(plain.json.error_description, /multipart\/form-data/);
      assert.deepEqual(Object.keys(plain.json).sort(), ['error', 'error_description', 'request_id']);

      const proto = await admin(base, 'POST', '/consumers', 'username=proto&__proto__[]=x', { contentType: 'application/x-www-form-urlencoded' });
      assert.equal(proto.status, 400);
      assert.deepEqual(Object.keys(proto.json.fields), ['__proto__']);
    });
  });

  describe('lists', () => {
    it('Kong’s ?size= and ?offset= page a list, `next` names the following page (size was ignored)', async () => {
      for (const name of ['page-a', 'page-b', 'page-c']) await admin(base, 'POST', '/consumers', { username: name });
      const all = (await admin(base, 'GET', '/consumers')).json;
      assert.equal(all.next, null);
      const seen: string[] = [];
      let path: string | null = '/consumers?size=2';
      while (path !== null) {
        const page: Record<string, any> = (await admin(base, 'GET', path)).json;
        assert.ok(page.data.length <= 2);
        seen.push(...page.data.map((c: { username: string }) => c.username));
        if (page.next !== null) assert.match(page.next, /^\/consumers\?size=2&offset=[A-Za-z0-9_-]+$/);
        path = page.next;
      }
      assert.deepEqual(seen, all.data.map((c: { username: string }) => c.username));
      for (const [query, field] of [['size=0', 'size'], ['size=1001', 'size'], ['size=x', 'size'], ['offset=%%%', 'offset']] as const) {
        const r = await admin(base, 'GET', `/consumers?${query}`);
        assert.equal(r.status, 400, query);
        assert.deepEqual(Object.keys(r.json.fields), [field]);
      }
    });
  });

  describe('drawbridge consumer (CLI)', () => {
    it('refuses a group the admin API refuses (a control character), exit 2 naming --group', async () => {
      // (`--group a,b` is two groups: the CLI splits on commas)
      const r = await runCli(['consumer', 'create', 'cli-bad-group', '--group', 'ok', '--group', 'bad\u0001', '--config', configFile]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, /--group: "bad\\u0001": a group must not contain a comma or control characters/);
      assert.equal((await admin(base, 'GET', '/consumers/cli-bad-group')).status, 404);
    });

    it('credential rotate: a new key (generated, printed once) under the same id; the old key is gone', async () => {
      assert.equal((await runCli(['consumer', 'create', 'cli-rotor', '--config', configFile])).code, 0);
      const oldKey = 'cli-rotor-old-key-0123456789abcdef';
      const added = await runCli(['consumer', 'credential', 'add', 'cli-rotor', '--plugin', 'key-auth', '--key', oldKey, '--json', '--config', configFile]);
      assert.equal(added.code, 0, added.stderr);
      const id = (JSON.parse(added.stdout) as { id: string }).id;
      const rotated = await runCli(['consumer', 'credential', 'rotate', 'cli-rotor', id, '--plugin', 'key-auth', '--json', '--config', configFile]);
      assert.equal(rotated.code, 0, rotated.stderr);
      const out = JSON.parse(rotated.stdout) as { id: string; key: string };
      assert.equal(out.id, id);
      assert.match(out.key, /^[A-Za-z0-9_-]{43}$/);
      assert.equal((await stack.gateway.deps.consumers.byKey(out.key))?.credential_id, id);
      assert.equal(await stack.gateway.deps.consumers.byKey(oldKey), undefined);

      const wrongFlag = await runCli(['consumer', 'credential', 'rotate', 'cli-rotor', id, '--plugin', 'key-auth', '--secret', 'x', '--config', configFile]);
      assert.equal(wrongFlag.code, 2);
      assert.match(wrongFlag.stderr, /--secret is not for key-auth; use --key/);
      const taken = await runCli(['consumer', 'credential', 'rotate', 'cli-rotor', id, '--plugin', 'key-auth', '--key', FILE_KEY, '--config', configFile]);
      assert.equal(taken.code, 2);
      assert.match(taken.stderr, /--key: already in use/);
      // (the gateway's cache would still answer: ask storage through the admin API)
      assert.equal((await admin(base, 'GET', `/consumers/cli-rotor/key-auth/${id}`)).status, 200, 'a refused rotation keeps the credential');
    });

    it('refuses a basic-auth username with a control character (it was stored, and no request could ever present it)', async () => {
      assert.equal((await runCli(['consumer', 'create', 'cli-cred', '--config', configFile])).code, 0);
      const r = await runCli(['consumer', 'credential', 'add', 'cli-cred', '--plugin', 'basic-auth', '--username', 'a\u0001b', '--config', configFile]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--username: must not contain control characters/);
    });
  });
});
