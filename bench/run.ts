// `npm run bench`: Drawbridge's auth server against oidc-provider (npm), configured alike,
// side by side in one run. Each server runs alone in its own child process; for each
// scenario the orchestrator probes it (deep checks, signatures verified with jose), warms
// it up checking every response, then measures for a fixed time at a fixed concurrency.
// Prints a table and writes bench/results/latest.json. See bench/README.md.
//
// Environment:
//   BENCH_DURATION     seconds measured per scenario and server (default 5)
//   BENCH_WARMUP       seconds of checked warm-up before each measurement (default 1.5)
//   BENCH_CONNECTIONS  concurrent keep-alive connections (default 32)
//   BENCH_SERVERS      comma list of drawbridge,drawbridge-sqlite,oidc-provider,floor (default all;
//                      drawbridge-sqlite is Drawbridge on a SQLite file instead of memory:;
//                      floor is a reference, see bench/servers/floor.ts)
//   BENCH_SCENARIOS    comma list of token-opaque,token-jwt,introspect (default all)
//   BENCH_GOAL         required Drawbridge / oidc-provider ratio (default 2)
//   BENCH_ROUNDS       measure every server this many times per scenario, in turn, and report
//                      the median of each figure (default 1; 3 or more on a busy machine)
//   BENCH_PROFILE      1 (= drawbridge), all, or a comma list of servers: run those children with
//                      --cpu-prof; profiles go to bench/results/profiles/<server>/ (see profile-summary.ts)
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import {
  ACCESS_TOKEN_TTL,
  CLIENT_SECRET,
  JWT_CLIENT,
  OPAQUE_CLIENT,
  RESOURCE,
  SCOPE,
  type ReadyInfo,
} from './common.js';
import { BenchAbort, freePort, machineInfo, numberEnv, processCpuSeconds, spawnReady, stopChildProcess } from './child.js';
import { runPhase, sendOnce, type PhaseResult, type RequestSpec, type ResponseCheck } from './load.js';

// ---------------------------------------------------------------------------- settings

const SERVER_NAMES = ['drawbridge', 'drawbridge-sqlite', 'oidc-provider', 'floor'] as const;
type ServerName = (typeof SERVER_NAMES)[number];
const SCENARIO_IDS = ['token-opaque', 'token-jwt', 'introspect'] as const;
type ScenarioId = (typeof SCENARIO_IDS)[number];

function listEnv<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...all];
  const picked = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const p of picked) if (!all.includes(p as T)) fail(`${name}: unknown "${p}"; expected some of ${all.join(', ')}`);
  return all.filter((a) => picked.includes(a));
}


function profiledServers(raw: string | undefined): ServerName[] {
  if (raw === undefined || raw === '' || raw === '0') return [];
  if (raw === '1') return ['drawbridge'];
  if (raw === 'all') return [...SERVER_NAMES];
  return listEnv('BENCH_PROFILE', SERVER_NAMES);
}

function fail(message: string): never {
  throw new BenchAbort(message);
}

const settings = {
  durationSec: numberEnv('BENCH_DURATION', 5, 0.5),
  warmupSec: numberEnv('BENCH_WARMUP', 1.5, 0.2),
  connections: Math.round(numberEnv('BENCH_CONNECTIONS', 32, 1)),
  goal: numberEnv('BENCH_GOAL', 2, 0),
  rounds: Math.round(numberEnv('BENCH_ROUNDS', 1, 1)),
  servers: listEnv('BENCH_SERVERS', SERVER_NAMES),
  scenarios: listEnv('BENCH_SCENARIOS', SCENARIO_IDS),
  profile: profiledServers(process.env.BENCH_PROFILE),
};

const HOST = '127.0.0.1';
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const PROFILE_DIR = RESULTS_DIR + 'profiles';

// ---------------------------------------------------------------------------- children

interface ServerHandle {
  name: ServerName;
  info: ReadyInfo;
  port: number;
  child: ChildProcess;
  stderrTail(): string;
}

let currentScenario = 'startup';

/** Child script and its arguments after the port: drawbridge-sqlite is the drawbridge child on a file. */
function childOf(name: ServerName): { script: string; args: string[] } {
  if (name === 'drawbridge-sqlite') return { script: 'drawbridge', args: ['sqlite'] };
  return { script: name, args: [] };
}

