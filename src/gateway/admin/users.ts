// /users, /users/{username}, /users/{username}/password, /users/{username}/mfa,
// /users/{username}/logout: the auth server's users, managed as `drawbridge user …` manages
// them (and as Keycloak's admin API does). The operations are the CLI's own
// (src/auth/users/manage.ts, handed in as ctx.users): the same password policy and argon2id
// hash, the same config-file rules, the same sign-out everywhere on lock and delete (SSO
// sessions ended with back-channel logout, gateway sessions, every token, `user.revoked`),
// the same audit events. This file reads bodies and words the answers; no answer holds a
// password, its hash, a TOTP secret or a recovery code.
import { signedOutAnswer } from '../../core/signed-out.js';
import type { AdminChange, AdminContext, AdminRequest, UserAdmin } from './context.js';
import { AdminError, invalidField, methodNotAllowed, notFound, readObject, sendData, sendList } from './respond.js';

export async function usersEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const users = ctx.users;
  if (users === undefined) {
    ar.req.resume();
    throw new AdminError('not_found', 404, 'user management is not available on this admin API');
  }
  const [, username, sub, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  // a change the rules refuse throws core's Refused, which the admin server's catch answers
  if (username === undefined) return userCollection(users, ar);
  if (sub === undefined) return oneUser(users, ar, username);
  if (sub === 'password') return newPassword(users, ar, username);
  if (sub === 'mfa') return resetMfa(users, ar, username);
  if (sub === 'logout') return signOut(users, ar, username);
  throw notFound('path');
}

async function userCollection(users: UserAdmin, ar: AdminRequest): Promise<void> {
  if (ar.method === 'GET') return sendList(ar.res, await users.list(), ar.req, { key: (u) => [u.username] }, (u) => u);
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = fieldsOf(await readObject(ar.req), ['username', 'password', 'claims', 'require_mfa']);
  if (typeof body.username !== 'string') throw invalidField('username', body.username === undefined ? 'required' : 'expected a string');
  const password = optionalPassword(body.password);
  const claims = body.claims === undefined ? undefined : withoutNulls(claimsOf(body.claims));
  const requireMfa = booleanOf(body.require_mfa, 'require_mfa');
  const created = await users.create({ username: body.username, password, claims, require_mfa: requireMfa }, changeOf(ar));
  sendData(ar.res, 201, created);
}

async function oneUser(users: UserAdmin, ar: AdminRequest, username: string): Promise<void> {
  switch (ar.method) {
    case 'GET': {
      const found = await users.get(username);
      if (found === undefined) throw notFound(`user "${username}"`);
      return sendData(ar.res, 200, found);
    }
    case 'PATCH': {
      const body = fieldsOf(await readObject(ar.req), ['username', 'claims', 'require_mfa', 'locked']);
      if (body.username !== undefined && body.username !== username) throw invalidField('username', 'cannot be changed; create a new user');
      const patch = {
        claims: body.claims === undefined ? undefined : claimsOf(body.claims),
        require_mfa: booleanOf(body.require_mfa, 'require_mfa'),
        locked: booleanOf(body.locked, 'locked'),
      };
      return sendData(ar.res, 200, await users.update(username, patch, changeOf(ar)));
    }
    case 'DELETE':
      ar.req.resume();
      await users.delete(username, changeOf(ar));
      return sendData(ar.res, 204, null);
    default:
      ar.req.resume();
      throw methodNotAllowed(['GET', 'PATCH', 'DELETE']);
  }
}

/**
 * POST /users/{username}/password: `{ "password": … }`, checked by the password policy, and
 * `"sign_out": true` to sign the user out everywhere as /logout does (the answer then has
 * `signed_out`); by default sessions and tokens stay, as with Keycloak's admin reset.
 */
async function newPassword(users: UserAdmin, ar: AdminRequest, username: string): Promise<void> {
  if (ar.method !== 'POST') {
    ar.req.resume();
    throw methodNotAllowed(['POST']);
  }
  const body = fieldsOf(await readObject(ar.req), ['password', 'sign_out']);
  if (typeof body.password !== 'string') throw invalidField('password', body.password === undefined ? 'required' : 'expected a string');
  const signOut = booleanOf(body.sign_out, 'sign_out') === true;
  const { signed_out, ...user } = await users.setPassword(username, body.password, changeOf(ar), { signOut });
  sendData(ar.res, 200, { ...user, ...(signed_out ? { signed_out: signedOutAnswer(signed_out) } : {}) });
}

/**
 * POST /users/{username}/logout: sign out everywhere (Keycloak's POST /users/{id}/logout,
 * `drawbridge user revoke`), the user left as they are. Answers with what ended, as `user
 * revoke --json` prints it.
 */
async function signOut(users: UserAdmin, ar: AdminRequest, username: string): Promise<void> {
  if (ar.method !== 'POST') {
    ar.req.resume();
    throw methodNotAllowed(['POST']);
  }
  // no fields: no body, or {} (one that names anything is a 400)
  fieldsOf(await readObject(ar.req), []);
  sendData(ar.res, 200, { username, ...signedOutAnswer(await users.signOut(username, changeOf(ar))) });
}

/** DELETE /users/{username}/mfa: as `drawbridge user reset-mfa`. */
async function resetMfa(users: UserAdmin, ar: AdminRequest, username: string): Promise<void> {
  ar.req.resume();
  if (ar.method !== 'DELETE') throw methodNotAllowed(['DELETE']);
  await users.resetMfa(username, changeOf(ar));
  sendData(ar.res, 204, null);
}

/** The body's fields, each one of `known` (any other is a 400 naming it). */
function fieldsOf(body: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const expected = known.length > 0 ? `expected ${known.join(', ')}` : 'this endpoint takes none';
  for (const key of Object.keys(body)) if (!known.includes(key)) throw invalidField(key, `unknown field; ${expected}`);
  return body;
}

/** Absent or null: a user without a password (no sign-in until one is set). */
function optionalPassword(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalidField('password', 'expected a string');
  return value;
}

function claimsOf(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField('claims', 'expected an object of claim names and values');
  return value as Record<string, unknown>;
}

/** A new user's claims: a null value means no such claim, as it does in a PATCH. */
function withoutNulls(claims: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== null));
}

/** true / false, or a form's "true" / "false"; absent stays absent. */
function booleanOf(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw invalidField(field, 'expected true or false');
}

function changeOf(ar: AdminRequest): AdminChange {
  const ip = ar.req.socket.remoteAddress;
  return { request_id: ar.requestId, ...(ip !== undefined ? { ip } : {}) };
}
