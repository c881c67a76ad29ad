// The gateway benchmark: what Drawbridge's gateway costs over the least a Node.js reverse
// proxy does, in one run. Every server runs in its own child process, started once; each
// is probed (deep checks: the internal JWT upstream received is verified with jose) and
// warmed up with every response checked. Then BENCH_ROUNDS rounds each measure every
// server in turn, one at a time, for a fixed time at a fixed concurrency. Prints a table
// and writes bench/results/gateway-latest.json. See bench/GATEWAY.md.
//
//   (a) upstream      the bare upstream (node:http, tiny JSON), measured directly
//   (b) baseline      a minimal undici proxy (node:http + undici Pool, streaming): the reference
//   (b2) baseline-h1  the same proxy on the gateway's own HTTP/1.1 client (for reference, no goal)
//   (c) none          the gateway, a route without plugins
//   (d) key-auth      … with key-auth
//   (e) jwt           … with jwt (ES256 access tokens from our auth server, jwks_uri)
//   (f) hmac-auth     … with hmac-auth (every request signed per RFC 9421, a fresh nonce each)
//   (g) key-auth+rl   … with key-auth + rate-limiting (redis policy when Redis answers at
//                     127.0.0.1:6379, else local; a limit that never refuses)
//   (h) workers-1 / workers-2   no plugins, gateway.workers 1 vs 2 (SQLite file storage)
// The machine may be shared and drift: in every round the baseline runs before (c) and
// after each of (c)–(g), and each of those runs is compared with the two baseline runs
// around it; the 1-worker gateway runs before and after the multi-worker one. A row's
// ratio is the median over the rounds of those paired ratios. About 3 minutes with the
// defaults.
//
// Environment:
//   BENCH_ROUNDS       rounds (default 4)
//   BENCH_DURATION     seconds measured per server and round (default 3)
//   BENCH_WARMUP       least seconds of checked warm-up of each server, before its first measurement (default 1.5)
//   BENCH_WARMUP_REQUESTS  … and least requests per server process (default 6000: until the JIT is done)
//   BENCH_WARMUP_MAX   most seconds of warm-up (default 8)
//   BENCH_REWARM       seconds of checked, unmeasured load before each run after the first round (default 1)
//   BENCH_CONNECTIONS  concurrent keep-alive connections (default 32)
//   BENCH_SCENARIOS    comma list of upstream,baseline-h1,baseline,none,key-auth,jwt,hmac-auth,key-auth+rate-limiting,workers (default all)
//   BENCH_WORKERS      worker count of the multi-worker row (default 2)
//   BENCH_NICE         nice value for the load generator (this process) while measuring (default 0;
//                      e.g. 10 gives the servers the CPU first on a small machine)
//   BENCH_REDIS        Redis URL for the rate-limiting scenario (default redis://127.0.0.1:6379; "off": local policy)
//   BENCH_PROFILE      1: run the Drawbridge children with --cpu-prof; profiles go to
//                      bench/results/profiles/gateway/ (summarise: node dist/bench/profile-summary.js FILE)
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { availableParallelism, cpus, getPriority, loadavg, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { createSigner, httpbis } from 'http-message-signatures';
import { BenchAbort, freePort, machineInfo, numberEnv, redisPong, spawnReady, stopChildProcess, treeCpuSeconds } from './child.js';
import { runPhase, type PhaseResult, type RequestSpec, type ResponseCheck } from './load.js';
import {
  API_KEY,
  CONSUMER,
  HMAC_KEY_ID,
  HMAC_SECRET,
  JWT_AUDIENCE,
  JWT_CLIENT_ID,
  JWT_CLIENT_SECRET,
  JWT_SCOPE,
  REQUEST_PATH,
  SERVICE_NAME,
  signRequest,
  STATS_PATH,
  UPSTREAM_BODY,
  type GatewayReady,
  type GatewayScenario,
  type UpstreamStats,
} from './gateway/common.js';

// ---------------------------------------------------------------------------- settings

function fail(message: string): never {
  throw new BenchAbort(message);
}

const SELECTABLE = ['upstream', 'baseline-h1', 'baseline', 'none', 'key-auth', 'jwt', 'hmac-auth', 'key-auth+rate-limiting', 'workers'] as const;
type Selectable = (typeof SELECTABLE)[number];

function selected(): Selectable[] {
  const raw = process.env.BENCH_SCENARIOS;
  if (raw === undefined || raw.trim() === '') return [...SELECTABLE];
  const picked = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const p of picked) if (!SELECTABLE.includes(p as Selectable)) fail(`BENCH_SCENARIOS: unknown "${p}"; expected some of ${SELECTABLE.join(', ')}`);
  return SELECTABLE.filter((s) => picked.includes(s));
}

const settings = {
  rounds: Math.round(numberEnv('BENCH_ROUNDS', 4, 1)),
  durationSec: numberEnv('BENCH_DURATION', 3, 0.5),
  warmupSec: numberEnv('BENCH_WARMUP', 1.5, 0.2),
  warmupRequests: Math.round(numberEnv('BENCH_WARMUP_REQUESTS', 6000, 0)),
  warmupMaxSec: numberEnv('BENCH_WARMUP_MAX', 8, 0.2),
  rewarmSec: numberEnv('BENCH_REWARM', 1, 0),
  connections: Math.round(numberEnv('BENCH_CONNECTIONS', 32, 1)),
  workers: Math.round(numberEnv('BENCH_WORKERS', 2, 2)),
  nice: Math.round(numberEnv('BENCH_NICE', 0, 0)),
  redis: process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379',
  profile: process.env.BENCH_PROFILE === '1',
  scenarios: selected(),
};

const GOAL_NO_PLUGINS = 0.97;
const GOAL_AUTH = 0.9;
const GOAL_WORKERS = 1.7;

const HOST = '127.0.0.1';
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const PROFILE_DIR = RESULTS_DIR + 'profiles/gateway';

