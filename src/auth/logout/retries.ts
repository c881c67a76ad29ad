// The retries of back-channel logout deliveries (backchannel.ts): every auth server instance
// claims the due deliveries (each goes to one instance only) and attempts them. An instance
// asks storage when the next delivery is due (one indexed min(due_at)) at its start, after
// each round of attempts and otherwise every IDLE_LOOK_MS, and is told of the retries it
// schedules itself (RetryAlarm); once a second it compares the earliest of those with its
// clock, which costs no query. So an idle instance asks storage one question every 5 s, its
// own retries go out when due (the retry delays are whole seconds), and a delivery stored by an
// instance that stopped or crashed, or by the CLI, is found within IDLE_LOOK_MS. Stopping
// aborts the attempts under way and releases their claims, so another instance need not wait
// for them to lapse. The schedule (backchannel.ts: seconds up to an hour apart, for up to a
// day) costs the loop nothing: a delivery waits in storage with its due_at, not in a timer.
import { randomUUID } from 'node:crypto';
import { AttemptsUnderWay, RetryAlarm, attemptDelivery, claimSeconds, type BackchannelDeps, type DeliveryResult } from './backchannel.js';

/** How often an instance compares the next due time it knows of with its clock (no query). */
export const RETRY_POLL_MS = 1000;
/** How often an instance asks storage when the next delivery is due, whatever it knows. */
export const IDLE_LOOK_MS = 5000;
/** Deliveries claimed at once, at most (the rest at the next look). */
const BATCH = 20;

/** The loop's two paces (tests shorten them; the server uses the defaults above). */
interface RetryPace {
  pollMs: number;
  idleLookMs: number;
}

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

/**
 * Claims and attempts what is due: now (what earlier instances left), when the next delivery
 * it knows of is due, and when an ask every IDLE_LOOK_MS finds one due. stop() also ends the
 * first attempts under way (deps.underWay).
 */
export function startBackchannelRetries(
  deps: BackchannelDeps,
  pace: RetryPace = { pollMs: RETRY_POLL_MS, idleLookMs: IDLE_LOOK_MS },
): BackchannelRetries {
  const underWay = deps.underWay ?? new AttemptsUnderWay();
  const alarm = deps.retryAlarm ?? new RetryAlarm();
  /** the earliest due_at in storage at the last ask; undefined: none (or the ask failed) */
  let stored: number | undefined;
  /** Date.now() from which storage is asked again */
  let askAt = 0;
  /** Date.now() before which nothing is tried, after storage failed to answer */
  let quietUntil = 0;
  let pass: Promise<unknown> | undefined;

  const nextDue = (): number | undefined => {
    const own = alarm.at;
    return stored === undefined ? own : own === undefined ? stored : Math.min(stored, own);
  };
  const isDue = () => {
    const next = nextDue();
    return next !== undefined && next <= deps.clock.now();
  };

  const ask = async () => {
    askAt = Date.now() + pace.idleLookMs;
    // cleared before the question: a retry scheduled meanwhile is in the answer, or sets it again
    const own = alarm.take();
    try {
      stored = await deps.storage.backchannelLogouts.nextDue();
    } catch (err) {
      // asked again at the idle pace, not every second while storage is down: a retry of
      // ours that is due waits for that too (it could not be claimed either)
      stored = undefined;
      quietUntil = askAt;
      if (own !== undefined) alarm.set(own);
      deps.logger.warn({ event: 'logout.backchannel_retry', err: (err as Error).message }, 'back-channel logout: pending deliveries could not be read');
    }
  };

  const round = async (due: boolean) => {
    if (!due) {
      await ask();
      if (!isDue()) return;
    }
    await retryDueLogouts(deps, underWay.signal);
    // what is due next, the retries just scheduled included (a full batch: the rest, at once)
    await ask();
  };

  const look = () => {
    // one round at a time: a slow receiver holds up the next one, never doubles it
    if (pass !== undefined || underWay.signal.aborted || Date.now() < quietUntil) return;
    const due = isDue();
    if (!due && Date.now() < askAt) return;
    pass = underWay.track(round(due)).finally(() => {
      pass = undefined;
    });
  };
  const timer = setInterval(look, pace.pollMs);
  timer.unref();
  look(); // what earlier instances left, at once
  return {
    async stop() {
      clearInterval(timer);
      await underWay.stop();
    },
  };
}
