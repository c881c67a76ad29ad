// Keys derived from the master secret for one purpose each (CSRF tokens, sign-in flow
// tickets, TOTP secrets at rest), made once per auth server context: HKDF is not free, and
// these keys are used on every form and ticket.
import { deriveKey } from '../crypto/seal.js';
import type { AuthContext } from './context.js';

const keys = new WeakMap<AuthContext, Map<string, Buffer>>();

/** The key for `purpose`; without a master secret, what `withoutSecret` gives (a random key, or a throw). */
export function derivedKey(ctx: AuthContext, purpose: string, withoutSecret: () => Buffer): Buffer {
  let byPurpose = keys.get(ctx);
  if (byPurpose === undefined) keys.set(ctx, (byPurpose = new Map()));
  let key = byPurpose.get(purpose);
  if (key === undefined) byPurpose.set(purpose, (key = ctx.config.secret ? deriveKey(ctx.config.secret, purpose) : withoutSecret()));
  return key;
}
