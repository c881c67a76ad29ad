// `drawbridge start` as users run it, on a real SQLite file: tokens, clients, keys and a
// restart, each command a child process (exit codes per the contract: 0 ok, 1 runtime
// failure, 2 usage or config error). The other commands: cli.test.ts.
import * as assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, freePort, postForm, TEST_SECRET } from '../helpers/auth-server.js';
import { parseForm } from '../helpers/browser.js';
import { assertExit, assertNoStack, cliWorkspace, configYaml, ENV, SVC_SECRET } from './cli-support.js';
import { runCli, waitForReady, type CliProcess } from './spawn.js';

const ws = cliWorkspace();

describe('start, token, clients, keys, restart (SQLite file)', () => {
  let port: number;
  let issuer: string;
  let configFile: string;
  let server: CliProcess;
  let firstKid: string;
  /** the RS256 ID token key the default keys.id_token_algorithms adds */
  let firstRsKid: string;
  let survivor: string;
  let created: { id: string; secret: string };
  let createdToken: string;

  before(async () => {
    port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    configFile = join(ws.dir, 'drawbridge.yaml');
    await writeFile(configFile, configYaml({ port, storage: `sqlite:${join(ws.dir, 'state', 'drawbridge.db')}` }));
  });

  async function kids(): Promise<string[]> {
    const res = await fetch(`${issuer}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  }

  async function tokenFor(id: string, secret: string): Promise<Response> {
    return postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
  }

  async function active(token: string): Promise<boolean> {
    const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('svc', SVC_SECRET) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { active: boolean }).active;
  }

  it('start serves /readyz and issues tokens', async () => {
    server = ws.start(configFile);
    await waitForReady(`${issuer}/readyz`, server);
    const ready = await fetch(`${issuer}/readyz`);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { storage: 'ok' } });
    const res = await tokenFor('svc', SVC_SECRET);
    assert.equal(res.status, 200);
    survivor = ((await res.json()) as { access_token: string }).access_token;
    assert.equal(await active(survivor), true);
    const k = await kids();
    assert.equal(k.length, 2);
    firstKid = k[0]!;
    firstRsKid = k[1]!;
  });

  it('logs are JSON lines and never contain secrets or tokens', () => {
    const lines = server.stdout.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0, 'expected some log lines');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    assert.ok(!server.stdout.includes(SVC_SECRET));
    assert.ok(!server.stdout.includes(TEST_SECRET));
    assert.ok(!server.stdout.includes(survivor));
  });

  it('`drawbridge token` prints an access token from the running server', async () => {
    const r = await runCli(['token', '--client', 'svc', '--secret', SVC_SECRET, '--scope', 'orders:write', '--config', configFile], { env: ENV });
    assertExit(r, 0);
    const t = r.stdout.trim();
    assert.match(t, /^[A-Za-z0-9_-]{43,}$/);
    assert.equal(await active(t), true);
    const post = await runCli(['token', '--client', 'svc', '--secret', SVC_SECRET, '--issuer', issuer, '--auth-method', 'post', '--json']);
    // svc is a client_secret_basic client: the post method is refused with a clear runtime failure
    assertExit(post, 1);
    assert.match(post.stderr, /token request failed: 401 invalid_client/);
    const json = await runCli(['token', '--client', 'svc', '--secret', SVC_SECRET, '--issuer', issuer, '--json']);
    assertExit(json, 0);
    const body = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'orders:read orders:write introspect');
  });

  it('`drawbridge token` takes the secret from DRAWBRIDGE_CLIENT_SECRET (kept out of argv), and says so when there is none', async () => {
    const r = await runCli(['token', '--client', 'svc', '--issuer', issuer], { env: { DRAWBRIDGE_CLIENT_SECRET: SVC_SECRET } });
    assertExit(r, 0);
    assert.equal(await active(r.stdout.trim()), true);
    const none = await runCli(['token', '--client', 'svc', '--issuer', issuer], { env: { DRAWBRIDGE_CLIENT_SECRET: '' } });
    assertExit(none, 2);
    assert.match(none.stderr, /--secret SECRET or the environment variable DRAWBRIDGE_CLIENT_SECRET is required/);
  });

  it('`drawbridge token` with a wrong secret → 1', async () => {
    const r = await runCli(['token', '--client', 'svc', '--secret', 'wrong', '--issuer', issuer]);
    assertExit(r, 1);
    assert.match(r.stderr, /401 invalid_client/);
    assertNoStack(r);
  });

  it('client create prints a secret once; the client works at the running server', async () => {
    const r = await runCli(['client', 'create', '--config', configFile, '--id', 'made-by-cli', '--scope', 'orders:read'], { env: ENV });
    assertExit(r, 0);
    const id = /^client_id:\s+(\S+)$/m.exec(r.stdout)?.[1];
    const secret = /^client_secret:\s+(\S+)$/m.exec(r.stdout)?.[1];
    assert.equal(id, 'made-by-cli');
    assert.ok(secret !== undefined && /^[A-Za-z0-9_-]{43,}$/.test(secret), r.stdout);
    assert.match(r.stdout, /shown only now/);
    created = { id: id!, secret: secret! };
    const res = await tokenFor(created.id, created.secret);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; scope: string };
    assert.equal(body.scope, 'orders:read');
    createdToken = body.access_token;
  });

  it('client create refuses an existing id → 2', async () => {
    const [again, configured] = await Promise.all([
      runCli(['client', 'create', '--config', configFile, '--id', 'made-by-cli'], { env: ENV }),
      runCli(['client', 'create', '--config', configFile, '--id', 'svc'], { env: ENV }),
    ]);
    assertExit(again, 2);
    assert.match(again.stderr, /already exists/);
    assertExit(configured, 2);
    assert.match(configured.stderr, /defined in the config file/);
  });

  it('client create --id-token-alg: stored as id_token_signed_response_alg; an alg outside keys.id_token_algorithms → 2', async () => {
    const r = await runCli(['client', 'create', '--config', configFile, '--id', 'rs-by-cli', '--id-token-alg', 'RS256'], { env: ENV });
    assertExit(r, 0);
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    const rows = JSON.parse(list.stdout) as Array<{ client_id: string; id_token_signed_response_alg?: string }>;
    assert.equal(rows.find((c) => c.client_id === 'rs-by-cli')?.id_token_signed_response_alg, 'RS256');
    assertExit(await runCli(['client', 'delete', 'rs-by-cli', '--config', configFile], { env: ENV }), 0);
    const bad = await runCli(['client', 'create', '--config', configFile, '--id', 'ed-by-cli', '--id-token-alg', 'EdDSA'], { env: ENV });
    assertExit(bad, 2);
    assert.match(bad.stderr, /id_token_signed_response_alg: expected one of keys\.id_token_algorithms \(RS256, ES256\), got EdDSA/);
    assertNoStack(bad);
  });

  it('client create --require-signed-request-object --request-object-alg: both stored (with --jwks-uri); a bad alg or no keys → 2', async () => {
    const jar = ['--redirect-uri', 'https://jar.example/cb', '--grant-type', 'authorization_code', '--scope', 'openid'];
    const r = await runCli(['client', 'create', '--config', configFile, '--id', 'jar-by-cli', ...jar, '--jwks-uri', 'https://jar.example/jwks.json', '--require-signed-request-object', '--request-object-alg', 'ES256'], { env: ENV });
    assertExit(r, 0);
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    const row = rows.find((c) => c.client_id === 'jar-by-cli');
    assert.equal(row?.require_signed_request_object, true);
    assert.equal(row?.request_object_signing_alg, 'ES256');
    assert.equal(row?.jwks_uri, 'https://jar.example/jwks.json');
    assertExit(await runCli(['client', 'delete', 'jar-by-cli', '--config', configFile], { env: ENV }), 0);
    const [badAlg, noKeys] = await Promise.all([
      runCli(['client', 'create', '--config', configFile, '--id', 'jar-hs', ...jar, '--jwks-uri', 'https://jar.example/jwks.json', '--request-object-alg', 'HS256'], { env: ENV }),
      runCli(['client', 'create', '--config', configFile, '--id', 'jar-keyless', ...jar, '--require-signed-request-object'], { env: ENV }),
    ]);
    assertExit(badAlg, 2);
    assert.match(badAlg.stderr, /--request-object-alg.*HS256.*RS256, RS384/s);
    assertNoStack(badAlg);
    assertExit(noKeys, 2);
    assert.match(noKeys.stderr, /require_signed_request_object: request objects are verified with the client's keys: needs jwks or jwks_uri/);
    assertNoStack(noKeys);
  });

  it('client list: the REQUIRES column shows --require-par (par) and --require-signed-request-object (signed-request), `-` for neither', async () => {
    const code = ['--redirect-uri', 'https://req.example/cb', '--grant-type', 'authorization_code', '--scope', 'openid'];
    const keys = ['--jwks-uri', 'https://req.example/jwks.json'];
    const made = await Promise.all([
      runCli(['client', 'create', '--config', configFile, '--id', 'req-par', ...code, '--require-par'], { env: ENV }),
      runCli(['client', 'create', '--config', configFile, '--id', 'req-jar', ...code, ...keys, '--require-signed-request-object'], { env: ENV }),
      runCli(['client', 'create', '--config', configFile, '--id', 'req-both', ...code, ...keys, '--require-par', '--require-signed-request-object'], { env: ENV }),
      runCli(['client', 'create', '--config', configFile, '--id', 'req-none', ...code], { env: ENV }),
    ]);
    for (const r of made) assertExit(r, 0);
    const table = await runCli(['client', 'list', '--config', configFile], { env: ENV });
    assertExit(table, 0);
    const requires = (id: string) => {
      const header = table.stdout.split('\n')[0]!;
      const line = table.stdout.split('\n').find((l) => l.startsWith(`${id} `));
      assert.ok(line !== undefined, table.stdout);
      // the column's cell: from where its header starts to the next run of spaces
      return line.slice(header.indexOf('REQUIRES')).split(/\s+/)[0];
    };
    assert.equal(requires('req-par'), 'par');
    assert.equal(requires('req-jar'), 'signed-request');
    assert.equal(requires('req-both'), 'par,signed-request');
    assert.equal(requires('req-none'), '-');
    assert.equal(requires('svc'), '-');
    for (const id of ['req-par', 'req-jar', 'req-both', 'req-none']) assertExit(await runCli(['client', 'delete', id, '--config', configFile], { env: ENV }), 0);
  });

  it('client create --jwks FILE: the inline public keys verify its request objects at the running server (with --require-signed-request-object --request-object-alg ES256)', async () => {
    const cb = 'https://inline.example/cb';
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const other = await jose.generateKeyPair('ES256');
    const publicJwk = await jose.exportJWK(publicKey);
    const file = join(ws.dir, 'inline-jwks.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...publicJwk, kid: 'k1', use: 'sig' }] }));
    const r = await runCli(
      ['client', 'create', '--config', configFile, '--id', 'jar-inline', '--redirect-uri', cb, '--grant-type', 'authorization_code', '--scope', 'openid', '--jwks', file, '--require-signed-request-object', '--request-object-alg', 'ES256'],
      { env: ENV },
    );
    assertExit(r, 0);
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    const row = (JSON.parse(list.stdout) as Array<Record<string, unknown>>).find((c) => c.client_id === 'jar-inline');
    assert.deepEqual(row?.jwks, { keys: [{ ...publicJwk, kid: 'k1', use: 'sig' }] });
    assert.equal(row?.jwks_uri, null);
    assert.equal(row?.require_signed_request_object, true);
    assert.equal(row?.request_object_signing_alg, 'ES256');

    const t = Math.floor(Date.now() / 1000);
    const claims = {
      iss: 'jar-inline', aud: issuer, client_id: 'jar-inline', exp: t + 300, iat: t, nbf: t,
      response_type: 'code', redirect_uri: cb, scope: 'openid', state: 'st', nonce: 'n', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256',
    };
    const signed = (key: jose.CryptoKey) => new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'oauth-authz-req+jwt' }).sign(key);
    const authorize = (query: Record<string, string>) => fetch(`${issuer}/oauth2/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' });
    // signed with the key whose public half is in the file: verified, on to the login page,
    // which carries the request as a request_uri of the server's own
    const ok = await authorize({ client_id: 'jar-inline', request: await signed(privateKey) });
    assert.equal(ok.status, 200);
    const fields = parseForm(await ok.text()).fields.map(([name]) => name);
    assert.ok(fields.includes('request_uri') && !fields.includes('redirect_uri'), fields.join());
    // another key: an error page, nothing redirected
    const foreign = await authorize({ client_id: 'jar-inline', request: await signed(other.privateKey) });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.headers.get('location'), null);
    assert.match(await foreign.text(), /invalid_request_object/);
    // a plain request: refused (require_signed_request_object)
    const plain = await authorize({
      client_id: 'jar-inline', response_type: 'code', redirect_uri: cb, scope: 'openid', state: 'st', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256',
    });
    assert.equal(plain.status, 302);
    assert.equal(new URL(plain.headers.get('location')!).searchParams.get('error'), 'invalid_request');
    assertExit(await runCli(['client', 'delete', 'jar-inline', '--config', configFile], { env: ENV }), 0);
  });

  it('client create --jwks: a private key, a malformed file, a single JWK, a missing file, or with --jwks-uri → 2, naming the flag; the key material is never shown', async () => {
    const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const privateJwk = await jose.exportJWK(privateKey);
    const files = {
      private: JSON.stringify({ keys: [privateJwk] }),
      malformed: `{"keys": [{"kty": "EC", "d": "${privateJwk.d}"`,
      single: JSON.stringify({ ...privateJwk, d: undefined }),
      symmetric: JSON.stringify({ keys: [{ kty: 'oct', k: 'c3ltbWV0cmljLXNlY3JldA' }] }),
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(ws.dir, `${name}.json`), text);
    const create = (...args: string[]) => runCli(['client', 'create', '--config', configFile, '--id', 'jwks-bad', '--redirect-uri', 'https://bad.example/cb', '--grant-type', 'authorization_code', ...args], { env: ENV });
    const [priv, malformed, single, symmetric, missing, both] = await Promise.all([
      create('--jwks', join(ws.dir, 'private.json'), '--require-signed-request-object'),
      create('--jwks', join(ws.dir, 'malformed.json')),
      create('--jwks', join(ws.dir, 'single.json')),
      create('--jwks', join(ws.dir, 'symmetric.json')),
      create('--jwks', join(ws.dir, 'no-such-file.json')),
      create('--jwks', join(ws.dir, 'private.json'), '--jwks-uri', 'https://bad.example/jwks.json'),
    ]);
    for (const r of [priv, malformed, single, symmetric, missing, both]) {
      assertExit(r, 2);
      assertNoStack(r);
      assert.ok(!r.stderr.includes(privateJwk.d!), r.stderr);
    }
    assert.match(priv.stderr, /--jwks \S*private\.json: keys\[0\]\.d: a private key member: give the public key only/);
    assert.match(malformed.stderr, /--jwks \S*malformed\.json: not valid JSON/);
    assert.match(single.stderr, /--jwks \S*single\.json: a single JWK, not a JWK Set/);
    assert.match(symmetric.stderr, /--jwks \S*symmetric\.json: keys\[0\]\.k: a private key member/);
    assert.ok(!symmetric.stderr.includes('c3ltbWV0cmljLXNlY3JldA'), symmetric.stderr);
    assert.match(missing.stderr, /--jwks \S*no-such-file\.json: cannot read the file \(ENOENT\)/);
    assert.match(both.stderr, /--jwks and --jwks-uri: give one of them/);
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    assert.ok(!(JSON.parse(list.stdout) as Array<{ client_id: string }>).some((c) => c.client_id === 'jwks-bad'), 'nothing stored');
  });

  it('client create --auth-method private_key_jwt --jwks FILE: no secret; a client_assertion signed with its key gets a token at the running server, another key\'s is invalid_client', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const other = await jose.generateKeyPair('ES256');
    const file = join(ws.dir, 'pkjwt-jwks.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'pk1' }] }));
    const r = await runCli(
      ['client', 'create', '--config', configFile, '--id', 'pkjwt', '--auth-method', 'private_key_jwt', '--jwks', file, '--grant-type', 'client_credentials', '--scope', 'orders:read'],
      { env: ENV },
    );
    assertExit(r, 0);
    assert.match(r.stdout, /^client_id:\s+pkjwt$/m);
    assert.doesNotMatch(r.stdout, /client_secret:|shown only now/);
    assert.match(r.stdout, /^auth_method:\s+private_key_jwt$/m);
    assert.match(r.stdout, /No client secret: the client authenticates with private_key_jwt/);
    // stored and listed as a private_key_jwt client
    const [table, json] = await Promise.all([
      runCli(['client', 'list', '--config', configFile], { env: ENV }),
      runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV }),
    ]);
    assert.match(table.stdout, /^pkjwt\s+private_key_jwt\s+client_credentials\s+orders:read\s+opaque\s/m);
    const row = (JSON.parse(json.stdout) as Array<Record<string, unknown>>).find((c) => c.client_id === 'pkjwt');
    assert.equal(row?.token_endpoint_auth_method, 'private_key_jwt');
    assert.equal((row?.jwks as { keys: unknown[] } | undefined)?.keys.length, 1);

    const tokenEndpoint = `${issuer}/oauth2/token`;
    const assertion = (key: jose.CryptoKey) =>
      new jose.SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'pk1' })
        .setIssuer('pkjwt')
        .setSubject('pkjwt')
        .setAudience(tokenEndpoint)
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(key);
    const withAssertion = async (key: jose.CryptoKey) =>
      postForm(tokenEndpoint, {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion(key),
      });
    const ok = await withAssertion(privateKey);
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { access_token: string; scope: string };
    assert.ok(body.access_token);
    assert.equal(body.scope, 'orders:read');
    assert.equal(await active(body.access_token), true);
    const foreign = await withAssertion(other.privateKey);
    assert.equal(foreign.status, 401);
    assert.equal(((await foreign.json()) as { error: string }).error, 'invalid_client');
    // and it has no secret to present instead
    const guessed = await tokenFor('pkjwt', 'any-secret');
    assert.equal(guessed.status, 401);
    assertExit(await runCli(['client', 'delete', 'pkjwt', '--config', configFile], { env: ENV }), 0);
  });

  it('client create --auth-method private_key_jwt: without --jwks/--jwks-uri or with --public → 2, nothing stored; --json has no client_secret', async () => {
    const create = (...args: string[]) => runCli(['client', 'create', '--config', configFile, ...args], { env: ENV });
    const [noKeys, pub, json] = await Promise.all([
      create('--id', 'pkjwt-bad', '--auth-method', 'private_key_jwt'),
      create('--id', 'pkjwt-bad', '--auth-method', 'private_key_jwt', '--public', '--jwks-uri', 'https://keys.example/jwks.json'),
      create('--id', 'pkjwt-json', '--auth-method', 'private_key_jwt', '--jwks-uri', 'https://keys.example/jwks.json', '--json'),
    ]);
    for (const bad of [noKeys, pub]) {
      assertExit(bad, 2);
      assertNoStack(bad);
    }
    assert.match(noKeys.stderr, /--auth-method private_key_jwt needs .*--jwks FILE.*--jwks-uri URL/);
    assert.match(pub.stderr, /--public and --auth-method private_key_jwt/);
    assertExit(json, 0);
    assert.deepEqual(JSON.parse(json.stdout), { client_id: 'pkjwt-json', token_endpoint_auth_method: 'private_key_jwt' });
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.ok(!rows.some((c) => c.client_id === 'pkjwt-bad'), 'nothing stored');
    const made = rows.find((c) => c.client_id === 'pkjwt-json');
    assert.equal(made?.token_endpoint_auth_method, 'private_key_jwt');
    assert.equal(made?.jwks_uri, 'https://keys.example/jwks.json');
    assertExit(await runCli(['client', 'delete', 'pkjwt-json', '--config', configFile], { env: ENV }), 0);
  });

  it('client list shows both clients, and never a secret', async () => {
    const [table, json] = await Promise.all([
      runCli(['client', 'list', '--config', configFile], { env: ENV }),
      runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV }),
    ]);
    assertExit(table, 0);
    assert.match(table.stdout, /^CLIENT_ID\s+AUTH_METHOD\s+GRANTS\s+SCOPES\s+FORMAT\s+CONSENT\s+MFA\s+PKCE\s+ID_TOKEN_ALG\s+REQUIRES\s+SOURCE$/m);
    assert.match(table.stdout, /^made-by-cli\s+client_secret_basic\s+client_credentials\s+orders:read\s+opaque\s+ask\s+optional\s+required\s+default\s+-\s+cli$/m);
    assert.match(table.stdout, /^svc\s+client_secret_basic\s+client_credentials\s+orders:read orders:write introspect\s+opaque\s+ask\s+optional\s+required\s+default\s+-\s+config$/m);
    assertExit(json, 0);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => r.client_id).sort(), ['made-by-cli', 'svc']);
    for (const out of [table.stdout, json.stdout]) {
      assert.ok(!out.includes(created.secret));
      assert.ok(!out.includes(SVC_SECRET));
      assert.ok(!out.includes('secret_hash'));
    }
  });

  it('key list shows the current key', async () => {
    const r = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    assertExit(r, 0);
    assert.match(r.stdout, new RegExp(`^${firstKid}\\s+ES256\\s+current\\s+\\d{4}-`, 'm'));
    assert.match(r.stdout, new RegExp(`^${firstRsKid}\\s+RS256\\s+current\\s+\\d{4}-`, 'm'));
    assert.equal(r.stdout.trim().split('\n').length, 3);
  });

  it('SIGTERM → exit 0', async () => {
    const r = await server.stop('SIGTERM');
    assertExit(r, 0);
    assert.equal(r.signal, null);
    await assert.rejects(fetch(`${issuer}/healthz`));
  });

  it('a restart loses no client, key or token', async () => {
    server = ws.start(configFile);
    await waitForReady(`${issuer}/readyz`, server);
    assert.deepEqual(await kids(), [firstKid, firstRsKid]);
    assert.equal(await active(survivor), true);
    assert.equal(await active(createdToken), true);
    assert.equal((await tokenFor(created.id, created.secret)).status, 200);
    assert.equal((await tokenFor('svc', SVC_SECRET)).status, 200);
  });

  it('client rotate-secret prints a new secret once; the running server takes it and refuses the old one', async () => {
    const r = await runCli(['client', 'rotate-secret', created.id, '--config', configFile], { env: ENV });
    assertExit(r, 0);
    const secret = /^client_secret:\s+(\S+)$/m.exec(r.stdout)?.[1];
    assert.ok(secret !== undefined && /^[A-Za-z0-9_-]{43,}$/.test(secret) && secret !== created.secret, r.stdout);
    assert.match(r.stdout, /shown only now/);
    // the server's client cache notices the change (SQLite: at once; at most 2 s elsewhere)
    const until = Date.now() + 3000;
    while ((await tokenFor(created.id, created.secret)).status !== 401) {
      assert.ok(Date.now() < until, 'the old secret still works');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await tokenFor(created.id, secret)).status, 200);
    assert.equal(await active(createdToken), true, 'tokens issued before stay valid');
    created = { id: created.id, secret };
    const [configured, unknown, json] = await Promise.all([
      runCli(['client', 'rotate-secret', 'svc', '--config', configFile], { env: ENV }),
      runCli(['client', 'rotate-secret', 'nobody', '--config', configFile], { env: ENV }),
      runCli(['client', 'rotate-secret', created.id, '--config', configFile, '--json'], { env: ENV }),
    ]);
    assertExit(configured, 2);
    assert.match(configured.stderr, /defined in the config file/);
    assertExit(unknown, 2);
    assert.match(unknown.stderr, /no client "nobody"/);
    assertExit(json, 0);
    const rotated = JSON.parse(json.stdout) as { client_id: string; client_secret: string };
    assert.equal(rotated.client_id, created.id);
    created = { id: created.id, secret: rotated.client_secret };
    await new Promise((resolve) => setTimeout(resolve, 100));
  });

  it('client delete removes the client and revokes its tokens; the token endpoint then says invalid_client', async () => {
    const r = await runCli(['client', 'delete', created.id, '--config', configFile], { env: ENV });
    assertExit(r, 0);
    assert.match(r.stdout, /^deleted client made-by-cli; revoked \d+ token\(s\)$/m);
    const res = await tokenFor(created.id, created.secret);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
    assert.equal(await active(createdToken), false);
    const list = await runCli(['client', 'list', '--config', configFile], { env: ENV });
    assert.doesNotMatch(list.stdout, /made-by-cli/);
  });

  it('client delete of an unknown or configured client → 2', async () => {
    const [unknown, configured] = await Promise.all([
      runCli(['client', 'delete', 'nobody', '--config', configFile], { env: ENV }),
      runCli(['client', 'delete', 'svc', '--config', configFile], { env: ENV }),
    ]);
    assertExit(unknown, 2);
    assert.match(unknown.stderr, /no client "nobody"/);
    assertExit(configured, 2);
    assert.match(configured.stderr, /defined in the config file/);
  });

  it('key rotate --now: the running server publishes both keys and signs with the new one', async () => {
    // --now: the immediate switch this test was written for (the default now publishes ahead, below)
    const r = await runCli(['key', 'rotate', '--config', configFile, '--now'], { env: ENV });
    assertExit(r, 0);
    const m = /^rotated: (\S+) → (\S+) \(ES256\)/m.exec(r.stdout);
    assert.ok(m !== null, r.stdout);
    assert.equal(m![1], firstKid);
    const newKid = m![2]!;
    // every algorithm in use is rotated, the main one first
    const rs = /^rotated: (\S+) → (\S+) \(RS256\)/m.exec(r.stdout);
    assert.ok(rs !== null, r.stdout);
    assert.equal(rs![1], firstRsKid);
    const newRsKid = rs![2]!;
    const until = Date.now() + 10_000;
    let published = await kids();
    while ((published[0] !== newKid || published[1] !== newRsKid) && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 100));
      published = await kids();
    }
    assert.deepEqual(published.slice(0, 2), [newKid, newRsKid]);
    assert.deepEqual(published.slice(2).sort(), [firstKid, firstRsKid].sort());
    const list = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    assertExit(list, 0);
    assert.match(list.stdout, new RegExp(`^${newKid}\\s+ES256\\s+current\\s`, 'm'));
    assert.match(list.stdout, new RegExp(`^${firstKid}\\s+ES256\\s+previous\\s+\\S+\\s+\\d{4}-`, 'm'));
    // introspection JWTs are now signed with the new key
    const res = await postForm(
      `${issuer}/oauth2/introspect`,
      { token: survivor },
      { authorization: basic('svc', SVC_SECRET), accept: 'application/token-introspection+jwt' },
    );
    const header = JSON.parse(Buffer.from((await res.text()).split('.')[0]!, 'base64url').toString()) as { kid: string };
    assert.equal(header.kid, newKid);
  });

  it('key rotate --alg with a bad value → 2', async () => {
    const r = await runCli(['key', 'rotate', '--config', configFile, '--alg', 'HS256'], { env: ENV });
    assertExit(r, 2);
    assert.match(r.stderr, /--alg: expected ES256, RS256 or EdDSA, got "HS256"/);
  });

  it('key rotate --alg of an algorithm not in use → 2, nothing rotated', async () => {
    const before = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    const r = await runCli(['key', 'rotate', '--config', configFile, '--alg', 'EdDSA'], { env: ENV });
    assertExit(r, 2);
    assert.match(r.stderr, /--alg: EdDSA is not in use; expected one of keys\.algorithm, keys\.id_token_algorithms: ES256, RS256/);
    const after = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    assert.equal(after.stdout, before.stdout);
  });

  it('key rotate --alg RS256 rotates only the RS256 key', async () => {
    const r = await runCli(['key', 'rotate', '--config', configFile, '--alg', 'RS256'], { env: ENV });
    assertExit(r, 0);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /^rotated: \S+ → \S+ \(RS256\)/);
  });

  it('key rotate (default keys.publish_ahead): the new key is published at once but signs only from its takeover time', async () => {
    const introspectionKid = async () => {
      const res = await postForm(
        `${issuer}/oauth2/introspect`,
        { token: survivor },
        { authorization: basic('svc', SVC_SECRET), accept: 'application/token-introspection+jwt' },
      );
      return (JSON.parse(Buffer.from((await res.text()).split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    };
    const signing = await introspectionKid();
    const started = Date.now();
    const r = await runCli(['key', 'rotate', '--config', configFile], { env: ENV });
    assertExit(r, 0);
    const m = /^rotated: (\S+) → (\S+) \(ES256\); published now, signs from (\S+) \(keys\.publish_ahead 900s\)/m.exec(r.stdout);
    assert.ok(m !== null, r.stdout);
    assert.equal(m![1], signing);
    const [, , nextKid, from] = m!;
    const takeover = Date.parse(from!);
    assert.ok(Math.abs(takeover - (started + 900_000)) < 30_000, `takes over 15 min from now: ${from}`);
    // the RS256 key rotated by the test before is still waiting: kept, not replaced
    assert.match(r.stdout, /^waiting: \S+ \(RS256\) is already the next key, published, signs from \S+; nothing new made/m);

    // the running server publishes it on its next refresh, and keeps signing with the old key
    const until = Date.now() + 10_000;
    let published = await kids();
    while (!published.includes(nextKid!) && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 100));
      published = await kids();
    }
    assert.ok(published.includes(nextKid!), published.join(' '));
    assert.equal(published[0], signing, 'the current key still leads the JWKS');
    assert.equal(await introspectionKid(), signing, 'tokens are still signed with the old key');

    const list = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    assertExit(list, 0);
    assert.match(list.stdout, /^KID\s+ALG\s+STATUS\s+CREATED\s+PUBLISHED_UNTIL\s+TAKES_OVER$/m);
    assert.match(list.stdout, new RegExp(`^${nextKid}\\s+ES256\\s+next\\s+\\S+\\s+${from!.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(list.stdout, new RegExp(`^${signing}\\s+ES256\\s+current\\s+\\S+$`, 'm'));

    // --now: switches at once and discards the waiting keys
    const now = await runCli(['key', 'rotate', '--config', configFile, '--now'], { env: ENV });
    assertExit(now, 0);
    assert.match(now.stdout, new RegExp(`^discarded: ${nextKid} \\(ES256\\), the next key that was waiting; it never signed anything$`, 'm'));
    assert.match(now.stdout, /^discarded: \S+ \(RS256\)/m);
    const after = await runCli(['key', 'list', '--config', configFile], { env: ENV });
    assert.doesNotMatch(after.stdout, /\snext\s/);
    assert.match(after.stdout, new RegExp(`^${nextKid}\\s+ES256\\s+retired\\s`, 'm'));
  });

  it('SIGTERM again → exit 0', async () => {
    assertExit(await server.stop('SIGTERM'), 0);
  });
});

