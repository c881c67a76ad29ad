// The `drawbridge` command as users run it: a child process per command, temp dirs, a real
// SQLite file (and a throw-away PostgreSQL schema when reachable). Exit codes per the
// contract: 0 ok, 1 runtime failure, 2 usage or config error.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { basic, freePort, postForm, TEST_SECRET } from '../helpers/auth-server.js';
import { freshPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';
import { runCli, spawnCli, waitForReady, type CliProcess, type CliResult } from './spawn.js';

const SVC_SECRET = 'cli-tests-svc-secret-0123456789abcdef';
const ENV = { DRAWBRIDGE_SECRET: TEST_SECRET };

/** A YAML config; the secret comes from ${DRAWBRIDGE_SECRET} like in production. */
function configYaml(opts: { port: number; storage: string; secretLine?: string; extraClient?: string[] }): string {
  return [
    `issuer: http://127.0.0.1:${opts.port}`,
    `storage: ${JSON.stringify(opts.storage)}`,
    opts.secretLine ?? 'secret: ${DRAWBRIDGE_SECRET}',
    'log: { level: info, pretty: false }',
    'keys: { refresh_interval: 1s }',
    'auth:',
    `  listen: 127.0.0.1:${opts.port}`,
    '  clients:',
    '    - client_id: svc',
    `      client_secret: ${SVC_SECRET}`,
    // introspect: it introspects the tokens of clients the CLI makes (RFC 7662 §4)
    '      scopes: [orders:read, orders:write, introspect]',
    ...(opts.extraClient ?? []),
    '',
  ].join('\n');
}

function assertExit(r: CliResult, code: number): void {
  assert.equal(r.code, code, `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** No stack traces in what a user sees on a failing command. */
function assertNoStack(r: CliResult): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `stack trace on stderr:\n${r.stderr}`);
}

let dir: string;
const children: CliProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drawbridge-cli-'));
});

after(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function start(configFile: string): CliProcess {
  const proc = spawnCli(['start', '--config', configFile], { env: ENV });
  children.push(proc);
  return proc;
}

describe('usage', () => {
  const commands = [
    [],
    ['dev'],
    ['start'],
    ['config'],
    ['config', 'validate'],
    ['migrate'],
    ['client'],
    ['client', 'create'],
    ['client', 'list'],
    ['client', 'rotate-secret'],
    ['client', 'delete'],
    ['key'],
    ['key', 'list'],
    ['key', 'rotate'],
    ['token'],
  ];

  it('--help exits 0 for every command and prints its usage', async () => {
    const results = await Promise.all(commands.map((c) => runCli([...c, '--help'])));
    results.forEach((r, i) => {
      const name = ['drawbridge', ...commands[i]!].join(' ');
      assertExit(r, 0);
      assert.ok(r.stdout.startsWith(`Usage: ${name} `), `${name} --help printed:\n${r.stdout}`);
    });
  });

  it("every command group's summary names all of its subcommands", () => {
    const groups = (cmd: Command): Command[] => cmd.commands.filter((c) => c.commands.length > 0).flatMap((c) => [c, ...groups(c)]);
    const named = (group: Command, name: string) => new RegExp(`(^|[\\s,:;])${name}($|[\\s,;])`).test(group.description());
    const unnamed = groups(buildProgram())
      .map((group) => [group.name(), group.commands.map((c) => c.name()).filter((name) => name !== 'help' && !named(group, name))] as const)
      .filter(([, missing]) => missing.length > 0);
    assert.deepEqual(unnamed, []);
  });

  it('--version prints the version', async () => {
    const r = await runCli(['--version']);
    assertExit(r, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('an unknown command exits 2', async () => {
    const r = await runCli(['frobnicate']);
    assertExit(r, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  it('an unknown flag exits 2, on the program and on a command', async () => {
    const [top, sub, nested] = await Promise.all([
      runCli(['--frobnicate']),
      runCli(['start', '--frobnicate']),
      runCli(['client', 'list', '--frobnicate']),
    ]);
    for (const r of [top, sub, nested]) {
      assertExit(r, 2);
      assert.match(r.stderr, /unknown option '--frobnicate'/);
    }
  });

  it('a bad choice or a missing required option exits 2', async () => {
    const [only, token] = await Promise.all([runCli(['start', '--only', 'everything']), runCli(['token', '--secret', 'x'])]);
    assertExit(only, 2);
    assert.match(only.stderr, /--only/);
    assertExit(token, 2);
    assert.match(token.stderr, /--client/);
  });

  it('token --issuer that is no http(s) URL exits 2 naming the option', async () => {
    for (const bad of ['notaurl', 'ftp://auth.example.com']) {
      const r = await runCli(['token', '--client', 'svc', '--secret', 'x', '--issuer', bad]);
      assertExit(r, 2);
      assert.match(r.stderr, /--issuer: expected an absolute http\(s\) URL/);
    }
  });

  it('a command that needs a config file without one exits 2 saying so', async () => {
    const r = await runCli(['config', 'validate']);
    assertExit(r, 2);
    assert.match(r.stderr, /--config FILE is required/);
  });
});

describe('config validate', () => {
  it('a valid file → 0', async () => {
    const file = join(dir, 'valid.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: `sqlite:${join(dir, 'unused.db')}` }));
    const r = await runCli(['config', 'validate', '--config', file], { env: ENV });
    assertExit(r, 0);
    assert.match(r.stdout, /^config OK \(roles: auth; storage: sqlite\)/);
  });

  it('DRAWBRIDGE_CONFIG stands in for --config', async () => {
    const file = join(dir, 'valid-env.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: 'memory:' }));
    const r = await runCli(['config', 'validate'], { env: { ...ENV, DRAWBRIDGE_CONFIG: file } });
    assertExit(r, 0);
  });

  it('an invalid grant type → 2 naming auth.clients[0].grant_types[0]', async () => {
    const file = join(dir, 'bad-grant.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: 'memory:' }).replace('      scopes:', '      grant_types: [foo]\n      scopes:'));
    const r = await runCli(['config', 'validate', '--config', file], { env: ENV });
    assertExit(r, 2);
    assert.match(r.stderr, /auth\.clients\[0\]\.grant_types\[0\]: expected one of .*"client_credentials".*, got "foo"/);
    assertNoStack(r);
  });

  it('an unknown key → 2 naming it', async () => {
    const file = join(dir, 'bad-key.json');
    await writeFile(file, JSON.stringify({ issuer: 'http://127.0.0.1:9999', storage: 'memory:', auth: { listen: '127.0.0.1:9999', colour: 'blue' } }));
    const r = await runCli(['config', 'validate', '--config', file]);
    assertExit(r, 2);
    assert.match(r.stderr, /auth\.colour: unknown key/);
    assertNoStack(r);
  });

  it("a plugin's own settings are checked too: unknown key, unknown plugin → 2 naming them", async () => {
    const gateway = (plugin: Record<string, unknown>) =>
      JSON.stringify({ issuer: 'http://127.0.0.1:9999', storage: 'memory:', secret: TEST_SECRET, gateway: { listen: '127.0.0.1:9998', plugins: [plugin] } });
    const badKey = join(dir, 'bad-plugin-key.json');
    await writeFile(badKey, gateway({ name: 'rate-limiting', config: { per_minute: 600 } }));
    const r = await runCli(['config', 'validate', '--config', badKey]);
    assertExit(r, 2);
    assert.match(r.stderr, /gateway\.plugins\[0\]\.config\.per_minute: unknown key/);
    assertNoStack(r);
    const badName = join(dir, 'bad-plugin-name.json');
    await writeFile(badName, gateway({ name: 'rate-limitting' }));
    const r2 = await runCli(['config', 'validate', '--config', badName]);
    assertExit(r2, 2);
    assert.match(r2.stderr, /gateway\.plugins\[0\]\.name: unknown plugin "rate-limitting"/);
    const good = join(dir, 'good-plugin.json');
    await writeFile(good, gateway({ name: 'rate-limiting', config: { minute: 600 } }));
    assertExit(await runCli(['config', 'validate', '--config', good]), 0);
  });

  it('an unset ${VAR} → 2 naming the key and the variable', async () => {
    const file = join(dir, 'valid-noenv.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: 'memory:' }));
    const r = await runCli(['config', 'validate', '--config', file]);
    assertExit(r, 2);
    assert.match(r.stderr, /secret: environment variable DRAWBRIDGE_SECRET is not set/);
  });

  // what `start` refuses before it opens anything, validate refuses too, with the same message
  const unstartable: Array<[string, (port: number) => string, RegExp]> = [
    ['no secret', (port) => configYaml({ port, storage: 'memory:', secretLine: '# no secret' }), /^drawbridge: secret: required outside "drawbridge dev"; expected at least 32 characters\n/m],
    ['a short secret', (port) => configYaml({ port, storage: 'memory:', secretLine: 'secret: short' }), /^drawbridge: secret: required outside "drawbridge dev"; expected at least 32 characters, got 5$/m],
    ['neither auth nor gateway', (port) => `issuer: http://127.0.0.1:${port}\nstorage: memory\nsecret: ${TEST_SECRET}\n`, /^drawbridge: the config configures neither auth nor gateway; nothing to start$/m],
  ];
  for (const [name, text, message] of unstartable) {
    it(`${name} → 2 from validate as from start`, async () => {
      const file = join(dir, `unstartable-${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, text(await freePort()));
      const [validate, started] = await Promise.all([runCli(['config', 'validate', '--config', file]), runCli(['start', '--config', file], { timeoutMs: 20_000 })]);
      for (const r of [validate, started]) {
        assertExit(r, 2);
        assert.match(r.stderr, message);
        assertNoStack(r);
      }
      assert.equal(validate.stdout, '');
    });
  }

  it('a missing file → 2', async () => {
    const r = await runCli(['config', 'validate', '--config', join(dir, 'does-not-exist.yaml')]);
    assertExit(r, 2);
    assert.match(r.stderr, /cannot read config file/);
    assertNoStack(r);
  });

  it('invalid YAML → 2 with a location', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'issuer: [unclosed\n');
    const r = await runCli(['config', 'validate', '--config', file]);
    assertExit(r, 2);
    assert.match(r.stderr, /broken\.yaml:\d+:\d+: invalid YAML/);
  });
});

describe('without a usable secret', () => {
  it('key rotate, consumer credential add and rotate → 2 naming `secret`, before opening storage', async () => {
    const file = join(dir, 'short-secret-commands.yaml');
    const db = join(dir, 'short-secret-commands.db');
    await writeFile(file, configYaml({ port: 9999, storage: `sqlite:${db}`, secretLine: 'secret: short' }));
    const results = await Promise.all([
      runCli(['key', 'rotate', '--config', file]),
      runCli(['consumer', 'credential', 'add', 'someone', '--plugin', 'key-auth', '--config', file]),
      runCli(['consumer', 'credential', 'rotate', 'someone', 'some-id', '--plugin', 'key-auth', '--config', file]),
    ]);
    for (const r of results) {
      assertExit(r, 2);
      assert.match(r.stderr, /^drawbridge: secret: required outside "drawbridge dev"; expected at least 32 characters, got 5$/m);
      assertNoStack(r);
    }
    await assert.rejects(stat(db), { code: 'ENOENT' });
  });

  it('the same config on another master secret cannot read the stored keys → exit 1, clear message', async () => {
    const port = await freePort();
    const file = join(dir, 'secret-a.yaml');
    const storage = `sqlite:${join(dir, 'secret-ab.db')}`;
    await writeFile(file, configYaml({ port, storage }));
    // first start creates the key under secret A, stopped right after it is ready
    const first = start(file);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, first);
    assertExit(await first.stop(), 0);
    const r = await runCli(['start', '--config', file], { env: { DRAWBRIDGE_SECRET: 'another-master-secret-0123456789abcdef' } });
    assertExit(r, 1);
    assert.match(r.stderr, /cannot decrypt: the master secret differs/);
    assertNoStack(r);
  });
});

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
    configFile = join(dir, 'drawbridge.yaml');
    await writeFile(configFile, configYaml({ port, storage: `sqlite:${join(dir, 'state', 'drawbridge.db')}` }));
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
    server = start(configFile);
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

  it('client list shows both clients, and never a secret', async () => {
    const [table, json] = await Promise.all([
      runCli(['client', 'list', '--config', configFile], { env: ENV }),
      runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV }),
    ]);
    assertExit(table, 0);
    assert.match(table.stdout, /^CLIENT_ID\s+AUTH_METHOD\s+GRANTS\s+SCOPES\s+FORMAT\s+CONSENT\s+MFA\s+PKCE\s+ID_TOKEN_ALG\s+SOURCE$/m);
    assert.match(table.stdout, /^made-by-cli\s+client_secret_basic\s+client_credentials\s+orders:read\s+opaque\s+ask\s+optional\s+required\s+default\s+cli$/m);
    assert.match(table.stdout, /^svc\s+client_secret_basic\s+client_credentials\s+orders:read orders:write introspect\s+opaque\s+ask\s+optional\s+required\s+default\s+config$/m);
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
    server = start(configFile);
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

describe('migrate', () => {
  it('SQLite: applies the migrations once, then reports up to date', async () => {
    const file = join(dir, 'migrate-sqlite.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: `sqlite:${join(dir, 'migrate', 'fresh.db')}` }));
    const first = await runCli(['migrate', '--config', file], { env: ENV });
    assertExit(first, 0);
    assert.match(first.stdout, /^applied: 0001-initial(, |\n)/);
    const second = await runCli(['migrate', '--config', file], { env: ENV });
    assertExit(second, 0);
    assert.equal(second.stdout, 'database is up to date\n');
  });

  describe('PostgreSQL (throw-away schema)', async () => {
    const base = await postgresUrl();
    let schema: TestSchema | undefined;
    after(() => schema?.drop());

    it('applies the migrations, then reports up to date; start refuses an unmigrated schema first', { skip: base === undefined && 'PostgreSQL not reachable' }, async () => {
      schema = await freshPostgresSchema(base!);
      const port = await freePort();
      const file = join(dir, 'migrate-pg.yaml');
      await writeFile(file, configYaml({ port, storage: schema.url }));
      const refused = await runCli(['start', '--config', file], { env: ENV });
      assertExit(refused, 1);
      assert.match(refused.stderr, /pending migration\(s\); run "drawbridge migrate --config FILE"/);
      assert.ok(!refused.stderr.includes('postgres://'), 'the storage URL is not echoed');

      const first = await runCli(['migrate', '--config', file], { env: ENV });
      assertExit(first, 0);
      assert.match(first.stdout, /^applied: 0001-initial(, |\n)/);
      const second = await runCli(['migrate', '--config', file], { env: ENV });
      assertExit(second, 0);
      assert.equal(second.stdout, 'database is up to date\n');

      // and now the server runs on it
      const proc = start(file);
      await waitForReady(`http://127.0.0.1:${port}/readyz`, proc);
      const res = await postForm(`http://127.0.0.1:${port}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic('svc', SVC_SECRET) });
      assert.equal(res.status, 200);
      assertExit(await proc.stop('SIGTERM'), 0);
      const keys = await runCli(['key', 'list', '--config', file], { env: ENV });
      assertExit(keys, 0);
      assert.match(keys.stdout, /\sES256\s+current\s/);
    });
  });
});
