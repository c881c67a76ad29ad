// Token introspection (RFC 7662) for authenticated confidential clients, as JSON or, when
// asked with Accept: application/token-introspection+jwt, as a signed JWT (RFC 9701).
// §4: protected resources must be specifically authorized. A client sees a token issued to
// itself or meant for it (`aud` names its client_id); any other only with the `introspect`
// scope among its allowed scopes (the gateway's client). Others hear { active: false } (§2.2),
// so they cannot tell a token they may not see from an unknown one.
import type { IncomingMessage } from 'node:http';
import { INTROSPECT_SCOPE } from '../../config/schema-auth.js';
import { readForm, sendNoStoreJson, sendText } from '../../core/http.js';
import { signJwt } from '../../crypto/jwt.js';
import type { TokenRecord } from '../../storage/types.js';
import type { Client } from '../clients.js';
import { authenticateClient } from '../client-auth/index.js';
import type { AuthContext } from '../context.js';
import { clientExists, findToken, isActive } from '../tokens/resolve.js';
import type { Endpoint } from './types.js';

const JWT_INTROSPECTION_TYPE = 'application/token-introspection+jwt';
const JWT_TYPE_ANYWHERE = /application\/token-introspection\+jwt/i;
/** The answer's form depends on Accept (wantsJwt): RFC 9110 §12.5.5, for any cache on the way. */
const VARY = { vary: 'Accept' };

export const introspectionEndpoint: Endpoint = {
  methods: ['POST'],
  handle: async function introspect(ctx, req, res) {
    const params = await readForm(req, ctx.auth.max_body_size);
    const client = await authenticateClient(ctx, { req, params, endpoint: ctx.endpoints.introspection }, { allowPublic: false });
    const token = params.require('token');
    params.get('token_type_hint'); // accepted (and checked for repeats); lookups do not need it
    const rec = await findToken(ctx, token);
    const now = ctx.clock.now();
    const active = isActive(rec, now) && mayIntrospect(client, rec) && (await clientExists(ctx, rec.client_id));
    const body = active ? activeResponse(ctx, rec) : { active: false };
    if (wantsJwt(req)) {
      const jwt = signJwt(
        ctx.keyring.current,
        { iss: ctx.endpoints.issuer, aud: client.client_id, iat: now, exp: now + ctx.auth.introspection_jwt_ttl, token_introspection: body },
        'token-introspection+jwt',
      );
      sendText(res, 200, JWT_INTROSPECTION_TYPE, jwt, { 'cache-control': 'no-store', pragma: 'no-cache', ...VARY });
      return;
    }
    sendNoStoreJson(res, 200, body, VARY);
  },
};

function mayIntrospect(client: Client, rec: TokenRecord): boolean {
  return rec.client_id === client.client_id || audienceOf(rec).includes(client.client_id) || client.scopeSet.has(INTROSPECT_SCOPE);
}

/**
 * Whom the token is meant for (RFC 7662 §2.2 `aud`): an access token's `aud`. A refresh token
 * has none: it is only ever presented here, and its record's `audience` is the RFC 8707
 * binding of the family's access tokens (refresh-token.ts), which names resource servers it is
 * no good at. Shown as `aud`, a resource server checking active and aud would take it.
 */
function audienceOf(rec: TokenRecord): readonly string[] {
  return rec.kind === 'refresh_token' ? [] : rec.audience;
}

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
    aud: audienceClaim(audienceOf(rec)),
    iss: ctx.endpoints.issuer,
    jti: rec.jti,
  };
  if (rec.extra) {
    for (const [k, v] of Object.entries(rec.extra)) if (!(k in body)) body[k] = v;
  }
  return body;
}

/** One audience as a string, several as a list, none: no `aud` member (undefined is dropped by JSON). */
function audienceClaim(audience: readonly string[]): string | readonly string[] | undefined {
  if (audience.length === 0) return undefined;
  return audience.length === 1 ? audience[0] : audience;
}

/**
 * RFC 9110 §12.5.1 content negotiation between our two answers. Each type's q is that of the
 * most specific range that matches it (type/subtype over type/* over * / *; none: 0, not
 * acceptable); the JWT is sent when it is named by its own type and its q is above 0 and at
 * least JSON's. A tie goes to the JWT because a client that names it is asking for it (JSON is
 * what any range would give); a range alone (`application/*`, `* / *`) or a header that accepts
 * neither gets JSON, RFC 7662's default.
 */
function wantsJwt(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  // most callers want JSON: skip splitting the header unless the JWT type could be in it
  if (accept === undefined || !JWT_TYPE_ANYWHERE.test(accept)) return false;
  const jwt = { q: 0, specificity: -1 };
  const json = { q: 0, specificity: -1 };
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (range === undefined || range === '') continue;
    const qParam = params.find((p) => /^q\s*=/.test(p));
    const q = qParam === undefined ? 1 : qValue(qParam.slice(qParam.indexOf('=') + 1).trim());
    if (q === undefined) continue; // a malformed weight: ignore the range rather than guess
    rank(jwt, range, JWT_INTROSPECTION_TYPE, q);
    rank(json, range, 'application/json', q);
  }
  return jwt.specificity === 2 && jwt.q > 0 && jwt.q >= json.q;
}

/** Records `q` for `type` when `range` matches it more specifically than any range before. */
function rank(best: { q: number; specificity: number }, range: string, type: string, q: number): void {
  const specificity = range === type ? 2 : range === `${type.slice(0, type.indexOf('/'))}/*` ? 1 : range === '*/*' ? 0 : -1;
  // the same range twice: the first one counts (a repeat cannot raise what was said)
  if (specificity > best.specificity) {
    best.q = q;
    best.specificity = specificity;
  }
}

/** RFC 9110 §12.4.2 qvalue: 0 to 1 with at most three decimals. */
function qValue(text: string): number | undefined {
  return /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(text) ? Number(text) : undefined;
}
