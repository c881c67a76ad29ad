// /clients on the admin API: OAuth clients of the auth server managed as `drawbridge client`
// manages them, against real auth servers on PostgreSQL + Redis: one in the gateway's
// process (as `drawbridge start` runs them) and one alone in its own (`--only auth`), which
// learns of admin changes only through events. Each change must take effect on both within a
// second; the client cache alone would keep an old client for up to 2 s there.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ClientCache } from '../../src/auth/clients.js';
import { EVENTS_CHANNEL } from '../../src/cache/events.js';
import { run, type Running } from '../../src/cli/run.js';
import { validateClientConfig } from '../../src/config/client.js';
import { clientRecordFromConfig } from '../../src/storage/client-records.js';
import { validateConfig } from '../../src/config/index.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { ClientRecord, ClientRepo, Storage } from '../../src/storage/types.js';
import { runCli, type CliResult } from '../cli/spawn.js';
import { basic, freePort, issued, postForm, testKeys, TEST_SECRET } from '../helpers/auth-server.js';
import { startStack, type Stack } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl, redisUrl, type TestSchema } from '../helpers/services.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';
import { within } from '../helpers/poll.js';

const pg = await postgresUrl();
const redis = await redisUrl();

const FILE_CLIENT = { client_id: 'file-client', client_secret: 'file-client-secret-0123456789abcdef', grant_types: ['client_credentials'], scopes: ['orders:read', 'introspect'] };
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** A P-256 public key (RFC 7515 Appendix A.3's): a client's key for its request objects. */
const EC_PUBLIC_JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** a service that receives tokens of admin-made clients and exchanges them to call on */
const EXCHANGER = { client_id: 'exchanger', client_secret: 'exchanger-secret-0123456789abcdef0123', grant_types: [EXCHANGE], scopes: ['orders:read'] };

async function clientCredentials(issuer: string, id: string, secret: string): Promise<{ status: number; json: Record<string, any> }> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function introspect(issuer: string, token: string): Promise<Record<string, any>> {
  const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic(FILE_CLIENT.client_id, FILE_CLIENT.client_secret) });
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, any>;
}

