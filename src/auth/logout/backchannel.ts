// OIDC Back-Channel Logout 1.0 (§2.4–2.8), the sending side: a logout token (a JWT signed
// like the client's ID tokens, §2.4: with its id_token_signed_response_alg; `typ:
// logout+jwt`) POSTed as a form to each client's backchannel_logout_uri. Delivery runs in
// the background of whoever ends a session: failures and timeouts are retried with backoff
// (1 s, 5 s, 25 s by default); a 4xx other than 408/429 means the client refused this token
// and is final. The token never appears in a log line.
import { randomUUID } from 'node:crypto';
import type { SigningAlg } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import { signJwt, type SigningKey } from '../../crypto/jwt.js';
import type { Logger } from '../../observability/logger.js';
import type { ClientRecord } from '../../storage/types.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Logout tokens live this long (§2.4: "a few minutes" at most). */
export const LOGOUT_TOKEN_TTL = 120;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 25000];
export const DEFAULT_TIMEOUT_MS = 5000;

export interface BackchannelDeps {
  issuer: string;
  /** the key that signs a client's logout tokens: its ID token key (Keyring.idTokenKey) */
  signingKey: (alg: SigningAlg | null) => SigningKey;
  clock: Clock;
  logger: Logger;
  /** pause before retry 1, 2, …; default 1 s, 5 s, 25 s */
  retryDelaysMs?: readonly number[];
  /** per attempt; default 5 s */
  timeoutMs?: number;
  /** keep the process alive while retries wait (the CLI); default false (a server's timers never hold it open) */
  holdProcess?: boolean;
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
  attempts: number;
  /** last HTTP status, or undefined when no response came */
  status?: number;
}

/** §2.4: iss, aud, iat, exp, jti, events, sub and/or sid; never a nonce. */
export function logoutToken(deps: Pick<BackchannelDeps, 'issuer' | 'signingKey' | 'clock'>, target: BackchannelTarget): string {
  const now = deps.clock.now();
  const payload: Record<string, unknown> = {
    iss: deps.issuer,
    sub: target.sub,
    aud: target.client.client_id,
    iat: now,
    exp: now + LOGOUT_TOKEN_TTL,
    jti: randomUUID(),
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

/** Delivers to every target at once; resolves when each has succeeded or given up. Never rejects. */
export function sendBackchannelLogouts(deps: BackchannelDeps, targets: readonly BackchannelTarget[]): Promise<DeliveryResult[]> {
  return Promise.all(targets.map((t) => deliver(deps, t)));
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429 || (status >= 300 && status < 400);
}

async function deliver(deps: BackchannelDeps, target: BackchannelTarget): Promise<DeliveryResult> {
  const uri = target.client.backchannel_logout_uri!;
  const delays = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const client_id = target.client.client_id;
  let token = '';
  let tokenExp = 0;
  let status: number | undefined;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    try {
      // a retry repeats the same token (same jti) while it has time left, else a fresh one
      if (tokenExp - deps.clock.now() < 30) {
        token = logoutToken(deps, target);
        tokenExp = deps.clock.now() + LOGOUT_TOKEN_TTL;
      }
      status = await post(uri, token, deps.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      if (status === 200 || status === 204) {
        deps.logger.info({ event: 'logout.backchannel', client_id, attempts: attempt }, 'back-channel logout delivered');
        return { client_id, delivered: true, attempts: attempt, status };
      }
      failure = `HTTP ${status}`;
      if (!retryable(status)) {
        deps.logger.warn({ event: 'logout.backchannel_failed', client_id, status, attempts: attempt }, 'back-channel logout refused by the client; not retried');
        return { client_id, delivered: false, attempts: attempt, status };
      }
    } catch (err) {
      status = undefined;
      failure = (err as Error).name === 'TimeoutError' ? 'timed out' : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    }
    const delay = delays[attempt - 1];
    if (delay === undefined) {
      deps.logger.warn({ event: 'logout.backchannel_failed', client_id, error: failure, attempts: attempt }, 'back-channel logout not delivered; giving up');
      return { client_id, delivered: false, attempts: attempt, ...(status !== undefined ? { status } : {}) };
    }
    deps.logger.warn({ event: 'logout.backchannel_retry', client_id, error: failure, attempt, retry_in_ms: delay }, 'back-channel logout failed; will retry');
    await sleep(delay, deps.holdProcess === true);
  }
}

async function post(uri: string, token: string, timeoutMs: number): Promise<number> {
  const res = await fetch(uri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
    body: new URLSearchParams({ logout_token: token }).toString(),
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  // the body is not needed; drain it so the connection can be reused
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}

function sleep(ms: number, hold: boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!hold) timer.unref();
  });
}
