// Shared by admin-users and admin-users-sign-out: the storage each runs on (a SQLite file;
// PostgreSQL with Redis), the stack both start on it (auth server with an audit file, gateway
// with oidc-login sessions in SQL and the admin listener), and the config of a gateway started
// alone (--only) on a SQLite file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type Config } from '../../src/config/index.js';
import { TEST_SECRET, testKeys } from '../helpers/auth-server.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl, redisUrl } from '../helpers/services.js';
import { ADMIN_TOKEN, adminUrlOf } from './admin-support.js';
import { appAndApiServices, gatewayClient, stackAddresses } from './oidc-support.js';

const pg = await postgresUrl();
const redis = await redisUrl();

export interface UsersTarget {
  name: string;
  /** why the target is skipped here; false: it runs */
  skip: string | false;
  /** storage URL (and Redis) for a fresh database, and how to remove it */
  open(): Promise<{ top: Record<string, unknown>; cleanup(): Promise<void> }>;
}

/** A SQLite file (temporary directories named `prefix`…) and PostgreSQL with Redis, named `pgName`. */
export function usersTargets(prefix: string, pgName: string): UsersTarget[] {
  return [
    {
      name: 'SQLite file',
      skip: false,
      async open() {
        const dir = await mkdtemp(join(tmpdir(), prefix));
        return { top: { storage: `sqlite:${join(dir, 'db.sqlite')}` }, cleanup: () => rm(dir, { recursive: true, force: true }) };
      },
    },
    {
      name: pgName,
      skip: (pg === undefined || redis === undefined) && 'PostgreSQL or Redis not reachable',
      async open() {
        const schema = await migratedPostgresSchema(pg!);
        return { top: { storage: schema.url, redis }, cleanup: () => schema.drop() };
      },
    },
  ];
}

export interface UsersStack {
  stack: Stack;
  upstream: Upstream;
  issuer: string;
  /** the gateway's URL */
  gw: string;
  /** the admin API's URL */
  base: string;
  auditFile: string;
  close(): Promise<void>;
}

/**
 * The stack on `target`: the auth server (brute-force protection off, `auth.audit` to a file
 * of its own, `users`, `clients` and the client `gateway`), the gateway signing browsers in
 * through oidc-login (appAndApiServices) with sessions in SQL under `cookieName`, and the
 * admin listener. `prefix` names the temporary directories.
 */
export async function startUsersStack(
  target: UsersTarget,
  opts: { prefix: string; users?: unknown[]; clients: Array<Record<string, unknown>>; cookieName: string },
): Promise<UsersStack> {
  const opened = await target.open();
  let auditDir: string | undefined;
  let upstream: Upstream | undefined;
  let stack: Stack | undefined;
  const close = async () => {
    await stack?.close();
    await upstream?.close();
    await opened.cleanup();
    if (auditDir) await rm(auditDir, { recursive: true, force: true });
  };
  try {
    auditDir = await mkdtemp(join(tmpdir(), `${opts.prefix}audit-`));
    const auditFile = join(auditDir, 'audit.log');
    upstream = await startUpstream();
    const { authPort, gwPort, issuer, gw } = await stackAddresses();
    stack = await startStack({
      top: { issuer, ...opened.top },
      auth: {
        listen: `127.0.0.1:${authPort}`,
        brute_force: { enabled: false },
        audit: { file: auditFile },
        ...(opts.users ? { users: opts.users } : {}),
        clients: [...opts.clients, gatewayClient(gw)],
      },
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        sessions: { store: 'sql', cookie_name: opts.cookieName },
        services: appAndApiServices(upstream.url, issuer),
      },
    });
    return { stack, upstream, issuer, gw, base: adminUrlOf(stack), auditFile, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** The config of a gateway (with its admin API) started alone on a SQLite file in `dir`; the auth server's section is `auth`. */
export async function aloneConfig(dir: string, issuer: string, auth: Record<string, unknown>): Promise<Config> {
  return validateConfig({
    issuer,
    storage: `sqlite:${join(dir, 'db.sqlite')}`,
    secret: TEST_SECRET,
    log: { level: 'silent' },
    keys: testKeys(undefined),
    auth,
    gateway: { listen: `127.0.0.1:${await freePort()}`, admin_listen: '127.0.0.1:0', admin_token: ADMIN_TOKEN },
  });
}
