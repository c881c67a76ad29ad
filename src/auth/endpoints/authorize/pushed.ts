// Pushed authorization requests (RFC 9126) without storing the requests: the request_uri the
// PAR endpoint returns carries the pushed parameters themselves, sealed (AES-256-GCM under a
// key derived from the master secret), with the client it belongs to and its expiry. Any
// instance can read it, and nobody but this server can read or change it.
// The login, TOTP and consent pages carry a fresh request_uri of the same kind (renewed by
// each page) instead of the parameters, so the request stays the pushed one to the end.
//
// A request_uri from the PAR endpoint is used once (RFC 9126 §4): its first use is recorded
// (storage.jtis, until it expires) and answered with a redirect to the same request under a
// request_uri of the flow's own, so that reloading the login page still works while a second
// use of the pushed one is refused.
//
// A request that came from a verified request object (RFC 9101: `request` at either endpoint) is
// marked so in its request_uri, and stays marked in those of its pages: a client that must send
// request objects (require_signed_request_object) is held to it through the whole flow.
import { randomBytes } from 'node:crypto';
import { FormParams } from '../../../core/http.js';
import { deriveKey, seal, unseal } from '../../../crypto/seal.js';
import type { AuthContext } from '../../context.js';
import { REPEATABLE_REQUEST_PARAMS, REQUEST_PARAMS, UntrustedRequestError } from './request.js';

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** Seconds a pushed request waits for the browser (RFC 9126 §2.2 `expires_in`). */
export const PUSHED_TTL = 90;
/** Seconds the request_uri of a page of the flow lasts: the user's time to fill it in. */
export const IN_FLOW_TTL = 900;
const AAD = 'pushed-authorization-request';

interface Sealed {
  /** client_id */
  c: string;
  /** set in the PAR endpoint's request_uri only: its one-time id */
  j?: string;
  /** expiry, epoch seconds */
  e: number;
  /** the request's parameters (REQUEST_PARAMS but client_id, and each resource), in order */
  p: Array<[string, string]>;
  /** set when they come from a verified request object (RFC 9101), by value or pushed as one (the pages may drop prompt / max_age once used) */
  o?: 1;
}

const keys = new WeakMap<AuthContext, Buffer>();

function keyOf(ctx: AuthContext): Buffer {
  let key = keys.get(ctx);
  // without a master secret (tests), one key per process: a request_uri is then this instance's only
  if (key === undefined) keys.set(ctx, (key = ctx.config.secret ? deriveKey(ctx.config.secret, AAD) : randomBytes(32)));
  return key;
}

const CARRIED: ReadonlySet<string> = new Set([...REQUEST_PARAMS.filter((name) => name !== 'client_id'), ...REPEATABLE_REQUEST_PARAMS]);

/** How a request_uri's request came. */
interface RequestUriOptions {
  /** the PAR endpoint's, which the authorization endpoint accepts a single time */
  once?: boolean;
  /** the parameters come from a verified request object (RFC 9101) */
  signed?: boolean;
}

/** A request_uri for these parameters of `clientId` (client_id among them is ignored). */
export function requestUriFor(ctx: AuthContext, clientId: string, fields: Iterable<readonly [string, string]>, ttl: number, opts: RequestUriOptions = {}): string {
  const p: Array<[string, string]> = [];
  for (const [name, value] of fields) if (CARRIED.has(name) && value !== '') p.push([name, value]);
  const sealed: Sealed = {
    c: clientId,
    e: ctx.clock.now() + ttl,
    p,
    ...(opts.once === true ? { j: randomBytes(16).toString('base64url') } : {}),
    ...(opts.signed === true ? { o: 1 as const } : {}),
  };
  return REQUEST_URI_PREFIX + seal(keyOf(ctx), JSON.stringify(sealed), AAD);
}

/** The request's own parameters, as a pushed request sends them. */
export function pushedFields(params: FormParams): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  for (const name of REQUEST_PARAMS) {
    const value = name === 'client_id' ? undefined : params.get(name);
    if (value !== undefined) fields.push([name, value]);
  }
  for (const name of REPEATABLE_REQUEST_PARAMS) for (const value of params.all(name)) fields.push([name, value]);
  return fields;
}

/** What a request_uri stands for. */
type Pulled =
  /**
   * the request's parameters (the pushed ones, with client_id, and the page's own fields);
   * `signed`: they come from a verified request object (RFC 9101)
   */
  | { params: FormParams; signed: boolean; next?: undefined }
  /** the PAR endpoint's request_uri, now used: the browser goes on to `next`, a request_uri of the flow's own */
  | { params?: undefined; next: string };

/**
 * Reads the request_uri of an authorization request. The page's own fields (username,
 * csrf_token, action, …) are kept; any other authorization parameter sent beside the
 * request_uri is ignored (RFC 9126 §4). Refused (an error page: the redirect URI is not known
 * yet) when the request_uri is not one of ours, has expired, belongs to another client or,
 * from the PAR endpoint, was used before. `use: false` (HEAD) leaves the PAR endpoint's
 * request_uri unused: its parameters come back as the flow's own request_uri would give them.
 */
export async function pulledParams(ctx: AuthContext, outer: FormParams, opts: { use: boolean } = { use: true }): Promise<Pulled> {
  const uri = outer.get('request_uri')!;
  const clientId = outer.get('client_id');
  if (clientId === undefined) throw new UntrustedRequestError('client_id is required with request_uri');
  if (!uri.startsWith(REQUEST_URI_PREFIX)) throw new UntrustedRequestError('request_uri is not one this server issued (use the pushed authorization request endpoint)');
  let sealed: Sealed;
  try {
    sealed = JSON.parse(unseal(keyOf(ctx), uri.slice(REQUEST_URI_PREFIX.length), AAD)) as Sealed;
  } catch {
    throw new UntrustedRequestError('request_uri is not valid');
  }
  const now = ctx.clock.now();
  if (sealed.e < now) throw new UntrustedRequestError('request_uri has expired; push the request again');
  if (sealed.c !== clientId) throw new UntrustedRequestError('request_uri belongs to another client');
  if (sealed.j !== undefined) {
    const fresh = opts.use
      ? await ctx.storage.jtis.remember(ONCE_NAMESPACE, sealed.j, sealed.e + 1, now)
      : !(await ctx.storage.jtis.has(ONCE_NAMESPACE, sealed.j, now));
    if (!fresh) throw new UntrustedRequestError('request_uri was already used; push the request again');
    if (opts.use) {
      const next = new URLSearchParams({ client_id: clientId, request_uri: requestUriFor(ctx, clientId, sealed.p, IN_FLOW_TTL, { signed: sealed.o === 1 }) });
      return { next: `${ctx.endpoints.authorization}?${next.toString()}` };
    }
    // not used up (HEAD): the parameters below, as the flow's own request_uri gives them
  }
  const values = new Map<string, string[]>();
  for (const name of outer.names()) {
    if (name !== 'request_uri' && name !== 'request' && !CARRIED.has(name)) values.set(name, outer.all(name));
  }
  values.set('client_id', [clientId]);
  // a repeatable parameter (resource) comes as several pairs
  for (const [name, value] of sealed.p) values.set(name, [...(values.get(name) ?? []), value]);
  return { params: new FormParams(values), signed: sealed.o === 1 };
}

const ONCE_NAMESPACE = 'par-request-uri';
