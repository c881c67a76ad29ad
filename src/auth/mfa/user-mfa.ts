// A user's second factor, as the login and MFA pages use it: status, TOTP enrolment (secret,
// otpauth:// URI, QR code, confirmation, recovery codes) and checking a code at login.
// The TOTP secret is stored sealed (AES-256-GCM under deriveKey(secret, 'mfa'), the user id
// as AAD so a sealed value copied to another user does not open). Wrong codes count as
// login failures for the brute-force guard: 10^6 codes are guessable online otherwise.
import type { AuditLog } from '../../observability/audit.js';
import type { AuthContext } from '../context.js';
import { seal, unseal } from '../../crypto/seal.js';
import { derivedKey } from '../derived-keys.js';
import type { UserRecord } from '../../storage/types.js';
import { bruteForceGuard, type LoginCheck } from '../users/brute-force.js';
import { qrSvg } from './qr.js';
import { generateRecoveryCodes, looksLikeRecoveryCode, recoveryCodeDigest } from './recovery-codes.js';
import { generateTotpSecret, totpUri, verifyTotp } from './totp.js';

interface MfaStatus {
  /** TOTP is required for this user (per user, or because the client asks for it) */
  required: boolean;
  /** a confirmed TOTP authenticator exists */
  enrolled: boolean;
  recoveryCodesLeft: number;
}

interface TotpEnrolment {
  /** base32, for typing into an app by hand */
  secret: string;
  /** otpauth://totp/… */
  uri: string;
  /** the URI as a QR code, an inline `<svg>` */
  qrSvg: string;
}

interface MfaCheck extends LoginCheck {
  ok: boolean;
  method?: 'totp' | 'recovery_code';
}

/** Already enrolled: resetting MFA (`drawbridge user reset-mfa`) comes first. */
export class MfaEnrolledError extends Error {
  override readonly name = 'MfaEnrolledError';
}

function mfaKey(ctx: AuthContext): Buffer {
  return derivedKey(ctx, 'mfa', () => {
    throw new Error('secret: required to store TOTP secrets');
  });
}

function aad(userId: string): string {
  return `totp:${userId}`;
}

/** `clientRequiresMfa`: the client asks for MFA for everyone who signs in to it. */
export async function mfaStatus(ctx: AuthContext, user: UserRecord, clientRequiresMfa = false): Promise<MfaStatus> {
  const mfa = await ctx.storage.users.getMfa(user.id);
  return {
    required: clientRequiresMfa || (mfa?.required ?? false),
    enrolled: mfa?.totp_secret != null && mfa.totp_confirmed_at != null,
    recoveryCodesLeft: mfa?.recovery_codes_left ?? 0,
  };
}

/**
 * Starts TOTP enrolment with a new secret (replacing an unconfirmed one). `issuer` is the
 * name the authenticator app shows. Throws MfaEnrolledError when a confirmed one exists.
 */
export async function startTotpEnrolment(ctx: AuthContext, user: UserRecord, issuer = 'Drawbridge'): Promise<TotpEnrolment> {
  const mfa = await ctx.storage.users.getMfa(user.id);
  if (mfa?.totp_confirmed_at != null && mfa.totp_secret != null) throw new MfaEnrolledError('TOTP is already set up for this user');
  const secret = generateTotpSecret();
  await ctx.storage.users.setTotpSecret(user.id, seal(mfaKey(ctx), secret, aad(user.id)), ctx.clock.now());
  const uri = totpUri({ secret, account: user.username, issuer });
  return { secret, uri, qrSvg: qrSvg(uri, { title: `QR code to add ${issuer} to an authenticator app` }) };
}

/**
 * The enrolment started and not yet confirmed (the same secret, URI and QR code again, for a
 * page shown anew after a wrong code); undefined when there is none or it is confirmed.
 */
export async function pendingTotpEnrolment(ctx: AuthContext, user: UserRecord, issuer = 'Drawbridge'): Promise<TotpEnrolment | undefined> {
  const mfa = await ctx.storage.users.getMfa(user.id);
  if (!mfa?.totp_secret || mfa.totp_confirmed_at != null) return undefined;
  const secret = unseal(mfaKey(ctx), mfa.totp_secret, aad(user.id));
  const uri = totpUri({ secret, account: user.username, issuer });
  return { secret, uri, qrSvg: qrSvg(uri, { title: `QR code to add ${issuer} to an authenticator app` }) };
}

interface EnrolmentCheck extends LoginCheck {
  /** the recovery codes to show once; absent when the code was wrong (or refused) */
  recoveryCodes?: string[];
}

/**
 * Confirms enrolment during sign-in, behind the brute-force guard like verifyMfaCode: a wrong
 * code counts as a failed login (and is audited), a lockout refuses without checking.
 */
