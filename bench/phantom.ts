// The phantom-token benchmark (issue #5): what an opaque-token route costs at the gateway,
// side by side with the baseline proxy and key-auth, and how fast a revocation at the auth
// server reaches every gateway process. Prints a table and writes
// bench/results/phantom-latest.json. See bench/PHANTOM.md.
//
//   (b) baseline      the gateway bench's minimal undici proxy (bench/gateway/baseline.ts)
//   (d) key-auth      the gateway + key-auth (bench/gateway/drawbridge.ts, as in the gateway bench)
//   (p) phantom       the gateway + oauth2-introspection, cache warm: opaque client_credentials
//                     tokens (a pool of 64) from an auth server in ANOTHER process; the
//                     gateway runs alone in its process (`--only gateway` on shared storage)
//   (s) session       the gateway + oidc-login with a live session (cookie → shared Redis
//                     session store per request): the cookie comes from a real sign-in
//                     through the gateway in Chromium (playwright-core; row skipped without it)
//   (r) revocation    two gateway processes + the auth server over Redis pub/sub: per token,
//                     both gateways have it cached, it is revoked (RFC 7009), and each
//                     gateway is polled until its first 401; p50/p99 of the delay from the
//                     revocation response
// Between the gateways and /oauth2/introspect sits a counting relay in this process: the
// measured phase of (p) must make no introspection call at all (the hot path never calls
// the auth server per request). Each server is started, probed and warmed up once; then
// BENCH_ROUNDS rounds each run baseline, key-auth, baseline, phantom, baseline, session,
// baseline, every run compared with the baseline runs right before and after it, and a
// row's ratio is the median of those paired ratios over the rounds.
//
// Environment:
//   BENCH_ROUNDS        rounds of the throughput rows (default 4)
//   BENCH_DURATION      seconds measured per throughput row and round (default 3)
//   BENCH_WARMUP        least seconds of checked warm-up, once per server (default 1.5)
//   BENCH_WARMUP_REQUESTS  … and least requests (default 6000)
//   BENCH_WARMUP_MAX    most seconds of warm-up (default 8)
//   BENCH_REWARM        seconds of checked, unmeasured load before each run after the first round (default 1)
//   BENCH_CONNECTIONS   concurrent keep-alive connections (default 32)
//   BENCH_REVOCATIONS   tokens revoked in (r) (default 100, at least 50)
//   BENCH_POLL_MS       pause between two polls of one gateway in (r) (default 1)
//   BENCH_SCENARIOS     some of baseline,key-auth,phantom,session,revocation (default all)
//   BENCH_PROFILE       1: the Drawbridge gateway and auth children write V8 CPU profiles to
//                       bench/results/profiles/phantom/ (summarise: node dist/bench/profile-summary.js FILE)
//   BENCH_REDIS         Redis for events and sessions: a redis:// URL, or `private` (default): a
//                       redis-server of the bench's own on a free port (when the binary exists,
//                       else redis://127.0.0.1:6379), so other tenants' events on the shared
//                       `drawbridge:events` channel cannot flush the gateways' caches mid-run
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { BenchAbort, freePort, machineInfo, numberEnv, processCpuSeconds, redisPong, spawnReady, stopChildProcess } from './child.js';
import { runPhase, type PhaseResult, type RequestSpec } from './load.js';
import { API_KEY, REQUEST_PATH, ROUTE_PREFIX, SERVICE_NAME, STATS_PATH, UPSTREAM_BODY, type GatewayReady, type UpstreamStats } from './gateway/common.js';

// ---------------------------------------------------------------------------- settings

function fail(message: string): never {
  throw new BenchAbort(message);
}

const SELECTABLE = ['baseline', 'key-auth', 'phantom', 'session', 'revocation'] as const;
type Selectable = (typeof SELECTABLE)[number];

function selected(): Set<Selectable> {
  const raw = process.env.BENCH_SCENARIOS;
  if (raw === undefined || raw.trim() === '') return new Set(SELECTABLE);
  const picked = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const p of picked) if (!SELECTABLE.includes(p as Selectable)) fail(`BENCH_SCENARIOS: unknown "${p}"; expected some of ${SELECTABLE.join(', ')}`);
  return new Set(picked as Selectable[]);
}

const settings = {
  rounds: Math.round(numberEnv('BENCH_ROUNDS', 4, 1)),
  durationSec: numberEnv('BENCH_DURATION', 3, 0.5),
  warmupSec: numberEnv('BENCH_WARMUP', 1.5, 0.2),
  warmupRequests: Math.round(numberEnv('BENCH_WARMUP_REQUESTS', 6000, 0)),
  warmupMaxSec: numberEnv('BENCH_WARMUP_MAX', 8, 0.2),
  rewarmSec: numberEnv('BENCH_REWARM', 1, 0),
  connections: Math.round(numberEnv('BENCH_CONNECTIONS', 32, 1)),
  revocations: Math.round(numberEnv('BENCH_REVOCATIONS', 100, 50)),
  pollMs: numberEnv('BENCH_POLL_MS', 1, 0),
  redis: process.env.BENCH_REDIS || 'private',
  scenarios: selected(),
};

const HOST = '127.0.0.1';
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const TOKEN_POOL = 64;
/** p99 goal of the revocation delay (issue #5); the requirement is every one under 1 s */
const GOAL_P99_MS = 100;
const LIMIT_MS = 1000;

const SVC = { id: 'bench-phantom-svc', secret: 'bench-phantom-svc-secret-9c1e4b7a2d05f8e36b1a' };
const GW = { id: 'bench-phantom-gateway', secret: 'bench-phantom-gateway-secret-4e8b2c6a1f7d903e' };
const WEB = { id: 'bench-web', secret: 'bench-web-secret-7a3c9e1f5b2d8046c1e9a7f3b5d2' };
const USER = { name: 'bench-user', password: 'bench user password 0123456789' };
const SESSION_COOKIE = 'drawbridge_session';
const CHROMIUM_PATH = process.env.DRAWBRIDGE_TEST_CHROMIUM || '/usr/bin/chromium';
const MASTER_SECRET = 'bench-phantom-master-secret-0123456789abcdef-fedcba9876543210';

