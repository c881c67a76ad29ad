// The tokens a gateway session holds (access, refresh, ID token), sealed at rest as one
// JSON document: AES-256-GCM under deriveKey(secret, 'gateway-session'), with the session
// id as AAD, so a sealed value copied onto another session does not open.
import { deriveKey, seal, unseal } from '../crypto/seal.js';
import type { SessionTokens } from './types.js';

const SESSION_TOKENS_PURPOSE = 'gateway-session';

/** The sealing key for session tokens; derive once at start, not per request. */
export function sessionTokensKey(secret: string): Buffer {
  return deriveKey(secret, SESSION_TOKENS_PURPOSE);
}

export function sealTokens(key: Buffer, sessionId: string, tokens: SessionTokens): string {
  const doc: SessionTokens = { access_token: tokens.access_token, expires_at: tokens.expires_at };
  if (tokens.refresh_token !== undefined) doc.refresh_token = tokens.refresh_token;
  if (tokens.id_token !== undefined) doc.id_token = tokens.id_token;
  return seal(key, JSON.stringify(doc), sessionId);
}

/** Throws when the value was sealed for another session or under another secret. */
export function unsealTokens(key: Buffer, sessionId: string, sealed: string): SessionTokens {
  const value = JSON.parse(unseal(key, sealed, sessionId)) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('sealed session tokens: not an object');
  const t = value as Partial<SessionTokens>;
  if (typeof t.access_token !== 'string' || typeof t.expires_at !== 'number') {
    throw new Error('sealed session tokens: access_token and expires_at required');
  }
  return t as SessionTokens;
}
