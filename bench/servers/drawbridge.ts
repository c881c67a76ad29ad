// Child entry point: Drawbridge's auth server on 127.0.0.1:PORT, started through its public
// code (validateConfig + run), ES256 keys, logging silenced. Storage is `memory:` (like
// oidc-provider's in-memory adapter), or with `sqlite` a SQLite file in a fresh temporary
// directory (the embedded default; the `drawbridge-sqlite` rows of the report).
//   node dist/bench/servers/drawbridge.js PORT [memory|sqlite]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { run } from '../../src/cli/run.js';
import { silentLogger } from '../../src/observability/logger.js';
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
const storageKind = process.argv[3] ?? 'memory';
if (storageKind !== 'memory' && storageKind !== 'sqlite') {
  process.stderr.write(`unknown storage "${storageKind}": expected memory or sqlite\n`);
  process.exit(2);
}
const dataDir = storageKind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'drawbridge-bench-')) : undefined;

function client(clientId: string, format: 'opaque' | 'jwt'): Record<string, unknown> {
  return {
    client_id: clientId,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    scopes: [...SCOPES],
    token_endpoint_auth_method: 'client_secret_basic',
    access_token_format: format,
    audiences: [RESOURCE],
  };
}

const config = validateConfig({
  issuer,
  storage: dataDir === undefined ? 'memory:' : `sqlite:${join(dataDir, 'drawbridge.db')}`,
  secret: 'bench-master-secret-0123456789abcdef-0123456789abcdef',
  keys: { algorithm: 'ES256' },
  log: { level: 'silent' },
  auth: {
    listen: `127.0.0.1:${port}`,
    access_token_ttl: `${ACCESS_TOKEN_TTL}s`,
    clients: [client(OPAQUE_CLIENT, 'opaque'), client(JWT_CLIENT, 'jwt')],
  },
});

const running = await run(config, { logger: silentLogger() });
closeOnSignal(async () => {
  await running.close();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
announceReady({
  server: dataDir === undefined ? 'drawbridge' : 'drawbridge-sqlite',
  version: pkg.version,
  issuer,
  tokenPath: '/oauth2/token',
  introspectionPath: '/oauth2/introspect',
  jwksPath: '/.well-known/jwks.json',
});
