// Shared by the SDK tests: a real auth server + gateway whose issuer is known before they
// start (the services behind them need it), a microservice protected by the SDK, tokens
// signed with the stack's real key (to build wrong-claim tokens the signature can't refuse),
// and a counting relay in front of the token endpoint.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT } from 'jose';
import { freePort, startStack, type Stack } from '../helpers/gateway.js';
import type { SigningKey } from '../../src/crypto/jwt.js';

export const SVC_SECRET = 'svc-secret-0123456789-abcdefghij';
export const GATEWAY_SECRET = 'gateway-secret-0123456789-abcdefghij';

export function introspectionPlugin(issuer: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'oauth2-introspection', config: { issuer, client_id: 'gateway', client_secret: GATEWAY_SECRET, ...config } };
}

/** Stack with `clients` (plus the gateway's introspection client); `gateway(issuer)` builds the gateway section. */
export async function startSdkStack(
  clients: Record<string, unknown>[],
  gateway: (issuer: string) => Record<string, unknown>,
  port?: number,
  top: Record<string, unknown> = {},
): Promise<{ stack: Stack; issuer: string }> {
  const authPort = port ?? (await freePort());
  const issuer = `http://127.0.0.1:${authPort}`;
  const stack = await startStack({
    top: { ...top, issuer },
    auth: {
      listen: `127.0.0.1:${authPort}`,
      clients: [{ client_id: 'gateway', client_secret: GATEWAY_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] }, ...clients],
    },
    gateway: gateway(issuer),
  });
  return { stack, issuer };
}

export interface Service {
  url: string;
  port: number;
  /** requests received */
  hits: number;
  close(): Promise<void>;
}

/** A node:http service on a free loopback port. */
export async function startService(handler: (req: IncomingMessage, res: ServerResponse) => unknown): Promise<Service> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    service.hits++;
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      // a test service failing is a test failure: answer 599 so it shows
      if (!res.headersSent) res.writeHead(599, { 'content-type': 'text/plain' }).end(String(err));
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const service: Service = {
    url: `http://127.0.0.1:${port}`,
    port,
    hits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return service;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The stack's current signing key (the one the JWKS publishes). */
export function signingKey(stack: Stack): SigningKey {
  return stack.running.keyring.current;
}

/** A token signed with `key`, claims and header as given (defaults: a valid internal token for `aud`). */
export async function signToken(
  key: SigningKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header }).sign(key.privateKey);
}

export function internalClaims(issuer: string, aud: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    sub: 'consumer:partner-a',
    aud,
    iat: now,
    exp: now + 60,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    client_id: 'partner-a',
    scope: 'orders:read',
    groups: ['partners'],
    auth_method: 'key-auth',
    consumer: 'partner-a',
    ...extra,
  };
}

export interface Relay {
  url: string;
  /** POSTs relayed */
  calls: number;
  /** ms to wait before relaying (so parallel callers overlap for sure) */
  delayMs: number;
  /** answer this many next requests with 503 temporarily_unavailable instead of relaying */
  failNext: number;
  close(): Promise<void>;
}

/** Forwards every request to `target` (method, headers, body), counting them. */
export async function startRelay(target: string): Promise<Relay> {
  const svc = await startService(async (req, res) => {
    relay.calls++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (relay.delayMs > 0) await new Promise((r) => setTimeout(r, relay.delayMs));
    if (relay.failNext > 0) {
      relay.failNext--;
      return sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'relay told to fail' });
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const upstream = await fetch(target, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await upstream.arrayBuffer());
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(body);
  });
  const relay: Relay = { url: svc.url, calls: 0, delayMs: 0, failNext: 0, close: () => svc.close() };
  return relay;
}

export async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text}`);
  }
}
