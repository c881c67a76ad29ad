// Child entry point: the reference "floor", not a product. The same protocol work as the two
// servers under test, written as directly as Node allows: node:http, node:crypto, a Map for
// storage, no framework, no database, no logging. It answers the same checked requests
// (Basic client authentication compared in constant time, scope and resource checks, opaque
// tokens stored as SHA-256 digests, ES256 JWT access tokens per RFC 9068, RFC 7662
// introspection). Its figures show how much room any Node.js server has on this machine:
// a ratio goal against oidc-provider cannot be met where oidc-provider is already close to it.
//   node dist/bench/servers/floor.js PORT
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  ACCESS_TOKEN_TTL,
  CLIENT_SECRET,
  JWT_CLIENT,
  OPAQUE_CLIENT,
  RESOURCE,
  SCOPES,
  announceReady,
  closeOnSignal,
  portFromArgv,
} from '../common.js';

const port = portFromArgv();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'floor-es256';
const jwks = JSON.stringify({ keys: [{ ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] });
const jwtHeader = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid })).toString('base64url');

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const clients = new Map([OPAQUE_CLIENT, JWT_CLIENT].map((id) => [id, { id, secret: sha256(CLIENT_SECRET), jwt: id === JWT_CLIENT }]));
const scopeSet = new Set<string>(SCOPES);

interface Stored {
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
}
const tokens = new Map<string, Stored>(); // base64url SHA-256 of the token → record

function send(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(payload);
}

function authenticate(req: IncomingMessage) {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const client = clients.get(decodeURIComponent(decoded.slice(0, colon)));
  if (!client) return undefined;
  return timingSafeEqual(sha256(decodeURIComponent(decoded.slice(colon + 1))), client.secret) ? client : undefined;
}

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === 'GET' && req.url === '/jwks') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(jwks) });
    res.end(jwks);
    return;
  }
  if (req.method !== 'POST' || (req.url !== '/token' && req.url !== '/introspect')) return send(res, 404, { error: 'not_found' });
  if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return send(res, 400, { error: 'invalid_request' });
  const params = new URLSearchParams(body);
  const client = authenticate(req);
  if (!client) return send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="floor"' });
  const now = Math.floor(Date.now() / 1000);

  if (req.url === '/introspect') {
    const token = params.get('token');
    if (!token) return send(res, 400, { error: 'invalid_request' });
    const rec = tokens.get(createHash('sha256').update(token).digest('base64url'));
    if (!rec || rec.exp <= now) return send(res, 200, { active: false });
    return send(res, 200, { active: true, client_id: rec.client_id, scope: rec.scope, token_type: 'Bearer', exp: rec.exp, iat: rec.iat, sub: rec.client_id, iss: issuer, jti: rec.jti });
  }

  if (params.get('grant_type') !== 'client_credentials') return send(res, 400, { error: 'unsupported_grant_type' });
  const requested = (params.get('scope') ?? '').split(' ').filter((s) => s !== '');
  if (requested.some((s) => !scopeSet.has(s))) return send(res, 400, { error: 'invalid_scope' });
  const scope = requested.join(' ');
  const resources = params.getAll('resource');
  if (resources.some((r) => r !== RESOURCE)) return send(res, 400, { error: 'invalid_target' });
  const jti = randomUUID();
  let accessToken: string;
  if (client.jwt) {
    const claims = { iss: issuer, sub: client.id, aud: resources[0] ?? issuer, exp: now + ACCESS_TOKEN_TTL, iat: now, jti, client_id: client.id, scope };
    const input = jwtHeader + '.' + Buffer.from(JSON.stringify(claims)).toString('base64url');
    accessToken = input + '.' + sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  } else {
    accessToken = randomBytes(32).toString('base64url');
    tokens.set(createHash('sha256').update(accessToken).digest('base64url'), { client_id: client.id, scope, iat: now, exp: now + ACCESS_TOKEN_TTL, jti });
  }
  send(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL, scope }, { pragma: 'no-cache' });
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve());
});
closeOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
);

announceReady({ server: 'floor', version: process.version, issuer, tokenPath: '/token', introspectionPath: '/introspect', jwksPath: '/jwks' });
