// Client authentication (RFC 6749 §2.3, RFC 7523): find out which method the request
// uses, refuse more than one, throttle repeated failures, and hand the check to the
// method's own file. A client may use only the method it is configured with.
import type { ClientAuthMethod } from '../../config/types.js';
import { AppError, invalidClient, invalidRequest, tooManyRequests } from '../../core/errors.js';
import { decodeFormComponent, remoteAddress } from '../../core/http.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';
import { clientSecret } from './client-secret.js';
import { isGuess } from './not-a-guess.js';
import { privateKeyJwt } from './private-key-jwt.js';
import type { ClientAuthenticator, ClientAuthRequest, PresentedCredentials } from './types.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const noCredential: ClientAuthenticator = function publicClient() {
  // a public client proves nothing; what it may do is limited by the caller
};

const AUTHENTICATORS: Readonly<Record<ClientAuthMethod, ClientAuthenticator>> = {
  client_secret_basic: clientSecret,
  client_secret_post: clientSecret,
  private_key_jwt: privateKeyJwt,
  none: noCredential,
};

export const SUPPORTED_CLIENT_AUTH_METHODS = Object.keys(AUTHENTICATORS) as ClientAuthMethod[];

export function presentedCredentials(r: ClientAuthRequest): PresentedCredentials {
  const found: PresentedCredentials[] = [];
  const authz = r.req.headers.authorization;
  if (authz !== undefined) {
    const basic = parseBasic(authz);
    if (basic) found.push({ method: 'client_secret_basic', ...basic });
    else if (/^basic(\s|$)/i.test(authz)) throw invalidClient('malformed Basic credentials (expected base64 of client_id:client_secret, each form-urlencoded)');
    else throw invalidClient('unsupported Authorization scheme for client authentication');
  }
  const assertionType = r.params.get('client_assertion_type');
  const assertion = r.params.get('client_assertion');
  if (assertionType !== undefined || assertion !== undefined) {
    if (assertionType !== JWT_BEARER) throw invalidRequest(`client_assertion_type must be ${JWT_BEARER}`);
    if (assertion === undefined) throw invalidRequest('missing required parameter "client_assertion"');
    const iss = unverifiedIssuer(assertion);
    if (iss === undefined) throw invalidClient('client assertion is malformed');
    found.push({ method: 'private_key_jwt', clientId: iss, credential: assertion });
  }
  const bodySecret = r.params.get('client_secret');
  const bodyId = r.params.get('client_id');
  if (bodySecret !== undefined) {
    if (bodyId === undefined) throw invalidRequest('client_secret given without client_id');
    found.push({ method: 'client_secret_post', clientId: bodyId, credential: bodySecret });
  }
  if (found.length > 1) throw invalidRequest('more than one client authentication method used');
  if (found.length === 1) {
    const only = found[0]!;
    // client_id in the body must agree with the authenticated one (RFC 7521 §4.2, RFC 6749 §2.3.1)
    if (bodyId !== undefined && bodyId !== only.clientId) throw invalidClient('client_id does not match the authenticated client');
    return only;
  }
  if (bodyId !== undefined) return { method: 'none', clientId: bodyId };
  throw invalidClient('client authentication required');
}

export interface AuthenticateOptions {
  /** allow public clients (method none) at this endpoint */
  allowPublic: boolean;
}

export async function authenticateClient(ctx: AuthContext, r: ClientAuthRequest, opts: AuthenticateOptions): Promise<Client> {
  const presented = presentedCredentials(r);
  const ip = remoteAddress(r.req);
  const { max_failures: max, max_failures_per_ip: maxPerIp, window } = ctx.auth.client_auth_throttle;
  const keys = [`client:${presented.clientId}`, `ip:${ip}`];
  const limits = [max, maxPerIp];
  // before any work: a locked-out client or address costs no lookup, and its failures are not counted
  await refuseAtLimit(ctx, keys, limits);
  let client: Client | null | undefined;
  try {
    // almost always answered by the in-process cache, without a query (clients.ts)
    client = ctx.clients.peek(presented.clientId);
    if (client === undefined) client = await ctx.clients.load(presented.clientId);
    if (client === null) throw invalidClient('client authentication failed');
    if (client.token_endpoint_auth_method !== presented.method) {
      throw invalidClient(`client must authenticate with ${client.token_endpoint_auth_method}`);
    }
    if (presented.method === 'none' && !opts.allowPublic) throw invalidClient('client authentication required');
    const checked = AUTHENTICATORS[presented.method](ctx, client, presented, r.endpoint);
    if (checked !== undefined) await checked; // only private_key_jwt does I/O
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_client') {
      // an assertion the client signed, refused all the same (replayed, expired): no guess,
      // and counting it would let one captured assertion lock the client out (not-a-guess.ts)
      const guess = isGuess(err);
      const reason = { client_id: presented.clientId, method: presented.method, ip, reason: err.message, counted: guess };
      ctx.logger.info(reason, 'client authentication failed');
      if (!guess) throw err;
      const counted = await Promise.all(keys.map((k) => ctx.failures.hit(k, window)));
      // Guesses checked in parallel (on this instance or any other sharing the counters) all
      // passed the first look before any of them failed. Only the first max_failures failures
      // of a window are told so; a later one is answered as throttled, so a burst learns no
      // more than max_failures wrong secrets per window, whatever its size.
      const over = counted.find((c, i) => c.count > limits[i]!);
      if (over) throw tooManyRequests(over.resetIn, 'too many failed client authentications; retry later');
    }
    throw err;
  }
  // Again once the credential proved right, for the same reason: it is accepted only while
  // fewer than max_failures failures are recorded.
  await refuseAtLimit(ctx, keys, limits);
  return client;
}

/** 429 when any of the windows has reached its limit; in process memory, nothing to await. */
async function refuseAtLimit(ctx: AuthContext, keys: readonly string[], limits: readonly number[]): Promise<void> {
  // both windows in one call
  const checking = ctx.failures.firstAtLimit(keys, limits);
  const blocked = checking instanceof Promise ? await checking : checking;
  if (blocked) throw tooManyRequests(blocked.resetIn, 'too many failed client authentications; retry later');
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
function parseBasic(header: string): { clientId: string; credential: string } | undefined {
  const m = /^Basic +([A-Za-z0-9+/=._~-]+) *$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw invalidClient('malformed Basic credentials');
  try {
    return { clientId: decodeFormComponent(decoded.slice(0, colon)), credential: decodeFormComponent(decoded.slice(colon + 1)) };
  } catch {
    // still a malformed request (400), but the message must point at the header, not the body
    throw invalidRequest('the client_id and client_secret in the Authorization header must be form-urlencoded before Base64 (RFC 6749, section 2.3.1)');
  }
}

function unverifiedIssuer(jwt: string): string | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    // a client_id never holds a control character, and PostgreSQL refuses NUL in the lookup (a 500)
    return typeof payload?.iss === 'string' && payload.iss !== '' && !/[\x00-\x1f\x7f]/.test(payload.iss) ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}
