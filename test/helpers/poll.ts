// Polling for something another process or instance does in its own time (a change over the
// admin API reaching a second gateway, a reload): every 20 ms until true, a failure after `ms`.
import * as assert from 'node:assert/strict';

/** Polls until `check` is true; fails naming `what` when it is not within `ms`. */
export async function within(ms: number, check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
