// `gateway.workers: 2` with the real `drawbridge start`: two worker processes answer on
// one port (told apart by the pid in their access-log lines), a killed worker is replaced,
// and SIGTERM to the primary drains the workers and exits 0.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, type CliProcess } from '../cli/spawn.js';
import { freePort, startUpstream, type Upstream } from '../helpers/gateway.js';
import { send } from './core-http.js';
import { alive, listeningPids, logLines, until, writeStartConfig, killGroup } from './workers-support.js';


describe('gateway workers', () => {
  let dir: string;
  let up: Upstream;
  let proc: CliProcess;
  let gatewayUrl: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-workers-'));
    up = await startUpstream({ name: 'workers' });
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    const file = writeStartConfig(dir, { listen: `127.0.0.1:${port}`, workers: 2, services: [{ name: 'up', url: up.url, routes: [{ paths: ['/'] }] }] });
    proc = spawnCli(['start', '--config', file], { timeoutMs: 60_000 });
    await until('two workers listening', proc, () => (listeningPids(proc).length >= 2 ? true : undefined));
  });

  after(async () => {
    await killGroup(proc);
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function servedBy(ids: string[]): Promise<Set<number>> {
    for (const id of ids) assert.equal((await send(`${gatewayUrl}/w`, { headers: { 'x-request-id': id } })).status, 200);
    const pids = await until('access log lines for every request', proc, () => {
      const byId = new Map(logLines(proc).filter((l) => l.msg === 'request').map((l) => [l.requestId, l.pid]));
      return ids.every((id) => byId.has(id)) ? new Set(ids.map((id) => byId.get(id)!)) : undefined;
    });
    return pids;
  }

  it('two worker processes answer on one port', async () => {
    const workers = listeningPids(proc);
    assert.equal(new Set(workers).size, 2);
    assert.ok(!workers.includes(proc.child.pid!), 'the primary does not serve');
    const pids = await servedBy(Array.from({ length: 12 }, (_, i) => `first-${i}`));
    assert.deepEqual([...pids].sort(), [...workers].sort());
  });

  it('a worker that dies is replaced', async () => {
    const [victim, survivor] = listeningPids(proc);
    process.kill(victim!, 'SIGKILL');
    const replacement = await until('a replacement worker', proc, () => listeningPids(proc).find((pid) => pid !== victim && pid !== survivor));
    const pids = await servedBy(Array.from({ length: 12 }, (_, i) => `second-${i}`));
    assert.deepEqual([...pids].sort(), [survivor!, replacement].sort());
  });

  it('SIGTERM to the primary drains the workers and exits 0', async () => {
    const workers = listeningPids(proc).filter(alive);
    assert.equal(workers.length, 2);
    const result = await proc.stop('SIGTERM');
    assert.equal(result.code, 0, result.stderr);
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still running`);
  });
});
