// Shared by the limits-* and authz-* tests: GatewayRequest values for plugin unit tests, a
// private redis-server (to kill and restart), and small assertions on GatewayErrors.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { GatewayError } from '../../src/gateway/errors.js';
import type { CompiledRoute, GatewayRequest, Identity } from '../../src/gateway/types.js';
import { freePort } from '../helpers/auth-server.js';

export interface RequestShape {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  identity?: Identity;
  clientIp?: string;
  req?: IncomingMessage;
  res?: ServerResponse;
}

/** A GatewayRequest as the pipeline hands it to plugins (req/res only when given). */
export function gatewayRequest(shape: RequestShape = {}): GatewayRequest {
  const headers = Object.fromEntries(Object.entries(shape.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    req: shape.req ?? ({ headers } as unknown as IncomingMessage),
    res: shape.res ?? (undefined as unknown as ServerResponse),
    requestId: 'test-request',
    method: shape.method ?? 'GET',
    path: shape.path ?? '/',
    query: '',
    host: '127.0.0.1',
    clientIp: shape.clientIp ?? '192.0.2.1',
    scheme: 'http',
    route: undefined as unknown as CompiledRoute,
    identity: shape.identity,
    stripHeaders: new Set(),
    stripQuery: new Set(),
    upstreamHeaders: {},
    responseHeaders: {},
  };
}

export function identity(fields: Omit<Partial<Identity>, 'consumer'> & { consumer?: string; consumerGroups?: string[] } = {}): Identity {
  const { consumer, consumerGroups, ...rest } = fields;
  return {
    auth_method: 'key-auth',
    sub: consumer !== undefined ? `consumer:${consumer}` : 'user-1',
    scope: [],
    groups: [],
    credential_id: `cred-${consumer ?? 'user-1'}`,
    ...(consumer !== undefined ? { consumer: { id: `id-${consumer}`, username: consumer, groups: consumerGroups ?? [] } } : {}),
    ...rest,
  };
}

/** Runs `fn` and returns the GatewayError it throws (fails when it does not throw one). */
export async function refusal(fn: () => unknown): Promise<GatewayError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the plugin to refuse');
}

export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

// ─── A private redis-server ──────────────────────────────────────────────────────────

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL and wait for the exit */
  kill(): Promise<void>;
  /** start again on the same port */
  restart(): Promise<void>;
}

/** Whether the redis-server binary exists; loud skip (or failure in CI) when not. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.status === 0) return true;
  if (process.env.DRAWBRIDGE_REQUIRE_SERVICES === '1') {
    throw new Error('redis-server (Debian package redis-server) is not installed and DRAWBRIDGE_REQUIRE_SERVICES=1');
  }
  process.stderr.write('\n*** SKIPPED: redis-server not installed — private-Redis tests are skipped ***\n\n');
  return false;
}

async function waitForPong(url: string): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > until) throw new Error(`redis-server at ${url} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  async function start(): Promise<void> {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await waitForPong(url);
  }
  async function kill(): Promise<void> {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }
  await start();
  return { url, port, kill, restart: start };
}
