// `drawbridge dev`: everything on embedded defaults. SQLite under ./.drawbridge/, a
// master secret generated once and kept beside it, demo clients, and copy-paste lines.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from '../core/crypto-util.js';
import { validateConfig } from '../config/index.js';
import type { Config } from '../config/types.js';

export interface DevOptions {
  dir: string;
  port: number;
  host: string;
}

export const DEMO_CLIENTS = {
  service: { id: 'demo-service', secret: 'demo-service-secret-change-me' },
  jwt: { id: 'demo-jwt', secret: 'demo-jwt-secret-change-me' },
  gateway: { id: 'demo-gateway', secret: 'demo-gateway-secret-change-me' },
} as const;

/** The dev master secret: generated on first run, reused after so stored keys stay readable. */
export function devSecret(dir: string): string {
  const file = join(dir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const secret = randomToken(32);
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function devConfig(opts: DevOptions): Config {
  const issuer = `http://${opts.host}:${opts.port}`;
  return validateConfig({
    issuer,
    storage: `sqlite:${join(opts.dir, 'drawbridge.db')}`,
    secret: devSecret(opts.dir),
    log: { level: 'info' },
    auth: {
      listen: `${opts.host}:${opts.port}`,
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
          client_name: 'Demo gateway (introspects tokens)',
          client_secret: DEMO_CLIENTS.gateway.secret,
          grant_types: ['client_credentials'],
          scopes: ['introspect'],
        },
      ],
    },
  });
}

export function devBanner(config: Config): string {
  const i = config.issuer;
  const s = DEMO_CLIENTS.service;
  const j = DEMO_CLIENTS.jwt;
  const g = DEMO_CLIENTS.gateway;
  return [
    '',
    'Drawbridge dev is running (SQLite and keys under ./.drawbridge/; Ctrl-C stops it).',
    '',
    `  auth server   ${i}`,
    `  discovery     ${i}/.well-known/openid-configuration`,
    `  JWKS          ${i}/.well-known/jwks.json`,
    '',
    'Demo clients (client_credentials):',
    `  ${s.id} / ${s.secret}   opaque tokens, client_secret_basic`,
    `  ${j.id} / ${j.secret}           JWT (RFC 9068) tokens, client_secret_post`,
    `  ${g.id} / ${g.secret}   introspects tokens (the gateway will use it)`,
    '',
    'Try it:',
    `  curl -s -u ${s.id}:${s.secret} -d grant_type=client_credentials -d scope=orders:read ${i}/oauth2/token`,
    `  curl -s -d grant_type=client_credentials -d client_id=${j.id} -d client_secret=${j.secret} ${i}/oauth2/token`,
    `  TOKEN=$(curl -s -u ${s.id}:${s.secret} -d grant_type=client_credentials ${i}/oauth2/token | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
    `  curl -s -u ${g.id}:${g.secret} -d token=$TOKEN ${i}/oauth2/introspect`,
    `  curl -s -u ${g.id}:${g.secret} -H 'Accept: application/token-introspection+jwt' -d token=$TOKEN ${i}/oauth2/introspect`,
    `  curl -s -u ${s.id}:${s.secret} -d token=$TOKEN ${i}/oauth2/revoke`,
    '',
    'The gateway and browser sign-in are not part of this build yet.',
    '',
  ].join('\n');
}
