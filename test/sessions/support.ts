// A live gateway session record for the session tests: an hour left everywhere, tokens sealed
// with the key the test stacks use (TEST_SECRET), so a gateway of startStack can open them.
import { sealTokens, sessionTokensKey } from '../../src/sessions/tokens.js';
import type { GatewaySession } from '../../src/sessions/types.js';
import { TEST_SECRET } from '../helpers/gateway.js';

const KEY = sessionTokensKey(TEST_SECRET);

export function liveSession(id: string, fields: Pick<GatewaySession, 'sub' | 'issuer' | 'client_id' | 'claims'> & Partial<GatewaySession>): GatewaySession {
  const now = Math.floor(Date.now() / 1000);
  return {
    id,
    idp_sid: null,
    scope: ['openid'],
    tokens: sealTokens(KEY, id, { access_token: 'at', expires_at: now + 3600 }),
    access_expires_at: now + 3600,
    created_at: now,
    last_seen_at: now,
    expires_at: now + 3600,
    ...fields,
  };
}
