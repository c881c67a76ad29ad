// What both servers under test are configured with, so the comparison is like for like:
// the same two confidential clients (client_secret_basic, client_credentials, same scopes,
// same secret), the same resource indicator, the same token lifetime, ES256 everywhere.
// Shared by the orchestrator (bench/run.ts) and the child entry points (bench/servers/*).

/** Both clients authenticate with this secret (client_secret_basic). */
export const CLIENT_SECRET = 'bench-client-secret-5f0c2a7e9b14d6c38e2f70a1b9d4c6e8';

/** Issues opaque access tokens; also the client that introspects. */
export const OPAQUE_CLIENT = 'bench-opaque';
/** Issues ES256 JWT access tokens (RFC 9068) for RESOURCE. */
export const JWT_CLIENT = 'bench-jwt';

export const SCOPES = ['api:read', 'api:write'] as const;
export const SCOPE = SCOPES.join(' ');

/** The RFC 8707 resource indicator sent with every JWT-token request, to both servers. */
export const RESOURCE = 'https://api.bench.example/';

/** Access token lifetime on both servers, seconds. */
export const ACCESS_TOKEN_TTL = 600;

/** A child prints exactly one line starting with this, followed by ReadyInfo as JSON. */
export const READY_PREFIX = 'BENCH_READY ';

export interface ReadyInfo {
  server: string;
  version: string;
  issuer: string;
  tokenPath: string;
  introspectionPath: string;
  jwksPath: string;
}

/** `node dist/bench/servers/X.js PORT` */
export function portFromArgv(): number {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`usage: node ${process.argv[1]} PORT\n`);
    process.exit(2);
  }
  return port;
}

export function announceReady(info: ReadyInfo): void {
  process.stdout.write(READY_PREFIX + JSON.stringify(info) + '\n');
}

/** Closes the server on SIGTERM/SIGINT, then exits (lets --cpu-prof write its profile). */
export function closeOnSignal(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`close failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
