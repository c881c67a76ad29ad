// What a verified token means for the gateway: the identity it stands for (sub, scope
// from `scope`/`scp`, groups, client_id from `client_id`/`azp`, sid, act, expiry) and the
// tags revocation events are matched against.
import { sha256Base64url } from '../../../core/crypto-util.js';
import type { Identity } from '../../types.js';
import type { CacheTags } from '../cache.js';

export function tagsOf(payload: Record<string, unknown>): CacheTags {
  const tags: CacheTags = {};
  if (typeof payload.sub === 'string') tags.sub = payload.sub;
  if (typeof payload.jti === 'string') {
    tags.jti = payload.jti;
    // the auth server records JWT access tokens under the digest of their jti
    tags.digest = sha256Base64url(payload.jti);
  }
  if (typeof payload.sid === 'string') tags.sid = payload.sid;
  const clientId = clientIdOf(payload);
  if (clientId !== undefined) tags.client_id = clientId;
  return tags;
}

function clientIdOf(payload: Record<string, unknown>): string | undefined {
  if (typeof payload.client_id === 'string') return payload.client_id;
  if (typeof payload.azp === 'string') return payload.azp;
  return undefined;
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const { scope, scp } = payload;
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s !== '');
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  if (typeof scp === 'string') return scp.split(' ').filter((s) => s !== '');
  return [];
}

/** The identity a verified token stands for; undefined without any subject. */
export function identityOf(payload: Record<string, unknown>, credentialId: string): Identity | undefined {
  const clientId = clientIdOf(payload);
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : clientId;
  if (sub === undefined) return undefined;
  const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : [];
  const identity: Identity = {
    auth_method: 'jwt',
    sub,
    scope: scopesOf(payload),
    groups,
    credential_id: credentialId,
    expires_at: payload.exp as number,
  };
  if (clientId !== undefined) identity.client_id = clientId;
  if (typeof payload.sid === 'string') identity.sid = payload.sid;
  if (typeof payload.act === 'object' && payload.act !== null && !Array.isArray(payload.act)) {
    identity.act = payload.act as Record<string, unknown>;
  }
  return Object.freeze(identity);
}