// ---------------------------------------------------------------------------- children

interface Child {
  name: string;
  ready: GatewayReady;
  port: number;
  child: ChildProcess;
  stderrTail(): string;
}

async function startChild(name: string, script: string, args: string[], profileAs?: string, avoid?: number): Promise<Child> {
  let port = await freePort(HOST);
  // two ports asked for in a row may be the same free one (the jwt row's auth server)
  while (port === avoid) port = await freePort(HOST);
  const file = fileURLToPath(new URL(`./gateway/${script}.js`, import.meta.url));
  const nodeArgs: string[] = [];
  if (profileAs !== undefined) {
    // one directory per child; cluster workers inherit --cpu-prof and write their own files there
    const dir = `${PROFILE_DIR}/${profileAs}-${Date.now()}`;
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const { child, ready, stderrTail } = await spawnReady<GatewayReady>(name, file, port, args, nodeArgs);
  return { name, ready, port, child, stderrTail };
}

function stopChild(c: Child): Promise<void> {
  return stopChildProcess(c.child, 15_000);
}

// ---------------------------------------------------------------------------- HTTP helpers

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (probes and set-up; not measured). */
function probe(port: number, spec: RequestSpec): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HOST, port, method: spec.method, path: spec.path, headers: spec.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(spec.body);
  });
}

async function upstreamStats(upstream: Child): Promise<UpstreamStats> {
  const reply = await probe(upstream.port, { method: 'GET', path: STATS_PATH, headers: {} });
  if (reply.status !== 200) fail(`upstream: GET ${STATS_PATH} → ${reply.status}`);
  return JSON.parse(reply.body) as UpstreamStats;
}

/** Is Redis answering PING at this URL (plain redis://host:port only)? */
function redisAnswers(url: string): Promise<boolean> {
  if (url === 'off') return Promise.resolve(false);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  return redisPong(Number(u.port || 6379), u.hostname);
}

// ---------------------------------------------------------------------------- scenarios

type ScenarioId = 'upstream' | 'baseline-h1' | 'baseline' | GatewayScenario | 'workers-1' | 'workers-n';

interface Prepared {
  next: (n: number) => RequestSpec;
  /**
   * Called before every load phase, outside its timing, with about as many requests as the
   * phase will send: a row whose requests are made one by one (hmac-auth signs each) makes
   * them here, so the load generator's share of the 2 CPUs is no bigger than in other rows.
   */
  ready?: (count: number) => void;
  /** the exact body every response must carry */
  expected: string;
}

interface Scenario {
  id: ScenarioId;
  label: string;
  title: string;
  /** the internal JWT must reach upstream on every request */
  authenticated: boolean;
  /** server processes that each need warming up (cluster workers; default 1) */
  processes?: number;
  /** starts the server under test (undefined: the upstream itself is measured) */
  start?: (upstream: Child) => Promise<Child>;
  /** deep probes; what warm-up and measurement send */
  prepare(srv: Child, upstream: Child): Promise<Prepared>;
}

const GET = (headers: Record<string, string> = {}): RequestSpec => ({ method: 'GET', path: REQUEST_PATH, headers: { accept: 'application/json', ...headers } });

/** A Prepared that sends one fixed request and expects the plain (no internal token) body. */
function plainPrepare(headers: Record<string, string> = {}) {
  return async (srv: Child): Promise<Prepared> => {
    const spec = GET(headers);
    await expectBody(srv, 'probe', spec, UPSTREAM_BODY.plain);
    return { next: () => spec, expected: UPSTREAM_BODY.plain };
  };
}

async function expectBody(srv: Child, what: string, spec: RequestSpec, expected: string): Promise<Reply> {
  const reply = await probe(srv.port, spec);
  if (reply.status !== 200 || reply.body !== expected) {
    fail(`${srv.name}: ${what}: expected 200 with ${expected}, got ${reply.status}: ${reply.body.slice(0, 400)}`);
  }
  return reply;
}

async function expectRefused(srv: Child, what: string, spec: RequestSpec): Promise<void> {
  const reply = await probe(srv.port, spec);
  if (reply.status !== 401) fail(`${srv.name}: ${what}: expected 401, got ${reply.status}: ${reply.body.slice(0, 400)}`);
}

/** The internal token upstream received last: verified with jose against the gateway's keys. */
async function verifyInternalToken(srv: Child, upstream: Child, authMethod: string, consumer?: string): Promise<void> {
  const stats = await upstreamStats(upstream);
  const header = stats.lastBearer;
  if (header === null) fail(`${srv.name}: upstream received no Bearer token`);
  if (!srv.ready.jwks || !srv.ready.issuer) fail(`${srv.name}: the child did not announce its issuer and JWKS`);
  try {
    const { payload, protectedHeader } = await jwtVerify(header.slice(7), createLocalJWKSet(srv.ready.jwks as JSONWebKeySet), {
      issuer: srv.ready.issuer,
      audience: SERVICE_NAME,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    if (protectedHeader.alg !== 'ES256') fail(`internal token alg ${protectedHeader.alg}`);
    if (payload.auth_method !== authMethod) fail(`internal token auth_method is ${String(payload.auth_method)}, expected ${authMethod}`);
    if (consumer !== undefined && payload.consumer !== consumer) fail(`internal token consumer is ${String(payload.consumer)}, expected ${consumer}`);
  } catch (err) {
    if (err instanceof BenchAbort) throw new BenchAbort(`${srv.name}: ${err.message}`);
    fail(`${srv.name}: the internal token upstream received does not verify: ${(err as Error).message}`);
  }
}

function gatewayStarter(scenario: GatewayScenario, policy: 'redis' | 'local', workers = 1) {
  return async (upstream: Child): Promise<Child> => {
    const authPort = scenario === 'jwt' ? String(await freePort(HOST)) : '-';
    const redis = scenario === 'key-auth+rate-limiting' && policy === 'redis' ? settings.redis : '-';
    const name = workers > 1 ? `drawbridge-${workers}w` : 'drawbridge';
    return startChild(
      name,
      'drawbridge',
      [scenario, upstream.ready.url, String(workers), authPort, redis],
      settings.profile ? `${scenario}-${workers}w` : undefined,
      authPort === '-' ? undefined : Number(authPort),
    );
  };
}

async function jwtTokens(srv: Child, count: number): Promise<string[]> {
  const url = new URL(srv.ready.tokenUrl ?? fail(`${srv.name}: no token endpoint announced`));
  const body = Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope: JWT_SCOPE, resource: JWT_AUDIENCE }).toString());
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await probe(Number(url.port), {
      method: 'POST',
      path: url.pathname,
      headers: {
        authorization: 'Basic ' + Buffer.from(`${JWT_CLIENT_ID}:${JWT_CLIENT_SECRET}`).toString('base64'),
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': body.length,
      },
      body,
    });
    if (reply.status !== 200) fail(`${srv.name}: token request → ${reply.status}: ${reply.body.slice(0, 400)}`);
    const token = (JSON.parse(reply.body) as { access_token?: unknown }).access_token;
    if (typeof token !== 'string' || decodeProtectedHeader(token).alg !== 'ES256') fail(`${srv.name}: expected an ES256 JWT access token`);
    tokens.push(token);
  }
  return tokens;
}

