// What the `drawbridge` command suites share (cli.test.ts, cli-start.test.ts): a YAML config
// whose secret comes from ${DRAWBRIDGE_SECRET} as in production, exit-code and no-stack
// assertions, and a temp dir whose `drawbridge start` children are killed afterwards.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { TEST_SECRET } from '../helpers/auth-server.js';
import { spawnCli, type CliProcess, type CliResult } from './spawn.js';

export const SVC_SECRET = 'cli-tests-svc-secret-0123456789abcdef';
export const ENV = { DRAWBRIDGE_SECRET: TEST_SECRET };

/** A YAML config; the secret comes from ${DRAWBRIDGE_SECRET} like in production. */
export function configYaml(opts: { port: number; storage: string; secretLine?: string; extraClient?: string[] }): string {
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

export function assertExit(r: CliResult, code: number): void {
  assert.equal(r.code, code, `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** No stack traces in what a user sees on a failing command. */
export function assertNoStack(r: CliResult): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `stack trace on stderr:\n${r.stderr}`);
}

export interface CliWorkspace {
  /** a temp dir for the suite's files (set once its `before` hook ran) */
  readonly dir: string;
  /** `drawbridge start --config FILE`, killed after the suite */
  start(configFile: string): CliProcess;
}

/** A temp dir and the `drawbridge start` children of the calling test file, cleaned up after it. */
export function cliWorkspace(): CliWorkspace {
  let dir = '';
  const children: CliProcess[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-cli-'));
  });
  after(async () => {
    await Promise.all(children.map((c) => c.stop('SIGKILL')));
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    start(configFile) {
      const proc = spawnCli(['start', '--config', configFile], { env: ENV });
      children.push(proc);
      return proc;
    },
  };
}
