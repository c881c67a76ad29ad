// Waiting for something another process, instance, socket or timer does in its own time (a
// change over the admin API reaching a second gateway, a reload, a pool dropping a connection),
// with a failure that says what did not happen instead of the runner's timeout.
import * as assert from 'node:assert/strict';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls every 20 ms until `check` is true; fails naming `what` when it is not within `ms`
 * (`what` may be a function, for a message that says how things stood at the end).
 */
export async function within(ms: number, check: () => boolean | Promise<boolean>, what: string | (() => string)): Promise<void> {
  await foundWithin(ms, async () => (await check()) || undefined, what);
}

/** Polls every 20 ms until `find` returns something, and resolves with that; fails as within() does. */
export async function foundWithin<T>(ms: number, find: () => T | undefined | Promise<T | undefined>, what: string | (() => string)): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`${typeof what === 'function' ? what() : what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Settles as `p` does; rejects naming `what` when `p` has not settled within `ms` (a hang). */
export async function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `fn` every 50 ms until it resolves, and resolves with that; throws the last failure once
 * `limit.ms` have passed or `limit.attempts` calls have failed.
 */
export async function retried<T>(fn: () => Promise<T>, limit: { ms: number } | { attempts: number }): Promise<T> {
  const deadline = 'ms' in limit ? Date.now() + limit.ms : Infinity;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline || ('attempts' in limit && attempt >= limit.attempts)) throw err;
      await sleep(50);
    }
  }
}