/** Our per-request signer must agree with an independent RFC 9421 implementation. */
async function crossCheckSigner(authority: string): Promise<void> {
  const created = Math.floor(Date.now() / 1000);
  const signed = await httpbis.signMessage(
    {
      key: createSigner(HMAC_SECRET, 'hmac-sha256', HMAC_KEY_ID),
      fields: ['@method', '@authority', '@path'],
      params: ['created', 'keyid', 'alg', 'nonce'],
      paramValues: { created: new Date(created * 1000), nonce: 'cross-check' } as never,
    },
    { method: 'GET', url: `http://${authority}${REQUEST_PATH}`, headers: {} },
  );
  const theirs = signed.headers as Record<string, string>;
  const ours = signRequest('GET', authority, REQUEST_PATH, created, 'cross-check');
  // the labels differ (sig / sig1): compare what follows them
  const afterLabel = (v: string | undefined) => (v === undefined ? undefined : v.slice(v.indexOf('=') + 1));
  const theirSignature = afterLabel(theirs['Signature'] ?? theirs['signature']);
  const theirInput = afterLabel(theirs['Signature-Input'] ?? theirs['signature-input']);
  if (theirSignature !== afterLabel(ours.signature) || theirInput !== afterLabel(ours['signature-input'])) {
    fail(`the bench's RFC 9421 signer disagrees with http-message-signatures:\n  ours   ${JSON.stringify(ours)}\n  theirs ${JSON.stringify(theirs)}`);
  }
}

