// The `drawbridge` command as users run it: a child process per command, temp dirs, a real
// SQLite file (and a throw-away PostgreSQL schema when reachable). Exit codes per the
// contract: 0 ok, 1 runtime failure, 2 usage or config error. `drawbridge start` and what
// runs against it: cli-start.test.ts.
import * as assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { basic, freePort, postForm, TEST_SECRET } from '../helpers/auth-server.js';
import { freshPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';
import { assertExit, assertNoStack, cliWorkspace, configYaml, ENV, SVC_SECRET } from './cli-support.js';
import { runCli, waitForReady } from './spawn.js';

const ws = cliWorkspace();

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
    const file = join(ws.dir, 'valid.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: `sqlite:${join(ws.dir, 'unused.db')}` }));
    const r = await runCli(['config', 'validate', '--config', file], { env: ENV });
    assertExit(r, 0);
    assert.match(r.stdout, /^config OK \(roles: auth; storage: sqlite\)/);
  });

  it('DRAWBRIDGE_CONFIG stands in for --config', async () => {
    const file = join(ws.dir, 'valid-env.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: 'memory:' }));
    const r = await runCli(['config', 'validate'], { env: { ...ENV, DRAWBRIDGE_CONFIG: file } });
    assertExit(r, 0);
  });

  it('an invalid grant type → 2 naming auth.clients[0].grant_types[0]', async () => {
    const file = join(ws.dir, 'bad-grant.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: 'memory:' }).replace('      scopes:', '      grant_types: [foo]\n      scopes:'));
    const r = await runCli(['config', 'validate', '--config', file], { env: ENV });
    assertExit(r, 2);
    assert.match(r.stderr, /auth\.clients\[0\]\.grant_types\[0\]: expected one of .*"client_credentials".*, got "foo"/);
    assertNoStack(r);
  });

  it('an unknown key → 2 naming it', async () => {
    const file = join(ws.dir, 'bad-key.json');
    await writeFile(file, JSON.stringify({ issuer: 'http://127.0.0.1:9999', storage: 'memory:', auth: { listen: '127.0.0.1:9999', colour: 'blue' } }));
    const r = await runCli(['config', 'validate', '--config', file]);
    assertExit(r, 2);
    assert.match(r.stderr, /auth\.colour: unknown key/);
    assertNoStack(r);
  });

  it("a plugin's own settings are checked too: unknown key, unknown plugin → 2 naming them", async () => {
    const gateway = (plugin: Record<string, unknown>) =>
      JSON.stringify({ issuer: 'http://127.0.0.1:9999', storage: 'memory:', secret: TEST_SECRET, gateway: { listen: '127.0.0.1:9998', plugins: [plugin] } });
    const badKey = join(ws.dir, 'bad-plugin-key.json');
    await writeFile(badKey, gateway({ name: 'rate-limiting', config: { per_minute: 600 } }));
    const r = await runCli(['config', 'validate', '--config', badKey]);
    assertExit(r, 2);
    assert.match(r.stderr, /gateway\.plugins\[0\]\.config\.per_minute: unknown key/);
    assertNoStack(r);
    const badName = join(ws.dir, 'bad-plugin-name.json');
    await writeFile(badName, gateway({ name: 'rate-limitting' }));
    const r2 = await runCli(['config', 'validate', '--config', badName]);
    assertExit(r2, 2);
    assert.match(r2.stderr, /gateway\.plugins\[0\]\.name: unknown plugin "rate-limitting"/);
    const good = join(ws.dir, 'good-plugin.json');
    await writeFile(good, gateway({ name: 'rate-limiting', config: { minute: 600 } }));
    assertExit(await runCli(['config', 'validate', '--config', good]), 0);
  });

  it('an unset ${VAR} → 2 naming the key and the variable', async () => {
    const file = join(ws.dir, 'valid-noenv.yaml');
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
      const file = join(ws.dir, `unstartable-${name.replace(/\W+/g, '-')}.yaml`);
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
    const r = await runCli(['config', 'validate', '--config', join(ws.dir, 'does-not-exist.yaml')]);
    assertExit(r, 2);
    assert.match(r.stderr, /cannot read config file/);
    assertNoStack(r);
  });

  it('invalid YAML → 2 with a location', async () => {
    const file = join(ws.dir, 'broken.yaml');
    await writeFile(file, 'issuer: [unclosed\n');
    const r = await runCli(['config', 'validate', '--config', file]);
    assertExit(r, 2);
    assert.match(r.stderr, /broken\.yaml:\d+:\d+: invalid YAML/);
  });
});

describe('without a usable secret', () => {
  it('key rotate, consumer credential add and rotate → 2 naming `secret`, before opening storage', async () => {
    const file = join(ws.dir, 'short-secret-commands.yaml');
    const db = join(ws.dir, 'short-secret-commands.db');
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
    const file = join(ws.dir, 'secret-a.yaml');
    const storage = `sqlite:${join(ws.dir, 'secret-ab.db')}`;
    await writeFile(file, configYaml({ port, storage }));
    // first start creates the key under secret A, stopped right after it is ready
    const first = ws.start(file);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, first);
    assertExit(await first.stop(), 0);
    const r = await runCli(['start', '--config', file], { env: { DRAWBRIDGE_SECRET: 'another-master-secret-0123456789abcdef' } });
    assertExit(r, 1);
    assert.match(r.stderr, /cannot decrypt: the master secret differs/);
    assertNoStack(r);
  });
});

describe('migrate', () => {
  it('SQLite: applies the migrations once, then reports up to date', async () => {
    const file = join(ws.dir, 'migrate-sqlite.yaml');
    await writeFile(file, configYaml({ port: 9999, storage: `sqlite:${join(ws.dir, 'migrate', 'fresh.db')}` }));
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
      const file = join(ws.dir, 'migrate-pg.yaml');
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
      const proc = ws.start(file);
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
