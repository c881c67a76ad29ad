// One-time markers for `memory:` storage: per namespace, a Map from jti to expires_at.
// remember() is atomic because it never awaits between its check and its write (one process,
// one thread). Expired markers are taken over on remember() and removed by deleteExpired(),
// which the auth server's housekeeping calls every minute.

import type { JtiRepo } from '../types.js';

export class MemoryJtiRepo implements JtiRepo {
  /** namespace → jti → expires_at */
  readonly #markers = new Map<string, Map<string, number>>();

  async remember(namespace: string, jti: string, expiresAt: number, now = epochSeconds()): Promise<boolean> {
    let markers = this.#markers.get(namespace);
    if (markers === undefined) this.#markers.set(namespace, (markers = new Map()));
    const current = markers.get(jti);
    if (current !== undefined && current > now) return false;
    markers.set(jti, expiresAt);
    return true;
  }

  async has(namespace: string, jti: string, now: number): Promise<boolean> {
    const expiresAt = this.#markers.get(namespace)?.get(jti);
    return expiresAt !== undefined && expiresAt > now;
  }

  async deleteExpired(now: number): Promise<number> {
    let deleted = 0;
    for (const [namespace, markers] of this.#markers) {
      for (const [jti, expiresAt] of markers) {
        if (expiresAt > now) continue;
        markers.delete(jti);
        deleted++;
      }
      if (markers.size === 0) this.#markers.delete(namespace);
    }
    return deleted;
  }
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
