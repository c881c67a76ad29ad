// Authorization checks on verified claims. Both throw DrawbridgeAuthError 403
// insufficient_scope, which the middleware answers (RFC 6750 §3.1).
//
//   requireScopes: ALL of the listed scopes must be granted — a scope is a permission the
//                  operation needs, and an operation needing two needs both.
//   requireGroups: ANY ONE of the listed groups is enough — groups name who may do
//                  something ("admin or ops"). For all-of, call it once per group.
import type { InternalClaims } from './claims.js';
import { DrawbridgeAuthError } from './errors.js';

type ScopedClaims = Pick<InternalClaims, 'scopes'>;
type GroupedClaims = Pick<InternalClaims, 'groups'>;

export function hasScopes(claims: ScopedClaims, ...scopes: string[]): boolean {
  return scopes.every((s) => claims.scopes.includes(s));
}

export function requireScopes<C extends ScopedClaims>(claims: C, ...scopes: string[]): C {
  const missing = scopes.filter((s) => !claims.scopes.includes(s));
  if (missing.length > 0) {
    // the challenge names everything the operation needs (RFC 6750 §3), the description what is missing
    throw new DrawbridgeAuthError('insufficient_scope', `missing scope: ${missing.join(' ')}`, { scope: scopes });
  }
  return claims;
}

export function inAnyGroup(claims: GroupedClaims, ...groups: string[]): boolean {
  return groups.length === 0 || groups.some((g) => claims.groups.includes(g));
}

export function requireGroups<C extends GroupedClaims>(claims: C, ...groups: string[]): C {
  if (!inAnyGroup(claims, ...groups)) {
    throw new DrawbridgeAuthError('insufficient_scope', `requires membership in one of: ${groups.join(', ')}`);
  }
  return claims;
}
