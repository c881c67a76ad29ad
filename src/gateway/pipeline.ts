// The per-request chain of a compiled route: interceptors → authenticators → authorizers
// → limiters. Everything here was resolved at compile time; the loops below only call.
//
// Authenticators are OR-ed: each says skip (not my credential), ok or fail; the first that
// recognises its credential decides. When none does, the route's `anonymous` consumer is
// used if configured, else the answer is 401 with every configured challenge, one
// `WWW-Authenticate` field each. A route without authenticators runs with no identity.
import type { Metrics } from './metrics.js';
import { ChallengeError } from './respond.js';
import type { ConsumerRef, GatewayRequest, Identity } from './types.js';

/**
 * Runs the chain; true when an interceptor already answered (e.g. a CORS preflight). Throws
 * (or rejects with) GatewayError to refuse. A route without plugins answers synchronously,
 * and stages that answer synchronously (cache hits) are not awaited: no microtask per stage.
 */
export function runPipeline(gr: GatewayRequest, metrics: Metrics): boolean | Promise<boolean> {
  const route = gr.route;
  if (route.interceptors.length === 0 && route.authenticators.length === 0 && route.authorizers.length === 0 && route.limiters.length === 0) {
    return false;
  }
  return runChain(gr, metrics);
}

async function runChain(gr: GatewayRequest, metrics: Metrics): Promise<boolean> {
  const route = gr.route;
  const interceptors = route.interceptors;
  for (let i = 0; i < interceptors.length; i++) {
    const answered = interceptors[i]!.intercept(gr);
    if (answered === true || (answered !== false && (await answered))) return true;
  }
  if (route.authenticators.length > 0) await authenticate(gr, metrics);
  const authorizers = route.authorizers;
  for (let i = 0; i < authorizers.length; i++) {
    const pending = authorizers[i]!.authorize(gr);
    if (pending !== undefined) await pending;
  }
  const limiters = route.limiters;
  for (let i = 0; i < limiters.length; i++) {
    const pending = limiters[i]!.limit(gr);
    if (pending !== undefined) await pending;
  }
  return false;
}

async function authenticate(gr: GatewayRequest, metrics: Metrics): Promise<void> {
  const route = gr.route;
  const authenticators = route.authenticators;
  for (let i = 0; i < authenticators.length; i++) {
    const pending = authenticators[i]!.authenticate(gr);
    const result = pending instanceof Promise ? await pending : pending;
    if (result.kind === 'skip') continue;
    if (result.kind === 'ok') {
      gr.identity = result.identity;
      return;
    }
    metrics.authFailure(authenticators[i]!.name, result.error.reason ?? result.error.code);
    throw result.error;
  }
  if (route.anonymous !== undefined) {
    gr.identity = anonymousIdentity(route.anonymous);
    return;
  }
  metrics.authFailure('none', 'missing_credentials');
  throw new ChallengeError(
    'authentication required',
    authenticators.map((a) => a.challenge),
  );
}

const anonymousIdentities = new WeakMap<ConsumerRef, Identity>();

/** The identity of requests let through as the `anonymous` consumer (shared, frozen). */
export function anonymousIdentity(consumer: ConsumerRef): Identity {
  let identity = anonymousIdentities.get(consumer);
  if (identity === undefined) {
    identity = Object.freeze({
      auth_method: 'anonymous',
      sub: `consumer:${consumer.username}`,
      consumer,
      scope: [],
      groups: consumer.groups,
      credential_id: `anonymous:${consumer.id}`,
    } satisfies Identity);
    anonymousIdentities.set(consumer, identity);
  }
  return identity;
}
