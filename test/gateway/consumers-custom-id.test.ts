// Kong's consumer `custom_id` and `tags`, end to end against a real gateway on PostgreSQL with
// a real upstream: the config file, the admin API (POST/PUT/PATCH/GET, `?custom_id=`,
// `?tags=a,b` / `a/b`, a 409 for a taken custom_id also when requests race), the CLI on the
// same database, and `X-Consumer-Custom-ID` upstream (only when the consumer has one, never
// the client's own) and from the forward-auth endpoint. The internal token is unchanged.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ConfigError, validateConfig } from '../../src/config/schema.js';
import { syncConfiguredConsumers } from '../../src/gateway/consumers.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { runCli } from '../cli/spawn.js';
import { startStack, startUpstream, TEST_SECRET, type RecordedRequest, type Stack, type Upstream } from '../helpers/gateway.js';
import { freshPostgresSchema, migratedPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';
import { admin, ADMIN_TOKEN, adminUrlOf } from './admin-support.js';
import { send } from './authn-support.js';

const pg = await postgresUrl();
const FILE_KEY = 'custom-id-file-key-0123456789abcdef';
const PLAIN_KEY = 'custom-id-plain-key-0123456789abcdef';

/** Every value upstream received for `name` (raw, so a repeated field shows twice). */
function received(rec: RecordedRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) if (rec.rawHeaders[i]!.toLowerCase() === name) out.push(rec.rawHeaders[i + 1]!);
  return out;
}

