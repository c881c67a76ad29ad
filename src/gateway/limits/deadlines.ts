// Timeouts for many concurrent calls that share one limit (rate-limiting's `redis_timeout`)
// without a timer per call: calls wait in arrival order, which is also deadline order, and
// one timer, armed for the oldest unsettled call, rejects whatever is overdue. A call is
// rejected at its deadline (plus timer latency), never before.

interface Waiter {
  readonly deadline: number;
  settled: boolean;
  reject: (err: Error) => void;
}

export class Deadlines {
  readonly #ms: number;
  readonly #message: string;
  /** waiters in deadline order; entries before #head are gone */
  #queue: Waiter[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #sweep = () => {
    this.#timer = undefined;
    this.#expire(performance.now());
  };

  constructor(ms: number, message: string) {
    this.#ms = ms;
    this.#message = message;
  }

  /** Calls waiting (tests). */
  get pending(): number {
    let n = 0;
    for (let i = this.#head; i < this.#queue.length; i++) if (!this.#queue[i]!.settled) n++;
    return n;
  }

  /** `promise`, or a rejection with the configured message once the limit has passed. */
  race<T>(promise: Promise<T>): Promise<T> {
    const waiter: Waiter = { deadline: performance.now() + this.#ms, settled: false, reject: rejectNothing };
    this.#queue.push(waiter);
    if (this.#timer === undefined) this.#arm(this.#ms);
    return new Promise<T>((resolve, reject) => {
      waiter.reject = reject;
      promise.then(
        (value) => {
          if (waiter.settled) return;
          waiter.settled = true;
          this.#dropSettled();
          resolve(value);
        },
        (err: unknown) => {
          if (waiter.settled) return;
          waiter.settled = true;
          this.#dropSettled();
          reject(err);
        },
      );
    });
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#sweep, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  /** Settled waiters at the front leave at once: the queue holds only the calls in flight. */
  #dropSettled(): void {
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head++;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #expire(now: number): void {
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const waiter = queue[this.#head]!;
      if (!waiter.settled) {
        if (waiter.deadline > now) break;
        waiter.settled = true;
        waiter.reject(new Error(this.#message));
      }
      this.#head++;
    }
    this.#dropSettled();
    const next = this.#queue[this.#head];
    if (next !== undefined) this.#arm(next.deadline - now);
  }
}

function rejectNothing(): void {}
