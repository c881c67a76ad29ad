// The multi-process cluster of the end-to-end tests (issue #5): one auth server and two
// gateway processes (A and B), each started with the real CLI (`drawbridge start --only …`)
// from ONE config file (the gateway port comes from ${GATEWAY_PORT}), sharing Redis and
// storage (PostgreSQL in a fresh schema when reachable, else a SQLite file).
//
// Between the gateways and the auth server's introspection endpoint sits a counting relay,
// so a test can prove that the hot path never calls the auth server per request.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli, waitForReady, type CliProcess, type CliResult } from '../cli/spawn.js';
import { basic, freePorts, postForm, TEST_SECRET } from '../helpers/auth-server.js';
import { freshPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';

export const SVC = { id: 'e2e-svc', secret: 'e2e-svc-secret-0123456789-abcdefghij' };
export const GW_CLIENT = { id: 'e2e-gateway', secret: 'e2e-gateway-secret-0123456789-abcdef' };

// ─── a counting relay (in front of /oauth2/introspect, or a back-channel logout URI) ─────

export interface IntrospectionRelay {
  url: string;
  /** calls relayed so far */
  readonly calls: number;
  /** the status of each answer, in order */
  readonly statuses: number[];
  /** where to relay to (set once the auth server's port is known) */
  target: string;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Forwards POSTs verbatim (auth, content type, accept) to `target` and counts them. */
export async function startIntrospectionRelay(): Promise<IntrospectionRelay> {
  let calls = 0;
  const statuses: number[] = [];
  const server: Server = createServer(async function relayIntrospection(req, res) {
    calls++;
    try {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'content-type', 'accept']) {
        const v = req.headers[name];
        if (typeof v === 'string') headers[name] = v;
      }
      const answer = await fetch(relay.target, { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
      const payload = Buffer.from(await answer.arrayBuffer());
      statuses.push(answer.status);
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/octet-stream',
        'cache-control': 'no-store',
        'content-length': payload.length,
      });
      res.end(payload);
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/relay`;
  const relay: IntrospectionRelay = {
    url,
    get calls() {
      return calls;
    },
    statuses,
    target: '',
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return relay;
}

// ─── storage: PostgreSQL schema or SQLite file ──────────────────────────────────────────

export interface SharedStorage {
  kind: 'postgres' | 'sqlite';
  url: string;
  cleanup(): Promise<void>;
}

export async function sharedStorage(dir: string): Promise<SharedStorage> {
  const base = await postgresUrl();
  if (base !== undefined) {
    const schema: TestSchema = await freshPostgresSchema(base);
    return { kind: 'postgres', url: schema.url, cleanup: () => schema.drop() };
  }
  return { kind: 'sqlite', url: `sqlite:${join(dir, 'drawbridge.db')}`, cleanup: async () => undefined };
}

// ─── the cluster ────────────────────────────────────────────────────────────────────────

export interface ClusterOptions {
  redis: string;
  upstream: string;
  relay: IntrospectionRelay;
  /** more config, knowing where everything listens (session routes, users, clients…) */
  extend?: (where: { issuer: string; gatewayUrls: string[] }) => ClusterExtras;
}

export interface ClusterExtras {
  /** gateway services appended to the phantom-token one */
  services?: Array<Record<string, unknown>>;
  /** auth clients appended to the two of the phantom-token route */
  clients?: Array<Record<string, unknown>>;
  /** more keys of the auth section (users, …) */
  auth?: Record<string, unknown>;
  /** more keys of the gateway section (sessions, …) */
  gateway?: Record<string, unknown>;
}

export interface Cluster {
  issuer: string;
  storage: SharedStorage;
  configFile: string;
  auth: CliProcess;
  gateways: Array<{ name: string; url: string; proc: CliProcess }>;
  /** the stderr of every process, for failure messages */
  logs(): string;
  /** runs `drawbridge …args --config FILE` against the cluster's config (to completion) */
  cli(args: string[]): Promise<CliResult>;
  close(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'drawbridge-e2e-'));
  const storage = await sharedStorage(dir);
  const [authPort, ...gatewayPorts] = (await freePorts(3)) as [number, number, number];
  const issuer = `http://127.0.0.1:${authPort}`;
  const gatewayUrls = gatewayPorts.map((p) => `http://127.0.0.1:${p}`);
  const extras = opts.extend?.({ issuer, gatewayUrls }) ?? {};
  opts.relay.target = `${issuer}/oauth2/introspect`;
  const config = {
    issuer,
    storage: storage.url,
    redis: opts.redis,
    secret: '${DRAWBRIDGE_SECRET}',
    log: { level: 'warn', pretty: false },
    keys: { refresh_interval: '1s' },
    auth: {
      listen: `127.0.0.1:${authPort}`,
      clients: [
        { client_id: SVC.id, client_secret: SVC.secret, grant_types: ['client_credentials'], scopes: ['orders:read'] },
        { client_id: GW_CLIENT.id, client_secret: GW_CLIENT.secret, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ...(extras.clients ?? []),
      ],
      ...extras.auth,
    },
    gateway: {
      listen: '127.0.0.1:${GATEWAY_PORT}',
      services: [
        {
          name: 'api',
          url: opts.upstream,
          routes: [{ paths: ['/api'] }],
          plugins: [
            {
              name: 'oauth2-introspection',
              config: { issuer, client_id: GW_CLIENT.id, client_secret: GW_CLIENT.secret, introspection_endpoint: opts.relay.url },
            },
          ],
        },
        ...(extras.services ?? []),
      ],
      ...extras.gateway,
    },
  };
  const configFile = join(dir, 'drawbridge.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const procs: CliProcess[] = [];
  const env = (extra: Record<string, string> = {}) => ({ DRAWBRIDGE_SECRET: TEST_SECRET, ...extra });
  const cluster: Cluster = {
    issuer,
    storage,
    configFile,
    auth: undefined as unknown as CliProcess,
    gateways: [],
    logs: () =>
      [['auth', cluster.auth], ...cluster.gateways.map((g) => [`gateway ${g.name}`, g.proc] as const)]
        .map(([name, p]) => `--- ${String(name)} stderr ---\n${(p as CliProcess | undefined)?.stderr ?? ''}`)
        .join('\n'),
    cli: (args) => runCli([...args, '--config', configFile], { env: env({ GATEWAY_PORT: String(gatewayPorts[0]) }), timeoutMs: 60_000 }),
    async close() {
      await Promise.all(procs.map((p) => p.stop()));
      await storage.cleanup().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    // migrations once (PostgreSQL is never migrated implicitly), then the auth server, which
    // creates the signing key the gateways pick up from storage
    const gatewayPortForAuth = String(gatewayPorts[0]); // unused by --only auth, but the file names ${GATEWAY_PORT}
    const migrated = await runCli(['migrate', '--config', configFile], { env: env({ GATEWAY_PORT: gatewayPortForAuth }) });
    assert.equal(migrated.code, 0, `drawbridge migrate: ${migrated.stderr}${migrated.stdout}`);
    cluster.auth = spawnCli(['start', '--config', configFile, '--only', 'auth'], { env: env({ GATEWAY_PORT: gatewayPortForAuth }), timeoutMs: 600_000 });
    procs.push(cluster.auth);
    await waitForReady(`${issuer}/.well-known/openid-configuration`, cluster.auth);
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { introspection_endpoint?: string };
    assert.equal(discovery.introspection_endpoint, opts.relay.target, 'the relay forwards to the discovered introspection endpoint');
    for (const [i, name] of ['A', 'B'].entries()) {
      const port = gatewayPorts[i]!;
      const proc = spawnCli(['start', '--config', configFile, '--only', 'gateway'], { env: env({ GATEWAY_PORT: String(port) }), timeoutMs: 600_000 });
      procs.push(proc);
      cluster.gateways.push({ name, url: `http://127.0.0.1:${port}`, proc });
    }
    await Promise.all(cluster.gateways.map((g) => waitForReady(`${g.url}/readyz`, g.proc)));
    return cluster;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

// ─── OAuth helpers against the cluster's auth server ─────────────────────────────────────

/** An opaque access token from client_credentials. */
export async function opaqueToken(issuer: string): Promise<string> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'orders:read' }, { authorization: basic(SVC.id, SVC.secret) });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(typeof body.access_token, 'string');
  assert.equal(body.access_token!.split('.').length, 1, 'the access token is opaque');
  return body.access_token!;
}

/** RFC 7009 revocation by the client the token was issued to. */
export async function revokeToken(issuer: string, token: string): Promise<void> {
  const res = await postForm(`${issuer}/oauth2/revoke`, { token, token_type_hint: 'access_token' }, { authorization: basic(SVC.id, SVC.secret) });
  assert.equal(res.status, 200, await res.text());
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Percentile (nearest rank) of a sorted-or-not sample, in the sample's unit. */
export function percentile(sample: number[], p: number): number {
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
