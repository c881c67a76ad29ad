// A/B of two builds of the gateway under the SAME machine conditions, for a busy or shared
// machine where bench/gateway.ts's sequential runs drift too much to compare builds: the
// baseline proxy, the gateway of a saved earlier build ("before") and the current build
// ("after") run side by side, and every round loads all three AT ONCE (BENCH_CONNECTIONS
// split between them), so whatever else the machine does hits them alike. Per round it
// reads each server's CPU µs/request; it prints the medians and the per-round paired
// ratios, which hold still far better than any single figure.
//
//   mkdir -p /tmp/before && cp -r dist package.json /tmp/before/ && ln -sfn "$PWD/node_modules" /tmp/before/node_modules
//   … change the code, npx tsc -p . …
//   BEFORE=/tmp/before/dist node dist/bench/gateway-ab.js key-auth [seconds per round = 3] [rounds = 8]
//
// What one plugin costs, paired: the same build on both sides, "before" on another scenario:
//   BEFORE=dist BEFORE_SCENARIO=none node dist/bench/gateway-ab.js key-auth
//
// Scenarios: none, key-auth, hmac-auth, key-auth+rate-limiting (policy redis at
// BENCH_REDIS, default redis://127.0.0.1:6379). No checks beyond status 200: run
// bench/gateway.ts for the correctness probes.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchAbort, freePort, numberEnv, spawnReady, stopChildProcess, type ReadyChild } from './child.js';
import { API_KEY, REQUEST_PATH, signRequest, type GatewayReady } from './gateway/common.js';
import { runPhase, type RequestSpec } from './load.js';

const HOST = '127.0.0.1';
const SCENARIOS = ['none', 'key-auth', 'hmac-auth', 'key-auth+rate-limiting'];

interface Server {
  label: string;
  scenario: string;
  port: number;
  proc: ReadyChild<GatewayReady>;
  cpu: number[];
  rps: number[];
}

/** user + system CPU of one process, µs (Linux /proc). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? 'none';
  if (!SCENARIOS.includes(scenario)) throw new BenchAbort(`scenario: expected one of ${SCENARIOS.join(', ')}`);
  const seconds = Number(process.argv[3] ?? 3);
  const rounds = Number(process.argv[4] ?? 8);
  const connections = numberEnv('BENCH_CONNECTIONS', 32, 3);
  const before = process.env.BEFORE;
  if (before === undefined || before === '') throw new BenchAbort('BEFORE: the dist directory of the earlier build (see the header of bench/gateway-ab.ts)');
  const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/
  // BEFORE_SCENARIO: the "before" server runs another scenario (BEFORE=dist for the same build): a plugin's own cost, paired
  const beforeScenario = process.env.BEFORE_SCENARIO || scenario;
  if (!SCENARIOS.includes(beforeScenario)) throw new BenchAbort(`BEFORE_SCENARIO: expected one of ${SCENARIOS.join(', ')}`);
  const redisOf = (s: string) => (s.includes('rate-limiting') ? (process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379') : '-');

  const upstream = await spawnReady<GatewayReady>('upstream', join(here, 'gateway/upstream.js'), await freePort(HOST), []);
  const servers: Server[] = [];
  const children: Array<ReadyChild<GatewayReady>> = [upstream];
  try {
    const start = async (label: string, scenarioOf: string, script: string, args: string[]) => {
      const port = await freePort(HOST);
      const proc = await spawnReady<GatewayReady>(label, script, port, args);
      children.push(proc);
      servers.push({ label, scenario: scenarioOf, port, proc, cpu: [], rps: [] });
    };
    await start('baseline', 'baseline', join(here, 'gateway/baseline.js'), [upstream.ready.url]);
    const gatewayArgs = (s: string) => [s, upstream.ready.url, '1', '-', redisOf(s)];
    await start('before', beforeScenario, join(before, 'bench/gateway/drawbridge.js'), gatewayArgs(beforeScenario));
    await start('after', scenario, join(here, 'gateway/drawbridge.js'), gatewayArgs(scenario));

    const next = (s: Server) => (): RequestSpec => {
      if (s.scenario === 'baseline') return { method: 'GET', path: REQUEST_PATH, headers: {} };
      if (s.scenario === 'hmac-auth') {
        const created = Math.floor(Date.now() / 1000);
        return { method: 'GET', path: REQUEST_PATH, headers: signRequest('GET', `${HOST}:${s.port}`, REQUEST_PATH, created, randomUUID()) };
      }
      return { method: 'GET', path: REQUEST_PATH, headers: s.scenario === 'none' ? {} : { apikey: API_KEY } };
    };
    const check = (status: number) => (status === 200 ? undefined : `status ${status}`);
    const per = Math.max(1, Math.floor(connections / servers.length));
    const load = (s: Server, ms: number) => runPhase({ host: HOST, port: s.port, connections: per, durationMs: ms, next: next(s), check, stopOnError: true });

    await Promise.all(servers.map((s) => load(s, 4_000))); // warm-up
    for (let round = 0; round < rounds; round++) {
      const cpu0 = servers.map((s) => cpuMicros(s.proc.child.pid!));
      const results = await Promise.all(servers.map((s) => load(s, seconds * 1000)));
      servers.forEach((s, i) => {
        const r = results[i]!;
        if (r.errors > 0) throw new BenchAbort(`${s.label}: ${r.firstError}`);
        s.cpu.push((cpuMicros(s.proc.child.pid!) - cpu0[i]!) / r.requests);
        s.rps.push(r.rps);
      });
    }

    const [base, old, now] = servers as [Server, Server, Server];
    const line = (s: Server) =>
      `${s.label.padEnd(9)} CPU µs/req median ${median(s.cpu).toFixed(1).padStart(6)}  min ${Math.min(...s.cpu).toFixed(1).padStart(6)}  req/s median ${Math.round(median(s.rps))}`;
    const paired = (a: Server, b: Server) => median(a.cpu.map((c, i) => c / b.cpu[i]!)).toFixed(3);
    process.stdout.write(
      [
        `gateway A/B · ${beforeScenario === scenario ? scenario : `before: ${beforeScenario}, after: ${scenario}`} · ${rounds} rounds × ${seconds} s, all three loaded at once (${per} connections each)`,
        line(base),
        line(old),
        line(now),
        `after ÷ before, CPU µs/req (paired by round, median): ${paired(now, old)}`,
        `CPU-bound ratio (baseline ÷ gateway CPU µs/req, paired): before ${paired(base, old)}  after ${paired(base, now)}`,
        '',
      ].join('\n'),
    );
  } finally {
    await Promise.all(children.map((c) => stopChildProcess(c.child, 10_000)));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`GATEWAY A/B ABORTED: ${err instanceof BenchAbort ? err.message : String(err)}\n`);
  process.exit(1);
});