async function startServer(name: ServerName): Promise<ServerHandle> {
  const port = await freePort(HOST);
  const { script: scriptName, args } = childOf(name);
  const script = fileURLToPath(new URL(`./servers/${scriptName}.js`, import.meta.url));
  const nodeArgs: string[] = [];
  if (settings.profile.includes(name)) {
    mkdirSync(`${PROFILE_DIR}/${name}`, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/${name}`, `--cpu-prof-name=${currentScenario}-${Date.now()}.cpuprofile`);
  }
  const { child, ready: info, stderrTail } = await spawnReady<ReadyInfo>(name, script, port, args, nodeArgs);
  return { name, info, port, child, stderrTail };
}

function stopServer(srv: ServerHandle): Promise<void> {
  return stopChildProcess(srv.child, 10_000);
}

// ---------------------------------------------------------------------------- requests

const BASIC = (clientId: string) =>
  'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');

function formPost(path: string, clientId: string, form: Record<string, string>): RequestSpec {
  const body = Buffer.from(new URLSearchParams(form).toString());
  return {
    method: 'POST',
    path,
    headers: {
      authorization: BASIC(clientId),
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': body.length,
      accept: 'application/json',
    },
    body,
  };
}

const tokenRequest = (srv: ServerHandle, jwt: boolean): RequestSpec =>
  jwt
    ? formPost(srv.info.tokenPath, JWT_CLIENT, { grant_type: 'client_credentials', scope: SCOPE, resource: RESOURCE })
    : formPost(srv.info.tokenPath, OPAQUE_CLIENT, { grant_type: 'client_credentials', scope: SCOPE });

const introspectionRequest = (srv: ServerHandle, token: string): RequestSpec =>
  formPost(srv.info.introspectionPath, OPAQUE_CLIENT, { token, token_type_hint: 'access_token' });

// ---------------------------------------------------------------------------- checks

function parseJsonObject(body: string): Record<string, unknown> | string {
  try {
    const v = JSON.parse(body) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : 'body is not a JSON object';
  } catch {
    return 'body is not JSON';
  }
}

const sameScope = (got: unknown) =>
  typeof got === 'string' && got.split(' ').sort().join(' ') === SCOPE.split(' ').sort().join(' ');

/** RFC 6749 §5.1 token response; the access token's own shape is checked by `token`. */
function tokenResponseCheck(token: (at: string) => string | undefined): ResponseCheck {
  return (status, body) => {
    if (status !== 200) return 'expected status 200';
    const j = parseJsonObject(body);
    if (typeof j === 'string') return j;
    if (typeof j.access_token !== 'string') return 'no access_token';
    if (typeof j.token_type !== 'string' || j.token_type.toLowerCase() !== 'bearer') return 'token_type is not Bearer';
    if (j.expires_in !== ACCESS_TOKEN_TTL) return `expires_in is not ${ACCESS_TOKEN_TTL}`;
    if (!sameScope(j.scope)) return `scope is not "${SCOPE}"`;
    return token(j.access_token);
  };
}

const opaqueTokenCheck = tokenResponseCheck((at) =>
  at.split('.').length === 3 ? 'expected an opaque access token, got a JWT' : at.length < 32 ? 'access token shorter than 32 characters' : undefined,
);

function jwtTokenCheck(issuer: string): ResponseCheck {
  return tokenResponseCheck((at) => {
    const parts = at.split('.');
    if (parts.length !== 3) return 'expected a JWT access token';
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return 'JWT header or payload is not JSON';
    }
    if (header.alg !== 'ES256') return `JWT alg is ${String(header.alg)}, expected ES256`;
    if (String(header.typ).toLowerCase() !== 'at+jwt') return `JWT typ is ${String(header.typ)}, expected at+jwt`;
    if (payload.iss !== issuer) return 'JWT iss is not the issuer';
    const aud = payload.aud;
    if (!(aud === RESOURCE || (Array.isArray(aud) && aud.includes(RESOURCE)))) return `JWT aud is not ${RESOURCE}`;
    if (payload.client_id !== JWT_CLIENT) return 'JWT client_id is wrong';
    if (!sameScope(payload.scope)) return 'JWT scope is wrong';
    if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat !== ACCESS_TOKEN_TTL) {
      return `JWT exp - iat is not ${ACCESS_TOKEN_TTL}`;
    }
    if (typeof payload.jti !== 'string') return 'JWT has no jti';
    return undefined;
  });
}

function introspectionCheck(issuer: string): ResponseCheck {
  return (status, body) => {
    if (status !== 200) return 'expected status 200';
    const j = parseJsonObject(body);
    if (typeof j === 'string') return j;
    if (j.active !== true) return 'expected active: true';
    if (j.client_id !== OPAQUE_CLIENT) return 'client_id is wrong';
    if (!sameScope(j.scope)) return 'scope is wrong';
    if (j.iss !== issuer) return 'iss is not the issuer';
    if (typeof j.exp !== 'number' || typeof j.iat !== 'number') return 'exp/iat missing';
    return undefined;
  };
}

/** During measurement: status and a marker only, so checking costs the generator little. */
const quick =
  (marker: string): ResponseCheck =>
  (status, body) =>
    status !== 200 ? 'expected status 200' : body.includes(marker) ? undefined : `body lacks ${marker}`;

// ---------------------------------------------------------------------------- scenarios

interface Prepared {
  next: (n: number) => RequestSpec;
  check: ResponseCheck; // every warm-up response
  quick: ResponseCheck; // every measured response
}

interface Scenario {
  id: ScenarioId;
  title: string;
  /** one-off probes with deep checks; returns what warm-up and measurement send */
  prepare(srv: ServerHandle): Promise<Prepared>;
}

async function expectOk(srv: ServerHandle, what: string, spec: RequestSpec, check: ResponseCheck): Promise<Record<string, unknown>> {
  const reply = await sendOnce(HOST, srv.port, spec);
  const problem = check(reply.status, reply.body);
  if (problem !== undefined) fail(`${srv.name}: ${what}: ${problem}\n  status ${reply.status}, body: ${reply.body.slice(0, 500)}`);
  return JSON.parse(reply.body) as Record<string, unknown>;
}

const SCENARIOS: Record<ScenarioId, Scenario> = {
  'token-opaque': {
    id: 'token-opaque',
    title: 'token: client_credentials, opaque',
    async prepare(srv) {
      await expectOk(srv, 'opaque token probe', tokenRequest(srv, false), opaqueTokenCheck);
      const spec = tokenRequest(srv, false);
      return { next: () => spec, check: opaqueTokenCheck, quick: quick('"access_token"') };
    },
  },
  'token-jwt': {
    id: 'token-jwt',
    title: 'token: client_credentials, ES256 JWT',
    async prepare(srv) {
      const check = jwtTokenCheck(srv.info.issuer);
      const body = await expectOk(srv, 'JWT token probe', tokenRequest(srv, true), check);
      // the signature, verified against the server's published JWKS
      const jwksReply = await sendOnce(HOST, srv.port, { method: 'GET', path: srv.info.jwksPath, headers: { accept: 'application/json' } });
      if (jwksReply.status !== 200) fail(`${srv.name}: GET ${srv.info.jwksPath} → ${jwksReply.status}`);
      try {
        await jwtVerify(body.access_token as string, createLocalJWKSet(JSON.parse(jwksReply.body) as JSONWebKeySet), {
          issuer: srv.info.issuer,
          audience: RESOURCE,
          algorithms: ['ES256'],
          typ: 'at+jwt',
        });
      } catch (err) {
        fail(`${srv.name}: JWT access token does not verify against ${srv.info.jwksPath}: ${(err as Error).message}`);
      }
      const spec = tokenRequest(srv, true);
      return { next: () => spec, check, quick: quick('"access_token":"ey') };
    },
  },
  introspect: {
    id: 'introspect',
    title: 'introspection: valid opaque token',
    async prepare(srv) {
      const check = introspectionCheck(srv.info.issuer);
      // a pool of live tokens, introspected in turn
      const specs: RequestSpec[] = [];
      for (let i = 0; i < 64; i++) {
        const t = await expectOk(srv, 'token for introspection', tokenRequest(srv, false), opaqueTokenCheck);
        specs.push(introspectionRequest(srv, t.access_token as string));
      }
      await expectOk(srv, 'introspection probe', specs[0]!, check);
      // a server that says "active" to anything must not win
      const bogus = 'bogus-token-that-was-never-issued-0123456789abcdef';
      await expectOk(srv, 'introspection of an unknown token', introspectionRequest(srv, bogus), (status, b) => {
        if (status !== 200) return 'expected status 200';
        const j = parseJsonObject(b);
        if (typeof j === 'string') return j;
        return j.active === false ? undefined : 'an unknown token must be active: false';
      });
      return { next: (n) => specs[n % specs.length]!, check, quick: quick('"active":true') };
    },
  },
};

// ---------------------------------------------------------------------------- measuring

interface Measured {
  rps: number;
  requests: number;
  latencyMs: PhaseResult['latencyMs'];
  serverCpuPct?: number;
  /** server CPU time (user + system) per measured request, µs: robust on a busy machine */
  serverCpuUsPerReq?: number;
  loadCpuPct: number;
  warmupRequests: number;
}

type Results = Partial<Record<ScenarioId, Partial<Record<ServerName, Measured>>>>;

async function measure(srv: ServerHandle, scenario: Scenario): Promise<Measured> {
  const prepared = await scenario.prepare(srv);
  const common = { host: HOST, port: srv.port, connections: settings.connections, next: prepared.next };
  const warm = await runPhase({ ...common, durationMs: settings.warmupSec * 1000, check: prepared.check, stopOnError: true });
  if (warm.errors > 0) fail(`${srv.name}: ${scenario.id}: a warm-up response failed its check:\n  ${warm.firstError}`);
  const cpu0 = processCpuSeconds(srv.child.pid);
  const run = await runPhase({ ...common, durationMs: settings.durationSec * 1000, check: prepared.quick });
  const cpu1 = processCpuSeconds(srv.child.pid);
  if (run.errors > 0) {
    fail(`${srv.name}: ${scenario.id}: ${run.errors} of ${run.requests + run.errors} measured requests failed; first:\n  ${run.firstError}`);
  }
  return {
    rps: run.rps,
    requests: run.ok,
    latencyMs: run.latencyMs,
    serverCpuPct: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / (run.elapsedMs / 1000)) * 100 : undefined,
    serverCpuUsPerReq: cpu0 !== undefined && cpu1 !== undefined && run.ok > 0 ? ((cpu1 - cpu0) * 1e6) / run.ok : undefined,
    loadCpuPct: run.loadCpuPct,
    warmupRequests: warm.ok,
  };
}

// ---------------------------------------------------------------------------- report

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const fmtPct = (n: number | undefined) => (n === undefined ? '-' : `${Math.round(n)}%`);

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

interface Summary {
  scenario: ScenarioId;
  title: string;
  ratio?: number;
  /** drawbridge-sqlite req/s ÷ oidc-provider req/s (informational: not the like-for-like pair) */
  sqliteRatio?: number;
  /** oidc-provider CPU µs/req ÷ Drawbridge CPU µs/req */
  cpuRatio?: number;
  /** floor req/s ÷ oidc-provider req/s: the most any Node.js server could reach here */
  headroom?: number;
  goalMet?: boolean;
}

function report(results: Results, versions: Partial<Record<ServerName, string>>): Summary[] {
  const rows: string[][] = [['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'server CPU', 'loadgen CPU']];
  const summaries: Summary[] = [];
  let saturated = false;
  for (const id of settings.scenarios) {
    const s = SCENARIOS[id];
    const r = results[id] ?? {};
    let first = true;
    for (const name of settings.servers) {
      const m = r[name];
      if (!m) continue;
      if (m.loadCpuPct >= 90) saturated = true;
      rows.push([
        first ? s.title : '',
        name === 'floor' ? 'floor (reference)' : name === 'drawbridge-sqlite' ? 'drawbridge (sqlite: file)' : name,
        fmtInt(m.rps),
        fmtMs(m.latencyMs.p50),
        fmtMs(m.latencyMs.p99),
        m.serverCpuUsPerReq === undefined ? '-' : fmtInt(m.serverCpuUsPerReq),
        fmtPct(m.serverCpuPct),
        fmtPct(m.loadCpuPct),
      ]);
      first = false;
    }
    const d = r.drawbridge;
    const q = r['drawbridge-sqlite'];
    const o = r['oidc-provider'];
    const summary: Summary = { scenario: id, title: s.title };
    const f = r.floor;
    if (f && o) summary.headroom = f.rps / o.rps;
    const x = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)}×`);
    const ratioRow = (label: string, m: Measured, other: Measured) => [
      '',
      label,
      x(m.rps / other.rps),
      x(other.latencyMs.p50 / m.latencyMs.p50),
      x(other.latencyMs.p99 / m.latencyMs.p99),
      x(m.serverCpuUsPerReq && other.serverCpuUsPerReq ? other.serverCpuUsPerReq / m.serverCpuUsPerReq : undefined),
      '',
      '',
    ];
    if (d && o) {
      summary.ratio = d.rps / o.rps;
      summary.goalMet = summary.ratio >= settings.goal;
      summary.cpuRatio = d.serverCpuUsPerReq && o.serverCpuUsPerReq ? o.serverCpuUsPerReq / d.serverCpuUsPerReq : undefined;
      rows.push(ratioRow('ratio (drawbridge better if > 1)', d, o));
    }
    if (q && o) {
      summary.sqliteRatio = q.rps / o.rps;
      rows.push(ratioRow('ratio, sqlite: file ÷ oidc-provider', q, o));
    }
    rows.push(['', '', '', '', '', '', '', '']);
    summaries.push(summary);
  }
  rows.pop();

  const cpuCount = availableParallelism();
  console.log('');
  console.log(
    `Drawbridge ${versions.drawbridge ?? '-'} vs oidc-provider ${versions['oidc-provider'] ?? '-'} · Node ${process.version} · ${cpuCount} CPU(s) (${cpus()[0]?.model.trim() ?? 'unknown'})`,
  );
  console.log(
    `${settings.connections} keep-alive connections · ${settings.warmupSec} s checked warm-up + ${settings.durationSec} s measured per scenario and server` +
      (settings.rounds > 1 ? ` · ${settings.rounds} rounds, medians shown` : '') +
      ' · each server alone in its own process',
  );
  console.log('');
  console.log(table(rows, [false, false, true, true, true, true, true, true]));
  console.log('');
  console.log('ratio row: req/s is Drawbridge ÷ oidc-provider; latency and CPU µs/req are oidc-provider ÷ Drawbridge.');
  console.log('CPU µs/req: server process CPU time per request, the figure least disturbed by other load on the machine.');
  console.log('floor: the same protocol work in bare node:http + node:crypto + a Map; not a product, a measure of the room there is.');
  if (settings.servers.includes('drawbridge-sqlite')) {
    console.log('drawbridge (sqlite: file): the same Drawbridge on its embedded default storage, a SQLite file (WAL); shown for honesty, not part of the goal.');
  }
  console.log('');
  console.log(`Goal: Drawbridge ≥ ${settings.goal}× oidc-provider in req/s on each scenario`);
  for (const s of summaries) {
    if (s.ratio === undefined) console.log(`  ${s.title.padEnd(40)} n/a (needs both servers)`);
    else {
      const notes: string[] = [];
      if (s.cpuRatio !== undefined) notes.push(`CPU per request ${s.cpuRatio.toFixed(2)}×`);
      if (s.headroom !== undefined) notes.push(`floor reaches ${s.headroom.toFixed(2)}× oidc-provider`);
      if (s.sqliteRatio !== undefined) notes.push(`on a SQLite file ${s.sqliteRatio.toFixed(2)}×`);
      const tail = notes.length > 0 ? `  (${notes.join('; ')})` : '';
      console.log(`  ${s.title.padEnd(38)} ${s.ratio.toFixed(2)}×  ${s.goalMet ? 'MET    ' : 'NOT MET'}${tail}`);
    }
  }
  if (saturated) {
    console.log('');
    console.log('Note: the load generator used ≥ 90% of a core in some phase: there the figure is a lower bound of what the server can do.');
  }
  const load = loadavg()[0]!;
  if (load > cpuCount) {
    console.log(`Note: the machine was busy (1-min load average ${load.toFixed(1)} on ${cpuCount} CPU(s)): req/s and latency are noisy; CPU µs/req holds up better.`);
  }
  if (cpuCount < 3) {
    console.log(`Note: ${cpuCount} CPU(s): server and load generator compete for cores; compare ratios rather than absolute req/s.`);
  }
  return summaries;
}

