// Changing stored users: the one implementation behind `drawbridge user …`
// (src/cli/commands/user.ts) and the admin API's /users (src/gateway/admin/users.ts, which
// gets these through the CLI's wiring: the gateway does not import the auth server).
//
// The config file is the source of truth for what it says about a user (that the user
// exists, the claims, a password or password_hash, mfa_required when given): those are
// refused here (a `conflict`) and changed in the file. What the file cannot say — `locked`,
// the MFA enrolment, the password of a user configured without one, mfa_required when it
// does not give it — may change, as ./sync.ts keeps it over restarts.
//
// Every change is an audit event (`user.created`, `user.locked`, …; never a password, hash or
// claim value). Locking and deleting sign the user out everywhere (deps.signOut, ./sign-out.ts
// as `drawbridge user revoke` does it): their tokens revoked, their SSO sessions at the auth
// server ended with back-channel logout to the relying parties, `user.revoked` announced so
// gateways drop what they cached for them and end their browser sessions at once. An SSO
// session left alive would sign the user straight back in, without a password, once they are
// unlocked (or, with Redis, linger after a delete). Code, refresh and password grants under
// way read the user again once their tokens are stored (src/auth/grants/user-still-active.ts).
// A new password signs out only when asked (as Keycloak's admin password reset keeps sessions).
import { randomUUID } from 'node:crypto';
import type { AuthConfig, PasswordPolicyConfig, UserConfig } from '../../config/types.js';
import { defaultPasswordPolicy } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { Refused } from '../../core/refused.js';
import type { AuditEvent, AuditLog } from '../../observability/audit.js';
import type { RecordSource, Storage, UserMfaRecord, UserRecord } from '../../storage/types.js';
import { checkPassword, hashPassword } from './password.js';
import type { SignedOut } from './sign-out.js';

export type { SignedOut } from './sign-out.js';

export interface UserChangeDeps {
  storage: Storage;
  clock: Clock;
  /** the config file's auth section as currently loaded: its users are its own, its password policy applies */
  auth(): Pick<AuthConfig, 'users' | 'password_policy'> | undefined;
  /**
   * Signs the user out everywhere (./sign-out.ts signOutUser, and the gateway sessions where
   * the caller reaches them): SSO sessions ended with back-channel logout, every token revoked,
   * `user.revoked` announced; audited as `session.revoked` / `user.revoked`.
   */
  signOut(user: UserRecord, ctx: ChangeContext): Promise<SignedOut>;
  audit: Pick<AuditLog, 'record'>;
  /** who makes changes through these deps, for stored users and audit lines */
  source: Exclude<RecordSource, 'config'>;
}

/** The request behind a change, for its audit line. */
interface ChangeContext {
  request_id?: string;
  ip?: string;
}

interface NewUser {
  username: string;
  /** null: no password; the user cannot sign in until one is set */
  password: string | null;
  claims?: Record<string, unknown>;
  require_mfa?: boolean;
}

interface UserPatch {
  /** merged into the stored claims; a null value removes that claim */
  claims?: Record<string, unknown>;
  require_mfa?: boolean;
  locked?: boolean;
}

/** A user as shown (CLI `user list --json`, the admin API): never the hash, TOTP secret or recovery codes. */
interface UserView {
  id: string;
  username: string;
  claims: Record<string, unknown>;
  locked: boolean;
  source: RecordSource;
  created_at: number;
  updated_at: number;
  has_password: boolean;
  mfa: { required: boolean; totp: boolean; recovery_codes_left: number };
}

