// Token introspection (RFC 7662) for authenticated confidential clients, as JSON or, when
// asked with Accept: application/token-introspection+jwt, as a signed JWT (RFC 9701).
import type { IncomingMessage } from 'node:http';
import { readForm, sendNoStoreJson, sendText } from '../../core/http.js';
import { signJwt } from '../../crypto/jwt.js';
import type { TokenRecord } from '../../storage/types.js';
import { authenticateClient } from '../client-auth/index.js';
import type { AuthContext } from '../context.js';
import { findToken, isActive } from '../tokens/resolve.js';
import type { Endpoint } from './types.js';

export const JWT_INTROSPECTION_TYPE = 'application/token-introspection+jwt';
const JWT_TYPE_ANYWHERE = /application\/token-introspection\+jwt/i;

export const introspectionEndpoint: Endpoint = {
  methods: ['POST'],
  handle: async function introspect(ctx, req, res) {
    const params = await readForm(req, ctx.auth.max_body_size);
    const client = await authenticateClient(ctx, { req, params, endpoint: ctx.endpoints.introspection }, { allowPublic: false });
    const token = params.require('token');
    params.get('token_type_hint'); // accepted (and checked for repeats); lookups do not need it
    const rec = await findToken(ctx, token);
    const now = ctx.clock.now();
    const body = isActive(rec, now) ? activeResponse(ctx, rec) : { active: false };
    if (wantsJwt(req)) {
      const jwt = signJwt(
        ctx.keyring.current,
        { iss: ctx.endpoints.issuer, aud: client.client_id, iat: now, exp: now + ctx.auth.introspection_jwt_ttl, token_introspection: body },
        'token-introspection+jwt',
      );
      sendText(res, 200, JWT_INTROSPECTION_TYPE, jwt, { 'cache-control': 'no-store', pragma: 'no-cache' });
      return;
    }
    sendNoStoreJson(res, 200, body);
  },
};

function activeResponse(ctx: AuthContext, rec: TokenRecord): Record<string, unknown> {
  const body: Record<string, unknown> = {
    active: true,
    scope: rec.scope,
    client_id: rec.client_id,
    // RFC 7662 §2.2: token_type is an access token type (RFC 6749 §7.1), which a refresh
    // token has none of; what kind of token it is goes in token_use, as ORY Hydra names it
    token_type: rec.kind === 'refresh_token' ? undefined : 'Bearer',
    token_use: rec.kind,
    exp: rec.expires_at,
    iat: rec.issued_at,
    sub: rec.sub,
    aud: rec.audience.length === 1 ? rec.audience[0] : rec.audience,
    iss: ctx.endpoints.issuer,
    jti: rec.jti,
  };
  if (rec.extra) {
    for (const [k, v] of Object.entries(rec.extra)) if (!(k in body)) body[k] = v;
  }
  return body;
}

function wantsJwt(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  // most callers want JSON: skip splitting the header unless the JWT type could be in it
  if (accept === undefined || !JWT_TYPE_ANYWHERE.test(accept)) return false;
  // honour `;q=0` (RFC 9110 §12.5.1): listed but refused is not asked for
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (type !== JWT_INTROSPECTION_TYPE) return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