function scenarioTable(policy: 'redis' | 'local'): Scenario[] {
  const keyAuthPrepare = (authMethod: string) => async (srv: Child, upstream: Child): Promise<Prepared> => {
    const spec = GET({ apikey: API_KEY });
    await expectBody(srv, 'probe with the API key', spec, UPSTREAM_BODY.bearer);
    await verifyInternalToken(srv, upstream, authMethod, CONSUMER);
    await expectRefused(srv, 'probe without a key', GET());
    await expectRefused(srv, 'probe with a wrong key', GET({ apikey: 'not-the-key' }));
    return { next: () => spec, expected: UPSTREAM_BODY.bearer };
  };
  const list: Scenario[] = [
    {
      id: 'upstream',
      label: '(a)',
      title: 'upstream, direct (no proxy)',
      authenticated: false,
      prepare: plainPrepare(),
    },
    {
      id: 'baseline-h1',
      label: '(b2)',
      title: "reference: the baseline on the gateway's HTTP/1.1 client",
      authenticated: false,
      start: (upstream) => startChild('baseline-h1', 'baseline', [upstream.ready.url, 'h1']),
      prepare: plainPrepare(),
    },
    {
      id: 'baseline',
      label: '(b)',
      title: 'BASELINE: minimal undici proxy',
      authenticated: false,
      start: (upstream) => startChild('baseline', 'baseline', [upstream.ready.url]),
      prepare: plainPrepare(),
    },
    {
      id: 'none',
      label: '(c)',
      title: 'gateway, no plugins',
      authenticated: false,
      start: gatewayStarter('none', policy),
      prepare: plainPrepare(),
    },
    {
      id: 'key-auth',
      label: '(d)',
      title: 'gateway + key-auth',
      authenticated: true,
      start: gatewayStarter('key-auth', policy),
      prepare: keyAuthPrepare('key-auth'),
    },
    {
      id: 'jwt',
      label: '(e)',
      title: 'gateway + jwt (ES256)',
      authenticated: true,
      start: gatewayStarter('jwt', policy),
      async prepare(srv, upstream) {
        const tokens = await jwtTokens(srv, 16);
        const specs = tokens.map((t) => GET({ authorization: `Bearer ${t}` }));
        await expectBody(srv, 'probe with a JWT', specs[0]!, UPSTREAM_BODY.bearer);
        await verifyInternalToken(srv, upstream, 'jwt');
        await expectRefused(srv, 'probe without a token', GET());
        const t = tokens[0]!;
        const forged = t.slice(0, -4) + (t.endsWith('AAAA') ? 'BBBB' : 'AAAA');
        await expectRefused(srv, 'probe with a forged signature', GET({ authorization: `Bearer ${forged}` }));
        return { next: (n) => specs[n % specs.length]!, expected: UPSTREAM_BODY.bearer };
      },
    },
    {
      id: 'hmac-auth',
      label: '(f)',
      title: 'gateway + hmac-auth (RFC 9421)',
      authenticated: true,
      start: gatewayStarter('hmac-auth', policy),
      async prepare(srv, upstream) {
        const authority = `${HOST}:${srv.port}`;
        await crossCheckSigner(authority);
        const phase = randomBytes(6).toString('base64url');
        const now = () => Math.floor(Date.now() / 1000);
        const once = GET(signRequest('GET', authority, REQUEST_PATH, now(), `probe-${phase}`));
        await expectBody(srv, 'probe with a signed request', once, UPSTREAM_BODY.bearer);
        await verifyInternalToken(srv, upstream, 'hmac-auth', CONSUMER);
        await expectRefused(srv, 'the same signed request again (replayed nonce)', once);
        await expectRefused(srv, 'probe without a signature', GET());
        await expectRefused(srv, 'probe with a wrong secret', GET(signRequest('GET', authority, REQUEST_PATH, now(), `bad-${phase}`, HMAC_KEY_ID, 'wrong')));
        // Each request is signed with a fresh nonce and a current `created`, as a client does.
        // A client signs on its own machine; here the load generator shares the 2 CPUs with
        // the gateway, so the requests of a phase are signed right before it (ready(), not
        // timed), and only a phase that outruns the estimate signs the rest as it goes.
        let serial = 0;
        const signed = () => GET(signRequest('GET', authority, REQUEST_PATH, now(), `${phase}.${serial++}`));
        const pool: RequestSpec[] = [];
        return {
          next: () => pool.pop() ?? signed(),
          ready(count) {
            pool.length = 0; // never sent: their nonces are simply not used
            for (let i = 0; i < count; i++) pool.push(signed());
          },
          expected: UPSTREAM_BODY.bearer,
        };
      },
    },
    {
      id: 'key-auth+rate-limiting',
      label: '(g)',
      title: `gateway + key-auth + rate-limiting (${policy})`,
      authenticated: true,
      start: gatewayStarter('key-auth+rate-limiting', policy),
      async prepare(srv, upstream) {
        const prepared = await keyAuthPrepare('key-auth')(srv, upstream);
        const reply = await probe(srv.port, prepared.next(0));
        if (reply.headers['ratelimit-limit'] === undefined || reply.headers['x-ratelimit-limit-minute'] !== '100000000') {
          fail(`${srv.name}: no RateLimit headers: the rate limiter did not run (${JSON.stringify(reply.headers)})`);
        }
        if (srv.ready.policy !== policy) fail(`${srv.name}: rate-limiting policy is ${srv.ready.policy}, expected ${policy}`);
        return prepared;
      },
    },
    {
      id: 'workers-1',
      label: '(h)',
      title: 'gateway, no plugins, 1 worker (SQLite)',
      authenticated: false,
      start: gatewayStarter('none', policy, 1),
      prepare: plainPrepare(),
    },
    {
      id: 'workers-n',
      label: '(h)',
      title: `gateway, no plugins, ${settings.workers} workers (SQLite)`,
      authenticated: false,
      processes: settings.workers,
      start: gatewayStarter('none', policy, settings.workers),
      prepare: plainPrepare(),
    },
  ];
  return list;
}

/**
 * The order of the run. The machine drifts (it is shared): every gateway scenario is
 * measured between two baseline runs and compared with their mean; the 1-worker gateway
 * runs before and after the multi-worker one, likewise.
 */
function plan(all: Scenario[]): Scenario[] {
  const want = new Set(settings.scenarios);
  const pick = (id: ScenarioId) => all.find((s) => s.id === id)!;
  const phases: Scenario[] = [];
  if (want.has('upstream')) phases.push(pick('upstream'));
  // (b2) is paired with the baseline runs around it, as the gateway rows are
  const gateways = (['baseline-h1', 'none', 'key-auth', 'jwt', 'hmac-auth', 'key-auth+rate-limiting'] as const).filter((id) => want.has(id));
  if (want.has('baseline')) phases.push(pick('baseline'));
  for (const id of gateways) {
    phases.push(pick(id));
    if (want.has('baseline')) phases.push(pick('baseline'));
  }
  if (want.has('workers')) phases.push(pick('workers-1'), pick('workers-n'), pick('workers-1'));
  return phases;
}

// ---------------------------------------------------------------------------- measuring

interface Measured {
  /** position in the run (0-based, counting on across rounds) */
  phase: number;
  /** the round it belongs to (0-based) */
  round: number;
  id: ScenarioId;
  label: string;
  title: string;
  server: string;
  rps: number;
  requests: number;
  latencyMs: PhaseResult['latencyMs'];
  /** CPU time (user + system) of the server under test, all its processes, per request, µs */
  serverCpuUsPerReq?: number;
  /** % of one core used by the server under test */
  serverCpuPct?: number;
  /** upstream CPU per request, µs (the upstream serves every scenario alike) */
  upstreamCpuUsPerReq?: number;
  /** % of one core used by the load generator */
  loadCpuPct: number;
  warmupRequests: number;
  /** false when BENCH_WARMUP_MAX ended the warm-up before BENCH_WARMUP_REQUESTS */
  warmupComplete: boolean;
}

function statsDelta(before: UpstreamStats, after: UpstreamStats) {
  return { requests: after.requests - before.requests, bearer: after.bearer - before.bearer, leaked: after.leaked - before.leaked };
}

function checkDelta(srv: Child, phase: string, s: Scenario, delta: ReturnType<typeof statsDelta>, answered: number): void {
  if (delta.requests !== answered) fail(`${srv.name}: ${phase}: upstream counted ${delta.requests} requests, the load generator got ${answered} answers`);
  const wantBearer = s.authenticated ? answered : 0;
  if (delta.bearer !== wantBearer) fail(`${srv.name}: ${phase}: ${delta.bearer} of ${answered} upstream requests carried a Bearer token (expected ${wantBearer})`);
  if (delta.leaked !== 0) fail(`${srv.name}: ${phase}: ${delta.leaked} upstream requests carried the edge credential`);
}

