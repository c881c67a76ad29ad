// The retries of back-channel logout deliveries (backchannel.ts): every auth server instance
// looks for due deliveries once a second, claims them (each goes to one instance only) and
// attempts them. A delivery stored by an instance that stopped or crashed, or by the CLI, is
// picked up by whichever instance runs, at its start too. Stopping aborts the attempts under
// way and releases their claims, so another instance need not wait for them to lapse.
import { randomUUID } from 'node:crypto';
import { AttemptsUnderWay, attemptDelivery, claimSeconds, type BackchannelDeps, type DeliveryResult } from './backchannel.js';

/** How often an instance looks for due deliveries; the retry delays are whole seconds. */
export const RETRY_POLL_MS = 1000;
/** Deliveries claimed at once, at most (the rest at the next look). */
const BATCH = 20;

export interface BackchannelRetries {
  stop(): Promise<void>;
}

/** Attempts the deliveries due now (up to BATCH), each claimed first. Never rejects. */
export async function retryDueLogouts(deps: BackchannelDeps, signal?: AbortSignal): Promise<DeliveryResult[]> {
  const now = deps.clock.now();
  const claim = randomUUID();
  let due;
  try {
    due = await deps.storage.backchannelLogouts.claimDue(now, now + claimSeconds(deps), claim, BATCH);
  } catch (err) {
    deps.logger.warn({ event: 'logout.backchannel_retry', err: (err as Error).message }, 'back-channel logout: pending deliveries could not be read');
    return [];
  }
  return Promise.all(due.map((rec) => attemptDelivery(deps, rec, claim, { signal })));
}

/** Looks for due deliveries now and every RETRY_POLL_MS; stop() also ends the first attempts under way (deps.underWay). */
export function startBackchannelRetries(deps: BackchannelDeps): BackchannelRetries {
  const underWay = deps.underWay ?? new AttemptsUnderWay();
  let pass: Promise<unknown> | undefined;
  const look = () => {
    // one look at a time: a slow receiver holds up the next look, never doubles it
    if (pass !== undefined || underWay.signal.aborted) return;
    pass = underWay.track(retryDueLogouts(deps, underWay.signal)).finally(() => {
      pass = undefined;
    });
  };
  const timer = setInterval(look, RETRY_POLL_MS);
  timer.unref();
  look(); // what earlier instances left, at once
  return {
    async stop() {
      clearInterval(timer);
      await underWay.stop();
    },
  };
}
