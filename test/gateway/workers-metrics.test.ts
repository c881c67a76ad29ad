// `gateway.workers: 3` with the real `drawbridge start`: /metrics on the admin listener (whose
// connections the workers share round-robin, like the gateway's) answers for the whole
// process group. Every scrape counts every request, whichever worker served the request or
// the scrape; counters never go down, not when a worker dies and is replaced, and a worker
// that hangs (SIGSTOP) does not hang the scrape.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, type CliProcess } from '../cli/spawn.js';
import { freePorts } from '../helpers/auth-server.js';
import { startUpstream, type Upstream } from '../helpers/gateway.js';
import { ADMIN_TOKEN } from './admin-support.js';
import { send } from './core-http.js';
import { alive, getWithin, listeningPids, until, writeStartConfig } from './workers-support.js';

/** Sum of every sample of `name` for service "up" (all routes and statuses). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes('service="up"')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('gateway workers: /metrics for the whole process group', () => {
  let dir: string;
  let up: Upstream;
  let proc: CliProcess;
  let gatewayUrl: string;
  let adminUrl: string;
  let sent = 0;
  let lastSeen = 0;
  let stopped: number | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-workers-metrics-'));
    up = await startUpstream({ name: 'up' });
    // distinct ports (two freePort() calls in a row can hand out one port twice)
    const [port, adminPort] = await freePorts(2);
    gatewayUrl = `http://127.0.0.1:${port}`;
    adminUrl = `http://127.0.0.1:${adminPort}`;
    const file = writeStartConfig(dir, {
      listen: `127.0.0.1:${port}`,
      admin_listen: `127.0.0.1:${adminPort}`,
      admin_token: ADMIN_TOKEN,
      workers: 3,
      services: [{ name: 'up', url: up.url, routes: [{ paths: ['/'] }] }],
    });
    proc = spawnCli(['start', '--config', file], { timeoutMs: 120_000 });
    await until('three workers listening', proc, () => (listeningPids(proc, 'admin').length >= 3 ? true : undefined));
  });

  after(async () => {
    if (stopped !== undefined && alive(stopped)) process.kill(stopped, 'SIGCONT');
    if (proc && proc.child.exitCode === null) await proc.stop('SIGKILL');
    for (const pid of proc ? [...listeningPids(proc), ...listeningPids(proc, 'admin')] : []) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function requests(n: number): Promise<void> {
    // a new connection each: the primary deals them out round-robin
    for (let i = 0; i < n; i++) assert.equal((await send(`${gatewayUrl}/w/${sent + i}`)).status, 200);
    sent += n;
  }

  /** One scrape (retried on a connection handed to a stopped worker); never below the last one. */
  async function scrape(): Promise<{ requests: number; observed: number; ms: number }> {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      try {
        const res = await getWithin(`${adminUrl}/metrics`, { authorization: `Bearer ${ADMIN_TOKEN}` }, 6000);
        assert.equal(res.status, 200, res.text);
        const result = { requests: total(res.text, 'drawbridge_requests_total'), observed: total(res.text, 'drawbridge_request_duration_seconds_count'), ms: Date.now() - started };
        assert.ok(result.requests >= lastSeen, `drawbridge_requests_total went down: ${lastSeen} → ${result.requests}`);
        lastSeen = result.requests;
        return result;
      } catch (err) {
        if (stopped === undefined || attempt >= 3 || !/no answer within/.test((err as Error).message)) throw err;
      }
    }
  }

  it('every scrape reports every request of every worker', async () => {
    await requests(32);
    for (let i = 0; i < 9; i++) {
      const { requests: n, observed } = await scrape();
      assert.equal(n, 32, `scrape ${i}: drawbridge_requests_total`);
      assert.equal(observed, 32, `scrape ${i}: drawbridge_request_duration_seconds_count`);
    }
  });

  it('counters do not go down when a worker dies and is replaced', async () => {
    const workers = listeningPids(proc, 'admin');
    const victim = workers[0]!;
    process.kill(victim, 'SIGKILL');
    await until('a replacement worker', proc, () => (listeningPids(proc, 'admin').filter((pid) => pid !== victim && alive(pid)).length >= 3 ? true : undefined));
    for (let i = 0; i < 4; i++) assert.equal((await scrape()).requests, 32, `scrape ${i} after the restart`);
    await requests(9);
    for (let i = 0; i < 4; i++) assert.equal((await scrape()).requests, 41, `scrape ${i} after more requests`);
  });

  it('a hung worker does not hang the scrape: its last known counters stay in', async () => {
    const workers = listeningPids(proc, 'admin').filter(alive);
    stopped = workers[workers.length - 1]!;
    process.kill(stopped, 'SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) {
        const { requests: n, ms } = await scrape();
        assert.equal(n, 41, `scrape ${i} with a stopped worker`);
        assert.ok(ms < 5000, `the scrape took ${ms} ms`);
      }
    } finally {
      process.kill(stopped, 'SIGCONT');
      stopped = undefined;
    }
  });
});