/** A server under test, started, probed and warmed up once, then measured in every round. */
interface Live {
  srv: Child;
  prepared: Prepared;
  warmed: number;
  warmComplete: boolean;
}

function loadOptions(srv: Child, prepared: Prepared) {
  const expected = prepared.expected;
  const check: ResponseCheck = (status, body) => (status !== 200 ? 'expected status 200' : body === expected ? undefined : `expected ${expected}`);
  return { host: HOST, port: srv.port, connections: settings.connections, next: prepared.next, check };
}

/** the highest req/s a server has answered so far (it sizes what ready() makes) */
const peakRps = new WeakMap<Prepared, number>();

/** One load phase, the requests it will need made first (Prepared.ready), untimed. */
async function loadPhase(prepared: Prepared, options: ReturnType<typeof loadOptions> & { durationMs: number; stopOnError?: boolean }): Promise<PhaseResult> {
  if (prepared.ready !== undefined) {
    const rps = peakRps.get(prepared) ?? 20_000;
    prepared.ready(Math.ceil((rps * 1.25 * options.durationMs) / 1000) + 1_000);
  }
  const result = await runPhase(options);
  if (result.rps > (peakRps.get(prepared) ?? 0)) peakRps.set(prepared, result.rps);
  return result;
}

/** Probes and warms up a freshly started server. */
async function warmUp(s: Scenario, srv: Child, upstream: Child): Promise<Live> {
  const prepared = await s.prepare(srv, upstream);
  const common = loadOptions(srv, prepared);

  // Warm-up until the JIT has seen enough requests (each process of the server), at least
  // BENCH_WARMUP seconds, at most BENCH_WARMUP_MAX: on a slow or busy machine a fixed time
  // would leave a larger code base (the gateway) less optimized than a small one.
  const warmTarget = settings.warmupRequests * (s.processes ?? 1);
  const warmStart = performance.now();
  let warmed = 0;
  let warmComplete = false;
  for (;;) {
    const w0 = await upstreamStats(upstream);
    const chunk = await loadPhase(prepared, { ...common, durationMs: Math.min(1000, settings.warmupSec * 1000), stopOnError: true });
    if (chunk.errors > 0) fail(`${srv.name}: ${s.id}: a warm-up response failed its check:\n  ${chunk.firstError}`);
    checkDelta(srv, 'warm-up', s, statsDelta(w0, await upstreamStats(upstream)), chunk.requests);
    warmed += chunk.ok;
    const elapsed = performance.now() - warmStart;
    warmComplete = warmed >= warmTarget;
    if ((warmComplete && elapsed >= settings.warmupSec * 1000) || elapsed >= settings.warmupMaxSec * 1000) break;
  }
  return { srv, prepared, warmed, warmComplete };
}

/** One measured run of a warmed-up server. */
async function measure(s: Scenario, live: Live, upstream: Child, phase: number, round: number): Promise<Measured> {
  const { srv, prepared } = live;
  const common = loadOptions(srv, prepared);
  if (round > 0 && settings.rewarmSec > 0) {
    // the server sat idle while the others took their turns (V8 shrinks the heap and may
    // flush code meanwhile): a short checked load first, so no server is measured cold
    const r0 = await upstreamStats(upstream);
    const again = await loadPhase(prepared, { ...common, durationMs: settings.rewarmSec * 1000, stopOnError: true });
    if (again.errors > 0) fail(`${srv.name}: ${s.id}: a re-warm response failed its check:\n  ${again.firstError}`);
    checkDelta(srv, 're-warm', s, statsDelta(r0, await upstreamStats(upstream)), again.requests);
  }
  const m0 = await upstreamStats(upstream);
  const niced = setLoadPriority(settings.nice);
  const cpu0 = treeCpuSeconds(srv.child.pid);
  const up0 = srv === upstream ? undefined : treeCpuSeconds(upstream.child.pid);
  const run = await loadPhase(prepared, { ...common, durationMs: settings.durationSec * 1000 });
  const cpu1 = treeCpuSeconds(srv.child.pid);
  const up1 = srv === upstream ? undefined : treeCpuSeconds(upstream.child.pid);
  if (niced) setLoadPriority(0);
  if (run.errors > 0) fail(`${srv.name}: ${s.id}: ${run.errors} of ${run.requests + run.errors} measured requests failed; first:\n  ${run.firstError}`);
  checkDelta(srv, 'measurement', s, statsDelta(m0, await upstreamStats(upstream)), run.requests);

  const perReq = (a?: number, b?: number) => (a !== undefined && b !== undefined && run.ok > 0 ? ((b - a) * 1e6) / run.ok : undefined);
  return {
    phase,
    round,
    id: s.id,
    label: s.label,
    title: s.title,
    server: srv.ready.server,
    rps: run.rps,
    requests: run.ok,
    latencyMs: run.latencyMs,
    serverCpuUsPerReq: perReq(cpu0, cpu1),
    serverCpuPct: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / (run.elapsedMs / 1000)) * 100 : undefined,
    upstreamCpuUsPerReq: srv === upstream ? perReq(cpu0, cpu1) : perReq(up0, up1),
    loadCpuPct: run.loadCpuPct,
    warmupRequests: live.warmed,
    warmupComplete: live.warmComplete,
  };
}

let niceFailed = false;
/** Renices this process (the load generator); false when it could not. */
function setLoadPriority(nice: number): boolean {
  if (settings.nice === 0) return false;
  try {
    if (getPriority(0) !== nice) setPriority(0, nice);
    return true;
  } catch {
    niceFailed = true;
    return false;
  }
}

// ---------------------------------------------------------------------------- report

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const fmtX = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : `${n.toFixed(2)}×`);
const fmtPct = (n: number | undefined) => (n === undefined ? '-' : `${Math.round(n)}%`);

