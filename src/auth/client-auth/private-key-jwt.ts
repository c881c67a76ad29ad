// private_key_jwt (RFC 7523 §2.2, OIDC Core §9): a JWT signed with the client's own key.
// iss = sub = client_id, aud names this server, exp required, jti used once; iat, when
// present, not in the future and not after exp (30 s of clock skew either way).
// Every refusal after the signature verified (a claim out of bounds, a jti used before) is
// not counted by the client-auth throttle (not-a-guess.ts); a wrong signature or key is.
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { CLIENT_ASSERTION_ALGS } from '../../crypto/algorithms.js';
import { invalidClient } from '../../core/errors.js';
import type { Client } from '../clients.js';
import { CLOCK_SKEW, timeFault, type TimeFault } from '../client-jwt-times.js';
import type { AuthContext } from '../context.js';
import { notAGuess } from './not-a-guess.js';
import type { ClientAuthenticator } from './types.js';
import { hasControlCharacter } from '../../core/text.js';

const MAX_ASSERTION_LIFETIME = 600; // seconds; longer-lived assertions are refused
// why the assertion's times are out of bounds (client-jwt-times.ts); jose has refused an expired
// one (and one not valid yet) on the same terms before, with its own answer, repeated here
const TIME_REFUSALS: Readonly<Record<TimeFault, string>> = {
  exp: 'client assertion is invalid',
  nbf: 'client assertion is invalid',
  iat: 'client assertion is issued in the future (iat)',
  lifetime: 'client assertion lives too long',
};

// Key sets per client, rebuilt when the client's keys change; request objects (RFC 9101,
// endpoints/authorize/request-object.ts) are verified with the same ones.
const keySets = new Map<string, { source: string; getKey: JWTVerifyGetKey }>();

function keySetFor(client: Client): JWTVerifyGetKey {
  const source = client.jwks_uri ?? JSON.stringify(client.jwks);
  const cached = keySets.get(client.client_id);
  if (cached && cached.source === source) return cached.getKey;
  let getKey: JWTVerifyGetKey;
  if (client.jwks_uri) {
    getKey = createRemoteJWKSet(new URL(client.jwks_uri), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5000 });
  } else if (client.jwks) {
    getKey = createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0]);
  } else {
    throw invalidClient('client has no keys for private_key_jwt');
  }
  keySets.set(client.client_id, { source, getKey });
  return getKey;
}

/**
 * `verify` with the client's keys. When several of them match a JWT's header (a rotation that
 * publishes two keys of one type without a `kid`), jose refuses to pick one: each is tried,
 * and the first whose signature verifies decides (a claim it then refuses, too).
 */
export async function withClientKeys<T>(client: Client, verify: (getKey: JWTVerifyGetKey) => Promise<T>): Promise<T> {
  try {
    return await verify(keySetFor(client));
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        return await verify(() => key);
      } catch (tried) {
        if (!(tried instanceof errors.JWSSignatureVerificationFailed)) throw tried;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

export const privateKeyJwt: ClientAuthenticator = async function checkClientAssertion(ctx: AuthContext, client, presented, endpoint) {
  const assertion = presented.credential;
  if (!assertion) throw invalidClient('client assertion missing');
  const audiences = [ctx.endpoints.issuer, ctx.endpoints.token, endpoint];
  let payload;
  let header;
  try {
    ({ payload, protectedHeader: header } = await withClientKeys(client, (getKey) =>
      jwtVerify(assertion, getKey, {
        algorithms: [...CLIENT_ASSERTION_ALGS],
        issuer: client.client_id,
        subject: client.client_id,
        audience: audiences,
        requiredClaims: ['exp', 'jti'],
        currentDate: new Date(ctx.clock.now() * 1000),
        clockTolerance: CLOCK_SKEW,
      }),
    ));
  } catch (err) {
    // jose checks the claims only once the signature verified
    const signed = err instanceof errors.JWTExpired || err instanceof errors.JWTClaimValidationFailed;
    const refused = invalidClient('client assertion is invalid', err);
    throw signed ? notAGuess(refused) : refused;
  }
  // a request object (RFC 9101) is signed with the same keys: one read off a URL or a log must
  // not pass as the client's assertion (RFC 9101 §10.8; every request object has response_type)
  const typ = header.typ;
  if ((typeof typ === 'string' && typ.toLowerCase().endsWith('oauth-authz-req+jwt')) || payload.response_type !== undefined) {
    throw notAGuess(invalidClient('client assertion is a request object'));
  }
  const exp = payload.exp!;
  const iat = payload.iat;
  // jose checks iat only against a maxTokenAge: an assertion from the future, or one that
  // expires before it was issued, is refused here. nbf is left out: jose checked it, and the
  // lifetime counts from iat (else now)
  const fault = timeFault({ exp, iat }, ctx.clock.now(), MAX_ASSERTION_LIFETIME);
  if (fault !== undefined) throw notAGuess(invalidClient(TIME_REFUSALS[fault]));
  // assertions only (not request objects); its place after the lifetime changes no answer: one
  // that expires before its iat is never too long
  if (iat !== undefined && exp < iat) throw notAGuess(invalidClient('client assertion expires before it was issued (exp < iat)'));
  // RFC 7519 §4.1.7: a string. It is stored as a key: PostgreSQL refuses NUL in it, and one
  // longer than its index allows (~2.7 kB) was a 500; 256 characters, as the gateway's logout tokens
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > 256 || hasControlCharacter(jti)) throw notAGuess(invalidClient('client assertion jti is not a usable string'));
  const fresh = await ctx.storage.jtis.remember('client_assertion', `${client.client_id}:${jti}`, exp + 30);
  if (!fresh) throw notAGuess(invalidClient('client assertion was already used'));
};
