// Client authentication (RFC 6749 §2.3, RFC 7523): find out which method the request
// uses, refuse more than one, throttle repeated failures, and hand the check to the
// method's own file. A client may use only the method it is configured with.
import type { ClientAuthMethod } from '../../config/types.js';
import { AppError, invalidClient, invalidRequest, tooManyRequests } from '../../core/errors.js';
import { decodeFormComponent, remoteAddress } from '../../core/http.js';
import { mayNameClient, type Client } from '../clients.js';
import type { AuthContext } from '../context.js';
import { clientSecret } from './client-secret.js';
import { isGuess } from './not-a-guess.js';
import { privateKeyJwt } from './private-key-jwt.js';
import type { ClientAuthenticator, ClientAuthRequest, PresentedCredentials } from './types.js';
import { hasControlCharacter } from '../../core/text.js';
import { SECRET_METHODS } from '../../storage/client-records.js';

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

function presentedCredentials(r: ClientAuthRequest): PresentedCredentials {
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
  const byAddress: Counted = { key: `ip:${ip}`, limit: maxPerIp };
  // An id longer than any client's is no such client (the cache answers it so, clients.ts),
  // and has no window of its own: no client can be told apart by it, and it must not become
  // a throttle key (of up to tens of kB each).
  const possible = mayNameClient(presented.clientId);
  const byClient: Counted | undefined = possible ? { key: `client:${presented.clientId}`, limit: max } : undefined;
  // the windows a failure counts in: the client's only when it has a secret to guess (hasSecret)
  const windowsOf = (c: Client | null): Counted[] => (byClient !== undefined && (c === null || hasSecret(c)) ? [byClient, byAddress] : [byAddress]);
  // almost always answered by the in-process cache, without a query (clients.ts)
  let client = ctx.clients.peek(presented.clientId);
  let counted = client === undefined ? [byAddress] : windowsOf(client);
  // before any work: a locked-out client or address costs no lookup, and its failures are not counted
  await refuseAtLimit(ctx, counted);
  try {
    if (client === undefined) {
      client = await ctx.clients.load(presented.clientId);
      counted = windowsOf(client);
      // known only now: the client's own window too, before its credential is checked
      if (byClient !== undefined && counted.includes(byClient)) await refuseAtLimit(ctx, [byClient]);
    }
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
      const reason = { client_id: possible ? presented.clientId : `(${presented.clientId.length} characters)`, method: presented.method, ip, reason: err.message, counted: guess };
      ctx.logger.info(reason, 'client authentication failed');
      if (!guess) throw err;
      const counts = await Promise.all(counted.map((c) => ctx.failures.hit(c.key, window)));
      // Guesses checked in parallel (on this instance or any other sharing the counters) all
      // passed the first look before any of them failed. Only the first max_failures failures
      // of a window are told so; a later one is answered as throttled, so a burst learns no
      // more than max_failures wrong secrets per window, whatever its size.
      const over = counts.find((c, i) => c.count > counted[i]!.limit);
      if (over) throw tooManyRequests(over.resetIn, 'too many failed client authentications; retry later');
    }
    throw err;
  }
  // Once a secret proved right, for the same reason: it is accepted only while fewer than
  // max_failures failures are recorded, or a burst could still find the right one among its
  // guesses. A client without a secret guesses nothing by succeeding (a signature, or no
  // credential at all): the look before the work is enough, and it is spared a second one
  // (a Redis round trip when the counters are shared).
  if (hasSecret(client)) await refuseAtLimit(ctx, counted);
  return client;
}

/** A failure window: its counter's key and the failures it allows. */
interface Counted {
  key: string;
  limit: number;
}

/**
 * Whether failures count against the client itself, not only against the address sending
 * them. A client secret can be guessed, from many addresses at once: the client's own count
 * is what stops that. A private_key_jwt client has nothing to guess (a signature cannot be
 * guessed) and a public client no credential at all: counting their failures per client only
 * let anyone who knows the client_id lock it out (forged assertions, any secret sent), so they
 * count against the address alone. A client_id that names no client counts as one with a
 * secret, so the throttle does not tell which ids exist.
 */
function hasSecret(client: Client): boolean {
  return SECRET_METHODS.has(client.token_endpoint_auth_method);
}

/** 429 when any of the windows has reached its limit; in process memory, nothing to await. */
async function refuseAtLimit(ctx: AuthContext, windows: readonly Counted[]): Promise<void> {
  // every window in one call
  const checking = ctx.failures.firstAtLimit(
    windows.map((w) => w.key),
    windows.map((w) => w.limit),
  );
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
    // a failed client authentication (RFC 6749 §5.2: 401 with the challenge), as an undecodable
    // base64 is; the message points at the header, not the body the decoder speaks of
    throw invalidClient('malformed Basic credentials: the client_id and client_secret in the Authorization header must be form-urlencoded before Base64 (RFC 6749, section 2.3.1)');
  }
}

function unverifiedIssuer(jwt: string): string | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    // a client_id never holds a control character, and PostgreSQL refuses NUL in the lookup (a 500)
    return typeof payload?.iss === 'string' && payload.iss !== '' && !hasControlCharacter(payload.iss) ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}