/** Set by the server in every token, never per user. */
const RESERVED_CLAIMS = new Set(['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'auth_time', 'nonce', 'sid']);

export function passwordPolicy(auth: Pick<AuthConfig, 'password_policy'> | undefined): PasswordPolicyConfig {
  return auth?.password_policy ?? defaultPasswordPolicy();
}

/** Why a username cannot be used, or undefined. */
function usernameProblem(username: string): string | undefined {
  if (username === '' || username.length > 256 || username.trim() !== username || /[\u0000-\u001f\u007f]/.test(username)) {
    return '1 to 256 characters, no control characters, no spaces at either end';
  }
  return undefined;
}

/** Refuses a claim the server sets itself; `field` as the caller names claims (`claims.sub`, `--claim`). */
export function checkClaimName(name: string, field: string): void {
  if (name === '') throw new Refused('invalid', 'a claim needs a name', field);
  if (RESERVED_CLAIMS.has(name)) throw new Refused('invalid', `"${name}" is set by the server, not per user`, field);
}

function fileUser(deps: Pick<UserChangeDeps, 'auth'>, username: string): UserConfig | undefined {
  return deps.auth()?.users.find((u) => u.username === username);
}

export async function existingUser(storage: Storage, username: string): Promise<UserRecord> {
  const found = await storage.users.getByUsername(username);
  if (!found) throw new Refused('not_found', `no user "${username}"`);
  return found;
}

/** What createUser checks before it hashes: the CLI asks for a password only when these pass. */
export async function checkNewUser(deps: UserChangeDeps, user: Omit<NewUser, 'password'>): Promise<void> {
  const problem = usernameProblem(user.username);
  if (problem !== undefined) throw new Refused('invalid', problem, 'username');
  if (fileUser(deps, user.username)) throw new Refused('conflict', `user "${user.username}" is defined in the config file`, 'username');
  for (const name of Object.keys(user.claims ?? {})) checkClaimName(name, `claims.${name}`);
  if (await deps.storage.users.getByUsername(user.username)) throw taken(user.username);
}

export async function createUser(deps: UserChangeDeps, user: NewUser, ctx: ChangeContext = {}): Promise<UserRecord> {
  await checkNewUser(deps, user);
  if (user.password !== null) checkNewPassword(deps, user.password, user.username);
  const now = deps.clock.now();
  const rec: UserRecord = {
    id: randomUUID(),
    username: user.username,
    password_hash: user.password === null ? null : await hashPassword(user.password),
    claims: user.claims ?? {},
    locked: false,
    source: deps.source,
    created_at: now,
    updated_at: now,
  };
  // insert-only: of two creates racing for one name exactly one succeeds, and the other's
  // password never replaces the first's; require_mfa is written with the user, in one transaction
  if (!(await deps.storage.users.insert(rec, { mfaRequired: user.require_mfa === true }))) throw taken(user.username);
  record(deps, ctx, rec, 'user.created', { claims: Object.keys(rec.claims), mfa_required: user.require_mfa === true });
  return rec;
}

/** What setUserPassword checks before it hashes. */
export async function checkPasswordSettable(deps: UserChangeDeps, username: string): Promise<UserRecord> {
  const fromFile = fileUser(deps, username);
  if (fromFile && (fromFile.password !== undefined || fromFile.password_hash !== undefined)) {
    throw new Refused('conflict', `user "${username}" has its password in the config file; change it there`);
  }
  return existingUser(deps.storage, username);
}

/** Applies the configured password policy (a refusal naming `password`). */
function checkNewPassword(deps: Pick<UserChangeDeps, 'auth'>, password: string, username: string | undefined): void {
  const check = checkPassword(password, passwordPolicy(deps.auth()), username);
  if (!check.ok) throw new Refused('invalid', check.message, 'password');
}

/**
 * Replaces the password. Sessions and tokens stay unless `signOut` (then as signOutEverywhere,
 * after the new password is stored): the default follows Keycloak's admin password reset, and
 * an operator who suspects a compromise asks for the sign-out.
 */
export async function setUserPassword(
  deps: UserChangeDeps,
  username: string,
  password: string,
  ctx: ChangeContext = {},
  opts: { signOut?: boolean } = {},
): Promise<{ user: UserRecord; signedOut?: SignedOut }> {
  const found = await checkPasswordSettable(deps, username);
  checkNewPassword(deps, password, username);
  const now = deps.clock.now();
  if (!(await deps.storage.users.setPasswordHash(username, await hashPassword(password), now))) throw gone(username);
  const signedOut = opts.signOut ? await deps.signOut(found, ctx) : undefined;
  record(deps, ctx, found, 'user.password_set', signedOut ? { signed_out: true, ...counts(signedOut) } : {});
  return { user: await existingUser(deps.storage, username), ...(signedOut ? { signedOut } : {}) };
}

/** Sign out everywhere (`drawbridge user revoke`, the admin API's POST /users/{username}/logout); the user stays as they are. */
export async function signOutEverywhere(deps: UserChangeDeps, username: string, ctx: ChangeContext = {}): Promise<{ user: UserRecord; signedOut: SignedOut }> {
  const found = await existingUser(deps.storage, username);
  return { user: found, signedOut: await deps.signOut(found, ctx) };
}

/**
 * Locks the user out (logins fail like a wrong password) and signs them out everywhere: every
 * token revoked, every SSO session ended (back-channel logout to the relying parties), so
 * that an unlock lets no old session back in without the password.
 */
export async function lockUser(deps: UserChangeDeps, username: string, ctx: ChangeContext = {}): Promise<{ user: UserRecord; revoked: number; signedOut: SignedOut }> {
  const found = await existingUser(deps.storage, username);
  if (!(await deps.storage.users.setLocked(username, true, deps.clock.now()))) throw gone(username);
  // after the lock is stored (a grant that read the user before revokes its own tokens; no
  // new session starts): first the tokens, which go even when the session store does not
  // answer (the error then reaches the caller, and a second lock ends the sessions)
  const revoked = await deps.storage.tokens.revokeBySubject(found.id, deps.clock.now());
  const signedOut = await signOutAfterLock(deps, found, ctx, revoked);
  const total = revoked + signedOut.tokens_revoked;
  record(deps, ctx, found, 'user.locked', { ...counts(signedOut), revoked: total });
  return { user: found, revoked: total, signedOut };
}

/** deps.signOut for a user just locked: should it fail, the lock (which stands) is still audited. */
async function signOutAfterLock(deps: UserChangeDeps, user: UserRecord, ctx: ChangeContext, revoked: number): Promise<SignedOut> {
  try {
    return await deps.signOut(user, ctx);
  } catch (err) {
    record(deps, ctx, user, 'user.locked', { revoked, signed_out: false });
    throw err;
  }
}

export async function unlockUser(deps: UserChangeDeps, username: string, ctx: ChangeContext = {}): Promise<UserRecord> {
  const found = await existingUser(deps.storage, username);
  if (!(await deps.storage.users.setLocked(username, false, deps.clock.now()))) throw gone(username);
  record(deps, ctx, found, 'user.unlocked', {});
  return found;
}

function checkMfaRequirementSettable(deps: UserChangeDeps, username: string): void {
  if (fileUser(deps, username)?.mfa_required !== undefined) {
    throw new Refused('conflict', `user "${username}" has mfa_required in the config file; change it there`);
  }
}

export async function setUserMfaRequired(deps: UserChangeDeps, username: string, required: boolean, ctx: ChangeContext = {}): Promise<UserRecord> {
  checkMfaRequirementSettable(deps, username);
  const found = await existingUser(deps.storage, username);
  await deps.storage.users.setMfaRequired(found.id, required, deps.clock.now());
  record(deps, ctx, found, 'user.mfa_required', { required });
  return found;
}

/** Forgets the authenticator and recovery codes; false when there were none. */
export async function resetUserMfa(deps: UserChangeDeps, username: string, ctx: ChangeContext = {}): Promise<boolean> {
  const found = await existingUser(deps.storage, username);
  const reset = await deps.storage.users.resetMfa(found.id, deps.clock.now());
  if (reset) record(deps, ctx, found, 'user.mfa_reset', {});
  return reset;
}

/**
 * Deletes the user (their MFA state goes with the row) after signing them out everywhere. The
 * sessions are ended before the delete, which would take the SQL ones with it (ON DELETE
 * CASCADE) and their grants, so no relying party would hear of it; the user is locked first,
 * so that no session starts in between. Should the sign-out fail, the user stays locked, with
 * every token revoked, and the error reaches the caller (the delete can be asked again).
 */
export async function deleteUser(deps: UserChangeDeps, username: string, ctx: ChangeContext = {}): Promise<{ user: UserRecord; revoked: number; signedOut: SignedOut }> {
  if (fileUser(deps, username)) throw new Refused('conflict', `user "${username}" is defined in the config file; remove it there`);
  const found = await existingUser(deps.storage, username);
  if (!(await deps.storage.users.setLocked(username, true, deps.clock.now()))) throw gone(username);
  const revoked = await deps.storage.tokens.revokeBySubject(found.id, deps.clock.now());
  const signedOut = await signOutAfterLock(deps, found, ctx, revoked);
  if (!(await deps.storage.users.delete(username))) throw gone(username);
  const total = revoked + signedOut.tokens_revoked;
  record(deps, ctx, found, 'user.deleted', { ...counts(signedOut), revoked: total });
  return { user: found, revoked: total, signedOut };
}

/**
 * Several changes at once (the admin API's PATCH): every one is checked before any is made,
 * then claims, the MFA requirement and the lock are applied as their own operations do.
 */
async function updateUser(deps: UserChangeDeps, username: string, patch: UserPatch, ctx: ChangeContext = {}): Promise<UserRecord> {
  const found = await existingUser(deps.storage, username);
  if (patch.claims !== undefined) {
    if (found.source === 'config' || fileUser(deps, username)) throw new Refused('conflict', `user "${username}" has its claims in the config file; change them there`);
    for (const [name, value] of Object.entries(patch.claims)) if (value !== null) checkClaimName(name, `claims.${name}`);
  }
  if (patch.require_mfa !== undefined) checkMfaRequirementSettable(deps, username);
  if (patch.claims !== undefined) {
    const claims = { ...found.claims };
    for (const [name, value] of Object.entries(patch.claims)) {
      if (value === null) delete claims[name];
      else claims[name] = value;
    }
    if (!(await deps.storage.users.setClaims(username, claims, deps.clock.now()))) throw gone(username);
    record(deps, ctx, found, 'user.claims_changed', { claims: Object.keys(patch.claims) });
  }
  if (patch.require_mfa !== undefined) await setUserMfaRequired(deps, username, patch.require_mfa, ctx);
  if (patch.locked === true) await lockUser(deps, username, ctx);
  if (patch.locked === false) await unlockUser(deps, username, ctx);
  return existingUser(deps.storage, username);
}

function userView(rec: UserRecord, mfa: UserMfaRecord | undefined): UserView {
  const { password_hash, ...shown } = rec;
  return {
    ...shown,
    has_password: password_hash !== null,
    mfa: { required: mfa?.required ?? false, totp: mfa?.totp_confirmed_at != null, recovery_codes_left: mfa?.recovery_codes_left ?? 0 },
  };
}

async function viewOf(storage: Storage, rec: UserRecord): Promise<UserView> {
  return userView(rec, await storage.users.getMfa(rec.id));
}

/** Every stored user as shown, ordered by username. */
export async function listUserViews(storage: Storage): Promise<UserView[]> {
  const users = await storage.users.list();
  const mfa = await Promise.all(users.map((u) => storage.users.getMfa(u.id)));
  return users.map((u, i) => userView(u, mfa[i]));
}

/**
 * These operations bound to one set of deps, for the admin API (src/gateway/admin/context.ts,
 * UserAdmin): each answers with the user as shown afterwards.
 */
export function userAdmin(deps: UserChangeDeps) {
  return {
    list: () => listUserViews(deps.storage),
    async get(username: string): Promise<UserView | undefined> {
      const rec = await deps.storage.users.getByUsername(username);
      return rec && viewOf(deps.storage, rec);
    },
    async create(user: NewUser, ctx: ChangeContext): Promise<UserView> {
      return viewOf(deps.storage, await createUser(deps, user, ctx));
    },
    async update(username: string, patch: UserPatch, ctx: ChangeContext): Promise<UserView> {
      return viewOf(deps.storage, await updateUser(deps, username, patch, ctx));
    },
    /** with `signOut`, the answer says what the sign-out ended (`signed_out`) */
    async setPassword(username: string, password: string, ctx: ChangeContext, opts: { signOut?: boolean } = {}): Promise<UserView & { signed_out?: SignedOut }> {
      const { user, signedOut } = await setUserPassword(deps, username, password, ctx, opts);
      return { ...(await viewOf(deps.storage, user)), ...(signedOut ? { signed_out: signedOut } : {}) };
    },
    async signOut(username: string, ctx: ChangeContext): Promise<SignedOut> {
      return (await signOutEverywhere(deps, username, ctx)).signedOut;
    },
    async resetMfa(username: string, ctx: ChangeContext): Promise<void> {
      await resetUserMfa(deps, username, ctx);
    },
    async delete(username: string, ctx: ChangeContext): Promise<void> {
      await deleteUser(deps, username, ctx);
    },
  };
}

function taken(username: string): Refused {
  return new Refused('conflict', `user "${username}" already exists`, 'username');
}

/** Deleted between the look-up and the change. */
function gone(username: string): Refused {
  return new Refused('not_found', `no user "${username}"`);
}

/** A sign-out's counts for an audit line. */
function counts(out: SignedOut): { sessions: number; revoked: number } {
  return { sessions: out.sessions.length, revoked: out.tokens_revoked };
}

function record(deps: UserChangeDeps, ctx: ChangeContext, user: UserRecord, event: string, detail: Record<string, unknown>): void {
  const line: AuditEvent = { event, ...ctx, user_id: user.id, username: user.username, ...detail, source: deps.source };
  deps.audit.record(line);
}
