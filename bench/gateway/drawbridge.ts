// Child entry point: the Drawbridge gateway, started through its public code (validateConfig
// + run, as `drawbridge start` does), logging silenced, one service whose route `/bench`
// forwards to UPSTREAM_URL with the plugins of SCENARIO:
//   none                    no plugins (a plain proxy route)
//   key-auth                key-auth (header `apikey`)
//   jwt                     jwt: ES256 access tokens of the auth server running in this
//                           process (AUTH_PORT; a client with access_token_format: jwt),
//                           trusted through its jwks_uri
//   hmac-auth               hmac-auth (RFC 9421, hmac-sha256, nonces remembered in-process)
//   key-auth+rate-limiting  key-auth + rate-limiting (minute: 100 000 000, never refuses);
//                           policy redis when REDIS_URL is given, else local
// Storage is `memory:`; with WORKERS > 1 (gateway.workers) a SQLite file in a fresh
// temporary directory (workers need shared storage), and this process becomes the
// cluster primary that supervises the workers, like `drawbridge start`.
//   node dist/bench/gateway/drawbridge.js PORT SCENARIO UPSTREAM_URL [WORKERS] [AUTH_PORT|-] [REDIS_URL|-]
import cluster from 'node:cluster';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, openKeyring } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { superviseWorkers } from '../../src/gateway/workers.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage } from '../../src/storage/open.js';
import { closeOnSignal, portFromArgv } from '../common.js';
import {
  API_KEY,
  announce,
  CONSUMER,
  GATEWAY_SCENARIOS,
  GATEWAY_SECRET,
  HMAC_KEY_ID,
  HMAC_SECRET,
  JWT_AUDIENCE,
  JWT_CLIENT_ID,
  JWT_CLIENT_SECRET,
  JWT_SCOPE,
  ROUTE_PREFIX,
  SERVICE_NAME,
  type GatewayScenario,
} from './common.js';

const port = portFromArgv();
const scenario = process.argv[3] as GatewayScenario;
if (!GATEWAY_SCENARIOS.includes(scenario)) {
  process.stderr.write(`unknown scenario "${process.argv[3]}": expected one of ${GATEWAY_SCENARIOS.join(', ')}\n`);
  process.exit(2);
}
const upstreamUrl = process.argv[4] ?? '';
const workers = Number(process.argv[5] ?? 1);
const authPort = process.argv[6] === undefined || process.argv[6] === '-' ? undefined : Number(process.argv[6]);
const redisUrl = process.argv[7] === undefined || process.argv[7] === '-' ? undefined : process.argv[7];
if (scenario === 'jwt' && authPort === undefined) {
  process.stderr.write('the jwt scenario needs AUTH_PORT (the auth server that issues the tokens)\n');
  process.exit(2);
}

const issuer = authPort === undefined ? 'http://127.0.0.1:9' : `http://127.0.0.1:${authPort}`;

// Workers share a SQLite file; the primary makes the directory, the workers inherit the env.
let ownedDir: string | undefined;
if (workers > 1 && cluster.isPrimary) {
  ownedDir = mkdtempSync(join(tmpdir(), 'drawbridge-gwbench-'));
  process.env.BENCH_GATEWAY_DB = join(ownedDir, 'drawbridge.db');
}
const storage = workers > 1 ? `sqlite:${process.env.BENCH_GATEWAY_DB}` : 'memory:';

function plugins(): Array<Record<string, unknown>> {
  switch (scenario) {
    case 'none':
      return [];
    case 'key-auth':
      return [{ name: 'key-auth' }];
    case 'jwt':
      return [
        {
          name: 'jwt',
          config: { issuers: [{ issuer, jwks_uri: `${issuer}/.well-known/jwks.json`, algorithms: ['ES256'] }], audience: JWT_AUDIENCE },
        },
      ];
    case 'hmac-auth':
      return [{ name: 'hmac-auth' }];
    case 'key-auth+rate-limiting':
      return [
        { name: 'key-auth' },
        {
          name: 'rate-limiting',
          // high enough never to refuse; a fresh namespace so earlier runs' Redis counters do not count
          config: { minute: 100_000_000, limit_by: 'consumer', policy: redisUrl ? 'redis' : 'local', namespace: `bench-${process.pid}-${Date.now()}` },
        },
      ];
  }
}

const raw: Record<string, unknown> = {
  issuer,
  storage,
  secret: GATEWAY_SECRET,
  keys: { algorithm: 'ES256' },
  log: { level: 'silent' },
  gateway: {
    listen: `127.0.0.1:${port}`,
    workers,
    consumers: [
      {
        username: CONSUMER,
        groups: ['bench'],
        credentials: { 'key-auth': [{ key: API_KEY }], 'hmac-auth': [{ key_id: HMAC_KEY_ID, secret: HMAC_SECRET }] },
      },
    ],
    services: [{ name: SERVICE_NAME, url: upstreamUrl, routes: [{ paths: [ROUTE_PREFIX], strip_path: false }], plugins: plugins() }],
  },
};
if (authPort !== undefined) {
  raw.auth = {
    listen: `127.0.0.1:${authPort}`,
    clients: [
      {
        client_id: JWT_CLIENT_ID,
        client_secret: JWT_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        scopes: [JWT_SCOPE],
        token_endpoint_auth_method: 'client_secret_basic',
        access_token_format: 'jwt',
        audiences: [JWT_AUDIENCE],
      },
    ],
  };
}
if (redisUrl !== undefined) raw.redis = redisUrl;
const config: Config = validateConfig(raw);
const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

if (workers > 1 && cluster.isPrimary) {
  // as `drawbridge start` does: migrations and the first signing key once, then fork
  const db = await openStorage(config.storage);
  const keyring = openKeyring(config, db, systemClock, silentLogger());
  await keyring.start();
  const jwks = keyring.jwks();
  keyring.stop();
  await db.close();
  process.on('exit', () => {
    if (ownedDir !== undefined) rmSync(ownedDir, { recursive: true, force: true });
  });
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) {
      announce({ server: `drawbridge (${workers} workers)`, version, url: `http://127.0.0.1:${port}`, issuer, jwks, workers });
    }
  });
  superviseWorkers({ workers, logger: silentLogger() });
} else {
  const running = await run(config, { logger: silentLogger() });
  closeOnSignal(() => running.close());
  if (cluster.isPrimary) {
    announce({
      server: 'drawbridge',
      version,
      url: running.gateway!.url,
      issuer,
      jwks: running.keyring.jwks(),
      tokenUrl: authPort === undefined ? undefined : `${issuer}/oauth2/token`,
      policy: scenario === 'key-auth+rate-limiting' ? (redisUrl ? 'redis' : 'local') : undefined,
      workers: 1,
    });
  }
}