// ---------------------------------------------------------------------------- children

interface Child {
  name: string;
  ready: GatewayReady;
  port: number;
  child: ChildProcess;
  stderrTail(): string;
}

async function startChild(name: string, script: string, args: string[], fixedPort?: number): Promise<Child> {
  const port = fixedPort ?? (await freePort(HOST));
  const file = fileURLToPath(new URL(`./${script}.js`, import.meta.url));
  // BENCH_PROFILE=1: every child but the baseline and the upstream writes a V8 CPU profile
  const profiled = process.env.BENCH_PROFILE === '1' && script.startsWith('phantom/');
  const nodeArgs = profiled ? ['--cpu-prof', '--cpu-prof-dir', fileURLToPath(new URL('../../bench/results/profiles/phantom/', import.meta.url))] : [];
  const { child, ready, stderrTail } = await spawnReady<GatewayReady>(name, file, port, args, nodeArgs);
  return { name, ready, port, child, stderrTail };
}

const stopChild = (c: Child) => stopChildProcess(c.child, 15_000);

// ---------------------------------------------------------------------------- HTTP

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });

function send(port: number, spec: RequestSpec, agent: Agent | false = keepAlive): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HOST, port, method: spec.method, path: spec.path, headers: spec.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(spec.body);
  });
}

const GET = (headers: Record<string, string> = {}): RequestSpec => ({ method: 'GET', path: REQUEST_PATH, headers: { accept: 'application/json', ...headers } });

function form(path: string, fields: Record<string, string>, client: { id: string; secret: string }): RequestSpec {
  const body = Buffer.from(new URLSearchParams(fields).toString());
  return {
    method: 'POST',
    path,
    headers: {
      authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': body.length,
    },
    body,
  };
}

