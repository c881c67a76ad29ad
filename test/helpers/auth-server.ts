// Starts a real auth server in this process on a free loopback port, on `memory:`
// storage unless told otherwise. The issuer is the listener's own URL.
import * as assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { validateConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { run, type Running } from '../../src/cli/run.js';
import type { Clock } from '../../src/core/clock.js';

export const TEST_SECRET = 'test-master-secret-0123456789abcdef-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `count` different free ports: each is held until all are chosen (freePort() called in a row
 * may hand out the same port twice, since each closes its listener before the next opens).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (srv) =>
          new Promise<number>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  }
}

export interface TestServer {
  issuer: string;
  config: Config;
  running: Running;
  close(): Promise<void>;
}

/**
 * Test servers sign ID tokens with the main algorithm only unless a test names
 * `keys.id_token_algorithms`: the default adds an RSA key generated at every fresh start,
 * which most tests do not need (test/auth/id-token-algs.test.ts covers the default).
 */
export function testKeys(keys: unknown): Record<string, unknown> {
  const given = typeof keys === 'object' && keys !== null ? (keys as Record<string, unknown>) : {};
  if ('id_token_algorithms' in given) return given;
  return { ...given, id_token_algorithms: [typeof given.algorithm === 'string' ? given.algorithm : 'ES256'] };
}

/** `auth` is merged into the auth section; `top` into the top level (storage, keys, …). */
export async function startAuth(
  auth: Record<string, unknown>,
  top: Record<string, unknown> = {},
  opts: { clock?: Clock } = {},
): Promise<TestServer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = validateConfig({
    issuer,
    storage: 'memory:',
    secret: TEST_SECRET,
    log: { level: 'silent' },
    ...top,
    keys: testKeys(top.keys),
    auth: { listen: `127.0.0.1:${port}`, ...auth },
  });
  const running = await run(config, { logger: silentLogger(), clock: opts.clock });
  return { issuer, config, running, close: () => running.close() };
}

export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

export async function postForm(
  url: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
}

/** A JSON answer as it came: its status and body, whatever the status. */
export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * POSTs `form` to `issuer`'s token endpoint (`headers`: the client's authorization, if any) and
 * returns the status and JSON body whatever the status: for tests that look at refusals too.
 */
export async function tokenAnswer(
  issuer: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<JsonAnswer> {
  const res = await postForm(`${issuer}/oauth2/token`, form, headers);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The JSON body of a 200 answer (a token response, say), failing with the body otherwise. */
export async function issued<T = Record<string, unknown>>(res: Response): Promise<T> {
  const body = (await res.json()) as T;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}
