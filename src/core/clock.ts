// A replaceable clock so tests can fix time. Epoch seconds throughout.
export interface Clock {
  now(): number;
}

export const systemClock: Clock = {
  now: function systemNow() {
    return Math.floor(Date.now() / 1000);
  },
};

export function fixedClock(start: number): Clock & { advance(seconds: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (s: number) => {
      t += s;
    },
  };
}