describe('admin API /clients (PostgreSQL + Redis, real auth servers)', { skip: (pg === undefined || redis === undefined) && 'PostgreSQL or Redis not reachable' }, () => {
  let schema: TestSchema;
  let stack: Stack;
  let remote: Running;
  let remoteIssuer: string;
  let storage: Storage;
  let base: string;

  before(async () => {
    schema = await migratedPostgresSchema(pg!);
    const top = { storage: schema.url, redis };
    stack = await startStack({ top, auth: { clients: [FILE_CLIENT, EXCHANGER] }, gateway: { admin_listen: '127.0.0.1:0', admin_token: ADMIN_TOKEN } });
    base = adminUrlOf(stack);
    storage = stack.running.storage;
    // a second auth server alone in its process: same database and Redis, its own client cache
    const port = await freePort();
    remoteIssuer = `http://127.0.0.1:${port}`;
    const config = validateConfig({
      issuer: remoteIssuer,
      secret: TEST_SECRET,
      log: { level: 'silent' },
      ...top,
      keys: testKeys(undefined),
      auth: { listen: `127.0.0.1:${port}`, clients: [FILE_CLIENT, EXCHANGER] },
    });
    remote = await run(config, { logger: silentLogger(), only: 'auth' });
  });

  after(async () => {
    await remote?.close();
    await stack?.close();
    await schema?.drop();
  });

  it('is listed in the admin index', async () => {
    const res = await admin(base, 'GET', '/');
    assert.equal(res.status, 200);
    assert.ok(res.json.endpoints.includes('/clients'), JSON.stringify(res.json.endpoints));
  });

  it('needs the admin token', async () => {
    assert.equal((await admin(base, 'GET', '/clients', undefined, { token: null })).status, 401);
    assert.equal((await admin(base, 'POST', '/clients', {}, { token: 'wrong' })).status, 401);
  });

  it('creates a confidential client whose secret is shown once, stored as its digest, and works at once on both auth servers', async () => {
    // the remote server has just looked this id up and remembers it as unknown
    assert.equal((await clientCredentials(remoteIssuer, 'svc-a', 'nope')).status, 401);
    const res = await admin(base, 'POST', '/clients', { client_id: 'svc-a', scopes: ['orders:read'], client_name: 'Service A' });
    assert.equal(res.status, 201, res.text);
    const secret = res.json.client_secret as string;
    assert.ok(typeof secret === 'string' && secret.length >= 32);
    assert.equal(res.json.client_id, 'svc-a');
    assert.deepEqual(res.json.grant_types, ['client_credentials']);
    assert.equal(res.json.token_endpoint_auth_method, 'client_secret_basic');
    assert.equal(res.json.source, 'admin');
    assert.equal('secret_hash' in res.json, false);
    const stored = await storage.clients.get('svc-a');
    assert.equal(stored?.secret_hash, createHash('sha256').update(secret).digest('hex'));

    const local = await clientCredentials(stack.issuer, 'svc-a', secret);
    assert.equal(local.status, 200, JSON.stringify(local.json));
    assert.equal(local.json.scope, 'orders:read');
    await within(1000, async () => (await clientCredentials(remoteIssuer, 'svc-a', secret)).status === 200, 'new client on the remote auth server');

    // never again: neither the secret nor its digest in any answer
    const one = await admin(base, 'GET', '/clients/svc-a');
    const list = await admin(base, 'GET', '/clients');
    for (const reply of [one, list]) {
      assert.equal(reply.status, 200);
      assert.ok(!reply.text.includes(secret) && !reply.text.includes(stored!.secret_hash!) && !reply.text.includes('"client_secret"'), reply.text);
    }
    assert.equal(one.json.client_name, 'Service A');
  });

  it('generates a client_id when none is given; a public client gets no secret', async () => {
    const gen = await admin(base, 'POST', '/clients', {});
    assert.equal(gen.status, 201, gen.text);
    assert.match(gen.json.client_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof gen.json.client_secret, 'string');

    const pub = await admin(base, 'POST', '/clients', { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example/cb'], scopes: ['openid'] });
    assert.equal(pub.status, 201, pub.text);
    assert.equal('client_secret' in pub.json, false);
    assert.deepEqual(pub.json.grant_types, ['authorization_code', 'refresh_token']);
    assert.equal(pub.json.require_pkce, true);
    assert.equal((await storage.clients.get('spa'))?.secret_hash, null);
    const rotate = await admin(base, 'POST', '/clients/spa/secret');
    assert.equal(rotate.status, 409, rotate.text);
  });

  it('refuses bad input with a 400 naming the field, as the config schema and the CLI do', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ redirect_uris: ['not a url'], grant_types: ['authorization_code'] }, 'redirect_uris[0]'],
      [{ grant_types: ['bogus'] }, 'grant_types[0]'],
      [{ token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] }, 'grant_types[0]'],
      [{ access_token_format: 'xml' }, 'access_token_format'],
      [{ consent: 'sometimes' }, 'consent'],
      [{ require_pkce: 'perhaps' }, 'require_pkce'],
      [{ token_endpoint_auth_method: 'none', require_pkce: false, grant_types: ['authorization_code'], redirect_uris: ['https://a.example/cb'] }, 'require_pkce'],
      [{ grant_types: ['authorization_code'] }, 'redirect_uris'],
      [{ id_token_signed_response_alg: 'RS256' }, 'id_token_signed_response_alg'],
      [{ audiences: ['orders', 'https://api.example/{tenant}'] }, 'audiences[1]'],
      [{ colour: 'blue' }, 'colour'],
      [{ client_id: 42 }, 'client_id'],
      [{ client_id: 'a\u0001b' }, 'client_id'],
      [{ client_secret: 'chosen-by-hand' }, 'client_secret'],
      [{ client_secret_sha256: 'ab'.repeat(32) }, 'client_secret_sha256'],
    ];
    for (const [body, field] of cases) {
      const res = await admin(base, 'POST', '/clients', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.deepEqual(Object.keys(res.json.fields ?? {}), [field], `${JSON.stringify(body)}: ${res.text}`);
      assert.ok(!res.text.includes('stack'), res.text);
    }
    for (const raw of ['{not json', '[1,2]', '"x"']) {
      assert.equal((await admin(base, 'POST', '/clients', raw)).status, 400, raw);
    }
    // nothing was stored by any of them
    const ids = (await storage.clients.list()).map((c) => c.client_id);
    assert.ok(!ids.includes('a\u0001b') && ids.every((id) => id !== '42'), ids.join(','));
  });

  it('the CLI refuses the same client with the same field named (one rule)', async () => {
    let cli: CliResult;
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-admin-clients-'));
    try {
      const configFile = join(dir, 'drawbridge.yaml');
      await writeFile(configFile, [`issuer: http://127.0.0.1:9`, `storage: ${JSON.stringify(schema.url)}`, `secret: ${TEST_SECRET}`, ''].join('\n'));
      cli = await runCli(['client', 'create', '--config', configFile, '--id', 'cli-bad', '--redirect-uri', 'not a url', '--grant-type', 'authorization_code'], { timeoutMs: 30_000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /redirect_uris\[0\]/);
    const res = await admin(base, 'POST', '/clients', { client_id: 'cli-bad', redirect_uris: ['not a url'], grant_types: ['authorization_code'] });
    assert.equal(res.status, 400);
    // the same problem, word for word (up to the quoted value, which the CLI shortens)
    const problem = (res.json.fields['redirect_uris[0]'] as string).split(', got')[0]!;
    assert.ok(cli.stderr.includes(`redirect_uris[0]: ${problem}`), `${cli.stderr} vs ${res.text}`);
  });

  it('refuses a duplicate client_id, and one of the config file, with 409', async () => {
    assert.equal((await admin(base, 'POST', '/clients', { client_id: 'dup' })).status, 201);
    const again = await admin(base, 'POST', '/clients', { client_id: 'dup' });
    assert.equal(again.status, 409, again.text);
    assert.deepEqual(Object.keys(again.json.fields), ['client_id']);
    const file = await admin(base, 'POST', '/clients', { client_id: FILE_CLIENT.client_id });
    assert.equal(file.status, 409, file.text);
    // of two racing creates exactly one wins
    const racing = await Promise.all([1, 2, 3].map(() => admin(base, 'POST', '/clients', { client_id: 'race' })));
    assert.deepEqual(racing.map((r) => r.status).sort(), [201, 409, 409]);
    const winner = racing.find((r) => r.status === 201)!;
    assert.equal((await clientCredentials(stack.issuer, 'race', winner.json.client_secret)).status, 200);
  });

  it('lists config-file clients read-only: PATCH, DELETE and a new secret are refused (409), PUT is no method here (405)', async () => {
    const one = await admin(base, 'GET', `/clients/${FILE_CLIENT.client_id}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.source, 'config');
    assert.ok(!one.text.includes(FILE_CLIENT.client_secret));
    assert.equal((await admin(base, 'PATCH', `/clients/${FILE_CLIENT.client_id}`, { scopes: [] })).status, 409);
    assert.equal((await admin(base, 'DELETE', `/clients/${FILE_CLIENT.client_id}`)).status, 409);
    assert.equal((await admin(base, 'POST', `/clients/${FILE_CLIENT.client_id}/secret`)).status, 409);
    const put = await admin(base, 'PUT', `/clients/${FILE_CLIENT.client_id}`, { scopes: [] });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, PATCH, DELETE');
    assert.deepEqual((await storage.clients.get(FILE_CLIENT.client_id))?.scopes, FILE_CLIENT.scopes);
    assert.equal((await clientCredentials(stack.issuer, FILE_CLIENT.client_id, FILE_CLIENT.client_secret)).status, 200);
  });

  it('pages the list like the other endpoints (?size=, offset)', async () => {
    const all = await admin(base, 'GET', '/clients');
    assert.ok(all.json.data.length >= 3);
    assert.equal(all.json.next, null);
    const seen: string[] = [];
    let path: string | null = '/clients?size=2';
    while (path !== null) {
      const page: Awaited<ReturnType<typeof admin>> = await admin(base, 'GET', path);
      assert.equal(page.status, 200, page.text);
      assert.ok(page.json.data.length <= 2);
      seen.push(...page.json.data.map((c: { client_id: string }) => c.client_id));
      path = page.json.next;
    }
    assert.deepEqual(seen, all.json.data.map((c: { client_id: string }) => c.client_id));
    assert.equal((await admin(base, 'GET', '/clients?size=0')).status, 400);
    assert.equal((await admin(base, 'GET', '/clients/no-such-client')).status, 404);
  });

  it('PATCH merges: the fields given change, null restores a default, the rest (and the secret) stay', async () => {
    const created = await admin(base, 'POST', '/clients', {
      client_id: 'web',
      grant_types: ['authorization_code', 'client_credentials'],
      redirect_uris: ['https://web.example/cb'],
      scopes: ['openid', 'orders:read'],
      consent: 'skip',
    });
    assert.equal(created.status, 201, created.text);
    const secret = created.json.client_secret as string;
    const res = await admin(base, 'PATCH', '/clients/web', { redirect_uris: ['https://web.example/new'], scopes: ['openid', 'orders:write'], consent: null, mfa: 'required' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.redirect_uris, ['https://web.example/new']);
    assert.deepEqual(res.json.scopes, ['openid', 'orders:write']);
    assert.deepEqual(res.json.default_scopes, ['openid', 'orders:write'], 'default_scopes followed scopes and still do');
    assert.equal(res.json.consent, 'ask');
    assert.equal(res.json.mfa, 'required');
    assert.equal(res.json.require_pushed_authorization_requests, false, 'the default, shown');
    assert.deepEqual(res.json.grant_types, ['authorization_code', 'client_credentials']);
    assert.equal('client_secret' in res.json, false);
    assert.equal(res.json.created_at, created.json.created_at);
    const got = await admin(base, 'GET', '/clients/web');
    assert.deepEqual(got.json, res.json);
    // a GET body can be sent back as it is
    assert.equal((await admin(base, 'PATCH', '/clients/web', got.json)).status, 200);
    const token = await clientCredentials(stack.issuer, 'web', secret);
    assert.equal(token.status, 200, JSON.stringify(token.json));
    assert.equal(token.json.scope, 'openid orders:write');

    const bad = await admin(base, 'PATCH', '/clients/web', { redirect_uris: ['nope'] });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.json.fields), ['redirect_uris[0]']);
    const rename = await admin(base, 'PATCH', '/clients/web', { client_id: 'other' });
    assert.equal(rename.status, 400);
    assert.deepEqual(Object.keys(rename.json.fields), ['client_id']);
    assert.equal((await admin(base, 'PATCH', '/clients/web', { client_secret: 'x' })).status, 400);
    assert.deepEqual((await storage.clients.get('web'))?.redirect_uris, ['https://web.example/new']);
    assert.equal((await admin(base, 'PATCH', '/clients/nobody', { scopes: [] })).status, 404);
    // RFC 9126 §6 client metadata, as the config file takes it
    const par = await admin(base, 'PATCH', '/clients/web', { require_pushed_authorization_requests: true });
    assert.equal(par.json.require_pushed_authorization_requests, true);
    assert.equal((await storage.clients.get('web'))?.require_pushed_authorization_requests, true);
    const unset = await admin(base, 'PATCH', '/clients/web', { require_pushed_authorization_requests: null });
    assert.equal(unset.json.require_pushed_authorization_requests, false);
  });

  it('require_signed_request_object (RFC 9101 §10.5): only with keys, shown, kept across PATCH merges, null restores false', async () => {
    const body = { grant_types: ['authorization_code'], redirect_uris: ['https://jar.example/cb'], scopes: ['openid'] };
    const keyless = await admin(base, 'POST', '/clients', { client_id: 'jar-keyless', ...body, require_signed_request_object: true });
    assert.equal(keyless.status, 400, keyless.text);
    assert.deepEqual(Object.keys(keyless.json.fields), ['require_signed_request_object']);
    assert.match(keyless.json.fields.require_signed_request_object, /needs jwks or jwks_uri/);
    const created = await admin(base, 'POST', '/clients', {
      client_id: 'jar', ...body, token_endpoint_auth_method: 'client_secret_basic', jwks: { keys: [EC_PUBLIC_JWK] }, request_object_signing_alg: 'ES256', require_signed_request_object: true,
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(typeof created.json.client_secret, 'string', 'a secret for the token endpoint; the key signs its request objects');
    assert.equal(created.json.require_signed_request_object, true);
    assert.equal(created.json.request_object_signing_alg, 'ES256');
    assert.equal((await storage.clients.get('jar'))?.require_signed_request_object, true);
    // a merge of other fields keeps both
    const merged = await admin(base, 'PATCH', '/clients/jar', { scopes: ['openid', 'orders:read'] });
    assert.equal(merged.status, 200, merged.text);
    assert.equal(merged.json.require_signed_request_object, true);
    assert.equal(merged.json.request_object_signing_alg, 'ES256');
    assert.deepEqual((await admin(base, 'GET', '/clients/jar')).json, merged.json);
    // the keys cannot go while the requirement stays
    const unkeyed = await admin(base, 'PATCH', '/clients/jar', { jwks: null, request_object_signing_alg: null });
    assert.equal(unkeyed.status, 400, unkeyed.text);
    assert.deepEqual(Object.keys(unkeyed.json.fields), ['require_signed_request_object']);
    const unset = await admin(base, 'PATCH', '/clients/jar', { require_signed_request_object: null });
    assert.equal(unset.json.require_signed_request_object, false);
    assert.equal((await storage.clients.get('jar'))?.require_signed_request_object, false);
    // shown as false for a client that never had it
    assert.equal((await admin(base, 'GET', '/clients/web')).json.require_signed_request_object, false);
  });

  it('PATCH to a public method drops the secret; back to a secret method generates one, shown once', async () => {
    assert.equal((await admin(base, 'POST', '/clients', { client_id: 'flip', grant_types: ['authorization_code'], redirect_uris: ['https://f.example/cb'] })).status, 201);
    const pub = await admin(base, 'PATCH', '/clients/flip', { token_endpoint_auth_method: 'none' });
    assert.equal(pub.status, 200, pub.text);
    assert.equal((await storage.clients.get('flip'))?.secret_hash, null);
    const conf = await admin(base, 'PATCH', '/clients/flip', { token_endpoint_auth_method: 'client_secret_post', grant_types: ['client_credentials'] });
    assert.equal(conf.status, 200, conf.text);
    const secret = conf.json.client_secret as string;
    assert.equal(typeof secret, 'string');
    const res = await postForm(`${stack.issuer}/oauth2/token`, { grant_type: 'client_credentials', client_id: 'flip', client_secret: secret });
    assert.equal(res.status, 200);
  });

  it('rotates a secret: the new one is shown once and works, the old one stops at once on both auth servers', async () => {
    const created = await admin(base, 'POST', '/clients', { client_id: 'rot' });
    const old = created.json.client_secret as string;
    // both servers have the client (and its old digest) cached right now
    assert.equal((await clientCredentials(stack.issuer, 'rot', old)).status, 200);
    await within(1000, async () => (await clientCredentials(remoteIssuer, 'rot', old)).status === 200, 'client on the remote auth server');
    const res = await admin(base, 'POST', '/clients/rot/secret');
    assert.equal(res.status, 200, res.text);
    const fresh = res.json.client_secret as string;
    assert.ok(typeof fresh === 'string' && fresh !== old);
    assert.equal((await storage.clients.get('rot'))?.secret_hash, createHash('sha256').update(fresh).digest('hex'));
    assert.equal((await clientCredentials(stack.issuer, 'rot', old)).status, 401);
    assert.equal((await clientCredentials(stack.issuer, 'rot', fresh)).status, 200);
    await within(1000, async () => (await clientCredentials(remoteIssuer, 'rot', old)).status === 401, 'old secret refused on the remote auth server');
    assert.equal((await clientCredentials(remoteIssuer, 'rot', fresh)).status, 200);
    assert.ok(!(await admin(base, 'GET', '/clients/rot')).text.includes(fresh));
    assert.equal((await admin(base, 'GET', '/clients/rot/secret')).status, 405);
    assert.equal((await admin(base, 'POST', '/clients/rot/secret', { client_secret: 'mine' })).status, 400);
    assert.equal((await admin(base, 'POST', '/clients/nobody/secret')).status, 404);
  });

  it('DELETE removes the client and revokes its tokens: no new token, old ones introspect inactive, on both servers', async () => {
    const created = await admin(base, 'POST', '/clients', { client_id: 'gone', scopes: ['orders:read'] });
    const secret = created.json.client_secret as string;
    const localToken = await clientCredentials(stack.issuer, 'gone', secret);
    assert.equal(localToken.status, 200);
    let remoteToken: { status: number; json: Record<string, any> } | undefined;
    await within(1000, async () => (remoteToken = await clientCredentials(remoteIssuer, 'gone', secret)).status === 200, 'client on the remote auth server');
    assert.equal((await introspect(stack.issuer, localToken.json.access_token)).active, true);

    const res = await admin(base, 'DELETE', '/clients/gone');
    assert.equal(res.status, 204, res.text);
    assert.equal((await admin(base, 'GET', '/clients/gone')).status, 404);
    assert.equal((await admin(base, 'DELETE', '/clients/gone')).status, 404);
    assert.equal(await storage.clients.get('gone'), undefined);
    assert.equal((await clientCredentials(stack.issuer, 'gone', secret)).status, 401);
    await within(1000, async () => (await clientCredentials(remoteIssuer, 'gone', secret)).status === 401, 'deleted client on the remote auth server');
    for (const token of [localToken.json.access_token, remoteToken!.json.access_token]) {
      assert.equal((await introspect(stack.issuer, token)).active, false);
      assert.equal((await introspect(remoteIssuer, token)).active, false);
    }
  });

  it('DELETE also ends what other clients exchanged from its tokens (RFC 8693), and tells the gateways', async () => {
    const created = await admin(base, 'POST', '/clients', { client_id: 'delegator', scopes: ['orders:read'], grant_types: ['client_credentials', EXCHANGE] });
    assert.equal(created.status, 201, created.text);
    const secret = created.json.client_secret as string;
    const own = await clientCredentials(stack.issuer, 'delegator', secret);
    assert.equal(own.status, 200, JSON.stringify(own.json));
    // delegator hands its token on to exchanger (aud), which exchanges it to act for delegator
    const exchange = async (id: string, pass: string, subject: string, more: Record<string, string> = {}) => {
      const body = await issued(await postForm(`${stack.issuer}/oauth2/token`, { grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, ...more }, { authorization: basic(id, pass) }));
      return body.access_token as string;
    };
    const handed = await exchange('delegator', secret, own.json.access_token, { audience: EXCHANGER.client_id });
    const held = await exchange(EXCHANGER.client_id, EXCHANGER.client_secret, handed);
    assert.equal((await introspect(stack.issuer, held)).client_id, EXCHANGER.client_id);

    const heard: unknown[] = [];
    const sub = new Redis(redis!);
    try {
      sub.on('message', (_channel: string, message: string) => heard.push(JSON.parse(message)));
      await sub.subscribe(EVENTS_CHANNEL);
      assert.equal((await admin(base, 'DELETE', '/clients/delegator')).status, 204);
      for (const token of [own.json.access_token, handed, held]) {
        assert.equal((await introspect(stack.issuer, token)).active, false);
        assert.equal((await introspect(remoteIssuer, token)).active, false);
      }
      const wanted = { type: 'token.revoked', digest: sha256Base64url(held) };
      await within(1000, async () => heard.some((e) => JSON.stringify(e) === JSON.stringify(wanted)), 'token.revoked for the exchanged token');
      assert.ok(heard.some((e) => JSON.stringify(e) === JSON.stringify({ type: 'client.revoked', client_id: 'delegator' })));
    } finally {
      sub.disconnect();
    }
  });

  it('answers 404 for paths below a client other than /secret, and 405 for other methods on the list', async () => {
    assert.equal((await admin(base, 'GET', '/clients/svc-a/other')).status, 404);
    assert.equal((await admin(base, 'GET', '/clients/svc-a/secret/x')).status, 404);
    const del = await admin(base, 'DELETE', '/clients');
    assert.equal(del.status, 405);
    assert.equal(del.headers.get('allow'), 'GET, POST');
  });
});

describe('the auth server drops its client cache on a client event, also a read under way', () => {
  it('a read that began before clear() is not kept as fresh (it may have seen the old row)', async () => {
    const rows = new Map<string, ClientRecord>([['c1', clientRecordFromConfig(validateClientConfig({ client_id: 'c1', client_secret: 'old-secret' }), 'admin', 1)]]);
    let release!: () => void;
    let gets = 0;
    const gate = new Promise<void>((r) => (release = r));
    const repo = {
      async get(id: string) {
        gets++;
        const row = rows.get(id);
        if (gets === 1) await gate; // the first read sees the old row and lands late
        return row;
      },
    } as unknown as ClientRepo;
    const cache = new ClientCache(repo, { ttlMs: 60_000, nowMs: () => 0 });
    const slow = cache.load('c1');
    await new Promise((r) => setImmediate(r));
    rows.delete('c1');
    cache.clear();
    release();
    assert.ok(await slow, 'the read under way answers its caller with what it saw');
    assert.equal(cache.peek('c1'), undefined, 'but is not kept as fresh');
    assert.equal(await cache.get('c1'), null);
    assert.equal(gets, 2);
  });
});