describe('consumers: custom_id and tags (PostgreSQL, real gateway and upstream)', { skip: pg === undefined && 'PostgreSQL not reachable' }, () => {
  let upstream: Upstream;
  let schema: TestSchema;
  let stack: Stack;
  let base: string;
  let dir: string;
  let configFile: string;

  /** A request through the gateway to /orders with this key, a spoofed X-Consumer-Custom-ID beside it; what upstream got. */
  async function proxied(key: string | undefined, path = '/orders/1'): Promise<RecordedRequest> {
    upstream.reset();
    const headers: Record<string, string> = { 'x-consumer-custom-id': 'spoofed-by-client', 'X-Consumer-Custom-Id': 'spoofed-again' };
    if (key !== undefined) headers.apikey = key;
    const r = await send(stack.gatewayUrl, path, { headers });
    assert.equal(r.status, 200, r.text);
    return upstream.last();
  }

  /** A key-auth credential for an admin-made consumer; returns the key. */
  async function keyFor(username: string): Promise<string> {
    const key = `key-of-${username}-0123456789abcdef`;
    const r = await admin(base, 'POST', `/consumers/${username}/key-auth`, { key });
    assert.equal(r.status, 201, r.text);
    return key;
  }

  before(async () => {
    upstream = await startUpstream();
    schema = await migratedPostgresSchema(pg!);
    stack = await startStack({
      auth: false,
      top: { storage: schema.url },
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        consumers: [
          { username: 'file-consumer', custom_id: 'crm-file-1', tags: ['file', 'gold', 'file'], credentials: { 'key-auth': [{ key: FILE_KEY }] } },
          { username: 'file-plain', credentials: { 'key-auth': [{ key: PLAIN_KEY }] } },
        ],
        services: [
          { name: 'orders', url: upstream.url, routes: [{ name: 'orders-route', paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] },
          { name: 'open', url: upstream.url, routes: [{ name: 'open-route', paths: ['/open'], strip_path: false }] },
        ],
      },
    });
    base = adminUrlOf(stack);
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-custom-id-'));
    configFile = join(dir, 'drawbridge.yaml');
    await writeFile(configFile, [`issuer: http://127.0.0.1:9`, `storage: ${JSON.stringify(schema.url)}`, `secret: ${TEST_SECRET}`, ''].join('\n'));
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await schema?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('upstream: X-Consumer-Custom-ID', () => {
    it('is sent, once, for a consumer with a custom_id; the client’s own never passes', async () => {
      const rec = await proxied(FILE_KEY);
      assert.deepEqual(received(rec, 'x-consumer-custom-id'), ['crm-file-1']);
      assert.deepEqual(received(rec, 'x-consumer-username'), ['file-consumer']);
    });

    it('is absent for a consumer without one (the client’s spoofed value is stripped, not forwarded)', async () => {
      const rec = await proxied(PLAIN_KEY);
      assert.deepEqual(received(rec, 'x-consumer-custom-id'), []);
      assert.deepEqual(received(rec, 'x-consumer-username'), ['file-plain']);
    });

    it('is stripped on a route without authentication too', async () => {
      const rec = await proxied(undefined, '/open/x');
      assert.deepEqual(received(rec, 'x-consumer-custom-id'), []);
    });

    it('the internal token is unchanged: no custom_id claim', async () => {
      const rec = await proxied(FILE_KEY);
      const claims = decodeJwt(String(rec.headers.authorization).slice('Bearer '.length));
      assert.deepEqual(Object.keys(claims).sort(), ['aud', 'auth_method', 'client_id', 'consumer', 'exp', 'groups', 'iat', 'iss', 'jti', 'scope', 'sub']);
    });

    it('follows admin changes at once: set, changed, cleared', async () => {
      assert.equal((await admin(base, 'POST', '/consumers', { username: 'moving' })).status, 201);
      const key = await keyFor('moving');
      assert.deepEqual(received(await proxied(key), 'x-consumer-custom-id'), []);
      assert.equal((await admin(base, 'PATCH', '/consumers/moving', { custom_id: 'ext-7' })).status, 200);
      assert.deepEqual(received(await proxied(key), 'x-consumer-custom-id'), ['ext-7']);
      assert.equal((await admin(base, 'PATCH', '/consumers/moving', { custom_id: 'ext 8' })).status, 200);
      assert.deepEqual(received(await proxied(key), 'x-consumer-custom-id'), ['ext 8']);
      assert.equal((await admin(base, 'PATCH', '/consumers/moving', { custom_id: null })).status, 200);
      assert.deepEqual(received(await proxied(key), 'x-consumer-custom-id'), []);
    });

    it('the forward-auth decision carries it too', async () => {
      const yes = await send(stack.gatewayUrl, '/_drawbridge/authz', { headers: { 'x-forwarded-uri': '/orders/1', apikey: FILE_KEY, 'x-consumer-custom-id': 'spoofed' } });
      assert.equal(yes.status, 200, yes.text);
      assert.equal(yes.headers['x-consumer-custom-id'], 'crm-file-1');
      const no = await send(stack.gatewayUrl, '/_drawbridge/authz', { headers: { 'x-forwarded-uri': '/orders/1', apikey: PLAIN_KEY, 'x-consumer-custom-id': 'spoofed' } });
      assert.equal(no.status, 200, no.text);
      assert.equal(no.headers['x-consumer-custom-id'], undefined);
    });
  });

  describe('admin API', () => {
    it('POST takes custom_id and tags (a repeated tag once); GET shows them; null when none, as in Kong', async () => {
      const created = await admin(base, 'POST', '/consumers', { username: 'acme', custom_id: 'crm|42', tags: ['partner', 'eu west', 'partner'] });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.custom_id, 'crm|42');
      assert.deepEqual(created.json.tags, ['partner', 'eu west']);
      assert.deepEqual((await admin(base, 'GET', '/consumers/acme')).json, created.json);
      assert.deepEqual((await admin(base, 'GET', `/consumers/${created.json.id}`)).json, created.json);
      const plain = await admin(base, 'POST', '/consumers', { username: 'plain-admin' });
      assert.equal(plain.json.custom_id, null);
      assert.equal(plain.json.tags, null);
      const file = await admin(base, 'GET', '/consumers/file-consumer');
      assert.equal(file.json.custom_id, 'crm-file-1');
      assert.deepEqual(file.json.tags, ['file', 'gold']);
    });

    it('a form body works: tags[]=a&tags[]=b', async () => {
      const r = await admin(base, 'POST', '/consumers', 'username=formed&custom_id=form-1&tags[]=a&tags[]=b', { contentType: 'application/x-www-form-urlencoded' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.custom_id, 'form-1');
      assert.deepEqual(r.json.tags, ['a', 'b']);
    });

    it('GET /consumers?custom_id= finds the one consumer (or none), as in Kong', async () => {
      const one = await admin(base, 'GET', '/consumers?custom_id=crm%7C42');
      assert.equal(one.status, 200);
      assert.deepEqual(one.json.data.map((c: { username: string }) => c.username), ['acme']);
      assert.equal(one.json.next, null);
      assert.deepEqual((await admin(base, 'GET', '/consumers?custom_id=crm-file-1')).json.data.map((c: { username: string }) => c.username), ['file-consumer']);
      assert.deepEqual((await admin(base, 'GET', '/consumers?custom_id=nobody')).json.data, []);
      assert.deepEqual((await admin(base, 'GET', '/consumers?custom_id=')).json.data, []);
      assert.deepEqual((await admin(base, 'GET', '/consumers?custom_id=%00')).json.data, [], 'a NUL finds nothing (PostgreSQL would refuse it)');
    });

    it('GET /consumers?tags=a,b has all of them, a/b any of them; both separators is a 400', async () => {
      await admin(base, 'POST', '/consumers', { username: 't-ab', tags: ['ta', 'tb'] });
      await admin(base, 'POST', '/consumers', { username: 't-a', tags: ['ta'] });
      await admin(base, 'POST', '/consumers', { username: 't-c', tags: ['tc'] });
      const names = async (q: string) => {
        const r = await admin(base, 'GET', `/consumers?${q}`);
        assert.equal(r.status, 200, r.text);
        return r.json.data.map((c: { username: string }) => c.username);
      };
      assert.deepEqual(await names('tags=ta,tb'), ['t-ab']);
      assert.deepEqual(await names('tags=ta'), ['t-a', 't-ab']);
      assert.deepEqual(await names('tags=ta/tc'), ['t-a', 't-ab', 't-c']);
      assert.deepEqual(await names('tags=nope'), []);
      assert.deepEqual(await names('tags=ta&custom_id=crm%7C42'), []);
      // a page keeps the filter in `next`
      const page = await admin(base, 'GET', '/consumers?tags=ta/tc&size=2');
      assert.deepEqual(page.json.data.map((c: { username: string }) => c.username), ['t-a', 't-ab']);
      const rest = await admin(base, 'GET', page.json.next);
      assert.deepEqual(rest.json.data.map((c: { username: string }) => c.username), ['t-c']);
      for (const q of ['tags=ta,tb/tc', 'tags=', 'tags=a%01b']) {
        const bad = await admin(base, 'GET', `/consumers?${q}`);
        assert.equal(bad.status, 400, `${q}: ${bad.text}`);
        assert.deepEqual(Object.keys(bad.json.fields), ['tags']);
      }
    });

    it('a taken custom_id is a 409 naming custom_id (POST, PUT, PATCH); nothing changes', async () => {
      for (const [method, path, body] of [
        ['POST', '/consumers', { username: 'thief', custom_id: 'crm|42' }],
        ['POST', '/consumers', { username: 'thief', custom_id: 'crm-file-1' }],
        ['PUT', '/consumers/thief', { custom_id: 'crm|42' }],
        ['PATCH', '/consumers/plain-admin', { custom_id: 'crm|42', tags: ['changed'] }],
        ['PUT', '/consumers/plain-admin', { custom_id: 'crm|42' }],
      ] as const) {
        const r = await admin(base, method, path, body);
        assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
        assert.equal(r.json.error, 'conflict');
        assert.deepEqual(r.json.fields, { custom_id: 'already in use' });
      }
      assert.equal((await admin(base, 'GET', '/consumers/thief')).status, 404);
      const unchanged = await admin(base, 'GET', '/consumers/plain-admin');
      assert.equal(unchanged.json.custom_id, null);
      assert.equal(unchanged.json.tags, null);
    });

    it('PATCH keeps what it is not given and clears with null; PUT replaces everything', async () => {
      await admin(base, 'POST', '/consumers', { username: 'patchy', custom_id: 'p-1', tags: ['x'], groups: ['g'] });
      const groupsOnly = await admin(base, 'PATCH', '/consumers/patchy', { groups: ['h'] });
      assert.deepEqual([groupsOnly.json.custom_id, groupsOnly.json.tags, groupsOnly.json.groups], ['p-1', ['x'], ['h']]);
      const tagsCleared = await admin(base, 'PATCH', '/consumers/patchy', { tags: null });
      assert.deepEqual([tagsCleared.json.custom_id, tagsCleared.json.tags], ['p-1', null]);
      // the GET body sent back is accepted as it is
      const echoed = await admin(base, 'PATCH', '/consumers/patchy', tagsCleared.json);
      assert.equal(echoed.status, 200, echoed.text);
      const replaced = await admin(base, 'PUT', '/consumers/patchy', { tags: ['y'] });
      assert.equal(replaced.status, 200);
      assert.deepEqual([replaced.json.custom_id, replaced.json.tags, replaced.json.groups], [null, ['y'], []]);
      // p-1 is free again
      const created = await admin(base, 'PUT', '/consumers/patchy-2', { custom_id: 'p-1' });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.custom_id, 'p-1');
    });

    it('a config file consumer’s custom_id and tags cannot be changed here (409)', async () => {
      const r = await admin(base, 'PATCH', '/consumers/file-consumer', { custom_id: 'other' });
      assert.equal(r.status, 409);
      assert.equal((await admin(base, 'GET', '/consumers/file-consumer')).json.custom_id, 'crm-file-1');
    });

    it('bad custom_id or tags are a 400 naming the field, never a 500', async () => {
      const cases: Array<[unknown, string, RegExp]> = [
        [{ username: 'bad', custom_id: 'a\u0000b' }, 'custom_id', /./],
        [{ username: 'bad', custom_id: 'line\nbreak' }, 'custom_id', /^must not contain control characters$/],
        [{ username: 'bad', custom_id: 'tab\tin' }, 'custom_id', /^must not contain control characters$/],
        [{ username: 'bad', custom_id: '' }, 'custom_id', /printable ASCII/],
        [{ username: 'bad', custom_id: ' padded' }, 'custom_id', /no leading or trailing space/],
        [{ username: 'bad', custom_id: 'ünïcødé' }, 'custom_id', /printable ASCII/],
        [{ username: 'bad', custom_id: 'x'.repeat(257) }, 'custom_id', /1–256/],
        [{ username: 'bad', custom_id: 42 }, 'custom_id', /^expected a string$/],
        [{ username: 'bad', tags: 'single' }, 'tags', /^expected a list of strings$/],
        [{ username: 'bad', tags: ['a,b'] }, 'tags', /without "," or "\/"/],
        [{ username: 'bad', tags: ['a/b'] }, 'tags', /without "," or "\/"/],
        [{ username: 'bad', tags: [''] }, 'tags', /1–128/],
        [{ username: 'bad', tags: ['bell\u0007'] }, 'tags', /control characters/],
        [{ username: 'bad', tags: ['nul\u0000'] }, 'tags[0]', /NUL/],
        [{ username: 'bad', tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }, 'tags', /at most 64/],
      ];
      for (const [body, field, problem] of cases) {
        const r = await admin(base, 'POST', '/consumers', body);
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.json.error, 'invalid_request');
        assert.deepEqual(Object.keys(r.json.fields), [field], r.text);
        assert.match(r.json.fields[field], problem, r.text);
      }
      const patched = await admin(base, 'PATCH', '/consumers/acme', { custom_id: 'x\u0001' });
      assert.equal(patched.status, 400);
      assert.deepEqual(Object.keys(patched.json.fields), ['custom_id']);
      assert.equal((await admin(base, 'GET', '/consumers/bad')).status, 404);
    });

    it('of POSTs racing for one custom_id exactly one gets 201, the others 409', async () => {
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => admin(base, 'POST', '/consumers', { username: `racer-${i}`, custom_id: 'raced' })));
      assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409]);
      for (const r of replies) if (r.status === 409) assert.deepEqual(r.json.fields, { custom_id: 'already in use' });
      const owners = await admin(base, 'GET', '/consumers?custom_id=raced');
      assert.equal(owners.json.data.length, 1);
      assert.equal(owners.json.data[0].username, replies.find((r) => r.status === 201)!.json.username);
    });

    it('of PUTs and PATCHes racing for one custom_id exactly one wins, the others 409', async () => {
      for (let i = 0; i < 4; i++) await admin(base, 'POST', '/consumers', { username: `patcher-${i}` });
      const replies = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) => admin(base, 'PATCH', `/consumers/patcher-${i}`, { custom_id: 'raced-2' })),
        ...Array.from({ length: 4 }, (_, i) => admin(base, 'PUT', `/consumers/putter-${i}`, { custom_id: 'raced-2' })),
      ]);
      const wins = replies.filter((r) => r.status === 200 || r.status === 201);
      assert.equal(wins.length, 1, replies.map((r) => `${r.status} ${r.text}`).join('\n'));
      assert.deepEqual(replies.filter((r) => r.status === 409).length, 7);
      assert.equal((await admin(base, 'GET', '/consumers?custom_id=raced-2')).json.data[0].username, wins[0]!.json.username);
    });
  });

  describe('drawbridge consumer (CLI) on the same database', () => {
    it('consumer create --custom-id --tag creates; list shows both; the gateway sends the header', async () => {
      const r = await runCli(['consumer', 'create', 'cli-made', '--custom-id', 'cli ext 1', '--tag', 'from cli', '--tag', 'b,c', '--json', '--config', configFile]);
      assert.equal(r.code, 0, r.stderr);
      const rec = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(rec.custom_id, 'cli ext 1');
      assert.deepEqual(rec.tags, ['from cli', 'b', 'c']);
      const viaAdmin = await admin(base, 'GET', '/consumers?custom_id=cli%20ext%201');
      assert.deepEqual(viaAdmin.json.data.map((c: { username: string; source: string }) => [c.username, c.source]), [['cli-made', 'cli']]);

      const table = await runCli(['consumer', 'list', '--config', configFile]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^USERNAME\s+CUSTOM_ID\s+GROUPS\s+TAGS\s+CREDENTIALS\s+SOURCE\s+ID\n/);
      assert.match(table.stdout, /^cli-made\s+cli ext 1\s+from cli,b,c\s+0\s+cli\s+[0-9a-f-]{36}$/m);
      assert.match(table.stdout, /^file-consumer\s+crm-file-1\s+file,gold\s+1\s+config\s/m);
      const json = JSON.parse((await runCli(['consumer', 'list', '--json', '--config', configFile])).stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(json.find((c) => c.username === 'cli-made')?.tags, ['from cli', 'b', 'c']);

      const key = await keyFor('cli-made');
      assert.deepEqual(received(await proxied(key), 'x-consumer-custom-id'), ['cli ext 1']);
    });

    it('refuses a taken custom_id and bad values, exit 2 naming the flag; nothing is stored', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['--custom-id', 'crm|42'], /--custom-id: already used by consumer "acme"/],
        [['--custom-id', 'a\u0001b'], /--custom-id: must not contain control characters/],
        [['--custom-id', 'ünï'], /--custom-id: printable ASCII/],
        [['--tag', 'a/b'], /--tag: "a\/b": a tag is printable ASCII without "," or "\/"/],
      ];
      for (const [flags, message] of cases) {
        const r = await runCli(['consumer', 'create', 'cli-refused', ...flags, '--config', configFile]);
        assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stdout}`);
        assert.match(r.stderr, message);
      }
      assert.equal((await admin(base, 'GET', '/consumers/cli-refused')).status, 404);
    });

    it('--help names the new options', async () => {
      const r = await runCli(['consumer', 'create', '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /--custom-id <id>/);
      assert.match(r.stdout, /--tag <tag>/);
    });
  });

  describe('the config file', () => {
    it('refuses a custom_id two consumers share, naming the second', () => {
      assert.throws(
        () =>
          validateConfig({
            issuer: 'http://127.0.0.1:9',
            secret: TEST_SECRET,
            gateway: { consumers: [{ username: 'a', custom_id: 'same' }, { username: 'b' }, { username: 'c', custom_id: 'same' }] },
          }),
        (err: unknown) => err instanceof ConfigError && err.path === 'gateway.consumers[2].custom_id' && /already used by gateway\.consumers\[0\]/.test(err.message),
      );
      for (const [consumer, path] of [
        [{ username: 'a', custom_id: 'bad\u0001' }, 'gateway.consumers[0].custom_id'],
        [{ username: 'a', tags: ['a,b'] }, 'gateway.consumers[0].tags[0]'],
      ] as const) {
        assert.throws(
          () => validateConfig({ issuer: 'http://127.0.0.1:9', secret: TEST_SECRET, gateway: { consumers: [consumer] } }),
          (err: unknown) => err instanceof ConfigError && err.path === path,
        );
      }
    });

    describe('sync into storage', () => {
      let own: TestSchema;
      let storage: Storage;
      before(async () => {
        own = await freshPostgresSchema(pg!);
        storage = await openStorage(own.url, { autoMigrate: true });
      });
      after(async () => {
        await storage?.close();
        await own?.drop();
      });

      it('a custom_id moved between file consumers (or swapped) is synced whatever the order; a removed one is cleared', async () => {
        const gw = (list: Array<{ username: string; custom_id?: string; tags?: string[] }>) => ({
          consumers: list.map((c) => ({ groups: [], credentials: {}, tags: [], ...c })),
        });
        await syncConfiguredConsumers(storage, gw([{ username: 'a', custom_id: 'one', tags: ['t'] }, { username: 'b', custom_id: 'two' }]), TEST_SECRET);
        await syncConfiguredConsumers(storage, gw([{ username: 'a', custom_id: 'two' }, { username: 'b', custom_id: 'one' }]), TEST_SECRET);
        assert.equal((await storage.consumers.getByCustomId('two'))?.username, 'a');
        assert.equal((await storage.consumers.getByCustomId('one'))?.username, 'b');
        assert.equal('tags' in (await storage.consumers.getByUsername('a'))!, false);
        await syncConfiguredConsumers(storage, gw([{ username: 'a' }, { username: 'c', custom_id: 'two' }]), TEST_SECRET);
        assert.equal((await storage.consumers.getByCustomId('two'))?.username, 'c');
        assert.equal(await storage.consumers.getByUsername('b'), undefined);
      });

      it('a custom_id an admin-made consumer has is a ConfigError naming the key', async () => {
        await storage.consumers.upsert({ id: 'adm', username: 'admin-made', groups: [], custom_id: 'owned', source: 'admin', created_at: 1, updated_at: 1 });
        await assert.rejects(
          syncConfiguredConsumers(storage, { consumers: [{ username: 'x', groups: [], credentials: {} }, { username: 'y', groups: [], credentials: {}, custom_id: 'owned' }] }, TEST_SECRET),
          (err: unknown) => err instanceof ConfigError && err.path === 'gateway.consumers[1].custom_id' && /already used by consumer "admin-made"/.test(err.message),
        );
        assert.equal((await storage.consumers.getByCustomId('owned'))?.username, 'admin-made');
      });
    });
  });
});
