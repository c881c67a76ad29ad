// Username + password → user, behind the brute-force guard. Every failure looks the same:
// an unknown username, a locked account, an account without a password and a wrong password
// all run one argon2 verification (against a dummy hash when there is nothing real to check)
// and return the same result, so neither the answer nor its timing tells which usernames
// exist. Only a lockout answers differently, and unknown usernames are locked out alike.
import type { AuthContext } from '../context.js';
import type { AuditLog } from '../../observability/audit.js';
import type { UserRecord } from '../../storage/types.js';
import { bruteForceGuard, type BruteForceGuard, type LoginCheck } from './brute-force.js';
import { hashPassword, MAX_PASSWORD_LENGTH, needsRehash, verifyPassword } from './password.js';

interface LoginResult extends LoginCheck {
  /** set only when the password is right and the account is not locked */
  user?: UserRecord;
}

interface LoginOptions {
  /**
   * Whether a second factor must follow for this user. Then the right password does not clear
   * the username's failures, and the attempt stays counted until the second factor succeeds
   * (which clears them): otherwise whoever has the password could reset the count of wrong
   * TOTP codes by signing in again, and guess codes without ever being locked out.
   */
  secondFactorFollows?: (user: UserRecord) => Promise<boolean>;
}

// The argon2id hash (our parameters) of a random string nobody knows: verifying against it
// costs what a real verification costs. A constant, so even the first call is not faster.
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$KugbceCNKPrWbjgvLZcZ2A$BWOpSVFu7h9pNWPVi6Imwy81L1GvkVVaJr6cH7M6qqs';

/**
 * Checks a login: `user` is set on success and absent on any failure. `allowed: false` means
 * the username or IP is locked out for `retryAfter` seconds (before, or because of, this
 * failure), which a page may say without revealing anything: unknown usernames lock alike. The answer has already been held back by
 * `delayMs` (growing with recent failures) when this returns.
 */
export async function verifyLogin(
  ctx: AuthContext,
  username: string,
  password: string,
  ip: string,
  guard: BruteForceGuard = bruteForceGuard(ctx),
  /** where the outcome is audited: requestAudit(ctx, req) adds the request id */
  audit: AuditLog = ctx.audit,
  opts: LoginOptions = {},
): Promise<LoginResult> {
  const attempt = await guard.begin(username, ip);
  if (!attempt.allowed) {
    ctx.logger.info({ event: 'login.refused', username, ip, retry_after: attempt.retryAfter }, 'login refused: locked out');
    audit.record({ event: 'login.failed', username, ip, reason: 'locked_out', retry_after: attempt.retryAfter });
    return { allowed: false, retryAfter: attempt.retryAfter, delayMs: 0 };
  }
  const [, found] = await Promise.all([guard.sleep(attempt.delayMs), lookUp(ctx, username)]);
  const usable = found !== undefined && !found.locked && found.password_hash !== null;
  const hash = usable ? found.password_hash! : DUMMY_HASH;
  // An over-long password is refused after the same work as any other wrong password.
  const verified = (await verifyPassword(hash, password.slice(0, MAX_PASSWORD_LENGTH + 1))) && usable;
  if (verified) {
    if (!(await opts.secondFactorFollows?.(found))) await attempt.succeeded();
    if (found.source !== 'config' && needsRehash(found.password_hash!)) await rehash(ctx, found, password);
    ctx.logger.info({ event: 'login.success', username, user_id: found.id, ip }, 'login succeeded');
    audit.record({ event: 'login.succeeded', user_id: found.id, username: found.username, ip, amr: ['pwd'] });
    return { allowed: true, retryAfter: 0, delayMs: attempt.delayMs, user: found };
  }
  const next = await attempt.failed();
  ctx.logger.info({ event: 'login.failure', username, ip }, 'login failed');
  audit.record({ event: 'login.failed', username, ...(found ? { user_id: found.id } : {}), ip, reason: failureReason(found) });
  if (!next.allowed) ctx.logger.warn({ event: 'login.lockout', username, ip, lockout: next.retryAfter }, 'too many failed logins; locked out');
  if (!next.allowed) audit.record({ event: 'account.locked', username, ...(found ? { user_id: found.id } : {}), ip, lockout_seconds: next.retryAfter });
  return { allowed: next.allowed, retryAfter: next.retryAfter, delayMs: attempt.delayMs };
}

/** Why a login failed, for the audit log only (never shown: the page says the same for all). */
function failureReason(found: UserRecord | undefined): string {
  if (found === undefined) return 'unknown_user';
  if (found.locked) return 'account_disabled';
  if (found.password_hash === null) return 'no_password';
  return 'wrong_password';
}

async function lookUp(ctx: AuthContext, username: string): Promise<UserRecord | undefined> {
  // Cheap sanity bound: no stored username is this long, and it keeps junk out of queries.
  if (username === '' || username.length > 256) return undefined;
  return ctx.storage.users.getByUsername(username);
}

/** Old parameters: store a fresh hash now that the password is known (best effort). */
async function rehash(ctx: AuthContext, user: UserRecord, password: string): Promise<void> {
  try {
    await ctx.storage.users.setPasswordHash(user.username, await hashPassword(password), ctx.clock.now());
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message, user_id: user.id }, 'password rehash failed');
  }
}