export async function confirmEnrolmentAtLogin(ctx: AuthContext, user: UserRecord, code: string, ip: string, audit: AuditLog = ctx.audit): Promise<EnrolmentCheck> {
  const guard = bruteForceGuard(ctx);
  const who = { user_id: user.id, username: user.username, ip };
  // counted before the code is checked (as a password is), so parallel guesses cannot overrun the budget
  const attempt = await guard.begin(user.username, ip);
  const check: LoginCheck = { allowed: attempt.allowed, retryAfter: attempt.retryAfter, delayMs: attempt.delayMs };
  if (!check.allowed) {
    audit.record({ event: 'mfa.failed', ...who, reason: 'locked_out', during: 'enrolment' });
    return check;
  }
  await guard.sleep(check.delayMs);
  const codes = await confirmTotpEnrolment(ctx, user, code, audit);
  if (codes) {
    await attempt.succeeded();
    return { ...check, recoveryCodes: codes };
  }
  const next = await attempt.failed();
  audit.record({ event: 'mfa.failed', ...who, reason: 'invalid_code', during: 'enrolment' });
  if (!next.allowed) audit.record({ event: 'account.locked', ...who, lockout_seconds: next.retryAfter, after: 'mfa' });
  return { allowed: next.allowed, retryAfter: next.retryAfter, delayMs: check.delayMs };
}

/**
 * Finishes enrolment when `code` is valid for the pending secret: returns the recovery codes
 * to show once (their digests replace any earlier ones), or undefined for a wrong code.
 */
export async function confirmTotpEnrolment(ctx: AuthContext, user: UserRecord, code: string, audit: AuditLog = ctx.audit): Promise<string[] | undefined> {
  const mfa = await ctx.storage.users.getMfa(user.id);
  if (!mfa?.totp_secret) return undefined;
  const now = ctx.clock.now();
  const secret = unseal(mfaKey(ctx), mfa.totp_secret, aad(user.id));
  const step = verifyTotp(secret, code, now, { lastUsedStep: mfa.totp_last_step });
  if (step === null || !(await ctx.storage.users.useTotpStep(user.id, step, now))) return undefined;
  if (!(await ctx.storage.users.confirmTotp(user.id, now))) return undefined;
  const codes = await regenerateRecoveryCodes(ctx, user);
  audit.record({ event: 'mfa.enrolled', user_id: user.id, username: user.username, method: 'totp', recovery_codes_left: codes.length });
  return codes;
}

/** New recovery codes (shown once); the old ones stop working. */
async function regenerateRecoveryCodes(ctx: AuthContext, user: UserRecord): Promise<string[]> {
  const codes = generateRecoveryCodes();
  await ctx.storage.users.setRecoveryCodes(user.id, codes.map((c) => recoveryCodeDigest(c)!), ctx.clock.now());
  return codes;
}

/**
 * Checks the second factor at login: a TOTP code (each time step at most once per user) or
 * a recovery code (each at most once). Refused during a brute-force lockout; a wrong code is
 * a failure, a right one clears the username's failures.
 */
export async function verifyMfaCode(ctx: AuthContext, user: UserRecord, code: string, ip: string, audit: AuditLog = ctx.audit): Promise<MfaCheck> {
  const guard = bruteForceGuard(ctx);
  // counted before the code is checked (as a password is), so parallel guesses cannot overrun the budget
  const attempt = await guard.begin(user.username, ip);
  const check: LoginCheck = { allowed: attempt.allowed, retryAfter: attempt.retryAfter, delayMs: attempt.delayMs };
  if (!check.allowed) {
    audit.record({ event: 'mfa.failed', user_id: user.id, username: user.username, ip, reason: 'locked_out' });
    return { ok: false, ...check };
  }
  await guard.sleep(check.delayMs);
  const method = await checkSecondFactor(ctx, user, code);
  const who = { user_id: user.id, username: user.username, ip };
  if (method) {
    await attempt.succeeded();
    audit.record({ event: 'mfa.succeeded', ...who, method });
    if (method === 'recovery_code') {
      const left = (await ctx.storage.users.getMfa(user.id))?.recovery_codes_left ?? 0;
      audit.record({ event: 'mfa.recovery_code_used', ...who, recovery_codes_left: left });
    }
    return { ok: true, method, allowed: true, retryAfter: 0, delayMs: check.delayMs };
  }
  const next = await attempt.failed();
  audit.record({ event: 'mfa.failed', ...who, reason: 'invalid_code' });
  if (!next.allowed) ctx.logger.warn({ event: 'login.lockout', username: user.username, ip }, 'too many failed MFA codes; locked out');
  if (!next.allowed) audit.record({ event: 'account.locked', ...who, lockout_seconds: next.retryAfter, after: 'mfa' });
  return { ok: false, allowed: next.allowed, retryAfter: next.retryAfter, delayMs: check.delayMs };
}

async function checkSecondFactor(ctx: AuthContext, user: UserRecord, code: string): Promise<MfaCheck['method']> {
  if (looksLikeRecoveryCode(code)) {
    const digest = recoveryCodeDigest(code)!;
    return (await ctx.storage.users.useRecoveryCode(user.id, digest)) ? 'recovery_code' : undefined;
  }
  const mfa = await ctx.storage.users.getMfa(user.id);
  if (!mfa?.totp_secret || mfa.totp_confirmed_at === null) return undefined;
  const now = ctx.clock.now();
  const secret = unseal(mfaKey(ctx), mfa.totp_secret, aad(user.id));
  const step = verifyTotp(secret, code, now, { lastUsedStep: mfa.totp_last_step });
  return step !== null && (await ctx.storage.users.useTotpStep(user.id, step, now)) ? 'totp' : undefined;
}