// ---------------------------------------------------------------------------- main

/** The median of each figure over several rounds (one round: that round). */
function medianOf(rounds: Measured[]): Measured {
  const median = (pick: (m: Measured) => number | undefined): number | undefined => {
    const values = rounds.map(pick).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
    if (values.length === 0) return undefined;
    const mid = values.length >> 1;
    return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
  };
  if (rounds.length === 1) return rounds[0]!;
  return {
    rps: median((m) => m.rps)!,
    requests: median((m) => m.requests)!,
    latencyMs: {
      p50: median((m) => m.latencyMs.p50)!,
      p90: median((m) => m.latencyMs.p90)!,
      p99: median((m) => m.latencyMs.p99)!,
      max: median((m) => m.latencyMs.max)!,
      mean: median((m) => m.latencyMs.mean)!,
    },
    serverCpuPct: median((m) => m.serverCpuPct),
    serverCpuUsPerReq: median((m) => m.serverCpuUsPerReq),
    loadCpuPct: median((m) => m.loadCpuPct)!,
    warmupRequests: median((m) => m.warmupRequests)!,
  };
}

async function main(): Promise<void> {
  const results: Results = {};
  const rounds: Partial<Record<ScenarioId, Partial<Record<ServerName, Measured[]>>>> = {};
  const versions: Partial<Record<ServerName, string>> = {};
  const started = Date.now();
  // Scenario by scenario, each server freshly started and measured alone, one right after the
  // other: both face the same machine conditions, and each starts with an empty store. With
  // several rounds the servers take turns (A B C, A B C, …), so a burst of outside load hits
  // one round of one server rather than all of it.
  for (const id of settings.scenarios) {
    for (let round = 1; round <= settings.rounds; round++) {
      for (const name of settings.servers) {
        const label = settings.rounds > 1 ? ` (round ${round}/${settings.rounds})` : '';
        process.stderr.write(`[bench] ${id}: ${name}${label}…`);
        currentScenario = id;
        const srv = await startServer(name);
        versions[name] = srv.info.version;
        try {
          const m = await measure(srv, SCENARIOS[id]);
          ((rounds[id] ??= {})[name] ??= []).push(m);
          (results[id] ??= {})[name] = medianOf(rounds[id]![name]!);
          process.stderr.write(` ${fmtInt(m.rps)} req/s\n`);
        } catch (err) {
          process.stderr.write(' failed\n');
          if (err instanceof BenchAbort) {
            const tail = srv.stderrTail();
            if (tail !== '') err.message += `\n--- ${name} stderr (tail) ---\n${tail}`;
          }
          throw err;
        } finally {
          await stopServer(srv);
        }
      }
    }
  }

  const summaries = report(results, versions);
  const out = {
    date: new Date().toISOString(),
    ...machineInfo(),
    load_average_at_end: loadavg(),
    settings: {
      duration_s: settings.durationSec,
      warmup_s: settings.warmupSec,
      connections: settings.connections,
      goal_ratio: settings.goal,
      rounds: settings.rounds,
    },
    versions,
    scenarios: settings.scenarios.map((id) => {
      const sum = summaries.find((s) => s.scenario === id)!;
      return {
        id,
        title: sum.title,
        ratio: sum.ratio ?? null,
        sqlite_file_ratio: sum.sqliteRatio ?? null,
        cpu_per_request_ratio: sum.cpuRatio ?? null,
        floor_headroom: sum.headroom ?? null,
        goal_met: sum.goalMet ?? null,
        servers: results[id] ?? {},
        ...(settings.rounds > 1 ? { rounds: rounds[id] ?? {} } : {}),
      };
    }),
    all_goals_met: summaries.every((s) => s.goalMet === true),
    total_runtime_s: Math.round((Date.now() - started) / 100) / 10,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(RESULTS_DIR + 'latest.json', JSON.stringify(out, null, 2) + '\n');
  console.log('');
  console.log(`Written: ${RESULTS_DIR}latest.json (${out.total_runtime_s} s in all)`);
  if (settings.profile.length > 0) {
    console.log(`CPU profiles (${settings.profile.join(', ')}): ${PROFILE_DIR}/<server>/<scenario>-<time>.cpuprofile`);
    console.log('  summarise one with: node dist/bench/profile-summary.js FILE');
  }
}

main().catch((err: unknown) => {
  if (err instanceof BenchAbort) {
    console.error(`\nBENCH ABORTED: ${err.message}`);
  } else {
    console.error('\nBENCH FAILED:', err);
  }
  process.exit(1);
});
