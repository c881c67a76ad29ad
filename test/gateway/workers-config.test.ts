// `gateway.workers: 2`: a worker forked after a crash serves what the group serves (the
// config file as of the last SIGHUP), not whatever the file holds at that moment. A file
// edited without SIGHUP, even into one that does not load, must neither change what the
// replacement serves nor keep it from starting (it used to read the file itself: an edit in
// progress made it disagree with the others, and a broken file made every restart fail until
// the supervisor gave up and the whole gateway exited).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, type CliProcess } from '../cli/spawn.js';
import { freePort, startUpstream, type Upstream } from '../helpers/gateway.js';
import { alive, getWithin, listeningPids, logLines, until, writeStartConfig, killGroup } from './workers-support.js';

describe('gateway workers: a replacement worker takes the group\'s config, not the file as it is now', () => {
  let dir: string;
  let up: Upstream;
  let proc: CliProcess;
  let file: string;
  let port: number;

  /** The config with one route, `/<path>`, and the listener where the group started. */
  const gateway = (path: string) => ({ listen: `127.0.0.1:${port}`, workers: 2, services: [{ name: 'up', url: up.url, routes: [{ paths: [`/${path}`] }] }] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-workers-config-'));
    up = await startUpstream({ name: 'workers-config' });
    port = await freePort();
    file = writeStartConfig(dir, gateway('first'));
    proc = spawnCli(['start', '--config', file], { timeoutMs: 120_000 });
    await until('two workers listening', proc, () => (listeningPids(proc).length >= 2 ? true : undefined));
  });

  after(async () => {
    await killGroup(proc);
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Statuses of `/<path>` over fresh connections, enough for each worker to answer several. */
  async function statuses(path: string): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) seen.push((await getWithin(`http://127.0.0.1:${port}/${path}`, {}, 5_000)).status);
    return seen;
  }

  const refusals = () => logLines(proc).filter((l) => l.msg?.startsWith('reload: config file rejected')).length;

  async function replaceAWorker(): Promise<number> {
    const known = listeningPids(proc); // dead ones too: the replacement is a pid not seen before
    process.kill(known.filter(alive)[0]!, 'SIGKILL');
    return until('a replacement worker', proc, () => listeningPids(proc).find((pid) => !known.includes(pid)), 30_000);
  }

  it('after a SIGHUP, a file edited without one does not reach the worker that replaces a dead one', async () => {
    writeStartConfig(dir, gateway('second'));
    proc.child.kill('SIGHUP');
    const workers = listeningPids(proc);
    await until('both workers reloaded', proc, () => {
      const applied = new Set(logLines(proc).filter((l) => l.msg === 'gateway configuration applied').map((l) => l.pid));
      return workers.every((pid) => applied.has(pid)) ? true : undefined;
    });
    assert.deepEqual(await statuses('second'), Array(8).fill(200));

    writeStartConfig(dir, gateway('third')); // not applied: no SIGHUP
    await replaceAWorker();
    assert.deepEqual(await statuses('second'), Array(8).fill(200), 'every worker serves the reloaded config');
    assert.deepEqual(await statuses('third'), Array(8).fill(404), 'no worker serves the unapplied edit');
  });

  it('a file that does not load keeps neither a replacement from starting nor the group from serving', async () => {
    writeFileSync(file, '{ "gateway": { "workers": "many", '); // half-written
    const replacement = await replaceAWorker();
    assert.ok(alive(replacement));
    assert.deepEqual(await statuses('second'), Array(8).fill(200));
    assert.equal(proc.child.exitCode, null, 'the primary still runs');

    // a SIGHUP with that file changes nothing, and later replacements still start
    const refusedBefore = refusals();
    proc.child.kill('SIGHUP');
    await until('the workers refuse the file', proc, () => (refusals() >= refusedBefore + 2 ? true : undefined));
    await replaceAWorker();
    assert.deepEqual(await statuses('second'), Array(8).fill(200));
  });
});
