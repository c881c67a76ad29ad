// The per-request chain of a compiled route: interceptors → authenticators → authorizers
// → limiters. Everything here was resolved at compile time; the loops below only call.
//
// Authenticators are OR-ed: each says skip (not my credential), ok or fail; the first that
// recognises its credential decides. When none does, the route's `anonymous` consumer is
// used if configured, else the answer is 401 with every configured challenge, one
// `WWW-Authenticate` field each. The credentials of the others (present, never checked) are
// hidden too. A route without authenticators runs with no identity.
import { withHeaders } from './errors.js';
import type { Metrics } from './metrics.js';
import { ChallengeError } from './respond.js';
import type { Authenticator, AuthnResult, ConsumerRef, GatewayRequest, Identity } from './types.js';

/**
 * Runs the chain; true when an interceptor already answered (e.g. a CORS preflight). Throws
 * (or rejects with) GatewayError to refuse. The chain runs synchronously for as long as its
 * stages answer synchronously (cache hits, in-process counters): a request whose stages all
 * do costs no promise at all. The first stage that returns a promise hands the rest of the
 * chain to its continuation.
 */
export function runPipeline(gr: GatewayRequest, metrics: Metrics): boolean | Promise<boolean> {
  return runFrom(gr, metrics, INTERCEPT, 0);
}

const INTERCEPT = 0;
const AUTHENTICATE = 1;
const AUTHORIZE = 2;
const LIMIT = 3;
type Stage = typeof INTERCEPT | typeof AUTHENTICATE | typeof AUTHORIZE | typeof LIMIT;

/**
 * The chain from plugin `index` of `stage` on. It makes no closure itself (the
 * continuations below do, only when a stage is pending), so a synchronous pass costs no
 * context object per call.
 */
function runFrom(gr: GatewayRequest, metrics: Metrics, stage: Stage, index: number): boolean | Promise<boolean> {
  const route = gr.route;
  if (stage === INTERCEPT) {
    const interceptors = route.interceptors;
    for (let i = index; i < interceptors.length; i++) {
      const answered = interceptors[i]!.intercept(gr);
      if (answered === true) return true;
      if (answered !== false) return afterIntercept(answered, gr, metrics, i + 1);
    }
    index = 0;
  }
  if (stage <= AUTHENTICATE) {
    if (route.authenticators.length > 0) {
      const pending = authenticate(gr, metrics, index);
      if (pending !== undefined) return resumeAt(pending, gr, metrics, AUTHORIZE, 0);
    }
    index = 0;
  }
  if (stage <= AUTHORIZE) {
    const authorizers = route.authorizers;
    for (let i = index; i < authorizers.length; i++) {
      const pending = authorizers[i]!.authorize(gr);
      if (pending !== undefined) return resumeAt(pending, gr, metrics, AUTHORIZE, i + 1);
    }
    index = 0;
  }
  const limiters = route.limiters;
  for (let i = index; i < limiters.length; i++) {
    const pending = limiters[i]!.limit(gr);
    if (pending !== undefined) return resumeAt(pending, gr, metrics, LIMIT, i + 1);
  }
  return false;
}

/** Once a pending interceptor settles: done, or the chain from interceptor `next` on. */
function afterIntercept(answered: Promise<boolean>, gr: GatewayRequest, metrics: Metrics, next: number): Promise<boolean> {
  return answered.then((done) => done || runFrom(gr, metrics, INTERCEPT, next));
}

/** Once a pending stage settles: the chain from plugin `index` of `stage` on. */
function resumeAt(pending: Promise<void>, gr: GatewayRequest, metrics: Metrics, stage: Stage, index: number): Promise<boolean> {
  return pending.then(() => runFrom(gr, metrics, stage, index));
}

/** Authenticators from `start` on: undefined when decided synchronously, else the pending decision. */
function authenticate(gr: GatewayRequest, metrics: Metrics, start: number): Promise<void> | undefined {
  const authenticators = gr.route.authenticators;
  for (let i = start; i < authenticators.length; i++) {
    const result = authenticators[i]!.authenticate(gr);
    if (result instanceof Promise) return afterAuthenticator(result, gr, metrics, i);
    if (decided(gr, metrics, i, result)) return undefined;
  }
  noneRecognised(gr, metrics);
  return undefined;
}

/** Once authenticator `i` settles: decided, or the authenticators after it (no closure in authenticate itself). */
function afterAuthenticator(result: Promise<AuthnResult>, gr: GatewayRequest, metrics: Metrics, i: number): Promise<void> {
  return result.then((settled) => (decided(gr, metrics, i, settled) ? undefined : authenticate(gr, metrics, i + 1)));
}

/** true when authenticator `i` recognised its credential (identity set); throws when it refused it. */
function decided(gr: GatewayRequest, metrics: Metrics, i: number, result: AuthnResult): boolean {
  if (result.kind === 'skip') return false;
  if (result.kind === 'ok') {
    gr.identity = result.identity;
    const authenticators = gr.route.authenticators;
    if (authenticators.length > 1) hideOthers(gr, authenticators, i);
    return true;
  }
  const authenticator = gr.route.authenticators[i]!;
  const error = result.error;
  metrics.authFailure(authenticator.name, error.reason ?? error.code);
  throw error.status === 401 && authenticator.requested !== undefined ? withHeaders(error, authenticator.requested(gr)) : error;
}

/** The credentials of every authenticator but the one that decided (`decider`) stay out of the upstream request. */
function hideOthers(gr: GatewayRequest, authenticators: readonly Authenticator[], decider: number): void {
  for (let j = 0; j < authenticators.length; j++) if (j !== decider) authenticators[j]!.hide?.(gr);
}

/** No authenticator recognised a credential: the `anonymous` consumer, or 401 with every challenge. */
function noneRecognised(gr: GatewayRequest, metrics: Metrics): void {
  const route = gr.route;
  if (route.anonymous !== undefined) {
    gr.identity = anonymousIdentity(route.anonymous);
    return;
  }
  metrics.authFailure('none', 'missing_credentials');
  const requesting = route.requesting;
  if (requesting.length === 0) throw new ChallengeError('authentication required', route.challenges);
  // what this request must present (hmac-auth: its shape's challenge and Accept-Signature)
  const challenges = route.challenges.slice();
  const err = new ChallengeError('authentication required', challenges);
  for (let i = 0; i < requesting.length; i++) {
    const { authenticator, slot } = requesting[i]!;
    const fields = authenticator.requested!(gr);
    for (const name in fields) {
      if (name === 'www-authenticate') challenges[slot] = fields[name]!;
      else err.headers[name] = fields[name]!;
    }
  }
  throw err;
}

const anonymousIdentities = new WeakMap<ConsumerRef, Identity>();

/** The identity of requests let through as the `anonymous` consumer (shared, frozen). */
function anonymousIdentity(consumer: ConsumerRef): Identity {
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
