// Shared by the authn-*.test.ts suites: a raw HTTP client (so repeated WWW-Authenticate
// fields stay separate), the internal-token check against the issuer's JWKS with jose,
// and the "nothing of the edge credential reached upstream" assertions.
import * as assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { RecordedRequest, Stack } from '../helpers/gateway.js';
import { fixedClock, type Clock } from '../../src/core/clock.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { createConsumerStore } from '../../src/gateway/consumers.js';
import { createEventBus } from '../../src/gateway/events.js';
import type { GatewayDeps } from '../../src/gateway/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage } from '../../src/storage/open.js';
import { TEST_SECRET } from '../helpers/auth-server.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  text: string;
  json: Record<string, unknown>;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/** One HTTP/1.1 request to `base + target` (target sent exactly as given). */
export function send(base: string, target: string, opts: SendOptions = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? 'GET',
        path: target,
        headers: { connection: 'close', ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON: tests look at text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** Every WWW-Authenticate field, in order, each as sent. */
export function challenges(reply: Reply): string[] {
  const out: string[] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    if (reply.rawHeaders[i]!.toLowerCase() === 'www-authenticate') out.push(reply.rawHeaders[i + 1]!);
  }
  return out;
}

/** Asserts a 401 refusal: status, error body, and exactly these challenges. */
export function assertUnauthorized(reply: Reply, expectedChallenges: string[], error = 'unauthorized'): void {
  assert.equal(reply.status, 401, reply.text);
  assert.equal(reply.json.error, error);
  assert.equal(typeof reply.json.error_description, 'string');
  assert.equal(typeof reply.json.request_id, 'string');
  assert.deepEqual(challenges(reply), expectedChallenges);
}

const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/** Verifies the internal token upstream received with jose against the issuer's JWKS; returns its claims. */
export async function internalClaims(stack: Stack, rec: RecordedRequest, audience: string): Promise<JWTPayload> {
  const header = rec.headers.authorization;
  assert.ok(typeof header === 'string' && header.startsWith('Bearer '), `upstream Authorization: ${String(header)}`);
  const uri = stack.jwksUri;
  assert.ok(uri, 'the stack runs an auth server');
  let jwks = jwksCache.get(uri);
  if (jwks === undefined) {
    jwks = createRemoteJWKSet(new URL(uri));
    jwksCache.set(uri, jwks);
  }
  const { payload, protectedHeader } = await jwtVerify(header.slice(7), jwks, { issuer: stack.issuer, audience });
  assert.equal(protectedHeader.typ, 'at+jwt');
  return payload;
}

/** Nothing in `rec` may contain `secret` (the edge credential), in any header, the URL or the body. */
export function assertNoCredential(rec: RecordedRequest, secret: string): void {
  assert.ok(!rec.url.includes(secret) && !rec.url.includes(encodeURIComponent(secret)), `credential in upstream URL ${rec.url}`);
  for (let i = 0; i < rec.rawHeaders.length; i += 2) {
    assert.ok(!rec.rawHeaders[i + 1]!.includes(secret), `credential in upstream header ${rec.rawHeaders[i]}`);
  }
}

/** Spoofable identity headers a client may try; none may reach upstream as sent. */
export const SPOOFED = {
  'x-consumer-username': 'admin',
  'x-consumer-id': 'spoofed-id',
  'x-userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
  'x-drawbridge-sub': 'admin',
} as const;

export function assertNotSpoofed(rec: RecordedRequest): void {
  assert.notEqual(rec.headers['x-consumer-username'], SPOOFED['x-consumer-username']);
  assert.notEqual(rec.headers['x-consumer-id'], SPOOFED['x-consumer-id']);
  assert.equal(rec.headers['x-userinfo'], undefined);
  assert.equal(rec.headers['x-drawbridge-sub'], undefined);
}

// ─── Unit-test deps: the real consumer store and event bus over `memory:` storage ─────────

export interface UnitDeps extends GatewayDeps {
  clock: Clock & { advance(seconds: number): void };
  close(): Promise<void>;
}

/** GatewayDeps for calling plugin factories directly (no listener, no upstream). */
export async function unitDeps(start = 1_700_000_000): Promise<UnitDeps> {
  const clock = fixedClock(start);
  const logger = silentLogger();
  const storage = await openStorage('memory:');
  const events = createEventBus(undefined, logger);
  const consumers = createConsumerStore(storage, { secret: TEST_SECRET, clock, logger, events });
  const keyring = new Keyring({ repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', clock, refreshInterval: 0 });
  await keyring.start();
  return {
    storage,
    keyring,
    clock,
    logger,
    issuer: 'http://127.0.0.1:9',
    secret: TEST_SECRET,
    consumers,
    events,
    async close() {
      consumers.close();
      await events.close();
      keyring.stop();
      await storage.close();
    },
  };
}
