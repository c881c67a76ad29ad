// Worker scaling with a load generator and an upstream that cost almost nothing: wrk (C,
// one thread) drives the gateway, and nginx (C, one process) is the upstream answering a
// fixed JSON body. The gateway bench's (h) row measures the same gateway with a Node.js
// load generator and a Node.js upstream, which on a small machine take most of a core
// between them, so two gateway workers cannot get two cores there. Here they come closer:
// what this row shows is how far `gateway.workers` scales when the gateway is what uses
// the machine. Both wrk and nginx come from Debian's packages; without them the row is
// skipped, loudly.
//
// The gateway is started as in the gateway bench (bench/gateway/drawbridge.ts: validateConfig
// + run, `gateway.workers: N` makes it the cluster primary as `drawbridge start` does; SQLite
// storage, a route `/bench` without plugins). Each gateway is probed (200 and nginx's body
// through it) and warmed up once; then BENCH_ROUNDS rounds each measure 1 worker, N workers,
// 1 worker, with BENCH_REWARM seconds of unmeasured load before every run. A run fails if wrk
// saw any non-2xx answer or socket error. The ratio of a round is the N-worker req/s over
// the mean of the 1-worker runs around it; the row's figure is the median over the rounds.
//
//   npx tsc -p . && node dist/bench/workers.js
// Environment: BENCH_ROUNDS (default 4), BENCH_DURATION (s, default 3), BENCH_WARMUP (s,
// default 3), BENCH_REWARM (s, default 1), BENCH_CONNECTIONS (default 32), BENCH_WORKERS (default 2).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchAbort, freePort, machineInfo, numberEnv, processCpuSeconds, spawnReady, stopChildProcess, treeCpuSeconds, type ReadyChild } from './child.js';
import { REQUEST_PATH, UPSTREAM_BODY, type GatewayReady } from './gateway/common.js';

const HOST = '127.0.0.1';
const GOAL_WORKERS = 1.7;
const settings = {
  rounds: Math.round(numberEnv('BENCH_ROUNDS', 4, 1)),
  durationSec: numberEnv('BENCH_DURATION', 3, 1),
  warmupSec: numberEnv('BENCH_WARMUP', 3, 1),
  rewarmSec: numberEnv('BENCH_REWARM', 1, 0),
  connections: Math.round(numberEnv('BENCH_CONNECTIONS', 32, 1)),
  workers: Math.round(numberEnv('BENCH_WORKERS', 2, 2)),
};
const RESULTS = fileURLToPath(new URL('../../bench/results/workers-latest.json', import.meta.url));

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// ---------------------------------------------------------------------------- nginx, the upstream

interface Nginx {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

async function startNginx(): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'drawbridge-bench-nginx-'));
  mkdirSync(join(dir, 'logs'));
  const port = await freePort(HOST);
  // one process (no master), nothing logged per request, keep-alive as long as the gateway's pool wants
  const conf = `daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/logs/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${HOST}:${port};
    location / { default_type application/json; return 200 '${UPSTREAM_BODY.plain}'; }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://${HOST}:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new BenchAbort(`nginx exited: ${stderr.trim()}`);
    if ((await get(url + REQUEST_PATH).catch(() => undefined))?.status === 200) break;
    if (i > 100) throw new BenchAbort(`nginx did not answer within 5 s: ${stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid,
    async stop() {
      await stopChildProcess(child, 5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------- wrk, the load

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

/** Runs wrk against the URL for `seconds`; fails on any non-2xx answer or socket error. */
function wrk(url: string, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${settings.connections}`, `-d${seconds}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new BenchAbort(`wrk exited with ${code}:\n${out}`));
      if (/Non-2xx or 3xx responses/.test(out)) return reject(new BenchAbort(`wrk: some answers were not 2xx:\n${out}`));
      if (/Socket errors/.test(out)) return reject(new BenchAbort(`wrk: socket errors:\n${out}`));
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const total = /(\d+) requests in/.exec(out);
      const p50 = /\n\s+50%\s+([\d.]+)(us|ms|s)/.exec(out);
      const p99 = /\n\s+99%\s+([\d.]+)(us|ms|s)/.exec(out);
      if (!rps || !total || !p50 || !p99) return reject(new BenchAbort(`wrk: could not read its output:\n${out}`));
      resolve({ rps: Number(rps[1]), requests: Number(total[1]), p50: ms(p50[1]!, p50[2]!), p99: ms(p99[1]!, p99[2]!) });
    });
  });
}

// ---------------------------------------------------------------------------- the gateways

interface Gateway {
  workers: number;
  ready: ReadyChild<GatewayReady>;
  url: string;
}

async function startGateway(workers: number, upstream: string): Promise<Gateway> {
  const port = await freePort(HOST);
  const script = fileURLToPath(new URL('./gateway/drawbridge.js', import.meta.url));
  const ready = await spawnReady<GatewayReady>(`gateway (${workers} worker${workers > 1 ? 's' : ''})`, script, port, ['none', upstream, String(workers)]);
  if ((ready.ready.workers ?? 1) !== workers) throw new BenchAbort(`the gateway runs ${ready.ready.workers} workers, expected ${workers}`);
  const url = `http://${HOST}:${port}${REQUEST_PATH}`;
  const probe = await get(url);
  if (probe.status !== 200 || probe.body !== UPSTREAM_BODY.plain) {
    throw new BenchAbort(`gateway (${workers} workers): expected 200 and nginx's body through it, got ${probe.status} ${probe.body.slice(0, 200)}`);
  }
  await wrk(url, settings.warmupSec);
  return { workers, ready, url };
}

