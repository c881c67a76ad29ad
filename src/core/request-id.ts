// Request ids (ARCHITECTURE §5: X-Request-Id kept when valid, else generated), for every
// listener and for gateway upgrades.
import { randomUUID } from 'node:crypto';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Generated request ids keep the UUID shape (version 4 layout, lower-case hex) but are not
// drawn from the CSPRNG one by one: a random prefix per process (the first 29 characters
// of a random UUID) and a counter in the last 7 hex digits. They are correlation handles,
// not secrets (a client may choose its own), and stay unique: within a process by the
// counter, across processes and workers by the 94 random bits of the prefix. The counter
// runs from 16^6 to 16^7 - 1, so it always has 7 digits (no padding) and stays a small
// integer (a double would make each id slower than randomUUID itself); a fresh prefix is
// drawn when it runs out.
const ID_COUNTER_FIRST = 16 ** 6;
const ID_COUNTER_LAST = 16 ** 7 - 1;
let idPrefix = randomUUID().slice(0, 29);
let idCounter = ID_COUNTER_FIRST;
/**
 * The counter's last 3 hex digits come from this table and the first 4 are added to the
 * prefix once per 4096 ids (idBase): a number's toString(16) costs a runtime call, about
 * as much as the rest of the request id put together.
 */
const HEX3: readonly string[] = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
let idBase = '';

/** The request's own X-Request-Id when it is a valid one, else a fresh id (ARCHITECTURE §5). */
export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
}

/** A fresh request id (see above). */
export function newRequestId(): string {
  let n = idCounter++;
  if ((n & 0xfff) === 0) {
    if (n > ID_COUNTER_LAST) {
      idPrefix = randomUUID().slice(0, 29);
      n = ID_COUNTER_FIRST;
      idCounter = n + 1;
    }
    idBase = idPrefix + (n >>> 12).toString(16);
  }
  return idBase + HEX3[n & 0xfff]!;
}