function table(rows: string[][], rightAligned: boolean[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  cpu?: number;
}

function mean(xs: Array<number | undefined>): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length === 0 ? undefined : v.reduce((a, x) => a + x, 0) / v.length;
}

/** The mean of some runs (percentiles: the mean of each run's percentile). */
function figures(runs: Measured[]): Figures | undefined {
  if (runs.length === 0) return undefined;
  return {
    rps: mean(runs.map((m) => m.rps))!,
    p50: mean(runs.map((m) => m.latencyMs.p50))!,
    p99: mean(runs.map((m) => m.latencyMs.p99))!,
    cpu: mean(runs.map((m) => m.serverCpuUsPerReq)),
  };
}

interface Ratios {
  rps?: number;
  p50?: number;
  p99?: number;
  cpu?: number;
}

function ratios(m: Figures, ref: Figures | undefined): Ratios {
  if (ref === undefined) return {};
  return {
    rps: m.rps / ref.rps,
    p50: m.p50 / ref.p50,
    p99: m.p99 / ref.p99,
    cpu: m.cpu !== undefined && ref.cpu !== undefined ? m.cpu / ref.cpu : undefined,
  };
}

/** One line of the report: a scenario's runs, their mean, and what it is compared with. */
interface Row {
  id: ScenarioId;
  label: string;
  title: string;
  runs: Measured[];
  /** the mean of its runs */
  figures: Figures;
  /** the mean of the baseline runs it is compared with */
  reference?: Figures;
  referenceRuns: number[];
  /** the median over its runs of each run's ratio to the baseline runs right around it (or to the mean of all) */
  ratio: Ratios;
  /** each run's req/s ratio, in order */
  rpsRatios: number[];
  upstreamCpu?: number;
  serverCpuPct?: number;
  loadCpuPct: number;
}

const ROW_ORDER: ScenarioId[] = ['upstream', 'baseline-h1', 'baseline', 'none', 'key-auth', 'jwt', 'hmac-auth', 'key-auth+rate-limiting', 'workers-1', 'workers-n'];

function median(xs: Array<number | undefined>): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}

/** The runs of `refs` right before and right after `run` (by phase); all of them when there are none. */
function around(run: Measured, refs: Measured[]): Measured[] {
  const before = refs.filter((b) => b.phase < run.phase).at(-1);
  const after = refs.find((b) => b.phase > run.phase);
  const adjacent = [before, after].filter((b): b is Measured => b !== undefined);
  return adjacent.length > 0 ? adjacent : refs;
}

/** Each run against its neighbours among `refs`; the median of those ratios, figure by figure. */
function pairedRatios(runs: Measured[], refs: Measured[]): { ratio: Ratios; rps: number[]; used: Measured[] } {
  const each = runs.map((run) => ratios(figures([run])!, figures(around(run, refs))));
  const used = new Set(runs.flatMap((run) => around(run, refs)));
  return {
    ratio: { rps: median(each.map((r) => r.rps)), p50: median(each.map((r) => r.p50)), p99: median(each.map((r) => r.p99)), cpu: median(each.map((r) => r.cpu)) },
    rps: each.map((r) => r.rps!),
    used: refs.filter((b) => used.has(b)),
  };
}

function rowsOf(results: Measured[]): Row[] {
  const baselines = results.filter((m) => m.id === 'baseline');
  const rows: Row[] = [];
  for (const id of ROW_ORDER) {
    const runs = results.filter((m) => m.id === id);
    if (runs.length === 0) continue;
    // gateway scenarios: each run against the baseline runs right before and after it;
    // the rest (upstream, baseline, workers): their mean against the mean of every baseline run
    const gateway = id !== 'upstream' && id !== 'baseline' && id !== 'workers-1' && id !== 'workers-n';
    const f = figures(runs)!;
    let ratio: Ratios = {};
    let rpsRatios: number[] = [];
    let refRuns = baselines;
    if (gateway && baselines.length > 0) {
      const paired = pairedRatios(runs, baselines);
      ratio = paired.ratio;
      rpsRatios = paired.rps;
      refRuns = paired.used;
    } else {
      ratio = ratios(f, figures(baselines));
    }
    rows.push({
      id,
      label: runs[0]!.label,
      title: runs[0]!.title,
      runs,
      figures: f,
      reference: figures(refRuns),
      referenceRuns: refRuns.map((b) => b.phase),
      ratio,
      rpsRatios,
      upstreamCpu: mean(runs.map((m) => m.upstreamCpuUsPerReq)),
      serverCpuPct: mean(runs.map((m) => m.serverCpuPct)),
      loadCpuPct: mean(runs.map((m) => m.loadCpuPct))!,
    });
  }
  return rows;
}

interface Goal {
  name: string;
  target: number;
  /** req/s ratio, the figure the goal is judged on */
  value?: number;
  met?: boolean;
  /** the same comparison in CPU per request: the req/s ratio where the server itself is the bottleneck */
  cpuBased?: number;
  /** the req/s ratio of each round */
  perRun?: number[];
  note?: string;
}

