// OIDC Back-Channel Logout 1.0 (§2.4–2.8), the sending side: a logout token (a JWT signed
// like the client's ID tokens, §2.4: with its id_token_signed_response_alg; `typ:
// logout+jwt`) POSTed as a form to each client's backchannel_logout_uri.
//
// Every delivery is first stored in SQL (storage.backchannelLogouts, migration 0018), then
// attempted at once by whoever ended the session. One that fails stays there and is retried
// with backoff by the auth server instances (retries.ts): by any of them, after a restart or a
// crash too. An attempt claims its delivery in storage first, so two instances never send the
// same one at once. Stored is what mints the token (jti, client, sub, sid), never the signed
// token: a reader of the database can replay nothing, and each attempt sends a fresh token
// (2 min) with the same jti, so the receiver can tell it is one logout.
//
// The retry schedule (DEFAULT_RETRY_DELAYS; `auth.backchannel_logout.retry_delays` replaces
// it) is 1 s, 5 s, 25 s, 2 min, 10 min, 30 min, then every hour while the delivery is less
// than MAX_DELIVERY_AGE (a day) old: 29 retries. The first three get over a blip (a dropped
// connection, a receiver restarting); 2 and 10 min a deploy of the relying party, which takes
// minutes and used to outlast the 31 s the retries then spanned, so the logout was lost; 30 min
// and 1 h an outage; hourly after that, because one small POST an hour costs nothing and the
// logout matters for as long as the relying party's own session may still be alive. Gaps grow
// so that a receiver that is down is not hammered; a delivery made late is still valid: each
// attempt mints a fresh token.
//
// A 4xx other than 408/429 means the client refused the token, and is final; so are a client
// deleted (or its URI removed) meanwhile, the last retry of the schedule, and a delivery that
// would be older than MAX_DELIVERY_AGE at its next retry (or is at its attempt: the auth
// servers were all down that long): each is logged and recorded as the audit event
// `logout.backchannel_failed`. The token never appears in a log line.
import { randomUUID } from 'node:crypto';
import type { SigningAlg } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import { signJwt, type SigningKey } from '../../crypto/jwt.js';
import type { AuditLog } from '../../observability/audit.js';
import type { Logger } from '../../observability/logger.js';
import type { ClientRecord, PendingLogoutRecord, Storage } from '../../storage/types.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Logout tokens live this long (§2.4: "a few minutes" at most). */
export const LOGOUT_TOKEN_TTL = 120;
export const DEFAULT_TIMEOUT_MS = 5000;
/** A delivery not made within this many seconds is given up, however many attempts it had (whatever the schedule). */
export const MAX_DELIVERY_AGE = 24 * 3600;
/** The default schedule's growing gaps (seconds), then RETRY_EVERY (see the header). */
const RETRY_RAMP = [1, 5, 25, 120, 600, 1800];
const RETRY_EVERY = 3600;

/** The ramp, then RETRY_EVERY as long as the retry falls within MAX_DELIVERY_AGE (each wait is its delay and a second: attemptDelivery). */
function defaultRetryDelays(): number[] {
  const delays = [...RETRY_RAMP];
  let at = delays.reduce((sum, d) => sum + d + 1, 0);
  while (at + RETRY_EVERY + 1 < MAX_DELIVERY_AGE) {
    delays.push(RETRY_EVERY);
    at += RETRY_EVERY + 1;
  }
  return delays;
}

/** Seconds before retry 1, 2, …: 1, 5, 25, 120, 600, 1800, then 3600 (23 of them): the last retry 23 h 43 min after the first attempt. */
export const DEFAULT_RETRY_DELAYS: readonly number[] = Object.freeze(defaultRetryDelays());

export interface BackchannelDeps {
  issuer: string;
  /** the key that signs a client's logout tokens: its ID token key (Keyring.idTokenKey) */
  signingKey: (alg: SigningAlg | null) => SigningKey;
  clock: Clock;
  logger: Logger;
  /** where deliveries wait for their attempts */
  storage: Pick<Storage, 'backchannelLogouts'>;
  /** a client by id, read again at each retry (its URI or algorithm may have changed); undefined when gone */
  client(clientId: string): Promise<BackchannelClient | undefined>;
  /** where a delivery given up is recorded; absent: the log only */
  audit?: AuditLog;
  /** seconds before retry 1, 2, … (`auth.backchannel_logout.retry_delays`); default DEFAULT_RETRY_DELAYS */
  retryDelays?: readonly number[];
  /** per attempt; default 5 s */
  timeoutMs?: number;
  /** a server's attempts, for its stop (absent: the CLI, which awaits its own) */
  underWay?: AttemptsUnderWay;
  /** a server's retry loop (retries.ts), told of each retry scheduled here (absent: the CLI, whose retries the servers find in storage) */
  retryAlarm?: RetryAlarm;
}

/**
 * The earliest retry a server has scheduled itself since its retry loop last asked storage
 * (epoch seconds), so that the loop claims it when due without asking storage in between.
 */
export class RetryAlarm {
  #at: number | undefined;

  get at(): number | undefined {
    return this.#at;
  }

