// `drawbridge dev`: everything on embedded defaults. SQLite under ./.drawbridge/, a
// master secret generated once and kept beside it, demo clients, and copy-paste lines.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from '../core/crypto-util.js';
import { validateConfig } from '../config/index.js';
import type { Config } from '../config/types.js';

interface DevOptions {
  dir: string;
  host: string;
  /** auth server */
  port: number;
  gatewayPort: number;
  adminPort: number;
  /** the demo microservice behind the gateway */
  servicePort: number;
}

const DEMO_CLIENTS = {
  service: { id: 'demo-service', secret: 'demo-service-secret-change-me' },
  jwt: { id: 'demo-jwt', secret: 'demo-jwt-secret-change-me' },
  gateway: { id: 'demo-gateway', secret: 'demo-gateway-secret-change-me' },
} as const;

/** The demo user of the login page (and of the browser route /app through the gateway). */
const DEMO_USER = { username: 'alice', password: 'alice-demo-password-change-me' } as const;

const DEMO_CONSUMER = {
  username: 'demo-partner',
  apiKey: 'demo-api-key-change-me',
  basic: { username: 'partner', password: 'partner-password-change-me' },
  hmac: { keyId: 'demo-hmac', secret: 'demo-hmac-secret-change-me' },
} as const;

/** The dev master secret: generated on first run, reused after so stored keys stay readable. */
function devSecret(dir: string, name = 'secret'): string {
  const file = join(dir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const secret = randomToken(32);
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function devConfig(opts: DevOptions): Config {
  const issuer = `http://${opts.host}:${opts.port}`;
  const gateway = `http://${opts.host}:${opts.gatewayPort}`;
  return validateConfig({
    issuer,
    storage: `sqlite:${join(opts.dir, 'drawbridge.db')}`,
    secret: devSecret(opts.dir),
    log: { level: 'info' },
    auth: {
      listen: `${opts.host}:${opts.port}`,
      audit: { file: join(opts.dir, 'audit.log') },
      users: [
        {
          username: DEMO_USER.username,
          password: DEMO_USER.password,
          claims: { name: 'Alice Demo', email: 'alice@example.com', email_verified: true, groups: ['admin'] },
        },
      ],
      clients: [
        {
          client_id: DEMO_CLIENTS.service.id,
          client_name: 'Demo service (opaque tokens)',
          client_secret: DEMO_CLIENTS.service.secret,
          grant_types: ['client_credentials'],
          scopes: ['orders:read', 'orders:write'],
          default_scopes: ['orders:read'],
        },
        {
          client_id: DEMO_CLIENTS.jwt.id,
          client_name: 'Demo service (JWT access tokens)',
          client_secret: DEMO_CLIENTS.jwt.secret,
          token_endpoint_auth_method: 'client_secret_post',
          grant_types: ['client_credentials'],
          scopes: ['orders:read', 'inventory:read'],
          access_token_format: 'jwt',
        },
        {
          client_id: DEMO_CLIENTS.gateway.id,
          client_name: 'Demo gateway',
          client_secret: DEMO_CLIENTS.gateway.secret,
          // signs browsers in for the /app route, and introspects tokens for the /api route
          grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
          redirect_uris: [`${gateway}/_drawbridge/callback`],
          backchannel_logout_uri: `${gateway}/_drawbridge/backchannel-logout`,
          scopes: ['openid', 'profile', 'email', 'groups', 'offline_access', 'introspect'],
          consent: 'skip',
        },
      ],
    },
    gateway: {
      listen: `${opts.host}:${opts.gatewayPort}`,
      admin_listen: `${opts.host}:${opts.adminPort}`,
      admin_token: devSecret(opts.dir, 'admin-token'),
      sessions: { store: 'sql' },
      services: [
        {
          // a browser app: no session → the login page; then a session cookie, and the
          // service receives the internal JWT (auth_method session)
          name: 'app',
          url: `http://${opts.host}:${opts.servicePort}`,
          routes: [{ name: 'app', paths: ['/app'], strip_path: false }],
          plugins: [
            {
              name: 'oidc-login',
              config: {
                issuer,
                client_id: DEMO_CLIENTS.gateway.id,
                client_secret: DEMO_CLIENTS.gateway.secret,
                scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
              },
            },
          ],
        },
        {
          // phantom tokens: opaque access tokens swapped for the internal JWT
          name: 'api',
          url: `http://${opts.host}:${opts.servicePort}`,
          routes: [{ name: 'api', paths: ['/api'], strip_path: false }],
          plugins: [
            { name: 'oauth2-introspection', config: { issuer, client_id: DEMO_CLIENTS.gateway.id, client_secret: DEMO_CLIENTS.gateway.secret } },
          ],
        },
        {
          name: 'orders',
          url: `http://${opts.host}:${opts.servicePort}`,
          routes: [{ name: 'orders', paths: ['/orders'], strip_path: false }],
          plugins: [
            { name: 'key-auth', config: {} },
            { name: 'basic-auth', config: {} },
            { name: 'hmac-auth', config: {} },
            { name: 'jwt', config: { issuers: [{ issuer, jwks_uri: `${issuer}/.well-known/jwks.json` }] } },
            { name: 'rate-limiting', config: { minute: 600, limit_by: 'credential' } },
          ],
        },
      ],
      consumers: [
        {
          username: DEMO_CONSUMER.username,
          groups: ['partners'],
          credentials: {
            'key-auth': [{ key: DEMO_CONSUMER.apiKey }],
            'basic-auth': [{ username: DEMO_CONSUMER.basic.username, password: DEMO_CONSUMER.basic.password }],
            'hmac-auth': [{ key_id: DEMO_CONSUMER.hmac.keyId, secret: DEMO_CONSUMER.hmac.secret }],
          },
        },
      ],
    },
  });
}

/** `dir`: the state directory as given (`--dir`), so the paths printed are the ones used. */
export function devBanner(config: Config, serviceUrl: string, dir: string): string {
  const state = dir.replace(/\/+$/, '') || '/';
  const routes = config.gateway!.services.flatMap((svc) => svc.routes.flatMap((r) => r.paths ?? [])).join(', ');
  const i = config.issuer;
  const gw = `http://${config.gateway!.listen}`;
  const admin = `http://${config.gateway!.admin_listen}`;
  const authority = config.gateway!.listen;
  const s = DEMO_CLIENTS.service;
  const j = DEMO_CLIENTS.jwt;
  const g = DEMO_CLIENTS.gateway;
  const c = DEMO_CONSUMER;
  const sigParams = `("@method" "@authority" "@path");created=$CREATED;keyid="${c.hmac.keyId}";alg="hmac-sha256"`;
  return [
    '',
    `Drawbridge dev is running (SQLite, keys and secrets under ${state}/; Ctrl-C stops it).`,
    '',
    `  auth server    ${i}   (discovery: ${i}/.well-known/openid-configuration)`,
    `  gateway        ${gw}   ${routes} → the demo service at ${serviceUrl}`,
    `  admin API      ${admin}   (Bearer token in ${state}/admin-token; /metrics)`,
    '',
    'Demo OAuth clients (client_credentials):',
    `  ${s.id} / ${s.secret}   opaque tokens, client_secret_basic`,
    `  ${j.id} / ${j.secret}           JWT (RFC 9068) tokens, client_secret_post`,
    `  ${g.id} / ${g.secret}   the gateway's own client (browser sign-in, introspection)`,
    `Demo user for the login page: ${DEMO_USER.username} / ${DEMO_USER.password}`,
    `Demo consumer "${c.username}" (group partners): API key, Basic, HMAC credentials below.`,
    '',
    'Through the gateway — the service receives only the internal JWT and shows what it verified:',
    `  curl -s -H 'apikey: ${c.apiKey}' ${gw}/orders`,
    `  curl -s -u ${c.basic.username}:${c.basic.password} ${gw}/orders`,
    `  JWT=$(curl -s -d grant_type=client_credentials -d client_id=${j.id} -d client_secret=${j.secret} ${i}/oauth2/token | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
    `  curl -s -H "Authorization: Bearer $JWT" ${gw}/orders`,
    '  # HMAC (RFC 9421) signed with openssl:',
    `  CREATED=$(date +%s); SIG=$(printf '"@method": GET\\n"@authority": ${authority}\\n"@path": /orders\\n"@signature-params": ${sigParams.replace('$CREATED', '%s')}' "$CREATED" | openssl dgst -sha256 -hmac '${c.hmac.secret}' -binary | base64)`,
    `  curl -s -H "Signature-Input: sig1=${sigParams.replace(/"/g, '\\"')}" -H "Signature: sig1=:$SIG:" ${gw}/orders`,
    `  curl -s -i ${gw}/orders        # no credential: 401 with every challenge`,
    '',
    'The auth server directly:',
    `  curl -s -u ${s.id}:${s.secret} -d grant_type=client_credentials -d scope=orders:read ${i}/oauth2/token`,
    `  TOKEN=$(curl -s -u ${s.id}:${s.secret} -d grant_type=client_credentials ${i}/oauth2/token | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
    `  curl -s -u ${g.id}:${g.secret} -d token=$TOKEN ${i}/oauth2/introspect`,
    `  curl -s -u ${g.id}:${g.secret} -H 'Accept: application/token-introspection+jwt' -d token=$TOKEN ${i}/oauth2/introspect`,
    `  curl -s -u ${s.id}:${s.secret} -d token=$TOKEN ${i}/oauth2/revoke`,
    '',
    'Phantom token through the gateway (opaque token at the edge, the internal JWT upstream; run before the revoke above):',
    `  curl -s -H "Authorization: Bearer $TOKEN" ${gw}/api`,
    'Browser sign-in through the gateway (a session cookie at the edge, the internal JWT upstream):',
    `  open ${gw}/app     # sign in as ${DEMO_USER.username}; sign out at ${gw}/_drawbridge/logout`,
    `Audit events (logins, tokens, logouts): ${state}/audit.log`,
    '',
  ].join('\n');
}