async function opaqueToken(auth: Child): Promise<string> {
  const reply = await send(auth.port, form('/oauth2/token', { grant_type: 'client_credentials', scope: 'api:read' }, SVC));
  if (reply.status !== 200) fail(`token request → ${reply.status}: ${reply.body.slice(0, 300)}`);
  const token = (JSON.parse(reply.body) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string' || token.includes('.')) fail(`expected an opaque access token, got ${String(token).slice(0, 40)}`);
  return token;
}

async function revoke(auth: Child, token: string): Promise<void> {
  const reply = await send(auth.port, form('/oauth2/revoke', { token, token_type_hint: 'access_token' }, SVC));
  if (reply.status !== 200) fail(`revocation → ${reply.status}: ${reply.body.slice(0, 300)}`);
}

async function upstreamStats(upstream: Child): Promise<UpstreamStats> {
  const reply = await send(upstream.port, { method: 'GET', path: STATS_PATH, headers: {} });
  if (reply.status !== 200) fail(`upstream: GET ${STATS_PATH} → ${reply.status}`);
  return JSON.parse(reply.body) as UpstreamStats;
}

// ---------------------------------------------------------------------------- Redis

interface BenchRedis {
  url: string;
  kind: 'private' | 'given';
  stop(): Promise<void>;
}

/** A private redis-server (when installed and asked for), else the URL given / the local default. */
async function benchRedis(): Promise<BenchRedis> {
  const none = async () => undefined;
  if (settings.redis !== 'private') return { url: settings.redis, kind: 'given', stop: none };
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write('[phantom-bench] no redis-server binary: using redis://127.0.0.1:6379 (shared)\n');
    return { url: 'redis://127.0.0.1:6379', kind: 'given', stop: none };
  }
  const port = await freePort(HOST);
  const child = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const until = Date.now() + 10_000;
  while (!(await redisPong(port))) {
    if (Date.now() > until || child.exitCode !== null) fail(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://${HOST}:${port}`, kind: 'private', stop: () => stopChildProcess(child, 5_000) };
}

/** Counts messages on the gateways' event channel (a subscriber connection of its own). */
async function countEvents(url: string): Promise<{ readonly count: number; close(): void }> {
  const { Redis } = await import('ioredis');
  const sub = new Redis(url, { maxRetriesPerRequest: 1 });
  sub.on('error', () => undefined);
  let count = 0;
  sub.on('message', () => count++);
  await sub.subscribe('drawbridge:events');
  return {
    get count() {
      return count;
    },
    close: () => sub.disconnect(),
  };
}

// ---------------------------------------------------------------------------- the relay

interface Relay {
  url: string;
  calls: number;
  /** ms each relayed call took at the auth server (as seen from the relay) */
  durationsMs: number[];
  target: string;
  close(): Promise<void>;
}

/** Counts introspection calls and forwards them verbatim to the auth server. */
async function startRelay(): Promise<Relay> {
  const server: Server = createServer(async function relayIntrospection(req, res) {
    relay.calls++;
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    try {
      const answer = await fetch(relay.target, { method: 'POST', headers, body: Buffer.concat(chunks) });
      const payload = Buffer.from(await answer.arrayBuffer());
      relay.durationsMs.push(performance.now() - t0);
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json', 'content-length': payload.length });
      res.end(payload);
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const relay: Relay = {
    url: `http://${HOST}:${(server.address() as AddressInfo).port}/introspect`,
    calls: 0,
    durationsMs: [],
    target: '',
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return relay;
}

// ---------------------------------------------------------------------------- the cluster config

/**
 * The config files: one for the auth child and the phantom gateways (oauth2-introspection on
 * the bench route), one for the session gateway (oidc-login on the same route, its callback
 * on `sessionPort`). Each child sets its own listen address.
 */
function writeConfigs(dir: string, issuer: string, upstreamUrl: string, relay: Relay, redis: string, sessionPort: number): { phantom: string; session: string } {
  const base = {
    issuer,
    storage: `sqlite:${join(dir, 'drawbridge.db')}`,
    redis,
    secret: MASTER_SECRET,
    keys: { algorithm: 'ES256' },
    log: { level: 'silent' },
    auth: {
      listen: '127.0.0.1:0', // each child sets its own
      access_token_ttl: '10m',
      users: [{ username: USER.name, password: USER.password, claims: { name: 'Bench User', email: 'bench@example.com' } }],
      clients: [
        { client_id: SVC.id, client_secret: SVC.secret, grant_types: ['client_credentials'], scopes: ['api:read'] },
        { client_id: GW.id, client_secret: GW.secret, grant_types: ['client_credentials'], scopes: ['introspect'] },
        {
          client_id: WEB.id,
          client_secret: WEB.secret,
          redirect_uris: [`http://${HOST}:${sessionPort}/_drawbridge/callback`],
          grant_types: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'profile', 'email'],
          consent: 'skip',
        },
      ],
    },
  };
  const gateway = (plugin: Record<string, unknown>) => ({
    ...base,
    gateway: {
      listen: '127.0.0.1:0',
      services: [{ name: SERVICE_NAME, url: upstreamUrl, routes: [{ paths: [ROUTE_PREFIX], strip_path: false }], plugins: [plugin] }],
    },
  });
  const phantom = join(dir, 'phantom.json');
  writeFileSync(
    phantom,
    JSON.stringify(gateway({ name: 'oauth2-introspection', config: { issuer, client_id: GW.id, client_secret: GW.secret, introspection_endpoint: relay.url } })),
  );
  const session = join(dir, 'session.json');
  writeFileSync(
    session,
    JSON.stringify(gateway({ name: 'oidc-login', config: { issuer, client_id: WEB.id, client_secret: WEB.secret, scopes: ['openid', 'profile', 'email'] } })),
  );
  return { phantom, session };
}

/** A real sign-in through the session gateway in Chromium; returns the session cookie's value. */
async function signInWithChromium(gateway: Child, issuer: string): Promise<string> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://${HOST}:${gateway.port}${REQUEST_PATH}`);
    if (!page.url().startsWith(issuer)) fail(`${gateway.name}: expected the login page at ${issuer}, at ${page.url()}`);
    await page.getByLabel('Username').fill(USER.name);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.port === String(gateway.port) && u.pathname === REQUEST_PATH, { timeout: 15_000 });
    const cookie = (await context.cookies(`http://${HOST}:${gateway.port}`)).find((c) => c.name === SESSION_COOKIE);
    if (cookie === undefined) fail(`${gateway.name}: no ${SESSION_COOKIE} cookie after signing in`);
    return cookie.value;
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------- throughput

interface Measured {
  /** position among the throughput runs, counting on across rounds */
  phase: number;
  round: number;
  id: 'baseline' | 'key-auth' | 'phantom' | 'session';
  label: string;
  title: string;
  rps: number;
  requests: number;
  latencyMs: PhaseResult['latencyMs'];
  serverCpuUsPerReq?: number;
  serverCpuPct?: number;
  upstreamCpuUsPerReq?: number;
  /** CPU the auth server used during the measured phase (phantom: should be ~0) */
  authCpuMs?: number;
  /** gateway events (each flushes the internal-token cache) seen on Redis while measured */
  eventsMeasured?: number;
  /** introspection calls during probes + warm-up, and during the measured phase */
  introspections?: { warmup: number; measured: number };
  loadCpuPct: number;
  warmupComplete: boolean;
}

async function expectStatus(srv: Child, what: string, spec: RequestSpec, status: number, body?: string): Promise<Reply> {
  const reply = await send(srv.port, spec, false);
  if (reply.status !== status || (body !== undefined && reply.body !== body)) {
    fail(`${srv.name}: ${what}: expected ${status}${body ? ` with ${body}` : ''}, got ${reply.status}: ${reply.body.slice(0, 300)}`);
  }
  return reply;
}

/** The internal JWT upstream received last, verified with jose against the issuer's keys. */
async function verifyInternalToken(srv: Child, upstream: Child, jwks: JSONWebKeySet, issuer: string, authMethod: string): Promise<void> {
  const header = (await upstreamStats(upstream)).lastBearer;
  if (header === null) fail(`${srv.name}: upstream received no Bearer token`);
  try {
    const { payload } = await jwtVerify(header.slice(7), createLocalJWKSet(jwks), { issuer, audience: SERVICE_NAME, typ: 'at+jwt', algorithms: ['ES256'] });
    if (payload.auth_method !== authMethod) fail(`auth_method ${String(payload.auth_method)}, expected ${authMethod}`);
  } catch (err) {
    fail(`${srv.name}: the internal token upstream received does not verify: ${(err as Error).message}`);
  }
}

interface Row {
  id: Measured['id'];
  label: string;
  title: string;
  authenticated: boolean;
  start(): Promise<Child>;
  /** probes; returns what the load sends */
  prepare(srv: Child): Promise<(n: number) => RequestSpec>;
}

/** A server of a throughput row, probed and warmed up once, then measured in every round. */
interface Live {
  srv: Child;
  next: (n: number) => RequestSpec;
  /** introspection calls during its probes and warm-up */
  warmupIntrospections: number;
  warmComplete: boolean;
}

function loadOptions(row: Row, srv: Child, next: (n: number) => RequestSpec) {
  const expected = row.authenticated ? UPSTREAM_BODY.bearer : UPSTREAM_BODY.plain;
  const check = (status: number, body: string) => (status !== 200 ? 'expected status 200' : body === expected ? undefined : `expected ${expected}`);
  return { host: HOST, port: srv.port, connections: settings.connections, next, check };
}

/** The upstream counted exactly the answers, each with the internal JWT (when it should) and no edge credential. */
function upstreamChecker(row: Row, srv: Child, upstream: Child) {
  return async (before: UpstreamStats, answered: number, what: string) => {
    const after = await upstreamStats(upstream);
    if (after.requests - before.requests !== answered) fail(`${srv.name}: ${what}: upstream counted ${after.requests - before.requests}, answers ${answered}`);
    const bearer = after.bearer - before.bearer;
    if (bearer !== (row.authenticated ? answered : 0)) fail(`${srv.name}: ${what}: ${bearer} of ${answered} upstream requests carried the internal JWT`);
    if (after.leaked !== before.leaked) fail(`${srv.name}: ${what}: an edge credential reached upstream`);
  };
}

/** Probes and warms up a freshly started server. */
async function warmUp(row: Row, srv: Child, upstream: Child, relay?: Relay): Promise<Live> {
  const relay0 = relay?.calls ?? 0;
  const next = await row.prepare(srv);
  const common = loadOptions(row, srv, next);
  const checkDelta = upstreamChecker(row, srv, upstream);
  const warmStart = performance.now();
  let warmed = 0;
  let warmComplete = false;
  for (;;) {
    const s0 = await upstreamStats(upstream);
    const chunk = await runPhase({ ...common, durationMs: Math.min(1000, settings.warmupSec * 1000), stopOnError: true });
    if (chunk.errors > 0) fail(`${srv.name}: a warm-up response failed its check:\n  ${chunk.firstError}`);
    await checkDelta(s0, chunk.requests, 'warm-up');
    warmed += chunk.ok;
    const elapsed = performance.now() - warmStart;
    warmComplete = warmed >= settings.warmupRequests;
    if ((warmComplete && elapsed >= settings.warmupSec * 1000) || elapsed >= settings.warmupMaxSec * 1000) break;
  }
  return { srv, next, warmupIntrospections: (relay?.calls ?? 0) - relay0, warmComplete };
}

/** One measured run of a warmed-up server. */
async function measure(row: Row, live: Live, upstream: Child, phase: number, round: number, auth?: Child, relay?: Relay, events?: { readonly count: number }): Promise<Measured> {
  const { srv } = live;
  const common = loadOptions(row, srv, live.next);
  const checkDelta = upstreamChecker(row, srv, upstream);
  if (round > 0 && settings.rewarmSec > 0) {
    // the server sat idle while the others took their turns: a short checked load first, so
    // no server is measured cold (and any cache entry that lapsed meanwhile is refilled)
    const r0 = await upstreamStats(upstream);
    const again = await runPhase({ ...common, durationMs: settings.rewarmSec * 1000, stopOnError: true });
    if (again.errors > 0) fail(`${srv.name}: a re-warm response failed its check:\n  ${again.firstError}`);
    await checkDelta(r0, again.requests, 're-warm');
  }
  const relay1 = relay?.calls ?? 0;
  const s0 = await upstreamStats(upstream);
  const cpu0 = processCpuSeconds(srv.child.pid);
  const up0 = processCpuSeconds(upstream.child.pid);
  const auth0 = processCpuSeconds(auth?.child.pid);
  const ev0 = events?.count;
  const run = await runPhase({ ...common, durationMs: settings.durationSec * 1000 });
  const cpu1 = processCpuSeconds(srv.child.pid);
  const up1 = processCpuSeconds(upstream.child.pid);
  const auth1 = processCpuSeconds(auth?.child.pid);
  const ev1 = events?.count;
  if (run.errors > 0) fail(`${srv.name}: ${run.errors} measured requests failed; first:\n  ${run.firstError}`);
  await checkDelta(s0, run.requests, 'measurement');
  const relay2 = relay?.calls ?? 0;
  if (relay !== undefined && relay2 !== relay1) {
    fail(`${srv.name}: ${relay2 - relay1} introspection calls during the measured phase: the hot path must not call the auth server per request`);
  }
  const perReq = (a?: number, b?: number) => (a !== undefined && b !== undefined && run.ok > 0 ? ((b - a) * 1e6) / run.ok : undefined);
  return {
    phase,
    round,
    id: row.id,
    label: row.label,
    title: row.title,
    rps: run.rps,
    requests: run.ok,
    latencyMs: run.latencyMs,
    serverCpuUsPerReq: perReq(cpu0, cpu1),
    serverCpuPct: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / (run.elapsedMs / 1000)) * 100 : undefined,
    upstreamCpuUsPerReq: perReq(up0, up1),
    authCpuMs: auth0 !== undefined && auth1 !== undefined ? (auth1 - auth0) * 1000 : undefined,
    introspections: relay === undefined ? undefined : { warmup: live.warmupIntrospections, measured: relay2 - relay1 },
    eventsMeasured: ev0 === undefined || ev1 === undefined ? undefined : ev1 - ev0,
    loadCpuPct: run.loadCpuPct,
    warmupComplete: live.warmComplete,
  };
}

// ---------------------------------------------------------------------------- revocation

interface Propagation {
  tokens: number;
  pollMs: number;
  /** per gateway: ms from the revocation response to its first 401 */
  delaysMs: Record<string, number[]>;
  /** ms the RFC 7009 request itself took */
  revokeMs: number[];
  /** ms of each re-introspection after a revocation (relay → auth server → relay) */
  reintrospectMs: number[];
}

async function pollUntilRefused(gw: Child, token: string, from: number, agent: Agent): Promise<number> {
  const spec = GET({ authorization: `Bearer ${token}` });
  for (;;) {
    const reply = await send(gw.port, spec, agent);
    const now = performance.now();
    if (reply.status === 401) {
      if (!/error="invalid_token"/.test(String(reply.headers['www-authenticate']))) fail(`${gw.name}: 401 without invalid_token: ${reply.body}`);
      return now - from;
    }
    if (reply.status !== 200) fail(`${gw.name}: while polling a revoked token: ${reply.status} ${reply.body.slice(0, 300)}`);
    if (now - from > 5 * LIMIT_MS) fail(`${gw.name}: a revoked token was still accepted after ${(now - from).toFixed(0)} ms`);
    if (settings.pollMs > 0) await new Promise((r) => setTimeout(r, settings.pollMs));
  }
}

async function propagation(auth: Child, gateways: Child[], relay: Relay): Promise<Propagation> {
  const agents = gateways.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const delaysMs: Record<string, number[]> = Object.fromEntries(gateways.map((g) => [g.name, []]));
  const revokeMs: number[] = [];
  const reintrospectMs: number[] = [];
  // 3 unmeasured rounds first: every gateway's event subscription is up, connections are warm
  for (let n = -3; n < settings.revocations; n++) {
    const token = await opaqueToken(auth);
    const spec = GET({ authorization: `Bearer ${token}` });
    for (let g = 0; g < gateways.length; g++) {
      const gw = gateways[g]!;
      const first = await send(gw.port, spec, agents[g]);
      if (first.status !== 200 || first.body !== UPSTREAM_BODY.bearer) fail(`${gw.name}: a fresh token → ${first.status} ${first.body.slice(0, 200)}`);
      const calls = relay.calls;
      if ((await send(gw.port, spec, agents[g])).status !== 200) fail(`${gw.name}: a fresh token refused on the second request`);
      if (relay.calls !== calls) fail(`${gw.name}: the second request introspected again (no cache)`);
    }
    const sent = performance.now();
    const before = relay.durationsMs.length;
    await revoke(auth, token);
    const revoked = performance.now();
    const delays = await Promise.all(gateways.map((gw, g) => pollUntilRefused(gw, token, revoked, agents[g]!)));
    if (n < 0) continue;
    reintrospectMs.push(...relay.durationsMs.slice(before));
    revokeMs.push(revoked - sent);
    gateways.forEach((gw, g) => delaysMs[gw.name]!.push(delays[g]!));
  }
  for (const a of agents) a.destroy();
  return { tokens: settings.revocations, pollMs: settings.pollMs, delaysMs, revokeMs, reintrospectMs };
}

// ---------------------------------------------------------------------------- report

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const fmtX = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : `${n.toFixed(2)}×`);
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

function pct(sample: number[], p: number): number {
  const sorted = [...sample].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

interface ReportRow {
  id: string;
  title: string;
  runs: number;
  rps: number;
  p50: number;
  p99: number;
  cpu?: number;
  /** the median over the rounds of each run ÷ the baseline runs around it */
  ratio: { rps?: number; p50?: number; p99?: number; cpu?: number };
  rps_ratio_per_round: number[];
  baseline_runs_compared: number[];
  measured_requests: number;
  introspections?: Measured['introspections'];
  auth_cpu_ms?: number;
  events_while_measured?: number;
}

function median(xs: Array<number | undefined>): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}

function figuresOf(ms: Measured[]) {
  return {
    rps: mean(ms.map((m) => m.rps)),
    p50: mean(ms.map((m) => m.latencyMs.p50)),
    p99: mean(ms.map((m) => m.latencyMs.p99)),
    cpu: ms.every((m) => m.serverCpuUsPerReq !== undefined) ? mean(ms.map((m) => m.serverCpuUsPerReq!)) : undefined,
  };
}

/** The baseline runs right before and after `run`; all of them when there are none. */
function around(run: Measured, baselines: Measured[]): Measured[] {
  const before = baselines.filter((b) => b.phase < run.phase).at(-1);
  const after = baselines.find((b) => b.phase > run.phase);
  const adjacent = [before, after].filter((b): b is Measured => b !== undefined);
  return adjacent.length > 0 ? adjacent : baselines;
}

function rows(results: Measured[]): ReportRow[] {
  const baselines = results.filter((m) => m.id === 'baseline');
  const out: ReportRow[] = [];
  for (const id of ['baseline', 'key-auth', 'phantom', 'session'] as const) {
    const runs = results.filter((m) => m.id === id);
    if (runs.length === 0) continue;
    const f = figuresOf(runs);
    let ratio: ReportRow['ratio'] = {};
    let perRound: number[] = [];
    let refs = baselines;
    if (id === 'baseline') {
      ratio = { rps: 1, p50: 1, p99: 1, cpu: 1 };
    } else if (baselines.length > 0) {
      // every run against the baseline runs around it; the median over the rounds
      const each = runs.map((run) => {
        const r = figuresOf(around(run, baselines));
        const m = figuresOf([run]);
        return { rps: m.rps / r.rps, p50: m.p50 / r.p50, p99: m.p99 / r.p99, cpu: m.cpu && r.cpu ? m.cpu / r.cpu : undefined };
      });
      ratio = { rps: median(each.map((e) => e.rps)), p50: median(each.map((e) => e.p50)), p99: median(each.map((e) => e.p99)), cpu: median(each.map((e) => e.cpu)) };
      perRound = each.map((e) => e.rps);
      const used = new Set(runs.flatMap((run) => around(run, baselines)));
      refs = baselines.filter((b) => used.has(b));
    }
    const measuredIntrospections = runs.reduce((n, m) => n + (m.introspections?.measured ?? 0), 0);
    out.push({
      id,
      title: runs[0]!.title,
      runs: runs.length,
      ...f,
      ratio,
      rps_ratio_per_round: perRound,
      baseline_runs_compared: refs.map((b) => b.phase),
      introspections: runs[0]!.introspections === undefined ? undefined : { warmup: runs[0]!.introspections.warmup, measured: measuredIntrospections },
      measured_requests: runs.reduce((n, m) => n + m.requests, 0),
      auth_cpu_ms: sumOf(runs.map((m) => m.authCpuMs)),
      events_while_measured: sumOf(runs.map((m) => m.eventsMeasured)),
    });
  }
  return out;
}

function sumOf(xs: Array<number | undefined>): number | undefined {
  return xs.every((x) => x === undefined) ? undefined : xs.reduce<number>((a, x) => a + (x ?? 0), 0);
}

function report(results: Measured[], prop: Propagation | undefined, version: string): { rows: ReportRow[]; propagation?: Record<string, unknown> } {
  const rs = rows(results);
  const cpuCount = availableParallelism();
  console.log('');
  console.log(`Drawbridge ${version} phantom tokens · Node ${process.version} · ${cpuCount} CPU(s) (${cpus()[0]?.model.trim() ?? 'unknown'})`);
  if (rs.length > 0) {
    console.log(
      `GET ${REQUEST_PATH} · ${settings.connections} keep-alive connections · checked warm-up of each server once · ${settings.rounds} round(s) × ${settings.durationSec} s measured per server, one server loaded at a time`,
    );
    console.log('');
    const lines = [['', 'scenario', 'req/s', 'req/s ×', 'p50 ms', 'p50 ×', 'p99 ms', 'p99 ×', 'CPU µs/req', 'CPU ×']];
    const label: Record<string, string> = { baseline: '(b)', 'key-auth': '(d)', phantom: '(p)', session: '(s)' };
    for (const r of rs) {
      lines.push([
        label[r.id]!,
        r.title + (r.runs > 1 ? ` (${r.runs} runs)` : ''),
        fmtInt(r.rps),
        fmtX(r.ratio.rps),
        fmtMs(r.p50),
        fmtX(r.ratio.p50),
        fmtMs(r.p99),
        fmtX(r.ratio.p99),
        r.cpu === undefined ? '-' : fmtInt(r.cpu),
        fmtX(r.ratio.cpu),
      ]);
    }
    console.log(table(lines));
    console.log('');
    console.log('Figures: the mean of a row\'s runs. × columns: every run ÷ the BASELINE runs right before and after it, the median over the rounds.');
    for (const r of rs) if (r.rps_ratio_per_round.length > 1) console.log(`  ${r.id} req/s × by round: ${r.rps_ratio_per_round.map((x) => x.toFixed(2)).join(' ')}`);
    const ph = rs.find((r) => r.id === 'phantom');
    const ka = rs.find((r) => r.id === 'key-auth');
    const se = rs.find((r) => r.id === 'session');
    for (const [name, r] of [['phantom', ph], ['session', se]] as const) {
      if (r && ka) console.log(`${name} ÷ key-auth: req/s ${fmtX(r.rps / ka.rps)}, CPU µs/req ${ka.cpu && r.cpu ? fmtX(r.cpu / ka.cpu) : '-'}`);
    }
    if (ph?.introspections) {
      console.log(
        `phantom hot path: ${ph.introspections.measured} introspection calls in ${fmtInt(ph.measured_requests)} measured requests ` +
          `(${ph.introspections.warmup} in probes and warm-up: one per token, ${TOKEN_POOL} in the pool + 2 probe tokens); auth server CPU while measured: ${ph.auth_cpu_ms === undefined ? '-' : `${fmtInt(ph.auth_cpu_ms)} ms`}`,
      );
    }
  }
  const flushed = rs.filter((r) => r.events_while_measured !== undefined);
  if (flushed.length > 0) {
    console.log(`gateway events on Redis while measured (each flushes the internal-token cache): ${flushed.map((r) => `${r.id} ${r.events_while_measured}`).join(', ')}`);
  }
  let propOut: Record<string, unknown> | undefined;
  if (prop) {
    console.log('');
    console.log(
      `Revocation propagation: ${prop.tokens} opaque tokens, each cached by 2 gateway processes, revoked at /oauth2/revoke; each gateway polled (pause ${prop.pollMs} ms) until its first 401`,
    );
    const lines = [['', 'delay from the revocation response', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', `≤ ${GOAL_P99_MS} ms (p99 goal)`]];
    const stats: Record<string, unknown> = {};
    const all: number[] = [];
    for (const [name, xs] of Object.entries(prop.delaysMs)) {
      all.push(...xs);
      stats[name] = { p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: Math.max(...xs) };
      lines.push(['(r)', `to the first 401 on ${name}`, fmtMs(pct(xs, 50)), fmtMs(pct(xs, 90)), fmtMs(pct(xs, 99)), fmtMs(Math.max(...xs)), pct(xs, 99) <= GOAL_P99_MS ? 'MET' : 'NOT MET']);
    }
    const both = prop.delaysMs[Object.keys(prop.delaysMs)[0]!]!.map((_, i) => Math.max(...Object.values(prop.delaysMs).map((xs) => xs[i]!)));
    lines.push(['(r)', 'until BOTH gateways refuse', fmtMs(pct(both, 50)), fmtMs(pct(both, 90)), fmtMs(pct(both, 99)), fmtMs(Math.max(...both)), pct(both, 99) <= GOAL_P99_MS ? 'MET' : 'NOT MET']);
    if (prop.reintrospectMs.length > 0) {
      const r = prop.reintrospectMs;
      lines.push(['', `of which: the re-introspection (${r.length} calls)`, fmtMs(pct(r, 50)), fmtMs(pct(r, 90)), fmtMs(pct(r, 99)), fmtMs(Math.max(...r)), '']);
    }
    lines.push(['', 'the RFC 7009 request itself', fmtMs(pct(prop.revokeMs, 50)), fmtMs(pct(prop.revokeMs, 90)), fmtMs(pct(prop.revokeMs, 99)), fmtMs(Math.max(...prop.revokeMs)), '']);
    console.log(table(lines));
    const within = Math.max(...all) < LIMIT_MS;
    console.log(`Requirement: every revocation refused by every gateway within 1 s: ${within ? 'MET' : 'NOT MET'} (worst ${fmtMs(Math.max(...all))} ms).`);
    propOut = {
      tokens: prop.tokens,
      poll_pause_ms: prop.pollMs,
      per_gateway_ms: stats,
      both_gateways_ms: { p50: pct(both, 50), p90: pct(both, 90), p99: pct(both, 99), max: Math.max(...both) },
      revoke_request_ms: { p50: pct(prop.revokeMs, 50), p99: pct(prop.revokeMs, 99), max: Math.max(...prop.revokeMs) },
      reintrospection_ms:
        prop.reintrospectMs.length === 0
          ? null
          : { calls: prop.reintrospectMs.length, p50: pct(prop.reintrospectMs, 50), p99: pct(prop.reintrospectMs, 99), max: Math.max(...prop.reintrospectMs) },
      goal_p99_ms: GOAL_P99_MS,
      goal_p99_met: pct(both, 99) <= GOAL_P99_MS,
      within_1s: within,
      samples_ms: prop.delaysMs,
    };
  }
  const load = loadavg()[0]!;
  if (load > cpuCount) console.log(`Note: the machine was busy (1-min load average ${load.toFixed(1)} on ${cpuCount} CPU(s)): req/s and delays are noisy; CPU µs/req holds up better.`);
  return { rows: rs, propagation: propOut };
}

// ---------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const want = settings.scenarios;
  const dir = mkdtempSync(join(tmpdir(), 'drawbridge-phantom-bench-'));
  const relay = await startRelay();
  const redis = await benchRedis();
  const events = await countEvents(redis.url);
  const upstream = await startChild('upstream', 'gateway/upstream', []);
  const children: Child[] = [];
  const results: Measured[] = [];
  let prop: Propagation | undefined;
  let version = '-';
  try {
    const authPort = await freePort(HOST);
    const issuer = `http://${HOST}:${authPort}`;
    relay.target = `${issuer}/oauth2/introspect`;
    const sessionPort = await freePort(HOST);
    const configs = writeConfigs(dir, issuer, upstream.ready.url, relay, redis.url, sessionPort);
    const configFile = configs.phantom;
    const chromiumThere = existsSync(CHROMIUM_PATH);
    if (want.has('session') && !chromiumThere) {
      process.stderr.write(`[phantom-bench] session row SKIPPED: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium) to sign in with\n`);
      want.delete('session');
    }
    const needsAuth = want.has('phantom') || want.has('session') || want.has('revocation');
    let auth: Child | undefined;
    let issuerJwks: JSONWebKeySet | undefined;
    if (needsAuth) {
      // started on the port the issuer names (freePort then listen: a tiny race, as everywhere)
      const file = fileURLToPath(new URL('./phantom/node.js', import.meta.url));
      const r = await spawnReady<GatewayReady>('auth', file, authPort, ['auth', configFile]);
      auth = { name: 'auth', ready: r.ready, port: authPort, child: r.child, stderrTail: r.stderrTail };
      children.push(auth);
      version = auth.ready.version;
      const jwksReply = await send(authPort, { method: 'GET', path: '/.well-known/jwks.json', headers: {} });
      issuerJwks = JSON.parse(jwksReply.body) as JSONWebKeySet;
    }
    const tokens: string[] = [];
    if (want.has('phantom')) for (let i = 0; i < TOKEN_POOL; i++) tokens.push(await opaqueToken(auth!));

    const plain: Row['prepare'] = async (srv) => {
      const spec = GET();
      await expectStatus(srv, 'probe', spec, 200, UPSTREAM_BODY.plain);
      return () => spec;
    };
    const rowTable: Record<Measured['id'], Row> = {
      baseline: {
        id: 'baseline',
        label: '(b)',
        title: 'BASELINE: minimal undici proxy',
        authenticated: false,
        start: () => startChild('baseline', 'gateway/baseline', [upstream.ready.url]),
        prepare: plain,
      },
      'key-auth': {
        id: 'key-auth',
        label: '(d)',
        title: 'gateway + key-auth',
        authenticated: true,
        start: () => startChild('drawbridge', 'gateway/drawbridge', ['key-auth', upstream.ready.url, '1', '-', '-']),
        async prepare(srv) {
          const spec = GET({ apikey: API_KEY });
          await expectStatus(srv, 'probe with the API key', spec, 200, UPSTREAM_BODY.bearer);
          await verifyInternalToken(srv, upstream, srv.ready.jwks as JSONWebKeySet, srv.ready.issuer!, 'key-auth');
          await expectStatus(srv, 'probe without a key', GET(), 401);
          return () => spec;
        },
      },
      phantom: {
        id: 'phantom',
        label: '(p)',
        title: 'gateway + oauth2-introspection (phantom token, cache warm)',
        authenticated: true,
        start: () => startChild('gateway', 'phantom/node', ['gateway', configFile]),
        async prepare(srv) {
          const specs = tokens.map((t) => GET({ authorization: `Bearer ${t}` }));
          await expectStatus(srv, 'probe with an opaque token', specs[0]!, 200, UPSTREAM_BODY.bearer);
          // the issuer's published JWKS: the gateway signs with the keys the auth server publishes
          await verifyInternalToken(srv, upstream, issuerJwks!, issuer, 'oauth2');
          await expectStatus(srv, 'probe without a token', GET(), 401);
          await expectStatus(srv, 'probe with a token never issued', GET({ authorization: 'Bearer not-a-token-we-issued' }), 401);
          const revoked = await opaqueToken(auth!);
          await revoke(auth!, revoked);
          await expectStatus(srv, 'probe with a revoked token', GET({ authorization: `Bearer ${revoked}` }), 401);
          return (n) => specs[n % specs.length]!;
        },
      },
      session: {
        id: 'session',
        label: '(s)',
        title: 'gateway + oidc-login (session cookie, Redis store)',
        authenticated: true,
        start: () => startChild('gateway', 'phantom/node', ['gateway', configs.session], sessionPort),
        async prepare(srv) {
          const cookie = `${SESSION_COOKIE}=${await signInWithChromium(srv, issuer)}`;
          const api = (headers: Record<string, string>) => GET({ ...headers, accept: 'application/json' });
          const spec = api({ cookie });
          await expectStatus(srv, 'probe with the session cookie', spec, 200, UPSTREAM_BODY.bearer);
          await verifyInternalToken(srv, upstream, issuerJwks!, issuer, 'session');
          await expectStatus(srv, 'probe without a cookie (an API call: no login redirect)', api({}), 401);
          await expectStatus(srv, 'probe with a made-up session cookie', api({ cookie: `${SESSION_COOKIE}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA` }), 401);
          return () => spec;
        },
      },
    };
    const order: Array<Measured['id']> = [];
    const gws = (['key-auth', 'phantom', 'session'] as const).filter((id) => want.has(id));
    if (want.has('baseline')) order.push('baseline');
    for (const id of gws) {
      order.push(id);
      if (want.has('baseline')) order.push('baseline');
    }
    const runs = order.length * settings.rounds;
    const total = runs + (want.has('revocation') ? 1 : 0);
    // each server starts, is probed and warmed up at its first turn, and stays for the later rounds
    const live = new Map<Measured['id'], Live>();
    for (let round = 0; round < settings.rounds; round++) {
      for (const id of order) {
        const row = rowTable[id];
        const phase = results.length;
        process.stderr.write(`[phantom-bench] ${phase + 1}/${total} round ${round + 1} ${row.label} ${row.title}…`);
        let turn = live.get(id);
        let srv = turn?.srv;
        try {
          const onRedis = row.id === 'phantom' || row.id === 'session';
          const rowRelay = row.id === 'phantom' ? relay : undefined;
          if (turn === undefined) {
            srv = await row.start();
            children.push(srv);
            turn = await warmUp(row, srv, upstream, rowRelay);
            live.set(id, turn);
          }
          const m = await measure(row, turn, upstream, phase, round, onRedis ? auth : undefined, rowRelay, onRedis ? events : undefined);
          if (m.eventsMeasured) process.stderr.write(` [${m.eventsMeasured} gateway events on Redis while measured: caches were flushed]`);
          results.push(m);
          process.stderr.write(` ${fmtInt(m.rps)} req/s, ${m.serverCpuUsPerReq === undefined ? '-' : fmtInt(m.serverCpuUsPerReq)} CPU µs/req\n`);
        } catch (err) {
          process.stderr.write(' failed\n');
          if (err instanceof BenchAbort && srv !== undefined && srv.stderrTail() !== '') err.message += `\n--- ${srv.name} stderr (tail) ---\n${srv.stderrTail()}`;
          throw err;
        }
      }
    }
    // the throughput servers are done: stopped before the revocation row, which starts its own gateways
    for (const { srv } of live.values()) {
      children.splice(children.indexOf(srv), 1);
      await stopChild(srv);
    }
    if (want.has('revocation')) {
      process.stderr.write(`[phantom-bench] ${total}/${total} (r) revocation propagation over Redis (${redis.kind === 'private' ? 'private redis-server' : redis.url}), 2 gateway processes, ${settings.revocations} tokens…`);
      const gateways: Child[] = [];
      for (const name of ['gateway A', 'gateway B']) {
        const gw = await startChild(name, 'phantom/node', ['gateway', configFile]);
        gw.name = name;
        gateways.push(gw);
        children.push(gw);
      }
      prop = await propagation(auth!, gateways, relay);
      const all = Object.values(prop.delaysMs).flat();
      process.stderr.write(` p50 ${fmtMs(pct(all, 50))} ms, p99 ${fmtMs(pct(all, 99))} ms\n`);
    }
  } finally {
    for (const c of children.reverse()) await stopChild(c);
    await stopChild(upstream);
    await relay.close();
    events.close();
    await redis.stop();
    keepAlive.destroy();
    rmSync(dir, { recursive: true, force: true });
  }

  const { rows: rs, propagation: propOut } = report(results, prop, version);
  const out = {
    date: new Date().toISOString(),
    ...machineInfo(),
    load_average_at_start: loadAtStart,
    load_average_at_end: loadavg(),
    settings: {
      rounds: settings.rounds,
      duration_s: settings.durationSec,
      warmup_min_s: settings.warmupSec,
      warmup_requests: settings.warmupRequests,
      warmup_max_s: settings.warmupMaxSec,
      connections: settings.connections,
      token_pool: TOKEN_POOL,
      revocations: settings.revocations,
      poll_pause_ms: settings.pollMs,
      redis: redis.kind === 'private' ? 'private redis-server' : redis.url.replace(/\/\/[^@/]*@/, '//***@'),
      request: `GET ${REQUEST_PATH}`,
    },
    version,
    scenarios: rs,
    revocation: propOut ?? null,
    runs: results,
    total_runtime_s: Math.round((Date.now() - started) / 100) / 10,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(RESULTS_DIR + 'phantom-latest.json', JSON.stringify(out, null, 2) + '\n');
  console.log('');
  console.log(`Written: ${RESULTS_DIR}phantom-latest.json (${out.total_runtime_s} s in all)`);
  if (propOut && propOut.within_1s !== true) process.exitCode = 1;
}

main().catch((err: unknown) => {
  if (err instanceof BenchAbort) console.error(`\nPHANTOM BENCH ABORTED: ${err.message}`);
  else console.error('\nPHANTOM BENCH FAILED:', err);
  process.exit(1);
});