interface Run extends WrkResult {
  workers: number;
  round: number;
  /** CPU of the gateway (all its processes) per request, µs */
  cpuUsPerReq: number | undefined;
  /** % of one core the gateway used */
  cpuPct: number | undefined;
  /** % of one core nginx used */
  nginxCpuPct: number | undefined;
}

async function measure(g: Gateway, round: number, nginx: Nginx): Promise<Run> {
  if (settings.rewarmSec > 0) await wrk(g.url, settings.rewarmSec);
  const c0 = treeCpuSeconds(g.ready.child.pid);
  const n0 = processCpuSeconds(nginx.pid);
  const t0 = performance.now();
  const r = await wrk(g.url, settings.durationSec);
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = treeCpuSeconds(g.ready.child.pid);
  const n1 = processCpuSeconds(nginx.pid);
  const cpu = c0 !== undefined && c1 !== undefined ? c1 - c0 : undefined;
  return {
    ...r,
    workers: g.workers,
    round,
    cpuUsPerReq: cpu !== undefined ? (cpu * 1e6) / r.requests : undefined,
    cpuPct: cpu !== undefined ? (cpu / elapsed) * 100 : undefined,
    nginxCpuPct: n0 !== undefined && n1 !== undefined ? ((n1 - n0) / elapsed) * 100 : undefined,
  };
}

// ---------------------------------------------------------------------------- report

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mean = (xs: Array<number | undefined>) => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length === 0 ? undefined : v.reduce((a, b) => a + b, 0) / v.length;
};
const int = (n: number | undefined) => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));

async function main(): Promise<void> {
  const missing = ['wrk', 'nginx'].filter((c) => !has(c));
  if (missing.length > 0) {
    console.log(`[workers-bench] SKIPPED: needs ${missing.join(' and ')} (Debian packages: apt-get install ${missing.join(' ')}); the gateway bench's (h) row still measures workers with the Node.js load generator`);
    return;
  }
  const nginx = await startNginx();
  const one = await startGateway(1, nginx.url);
  const many = await startGateway(settings.workers, nginx.url);
  const runs: Run[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  try {
    for (let round = 0; round < settings.rounds; round++) {
      const before = await measure(one, round, nginx);
      const n = await measure(many, round, nginx);
      const after = await measure(one, round, nginx);
      runs.push(before, n, after);
      ratios.push(n.rps / ((before.rps + after.rps) / 2));
      const oneCpu = mean([before.cpuUsPerReq, after.cpuUsPerReq]);
      if (oneCpu !== undefined && n.cpuUsPerReq !== undefined) cpuRatios.push(settings.workers * (oneCpu / n.cpuUsPerReq));
      console.log(
        `[workers-bench] round ${round + 1}: 1 worker ${int(before.rps)} · ${settings.workers} workers ${int(n.rps)} · 1 worker ${int(after.rps)} req/s → ${ratios.at(-1)!.toFixed(2)}×`,
      );
    }
  } finally {
    await stopChildProcess(one.ready.child, 15_000);
    await stopChildProcess(many.ready.child, 15_000);
    await nginx.stop();
  }

  const by = (w: number) => runs.filter((r) => r.workers === w);
  const row = (w: number) => {
    const rs = by(w);
    return [
      `${w} worker${w > 1 ? 's' : ''}`,
      int(mean(rs.map((r) => r.rps))),
      (mean(rs.map((r) => r.p50)) ?? 0).toFixed(2),
      (mean(rs.map((r) => r.p99)) ?? 0).toFixed(2),
      int(mean(rs.map((r) => r.cpuUsPerReq))),
      `${int(mean(rs.map((r) => r.cpuPct)))}%`,
      `${int(mean(rs.map((r) => r.nginxCpuPct)))}%`,
    ];
  };
  const header = ['gateway (no plugins)', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'gateway CPU', 'nginx CPU'];
  const rows = [header, row(1), row(settings.workers)];
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const ratio = median(ratios);
  const cpuBound = cpuRatios.length > 0 ? median(cpuRatios) : undefined;
  const info = machineInfo();
  console.log('');
  console.log(
    `Drawbridge gateway workers · wrk (1 thread, ${settings.connections} connections) → gateway → nginx · Node ${info.node} · ${info.cpus.count} CPU(s)` +
      ` · ${settings.rounds} round(s) × ${settings.durationSec} s per server`,
  );
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log('');
  console.log(
    `  ${settings.workers} workers ÷ 1 worker   ≥ ${GOAL_WORKERS.toFixed(2)}×  ${ratio.toFixed(2)}×  ${ratio >= GOAL_WORKERS ? 'MET' : 'NOT MET'}` +
      `  (CPU-bound: ${cpuBound === undefined ? '-' : cpuBound.toFixed(2) + '×'})  rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')}`,
  );
  const load = loadavg()[0]!;
  if (load > info.cpus.count * 0.75) {
    console.log(`Note: the machine was busy (1-min load average ${load.toFixed(1)} on ${info.cpus.count} CPU(s)): the figures are noisy.`);
  }
  console.log(
    `Note: wrk and nginx still share the ${info.cpus.count} CPU(s) with the gateway (and the kernel's loopback work is charged to whoever sends); ` +
      `with ${info.cpus.count} CPU(s) and ${settings.workers} workers, the workers cannot have the cores to themselves.`,
  );
  writeFileSync(
    RESULTS,
    JSON.stringify(
      { date: new Date().toISOString(), machine: info, settings, goal: GOAL_WORKERS, ratio, cpuBoundRatio: cpuBound, roundRatios: ratios, runs },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nWritten: ${RESULTS}`);
}

main().catch((err: unknown) => {
  if (err instanceof BenchAbort) {
    console.error(`[workers-bench] ${err.message}`);
    process.exit(1);
  }
  throw err;
});