function goals(rows: Row[]): Goal[] {
  const out: Goal[] = [];
  const by = (id: ScenarioId) => rows.find((r) => r.id === id);
  const judge = (name: string, target: number, r: Row | undefined) => {
    if (!r || r.ratio.rps === undefined) return out.push({ name, target, note: 'not measured (needs the scenario and the baseline)' });
    out.push({ name, target, value: r.ratio.rps, met: r.ratio.rps >= target, cpuBased: r.ratio.cpu === undefined ? undefined : 1 / r.ratio.cpu, perRun: r.rpsRatios });
  };
  judge('no plugins (c)', GOAL_NO_PLUGINS, by('none'));
  judge('key-auth + rate-limiting (g)', GOAL_AUTH, by('key-auth+rate-limiting'));
  judge('key-auth (d)', GOAL_AUTH, by('key-auth'));
  judge('jwt (e)', GOAL_AUTH, by('jwt'));
  judge('hmac-auth (f)', GOAL_AUTH, by('hmac-auth'));
  const w1 = by('workers-1');
  const wn = by('workers-n');
  if (w1 && wn) {
    // each N-worker run against the 1-worker runs right around it, as the gateway rows against the baseline
    const paired = pairedRatios(wn.runs, w1.runs);
    const value = paired.ratio.rps!;
    out.push({
      name: `${settings.workers} workers ÷ 1 worker (h)`,
      target: GOAL_WORKERS,
      value,
      met: value >= GOAL_WORKERS,
      cpuBased: paired.ratio.cpu === undefined ? undefined : settings.workers / paired.ratio.cpu,
      perRun: paired.rps,
      note: `CPU-based projection: ${settings.workers} × (1-worker CPU µs/req ÷ ${settings.workers}-worker CPU µs/req), the scaling when every worker has a core of its own`,
    });
  }
  return out;
}

function spread(runs: Measured[]): string {
  const rps = runs.map((m) => m.rps);
  const lo = Math.min(...rps);
  const hi = Math.max(...rps);
  return `${rps.map(fmtInt).join(' · ')} req/s (spread ${(((hi - lo) / lo) * 100).toFixed(0)}%)`;
}

function report(results: Measured[], policy: string, versions: Record<string, string>): { rows: Row[]; goals: Goal[] } {
  const rows = rowsOf(results);
  const header = ['', 'scenario', 'req/s', 'req/s ×', 'p50 ms', 'p50 ×', 'p99 ms', 'p99 ×', 'CPU µs/req', 'CPU ×', 'server CPU', 'upstream µs/req', 'loadgen CPU'];
  const lines: string[][] = [header];
  let saturated = false;
  for (const r of rows) {
    if (r.runs.some((m) => m.loadCpuPct >= 90)) saturated = true;
    const f = r.figures;
    const runs = r.runs.length > 1 ? ` (${r.runs.length} runs)` : '';
    lines.push([
      r.label,
      r.title + runs,
      fmtInt(f.rps),
      fmtX(r.ratio.rps),
      fmtMs(f.p50),
      fmtX(r.ratio.p50),
      fmtMs(f.p99),
      fmtX(r.ratio.p99),
      f.cpu === undefined ? '-' : fmtInt(f.cpu),
      fmtX(r.ratio.cpu),
      fmtPct(r.serverCpuPct),
      r.upstreamCpu === undefined ? '-' : fmtInt(r.upstreamCpu),
      fmtPct(r.loadCpuPct),
    ]);
  }
  const cpuCount = availableParallelism();
  console.log('');
  console.log(
    `Drawbridge gateway ${versions.drawbridge ?? '-'} vs a minimal undici ${versions.undici ?? ''} proxy · Node ${process.version} · ${cpuCount} CPU(s) (${cpus()[0]?.model.trim() ?? 'unknown'})`,
  );
  console.log(
    `GET ${REQUEST_PATH} · ${settings.connections} keep-alive connections · checked warm-up of each server once (≥ ${settings.warmupSec} s and ≥ ${fmtInt(settings.warmupRequests)} requests per server process, ≤ ${settings.warmupMaxSec} s) · ${settings.rounds} round(s) × ${settings.durationSec} s measured per server, one server loaded at a time · rate-limiting policy: ${policy}` +
      (settings.nice !== 0 ? ` · load generator at nice ${settings.nice}${niceFailed ? ' (renice FAILED)' : ''}` : ''),
  );
  console.log('');
  console.log(table(lines, [false, false, true, true, true, true, true, true, true, true, true, true, true]));
  console.log('');
  console.log('Figures: the mean of a row\'s runs. × columns: this row ÷ the BASELINE. For (b2) and (c)–(g), every run is divided by the baseline runs right before and after it, and the column shows the median of those ratios over the rounds; the other rows are compared with the mean of all baseline runs.');
  console.log('  req/s: higher is better; p50, p99 and CPU: lower is better.');
  console.log('CPU µs/req: CPU time (user + system) of the server under test, all its processes, per request: least disturbed by other load on the machine.');
  console.log("upstream µs/req: the upstream's CPU per request, the same work in every row (a yardstick of how loaded the machine was).");
  const baselines = results.filter((m) => m.id === 'baseline');
  if (baselines.length > 1) console.log(`baseline runs, in order: ${spread(baselines)}`);
  const ones = results.filter((m) => m.id === 'workers-1');
  if (ones.length > 1) console.log(`1-worker runs (before and after each ${settings.workers}-worker run): ${spread(ones)}`);
  const gs = goals(rows);
  console.log('');
  console.log('Goals, judged on req/s (the median of the rounds\' paired ratios). "CPU-bound": the same ratio computed from CPU µs/req, i.e. where the server under test, not the machine, is the bottleneck:');
  for (const g of gs) {
    if (g.value === undefined) {
      console.log(`  ${g.name.padEnd(30)} ≥ ${g.target.toFixed(2)}×  ${g.note}`);
      continue;
    }
    const cpu = g.cpuBased === undefined ? '' : `  (CPU-bound: ${g.cpuBased.toFixed(2)}×)`;
    const rounds = g.perRun !== undefined && g.perRun.length > 1 ? `  rounds: ${g.perRun.map((x) => x.toFixed(2)).join(' ')}` : '';
    console.log(`  ${g.name.padEnd(30)} ≥ ${g.target.toFixed(2)}×  ${g.value.toFixed(2)}×  ${g.met ? 'MET    ' : 'NOT MET'}${cpu}${rounds}`);
  }
  if (rows.some((r) => r.id === 'workers-n')) {
    console.log(
      `  workers: ${settings.workers} gateway workers need ${settings.workers} cores of their own; here the load generator and the upstream share the same ${cpuCount} CPU(s), so req/s cannot scale beyond what the machine has left. The CPU-bound figure for workers is ${settings.workers} × (1-worker CPU µs/req ÷ ${settings.workers}-worker CPU µs/req). bench/workers.ts measures the same with wrk and nginx (C load generator and upstream), which leave the workers more of the machine.`,
    );
  }
  const cold = results.filter((m) => !m.warmupComplete);
  if (cold.length > 0) {
    console.log(
      `Note: warm-up reached BENCH_WARMUP_MAX before ${fmtInt(settings.warmupRequests)} requests per process in ${cold.length} run(s) (${[...new Set(cold.map((m) => m.label))].join(' ')}): those figures include JIT warm-up.`,
    );
  }
  if (saturated) console.log('Note: the load generator used ≥ 90% of a core in some run: there req/s is a lower bound of what the server can do.');
  const load = loadavg()[0]!;
  if (load > cpuCount) console.log(`Note: the machine was busy (1-min load average ${load.toFixed(1)} on ${cpuCount} CPU(s)): req/s and latency are noisy; CPU µs/req holds up better.`);
  if (cpuCount < 4) console.log(`Note: ${cpuCount} CPU(s) shared by load generator, upstream and proxy: req/s ratios understate the proxy's own cost; see the CPU columns.`);
  if (settings.profile) console.log('Note: BENCH_PROFILE=1: the Drawbridge children ran under --cpu-prof, which slows them; do not quote these figures.');
  return { rows, goals: gs };
}

