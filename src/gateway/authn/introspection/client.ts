// Talks to the introspection endpoint (RFC 7662) over a keep-alive undici Pool, asking for
// a signed response (RFC 9701) when configured: the JWT must carry `typ:
// token-introspection+jwt`, our issuer, `aud` = our client_id and verify with the issuer's
// JWKS. The endpoint and the JWKS come from the issuer's discovery unless configured.
import { Pool } from 'undici';
import type { Clock } from '../../../core/clock.js';
import { basicCredentials, jsonObjectOf, readLimitedResponse } from '../../../core/http.js';
import type { Logger } from '../../../observability/logger.js';
import type { EventBus } from '../../types.js';
import { ALL_JWT_ALGS } from '../jwt/algorithms.js';
import { RemoteKeySource } from '../jwt/jwks.js';
import { verifyJwt, type TrustedIssuer } from '../jwt/verify.js';

const JWT_RESPONSE_TYPE = 'application/token-introspection+jwt';
const MAX_RESPONSE_BYTES = 64 * 1024;

interface IntrospectionClientOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  endpoint?: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
  jwtResponse: boolean;
  timeoutMs: number;
  clock: Clock;
  logger: Logger;
  events: EventBus;
}

/** The introspection answer (RFC 7662 §2.2), or why there is none (the endpoint failed us). */
export type IntrospectionOutcome = { ok: true; claims: Record<string, unknown> } | { ok: false; problem: string };

interface Resolved {
  endpoint: URL;
  issuers?: ReadonlyMap<string, TrustedIssuer>;
}

const pools = new WeakMap<EventBus, Map<string, Pool>>();

/** One pool per origin per gateway: plugin instances and reloads share it. */
function poolFor(events: EventBus, origin: string): Pool {
  let byOrigin = pools.get(events);
  if (byOrigin === undefined) {
    byOrigin = new Map();
    pools.set(events, byOrigin);
  }
  let pool = byOrigin.get(origin);
  if (pool === undefined) {
    pool = new Pool(origin, { connections: 32, keepAliveTimeout: 4_000 });
    byOrigin.set(origin, pool);
  }
  return pool;
}

async function send(
  events: EventBus,
  url: URL,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<{ status: number; type: string; body: string }> {
  const pool = poolFor(events, url.origin);
  const res = await pool.request({
    path: url.pathname + url.search,
    method: init.method,
    headers: init.headers,
    body: init.body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const body = await readLimitedResponse(res.body, MAX_RESPONSE_BYTES, 'response');
  const type = res.headers['content-type'];
  return { status: res.statusCode, type: (Array.isArray(type) ? type[0] : type) ?? '', body: body.toString('utf8') };
}


export class IntrospectionClient {
  readonly #opts: IntrospectionClientOptions;
  #resolved: Promise<Resolved> | undefined;
  readonly #authorization: string | undefined;
  /** introspection calls made (tests, metrics) */
  calls = 0;

  constructor(opts: IntrospectionClientOptions) {
    this.#opts = opts;
    this.#authorization =
      opts.authMethod === 'client_secret_basic'
        ? // RFC 6749 §2.3.1: form-urlencode both parts before Base64
          basicCredentials(opts.clientId, opts.clientSecret)
        : undefined;
  }

  /** Resolves the endpoint (and keys) now so the first request does not wait; failures retry on use. */
  prefetch(): void {
    this.#resolve().catch((err: unknown) => this.#opts.logger.warn({ err: (err as Error).message }, 'introspection: discovery failed; retrying on use'));
  }

  #resolve(): Promise<Resolved> {
    this.#resolved ??= this.#discover().catch((err: unknown) => {
      this.#resolved = undefined;
      throw err;
    });
    return this.#resolved;
  }

  async #discover(): Promise<Resolved> {
    const o = this.#opts;
    let endpoint = o.endpoint;
    let jwksUri: string | undefined;
    if (endpoint === undefined || o.jwtResponse) {
      const url = new URL(`${o.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
      const res = await send(o.events, url, { method: 'GET', headers: { accept: 'application/json' } }, o.timeoutMs);
      const doc = res.status === 200 ? jsonObjectOf(res.body) : undefined;
      if (doc === undefined) throw new Error(`discovery at ${url.href} answered ${res.status}`);
      if (endpoint === undefined) {
        if (typeof doc.introspection_endpoint !== 'string') throw new Error('discovery names no introspection_endpoint');
        endpoint = doc.introspection_endpoint;
      }
      if (o.jwtResponse) {
        if (typeof doc.jwks_uri !== 'string') throw new Error('discovery names no jwks_uri');
        jwksUri = doc.jwks_uri;
      }
    }
    const resolved: Resolved = { endpoint: new URL(endpoint) };
    if (jwksUri !== undefined) {
      const keys = new RemoteKeySource({ uri: jwksUri, clock: o.clock, logger: o.logger, refetchInterval: 60, cacheTtl: 600 });
      keys.prefetch();
      resolved.issuers = new Map([[o.issuer, { issuer: o.issuer, algorithms: new Set(ALL_JWT_ALGS), keys }]]);
    }
    return resolved;
  }

  async introspect(token: string): Promise<IntrospectionOutcome> {
    const o = this.#opts;
    let resolved: Resolved;
    try {
      resolved = await this.#resolve();
    } catch (err) {
      return { ok: false, problem: (err as Error).message };
    }
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    if (this.#authorization === undefined) {
      form.set('client_id', o.clientId);
      form.set('client_secret', o.clientSecret);
    }
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: o.jwtResponse ? JWT_RESPONSE_TYPE : 'application/json',
    };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    this.calls++;
    let res: { status: number; type: string; body: string };
    try {
      res = await send(o.events, resolved.endpoint, { method: 'POST', headers, body: form.toString() }, o.timeoutMs);
    } catch (err) {
      return { ok: false, problem: `introspection request failed: ${(err as Error).message}` };
    }
    if (res.status !== 200) return { ok: false, problem: `introspection endpoint answered ${res.status}` };
    if (!o.jwtResponse) {
      const claims = jsonObjectOf(res.body);
      return claims === undefined ? { ok: false, problem: 'introspection response is not a JSON object' } : { ok: true, claims };
    }
    return this.#verifyJwtResponse(res, resolved);
  }

  async #verifyJwtResponse(res: { type: string; body: string }, resolved: Resolved): Promise<IntrospectionOutcome> {
    const o = this.#opts;
    if (res.type.split(';')[0]!.trim().toLowerCase() !== JWT_RESPONSE_TYPE) {
      return { ok: false, problem: `introspection response is ${res.type || 'untyped'}, not ${JWT_RESPONSE_TYPE}` };
    }
    const verified = await verifyJwt(res.body.trim(), resolved.issuers!, { audience: new Set([o.clientId]), leeway: 30, now: o.clock.now() });
    if (!verified.ok) return { ok: false, problem: `introspection response rejected: ${verified.problem}` };
    const typ = verified.header.typ;
    if (typeof typ !== 'string' || !['token-introspection+jwt', JWT_RESPONSE_TYPE].includes(typ.toLowerCase())) {
      return { ok: false, problem: 'introspection response has the wrong typ' };
    }
    const claims = verified.payload.token_introspection;
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      return { ok: false, problem: 'introspection response has no token_introspection claim' };
    }
    return { ok: true, claims: claims as Record<string, unknown> };
  }
}
