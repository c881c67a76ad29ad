// Shared by the phantom-token and revocation tests: the auth server's clients, a stack
// whose issuer is known before it starts (the plugin config names it), tokens from
// client_credentials, revocation, and a tiny foreign RFC 7662 server.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basic, postForm } from '../helpers/auth-server.js';
import { freePort, startStack, type Stack, type StackOptions } from '../helpers/gateway.js';

export const SVC_SECRET = 'svc-secret-0123456789-abcdefghij';
export const GATEWAY_SECRET = 'gateway-secret-0123456789-abcdefghij';

export const AUTH_CLIENTS = [
  { client_id: 'svc', client_secret: SVC_SECRET, grant_types: ['client_credentials'], scopes: ['orders:read', 'orders:write'] },
  { client_id: 'gateway', client_secret: GATEWAY_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
  { client_id: 'svc-jwt', client_secret: SVC_SECRET, grant_types: ['client_credentials'], scopes: ['orders:read'], access_token_format: 'jwt' },
  { client_id: 'legacy', client_secret: SVC_SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'] },
];
export const AUTH_USER = { username: 'alice', password: 'alice-password-0123456789' };

export function introspectionPlugin(issuer: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'oauth2-introspection', config: { issuer, client_id: 'gateway', client_secret: GATEWAY_SECRET, ...config } };
}

/** A stack whose auth server listens on the issuer chosen here, so `gateway(issuer)` can name it. */
export async function startPhantomStack(
  gateway: (issuer: string) => Record<string, unknown>,
  extra: Omit<StackOptions, 'gateway' | 'auth'> = {},
): Promise<{ stack: Stack; issuer: string }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const stack = await startStack({
    ...extra,
    top: { ...extra.top, issuer },
    auth: { listen: `127.0.0.1:${port}`, clients: AUTH_CLIENTS, users: [AUTH_USER] },
    gateway: gateway(issuer),
  });
  return { stack, issuer };
}

export async function clientCredentialsToken(issuer: string, scope = 'orders:read'): Promise<string> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope }, { authorization: basic('svc', SVC_SECRET) });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(typeof body.access_token, 'string');
  // opaque: no JWT structure
  assert.equal(body.access_token!.split('.').length, 1, 'the access token is opaque');
  return body.access_token!;
}

export async function revoke(issuer: string, token: string, clientId = 'svc'): Promise<void> {
  const res = await postForm(`${issuer}/oauth2/revoke`, { token }, { authorization: basic(clientId, SVC_SECRET) });
  assert.equal(res.status, 200, await res.text());
}

/** An access and a refresh token for alice, from the `legacy` client's password grant. */
export async function passwordTokens(issuer: string): Promise<{ access_token: string; refresh_token: string }> {
  const res = await postForm(
    `${issuer}/oauth2/token`,
    { grant_type: 'password', username: AUTH_USER.username, password: AUTH_USER.password, scope: 'orders:read' },
    { authorization: basic('legacy', SVC_SECRET) },
  );
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(typeof body.refresh_token, 'string');
  return body;
}

/** A JWT access token (RFC 9068) from the `svc-jwt` client. */
export async function jwtAccessToken(issuer: string): Promise<string> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'orders:read' }, { authorization: basic('svc-jwt', SVC_SECRET) });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.access_token!.split('.').length, 3, 'the access token is a JWT');
  return body.access_token!;
}

export const CHALLENGE = 'Bearer realm="drawbridge"';

export function inactiveChallenge(): string {
  return 'Bearer realm="drawbridge", error="invalid_token", error_description="token is not active"';
}

// ─── A foreign RFC 7662 server ───────────────────────────────────────────────────────────

export interface ForeignServer {
  url: string;
  endpoint: string;
  /** introspection calls, per token */
  calls: Map<string, number>;
  total(): number;
  /** token → RFC 7662 response (active ones); anything else is `{ active: false }` */
  tokens: Map<string, Record<string, unknown>>;
  /** how the last caller authenticated */
  lastAuth: string | undefined;
  delayMs: number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Speaks only RFC 7662 JSON; demands HTTP Basic `rs:rs-secret` or the same in the form. */
export async function startForeignIntrospection(): Promise<ForeignServer> {
  const server: Server = createServer(async function foreignIntrospect(req, res) {
    const form = new URLSearchParams(await readBody(req));
    const basicOk = req.headers.authorization === `Basic ${Buffer.from('rs:rs-secret').toString('base64')}`;
    const postOk = form.get('client_id') === 'rs' && form.get('client_secret') === 'rs-secret';
    if (req.method !== 'POST' || req.url !== '/introspect' || !(basicOk || postOk)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
      return;
    }
    foreign.lastAuth = basicOk ? 'basic' : 'post';
    const token = form.get('token') ?? '';
    foreign.calls.set(token, (foreign.calls.get(token) ?? 0) + 1);
    if (foreign.delayMs > 0) await new Promise((r) => setTimeout(r, foreign.delayMs));
    const body = foreign.tokens.get(token) ?? { active: false };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const foreign: ForeignServer = {
    url,
    endpoint: `${url}/introspect`,
    calls: new Map(),
    total: () => [...foreign.calls.values()].reduce((a, b) => a + b, 0),
    tokens: new Map(),
    lastAuth: undefined,
    delayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return foreign;
}