// ---------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const redisOk = settings.scenarios.includes('key-auth+rate-limiting') ? await redisAnswers(settings.redis) : false;
  const policy: 'redis' | 'local' = redisOk ? 'redis' : 'local';
  if (settings.scenarios.includes('key-auth+rate-limiting')) {
    process.stderr.write(`[gateway-bench] rate-limiting policy: ${policy}${redisOk ? ` (${settings.redis})` : ` (no Redis answered at ${settings.redis})`}\n`);
  }
  const order = plan(scenarioTable(policy));
  const results: Measured[] = [];
  const versions: Record<string, string> = {};
  const upstream = await startChild('upstream', 'upstream', []);
  // every server is started, probed and warmed up at its first turn and then kept for the
  // later rounds: a round measures them all within a minute or so, however slow start-up is
  const live = new Map<ScenarioId, Live>();
  const total = order.length * settings.rounds;
  try {
    for (let round = 0; round < settings.rounds; round++) {
      for (const s of order) {
        const phase = results.length;
        process.stderr.write(`[gateway-bench] ${phase + 1}/${total} round ${round + 1} ${s.label} ${s.title}…`);
        let turn = live.get(s.id);
        let srv = turn?.srv;
        try {
          if (turn === undefined) {
            srv = s.start ? await s.start(upstream) : upstream;
            if (srv.ready.server.startsWith('drawbridge')) versions.drawbridge = srv.ready.version;
            if (srv.ready.server === 'baseline') versions.undici = srv.ready.version;
            turn = await warmUp(s, srv, upstream);
            live.set(s.id, turn);
          }
          const m = await measure(s, turn, upstream, phase, round);
          results.push(m);
          process.stderr.write(` ${fmtInt(m.rps)} req/s, ${m.serverCpuUsPerReq === undefined ? '-' : fmtInt(m.serverCpuUsPerReq)} CPU µs/req\n`);
        } catch (err) {
          process.stderr.write(' failed\n');
          if (err instanceof BenchAbort && srv !== undefined && srv !== upstream) {
            const tail = srv.stderrTail();
            if (tail !== '') err.message += `\n--- ${srv.name} stderr (tail) ---\n${tail}`;
          }
          if (srv !== undefined && srv !== upstream && turn === undefined) await stopChild(srv);
          throw err;
        }
      }
    }
  } finally {
    for (const { srv } of live.values()) if (srv !== upstream) await stopChild(srv);
    await stopChild(upstream);
  }

  const { rows, goals: gs } = report(results, policy, versions);
  const out = {
    date: new Date().toISOString(),
    ...machineInfo(),
    load_average_at_start: loadAtStart,
    load_average_at_end: loadavg(),
    settings: {
      rounds: settings.rounds,
      duration_s: settings.durationSec,
      warmup_min_s: settings.warmupSec,
      warmup_requests_per_process: settings.warmupRequests,
      warmup_max_s: settings.warmupMaxSec,
      connections: settings.connections,
      workers: settings.workers,
      load_generator_nice: settings.nice,
      request: `GET ${REQUEST_PATH}`,
      rate_limiting_policy: policy,
      profiled: settings.profile,
    },
    versions,
    scenarios: rows.map((r) => ({
      id: r.id,
      title: r.title,
      runs: r.runs.length,
      rps: r.figures.rps,
      p50_ms: r.figures.p50,
      p99_ms: r.figures.p99,
      cpu_us_per_req: r.figures.cpu ?? null,
      upstream_cpu_us_per_req: r.upstreamCpu ?? null,
      ratio_to_baseline: r.ratio,
      baseline_runs_compared: r.referenceRuns,
    })),
    goals: gs,
    all_goals_met: gs.every((g) => g.met === true),
    runs: results,
    total_runtime_s: Math.round((Date.now() - started) / 100) / 10,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(RESULTS_DIR + 'gateway-latest.json', JSON.stringify(out, null, 2) + '\n');
  console.log('');
  console.log(`Written: ${RESULTS_DIR}gateway-latest.json (${out.total_runtime_s} s in all)`);
  if (settings.profile) console.log(`CPU profiles: ${PROFILE_DIR}/ (summarise one with: node dist/bench/profile-summary.js FILE)`);
}

main().catch((err: unknown) => {
  if (err instanceof BenchAbort) console.error(`\nGATEWAY BENCH ABORTED: ${err.message}`);
  else console.error('\nGATEWAY BENCH FAILED:', err);
  process.exit(1);
});