  set(dueAt: number): void {
    if (this.#at === undefined || dueAt < this.#at) this.#at = dueAt;
  }

  /** What it held; cleared. */
  take(): number | undefined {
    const at = this.#at;
    this.#at = undefined;
    return at;
  }
}

/**
 * The attempts a server has under way (first attempts and retries), so that stopping aborts
 * them and waits until each has released its claim: another instance takes them over at once.
 */
export class AttemptsUnderWay {
  readonly #stopping = new AbortController();
  readonly #running = new Set<Promise<unknown>>();

  get signal(): AbortSignal {
    return this.#stopping.signal;
  }

  track<T>(work: Promise<T>): Promise<T> {
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work)).catch(() => undefined);
    return work;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.allSettled([...this.#running]);
  }
}

export type BackchannelClient = Pick<ClientRecord, 'client_id' | 'backchannel_logout_uri' | 'backchannel_logout_session_required' | 'id_token_signed_response_alg'>;

export interface BackchannelTarget {
  client: BackchannelClient;
  /** the user (logout token `sub`) */
  sub: string;
  /** the SSO session that ended (logout token `sid`); null: every session of the user */
  sid: string | null;
}

export interface DeliveryResult {
  client_id: string;
  delivered: boolean;
  /** attempts made so far */
  attempts: number;
  /** last HTTP status, or undefined when no response came */
  status?: number;
  /** not delivered yet, and stored for a retry by the auth server */
  pending?: boolean;
}

/** §2.4: iss, aud, iat, exp, jti, events, sub and/or sid; never a nonce. A retry passes its delivery's jti. */
export function logoutToken(deps: Pick<BackchannelDeps, 'issuer' | 'signingKey' | 'clock'>, target: BackchannelTarget, jti: string = randomUUID()): string {
  const now = deps.clock.now();
  const payload: Record<string, unknown> = {
    iss: deps.issuer,
    sub: target.sub,
    aud: target.client.client_id,
    iat: now,
    exp: now + LOGOUT_TOKEN_TTL,
    jti,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
  // sent whenever known: a client that asked for it (backchannel_logout_session_required)
  // gets it, one that did not may ignore it (§2.4)
  if (target.sid !== null) payload.sid = target.sid;
  return signJwt(deps.signingKey(target.client.id_token_signed_response_alg ?? null), payload, 'logout+jwt');
}

/** Clients that asked for back-channel logout, each once. */
export function backchannelTargets(clients: readonly BackchannelClient[], sub: string, sid: string | null): BackchannelTarget[] {
  const seen = new Set<string>();
  const targets: BackchannelTarget[] = [];
  for (const client of clients) {
    if (client.backchannel_logout_uri === null || seen.has(client.client_id)) continue;
    seen.add(client.client_id);
    targets.push({ client, sub, sid });
  }
  return targets;
}

/** How long a claim holds: an attempt's timeout and a margin; past it the holder is presumed gone. */
export function claimSeconds(deps: Pick<BackchannelDeps, 'timeoutMs'>): number {
  return Math.ceil((deps.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000) + 10;
}

/**
 * Stores a delivery per target and makes its first attempt at once; resolves when each first
 * attempt is over (a failed one is left for the retries). Never rejects.
 */
export function sendBackchannelLogouts(deps: BackchannelDeps, targets: readonly BackchannelTarget[]): Promise<DeliveryResult[]> {
  const sending = Promise.all(targets.map((t) => sendFirst(deps, t)));
  return deps.underWay ? deps.underWay.track(sending) : sending;
}

async function sendFirst(deps: BackchannelDeps, target: BackchannelTarget): Promise<DeliveryResult> {
  const now = deps.clock.now();
  const claim = randomUUID();
  const rec: PendingLogoutRecord = {
    jti: randomUUID(),
    client_id: target.client.client_id,
    sub: target.sub,
    sid: target.sid,
    created_at: now,
    attempts: 0,
    // claimed by this first attempt; should this process die during it, another takes it over then
    due_at: now + claimSeconds(deps),
    claim,
  };
  let stored = true;
  try {
    await deps.storage.backchannelLogouts.insert(rec);
  } catch (err) {
    // still worth one attempt; only its retries are lost
    stored = false;
    deps.logger.warn({ event: 'logout.backchannel_unstored', client_id: rec.client_id, err: (err as Error).message }, 'back-channel logout could not be stored; a failed attempt will not be retried');
  }
  return attemptDelivery(deps, rec, claim, { client: target.client, stored, signal: deps.underWay?.signal });
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429 || (status >= 300 && status < 400);
}

/**
 * One attempt at a delivery claimed with `claim` (by sendFirst, or by the retries), and what
 * follows: delivered or given up, it is deleted; failed, it is rescheduled with backoff. A
 * `signal` that aborts (the server stopping) releases the claim without counting the attempt.
 */
export async function attemptDelivery(
  deps: BackchannelDeps,
  rec: PendingLogoutRecord,
  claim: string,
  opts: { client?: BackchannelClient; stored?: boolean; signal?: AbortSignal } = {},
): Promise<DeliveryResult> {
  const client_id = rec.client_id;
  const attempts = rec.attempts + 1;
  const stored = opts.stored !== false;
  try {
    if (deps.clock.now() - rec.created_at >= MAX_DELIVERY_AGE) return await giveUp(deps, rec, rec.attempts, 'expired');
    const client = opts.client ?? (await deps.client(client_id));
    if (!client || client.backchannel_logout_uri === null) return await giveUp(deps, rec, rec.attempts, 'client_gone', {}, stored);
    let status: number | undefined;
    let failure: string;
    try {
      const token = logoutToken(deps, { client, sub: rec.sub, sid: rec.sid }, rec.jti);
      status = await post(client.backchannel_logout_uri, token, deps.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
      if (status === 200 || status === 204) {
        if (stored) await deps.storage.backchannelLogouts.delete(rec.jti);
        deps.logger.info({ event: 'logout.backchannel', client_id, attempts }, 'back-channel logout delivered');
        return { client_id, delivered: true, attempts, status };
      }
      failure = `HTTP ${status}`;
      if (!retryable(status)) return await giveUp(deps, rec, attempts, 'refused', { status }, stored);
    } catch (err) {
      if (opts.signal?.aborted) {
        // stopping: not counted, and due again at once for an instance still running
        if (stored) await deps.storage.backchannelLogouts.reschedule(rec.jti, claim, rec.attempts, deps.clock.now());
        return { client_id, delivered: false, attempts: rec.attempts, pending: stored };
      }
      failure = (err as Error).name === 'TimeoutError' ? 'timed out' : (((err as Error).cause as Error | undefined)?.message ?? (err as Error).message);
    }
    const failed = { ...(status !== undefined ? { status } : {}), error: failure };
    if (!stored) return await giveUp(deps, rec, attempts, 'not_stored', failed, false);
    const delay = (deps.retryDelays ?? DEFAULT_RETRY_DELAYS)[attempts - 1];
    if (delay === undefined) return await giveUp(deps, rec, attempts, 'retries_exhausted', failed);
    // the clock counts whole seconds: one more, so that at least `delay` seconds pass
    const dueAt = deps.clock.now() + delay + 1;
    // a retry that would find the delivery too old is given up now, not kept waiting for that
    if (dueAt - rec.created_at >= MAX_DELIVERY_AGE) return await giveUp(deps, rec, attempts, 'expired', failed);
    // false: our claim lapsed (a very slow attempt) and another instance has the delivery now
    const kept = await deps.storage.backchannelLogouts.reschedule(rec.jti, claim, attempts, dueAt);
    if (kept) deps.retryAlarm?.set(dueAt);
    deps.logger.warn(
      { event: 'logout.backchannel_retry', client_id, error: failure, attempt: attempts, ...(kept ? { retry_in_s: delay + 1 } : {}) },
      kept ? 'back-channel logout failed; will retry' : 'back-channel logout failed; another instance has taken it over',
    );
    return { client_id, delivered: false, attempts, ...(status !== undefined ? { status } : {}), pending: true };
  } catch (err) {
    // storage failed around the attempt: the delivery stays claimed until the claim lapses, then is retried
    deps.logger.warn({ event: 'logout.backchannel_retry', client_id, err: (err as Error).message, attempt: attempts }, 'back-channel logout: storage failed around the attempt; retried once its claim lapses');
    return { client_id, delivered: false, attempts, pending: stored };
  }
}

type GiveUpReason = 'refused' | 'retries_exhausted' | 'client_gone' | 'expired' | 'not_stored';

const GIVE_UP_MESSAGE: Record<GiveUpReason, string> = {
  refused: 'back-channel logout refused by the client; not retried',
  retries_exhausted: 'back-channel logout not delivered; giving up',
  client_gone: 'back-channel logout dropped: the client is gone or no longer has a backchannel_logout_uri',
  expired: 'back-channel logout not delivered in time; giving up',
  not_stored: 'back-channel logout not delivered, and could not be stored for a retry',
};

async function giveUp(
  deps: BackchannelDeps,
  rec: PendingLogoutRecord,
  attempts: number,
  reason: GiveUpReason,
  failed: { status?: number; error?: string } = {},
  stored = true,
): Promise<DeliveryResult> {
  if (stored) await deps.storage.backchannelLogouts.delete(rec.jti);
  const detail = { client_id: rec.client_id, attempts, reason, ...failed };
  deps.logger.warn({ event: 'logout.backchannel_failed', ...detail }, GIVE_UP_MESSAGE[reason]);
  deps.audit?.record({ event: 'logout.backchannel_failed', user_id: rec.sub, ...(rec.sid !== null ? { sid: rec.sid } : {}), ...detail });
  return { client_id: rec.client_id, delivered: false, attempts, ...(failed.status !== undefined ? { status: failed.status } : {}) };
}

async function post(uri: string, token: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<number> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(uri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
    body: new URLSearchParams({ logout_token: token }).toString(),
    redirect: 'manual',
    signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
  });
  // the body is not needed; drain it so the connection can be reused
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}
