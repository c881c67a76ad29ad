// Configured users → storage (source `config`), at every start, like configured clients.
// The config file is the source of truth for what it says (password, claims, mfa_required
// when given); what it cannot say is kept: the id (the stable subject), created_at, `locked`
// (`drawbridge user lock` works on config users too), and the password of a user configured
// without one (so `drawbridge user set-password` can give it one). Users removed from the
// file are deleted; at server start ./removed.ts also signs them out everywhere.
import { randomUUID } from 'node:crypto';
import type { AuthConfig, UserConfig } from '../../config/types.js';
import { defaultPasswordPolicy } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { Storage, UserRecord } from '../../storage/types.js';
import { checkPassword, hashPassword, needsRehash, verifyPassword } from './password.js';

export interface UserSyncResult {
  created: string[];
  updated: string[];
  /** plain `password`s hashed anew (new user, changed password, or outdated parameters) */
  hashed: string[];
  pruned: string[];
}

/**
 * Makes storage match `auth.users`. A plain `password` is hashed with argon2id only when the
 * stored hash does not already verify it (with current parameters), so a restart writes
 * nothing and the stored hash stays the same; `password_hash` is stored as given.
 */
export async function syncConfiguredUsers(storage: Storage, auth: AuthConfig, now: number, logger?: Logger): Promise<UserSyncResult> {
  const result: UserSyncResult = { created: [], updated: [], hashed: [], pruned: [] };
  const policy = auth.password_policy ?? defaultPasswordPolicy();
  const existing = await Promise.all(auth.users.map((u) => storage.users.getByUsername(u.username)));
  // argon2 runs on libuv's thread pool: the users' checks run side by side.
  const hashes = await Promise.all(auth.users.map((u, i) => passwordHashFor(u, existing[i])));
  for (const [i, u] of auth.users.entries()) {
    const before = existing[i];
    const { hash, hashed } = hashes[i]!;
    if (hashed) result.hashed.push(u.username);
    if (hashed && u.password !== undefined && logger) {
      const check = checkPassword(u.password, policy, u.username);
      if (!check.ok) logger.warn({ username: u.username }, `auth.users: ${check.message} (config passwords are not refused; change it)`);
    }
    const rec: UserRecord = {
      id: before?.id ?? randomUUID(),
      username: u.username,
      password_hash: hash,
      claims: u.claims,
      locked: before?.locked ?? false,
      source: 'config',
      created_at: before?.created_at ?? now,
      updated_at: now,
    };
    let id = before?.id;
    if (before === undefined) {
      result.created.push(u.username);
      // a new user who must use MFA is stored requiring it, in one transaction; another
      // instance syncing the same file may have stored it meanwhile: then as an update
      id = (await storage.users.insert(rec, { mfaRequired: u.mfa_required === true })) ? rec.id : (await storage.users.upsert(rec)).id;
    } else if (!sameUser(before, rec)) {
      result.updated.push(u.username);
      id = (await storage.users.upsert(rec)).id;
    }
    if (u.mfa_required !== undefined) await syncMfaRequired(storage, id!, u.mfa_required, now);
  }
  result.pruned = await storage.users.prune('config', auth.users.map((u) => u.username));
  return result;
}

async function passwordHashFor(u: UserConfig, before: UserRecord | undefined): Promise<{ hash: string | null; hashed: boolean }> {
  if (u.password_hash !== undefined) return { hash: u.password_hash, hashed: false };
  if (u.password === undefined) return { hash: before?.password_hash ?? null, hashed: false };
  const stored = before?.password_hash;
  if (stored && !needsRehash(stored) && (await verifyPassword(stored, u.password))) return { hash: stored, hashed: false };
  return { hash: await hashPassword(u.password), hashed: true };
}

async function syncMfaRequired(storage: Storage, userId: string, required: boolean, now: number): Promise<void> {
  const mfa = await storage.users.getMfa(userId);
  if ((mfa?.required ?? false) !== required) await storage.users.setMfaRequired(userId, required, now);
}

function sameUser(a: UserRecord, b: UserRecord): boolean {
  return (
    a.password_hash === b.password_hash &&
    a.source === b.source &&
    a.locked === b.locked &&
    JSON.stringify(a.claims) === JSON.stringify(b.claims)
  );
}
