// Whom a bearer token is meant for (`aud`, RFC 7519 §4.1.3; RFC 8693 `audience`, RFC 8707
// `resource`), shared by `jwt` and `oauth2-introspection`. The auth server narrows a token
// to the services a client may call (`audiences`); the gateway must refuse it elsewhere,
// or it re-mints the internal JWT with the route's service as `aud` and hides the misuse
// from the service behind it.
//
// What is accepted, per plugin (for `jwt`, per trusted issuer):
//   `audience` configured          those values, for every issuer of the plugin;
//   none, our own issuer           the issuer itself (the auth server's default `aud` when a
//                                  client asks for no audience) or the route's service name
//                                  (the internal JWT's `aud`, and what RFC 8693 exchanges name);
//   none, a foreign issuer         no check (its audiences are its own business; configure them).
// A token without `aud` is refused whenever something is accepted (RFC 9068 §4 requires it).
import { Field, list, str } from '../../config/schema.js';
export { sameIssuer } from '../../config/formats.js';
import { invalidBearer } from '../errors.js';
import type { AuthnResult, GatewayRequest } from '../types.js';

/** `audience: api` or `audience: [api, other]`. */
export function audienceField(doc: string): Field<string[] | undefined> {
  return new Field<string[]>({
    type: 'string or list of string',
    expected: 'a string or a list of strings',
    doc: '',
    required: true,
    sensitive: false,
    children: [],
    parse: function parseAudience(raw, path, sensitive) {
      return typeof raw === 'string' && raw !== '' ? [raw] : list(str(), { min: 1 }).parse(raw, path, sensitive);
    },
  })
    .optional()
    .doc(doc);
}

/** A token's `aud` as a list: a string is one audience; anything else but strings counts as none. */
export function audiencesOf(aud: unknown): readonly string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/**
 * The audience rule of one plugin for tokens of one issuer: `check(aud, gr)` is undefined
 * when the token may be used on `gr`'s route, else the 401 (invalid_token, RFC 6750 §3.1).
 */
export interface AudienceRule {
  check(aud: readonly string[], gr: GatewayRequest): AuthnResult | undefined;
}

/** The configured `audience` values: any one of them suffices. */
export function configuredAudience(accepted: readonly string[], realm: string): AudienceRule {
  const set = new Set(accepted);
  return {
    check: function checkConfiguredAudience(aud) {
      if (aud.length === 0) return { kind: 'fail', error: invalidBearer('token has no audience (aud)', realm) };
      for (let i = 0; i < aud.length; i++) if (set.has(aud[i]!)) return undefined;
      return { kind: 'fail', error: invalidBearer('token audience (aud) not accepted here', realm) };
    },
  };
}

/** Tokens of our own issuer without `audience` configured: the issuer or the route's service. */
export function ownIssuerAudience(issuer: string, realm: string): AudienceRule {
  return {
    check: function checkOwnAudience(aud, gr) {
      if (aud.length === 0) return { kind: 'fail', error: invalidBearer('token has no audience (aud)', realm) };
      const service = gr.route.service.name;
      for (let i = 0; i < aud.length; i++) if (aud[i] === service || aud[i] === issuer) return undefined;
      return { kind: 'fail', error: invalidBearer(`token audience (aud) names neither this service (${service}) nor the issuer`, realm) };
    },
  };
}
