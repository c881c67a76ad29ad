// The waiting half of SessionStore.withLock, shared by both stores: try to take the lock,
// back off (5 ms doubling to 50 ms) until waitMs is spent, run fn while holding it, release.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const LOCK_POLL_MIN_MS = 5;
const LOCK_POLL_MAX_MS = 50;

interface LockOps {
  /** one attempt to take the lock for `token`; true when taken */
  take(token: string): Promise<boolean>;
  /** releases the lock only if `token` still holds it; never throws */
  release(token: string): Promise<void>;
}

/** fn's result, or undefined when the lock could not be taken within waitMs. */
export async function runLocked<T>(ops: LockOps, waitMs: number, fn: () => Promise<T>): Promise<T | undefined> {
  const token = randomBytes(16).toString('base64url');
  const deadline = Date.now() + waitMs;
  let pause = LOCK_POLL_MIN_MS;
  while (!(await ops.take(token))) {
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, LOCK_POLL_MAX_MS);
  }
  try {
    return await fn();
  } finally {
    await ops.release(token);
  }
}
