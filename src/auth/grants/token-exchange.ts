// Token exchange (RFC 8693): a service that received a user's token (the gateway's internal
// JWT, or an access token of ours) trades it for a new one to call another service on the
// user's behalf. The new token keeps the subject's `sub` and records who acts for it in `act`
// (§4.1): the actor token's subject, or else the requesting client; an `act` the subject token
// already carries nests inside as the prior actor, so the whole delegation chain is visible.
//
// Our policy where the RFC leaves the choice:
// - confidential clients only, and only tokens meant for them: the subject token's `aud`
//   names the client or its `client_id` is the client (a stolen token is useless to others);
// - subject and actor tokens are our own access tokens: opaque or JWT ones we stored (active,
//   not revoked) or JWT access tokens we signed (`typ: at+jwt`, our issuer, not expired), which
//   includes the gateway's internal JWT. ID, logout and introspection JWTs are refused;
// - scope only narrows (⊆ the subject's and the client's), targets only among the client's
//   (none named: the client's `audiences`, else the issuer; see issueAccessToken);
// - the new token never outlives the subject (nor the actor) token, shares the subject's grant
//   (revoking that family revokes it too) and never comes with a refresh token;
// - delegation ends with the token it came from: a new token records the stored subject token
//   it was exchanged from (`exchanged_from`), and revoking that token revokes it too, down
//   the whole chain (revoke.ts). The gateway's internal JWT is not stored: nothing to record,
//   it dies within its minute. The actor token is not linked: it vouches for who acts, not
//   for whose authority is delegated;
// - a subject token carrying `may_act` (§4.4: who may act for its subject) is honoured: the
//   acting party, the actor token's subject or else the requesting client (whoever becomes
//   `act`), must match every member it names (`sub`, `iss`, `client_id`); a member we cannot
//   check, or a may_act that is not an object naming `sub` or `client_id`, refuses the exchange.
//
// RFC 8693 §2.2.2 says an invalid or unacceptable subject/actor token is `invalid_request`
// (not invalid_grant): its MUST is followed here.
import { invalidRequest, invalidScope, unauthorizedClient, type AppError } from '../../core/errors.js';
import type { FormParams } from '../../core/http.js';
import { isObject } from '../../crypto/jwt.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';
import { parseScope, requestedTargets } from '../scope.js';
import { issueAccessToken } from '../tokens/access-token.js';
import { MAX_TOKEN_LENGTH, clientExists, findStoredJwt, findToken, isActive, looksLikeJwt, verifyOwnJwt } from '../tokens/resolve.js';
import { noteSubject, requestAudit } from '../request-scope.js';
import type { Grant, TokenResponse } from './types.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** The error for a subject or actor token we cannot accept (RFC 8693 §2.2.2). */
const rejected: (description: string) => AppError = invalidRequest;

/** Actors in one `act` chain at most: each exchange adds one, and tokens must stay small. */
const MAX_ACTORS = 8;
/** Seconds of clock skew allowed on `iat`/`nbf` of a JWT (as isActive allows on iat). */
const LEEWAY = 60;

/** What a validated subject or actor token tells us. */
interface Presented {
  sub: string;
  scope: string[];
  audience: string[];
  clientId: string | undefined;
  expiresAt: number;
  act: Record<string, unknown> | undefined;
  /** RFC 8693 §4.4: who may act for the subject; undefined when the token names no one */
  mayAct: unknown;
  groups: string[] | undefined;
  /** the grant family of a stored token; null for the gateway's internal JWTs */
  grantId: string | null;
  /** a stored token; null for the gateway's internal JWTs */
  stored: StoredSubject | null;
}

/** A stored subject token: its digest and the client it was issued to (as stored). */
interface StoredSubject {
  digest: string;
  clientId: string;
}

export const tokenExchange: Grant = {
  // public clients get unauthorized_client below, a clearer answer than invalid_client
  allowPublic: true,
  handle: async function tokenExchangeGrant(ctx, { req, params, client }) {
    if (client.token_endpoint_auth_method === 'none') throw unauthorizedClient('token exchange is only for confidential clients');
    const subjectType = tokenType(params, 'subject_token_type', true)!;
    const subjectToken = params.require('subject_token');
    const actorToken = params.get('actor_token');
    const actorType = tokenType(params, 'actor_token_type', actorToken !== undefined);
    if (actorToken === undefined && actorType !== undefined) throw invalidRequest('actor_token_type given without actor_token');
    const issuedType = tokenType(params, 'requested_token_type', false) ?? ACCESS_TOKEN_TYPE;
    // cheap parameter checks before any token is looked up
    const audience = requestedTargets(client, params);
    const requestedScope = params.get('scope');

    const now = ctx.clock.now();
    const subject = await validateToken(ctx, subjectToken, subjectType, now, 'subject_token');
    if (subject.clientId !== client.client_id && !subject.audience.includes(client.client_id)) {
      throw rejected('subject token was not issued to this client');
    }
    const actor = actorToken === undefined ? undefined : await validateToken(ctx, actorToken, actorType!, now, 'actor_token');
    // the acting party as `act` will name it; both kinds are ours, so their issuer is ours
    const acting: ActingParty = actor
      ? { sub: actor.sub, iss: ctx.endpoints.issuer, client_id: actor.clientId }
      : { sub: client.client_id, iss: ctx.endpoints.issuer, client_id: client.client_id };
    if (subject.mayAct !== undefined) checkMayAct(subject.mayAct, acting, actor !== undefined);

    const act = actorClaim(acting.sub, subject.act);
    const scope = exchangedScope(client, subject.scope, requestedScope);
    const extra: Record<string, unknown> = { act };
    if (subject.groups !== undefined) extra.groups = subject.groups;
    noteSubject(req, subject.sub);
    const issued = await issueAccessToken(ctx, {
      client,
      sub: subject.sub,
      scope,
      audience,
      grantId: subject.grantId,
      extra,
      format: issuedType === JWT_TOKEN_TYPE ? 'jwt' : undefined,
      notAfter: Math.min(subject.expiresAt, actor?.expiresAt ?? Number.POSITIVE_INFINITY),
      exchangedFrom: subject.stored?.digest ?? null,
    });
    if (subject.stored !== null) await unlessSubjectRevoked(ctx, subject.stored, issued.record);
    requestAudit(ctx, req).record({
      event: 'token.exchanged',
      client_id: client.client_id,
      sub: subject.sub,
      actor: act.sub,
      // `subject_token_type` would be dropped as a secret-looking key: say it without "token"
      subject_type: subjectType === JWT_TOKEN_TYPE ? 'jwt' : 'access_token',
      scope: issued.scope,
      audience: issued.record.audience,
      expires_at: issued.record.expires_at,
    });
    const body: TokenResponse = {
      access_token: issued.access_token,
      issued_token_type: issuedType,
      token_type: issued.token_type,
      expires_in: issued.expires_in,
    };
    if (issued.scope !== '') body.scope = issued.scope;
    return body;
  },
};

/**
 * A revocation of the subject token that ran between its validation and the insert of the new
 * token found no token exchanged from it yet: read it again now that the new token is stored,
 * and take the new one back if the subject is gone. (A revocation after this read sees the new
 * token and revokes it itself.) The new token was never handed out: no gateway needs telling.
 *
 * The same holds for the deletion of the subject token's client, which revokes its tokens and
 * what was exchanged from them: a subject token that escaped that revocation (stored a moment
 * after it) passed validation on a client cache that had not heard of the deletion yet. So the
 * client is read here from storage itself, not from the cache, nor through a cache load that
 * may have started before the insert. Both reads go at once: one round trip.
 */
async function unlessSubjectRevoked(ctx: AuthContext, subject: StoredSubject, issued: { digest: string }): Promise<void> {
  const [rec, client] = await Promise.all([ctx.storage.tokens.findByDigest(subject.digest), ctx.storage.clients.get(subject.clientId)]);
  const now = ctx.clock.now();
  if (rec !== undefined && isActive(rec, now) && client !== undefined) return;
  await ctx.storage.tokens.revoke(issued.digest, now);
  throw rejected('subject_token is invalid, expired or revoked');
}

/** `subject_token_type` / `actor_token_type` / `requested_token_type`: one of the two types we accept. */
function tokenType(params: FormParams, name: string, required: boolean): string | undefined {
  const value = required ? params.require(name) : params.get(name);
  if (value === undefined || value === ACCESS_TOKEN_TYPE || value === JWT_TOKEN_TYPE) return value;
  throw invalidRequest(`${name} "${value}" is not supported; use ${ACCESS_TOKEN_TYPE} or ${JWT_TOKEN_TYPE}`);
}

/** Requested scope ⊆ the subject token's and the client's; none requested: their intersection. */
function exchangedScope(client: Client, subjectScope: string[], requested: string | undefined): string[] {
  if (requested === undefined) return subjectScope.filter((s) => client.scopeSet.has(s));
  const granted = new Set(subjectScope);
  const scope = parseScope(requested);
  for (const s of scope) {
    if (!granted.has(s)) throw invalidScope(`scope "${s}" is not in the subject token`);
    if (!client.scopeSet.has(s)) throw invalidScope(`scope "${s}" is not allowed for this client`);
  }
  return scope;
}

/** Who would act for the subject: the actor token's subject, or else the requesting client. */
interface ActingParty {
  sub: string;
  iss: string;
  /** the actor token's client (undefined when it names none), or the requesting client */
  client_id: string | undefined;
}

/** may_act members we know how to compare with the acting party. */
const MAY_ACT_MEMBERS = new Set<string>(['sub', 'iss', 'client_id']);

/**
 * RFC 8693 §4.4: the subject token's `may_act` names the party allowed to act for its subject.
 * Every member it names must match the acting party; anything we cannot judge refuses the
 * exchange (an authorization statement we ignored would grant more than its author meant).
 * invalid_request, as for any subject token unacceptable by policy (§2.2.2).
 */
function checkMayAct(mayAct: unknown, acting: ActingParty, withActorToken: boolean): void {
  if (!isObject(mayAct)) throw rejected('the may_act claim of the subject token is not an object');
  const unknown = Object.keys(mayAct).filter((k) => !MAY_ACT_MEMBERS.has(k));
  if (unknown.length > 0) throw rejected(`the may_act claim of the subject token names members this server cannot check: ${unknown.join(', ')}`);
  if (mayAct.sub === undefined && mayAct.client_id === undefined) throw rejected('the may_act claim of the subject token names no sub or client_id');
  const who = withActorToken ? 'the actor token' : 'the requesting client';
  for (const name of MAY_ACT_MEMBERS) {
    const wanted = mayAct[name];
    if (wanted === undefined) continue;
    if (typeof wanted !== 'string' || wanted !== acting[name as keyof ActingParty]) {
      throw rejected(`${who} is not the party the subject token's may_act allows to act for it (${name} differs)`);
    }
  }
}

/** The new `act`: the current actor outermost, the subject token's own `act` nested inside. */
function actorClaim(actorSub: string, prior: Record<string, unknown> | undefined): Record<string, unknown> & { sub: string } {
  if (prior === undefined) return { sub: actorSub };
  let depth = 1;
  for (let a: unknown = prior; isObject(a); a = a.act) depth++;
  if (depth > MAX_ACTORS) throw rejected(`the delegation chain of the subject token is too long (at most ${MAX_ACTORS} actors)`);
  return { sub: actorSub, act: prior };
}

/** A subject or actor token of one of our two types, active now; `rejected` otherwise. */
async function validateToken(ctx: AuthContext, token: string, type: string, now: number, name: string): Promise<Presented> {
  if (token.length > MAX_TOKEN_LENGTH) throw rejected(`${name} is invalid`);
  if (looksLikeJwt(token)) return validateJwt(ctx, token, now, name);
  // an opaque string can only be an access token of ours
  if (type === JWT_TOKEN_TYPE) throw rejected(`${name} is not a JWT`);
  const rec = await findToken(ctx, token);
  if (!isActive(rec, now) || rec.kind !== 'access_token' || !(await clientExists(ctx, rec.client_id))) throw rejected(`${name} is invalid, expired or revoked`);
  const extra = rec.extra ?? {};
  return {
    sub: rec.sub,
    scope: splitScope(rec.scope),
    audience: rec.audience,
    clientId: rec.client_id,
    expiresAt: rec.expires_at,
    act: isObject(extra.act) ? extra.act : undefined,
    mayAct: extra.may_act,
    groups: stringList(extra.groups),
    grantId: rec.grant_id,
    stored: { digest: rec.digest, clientId: rec.client_id },
  };
}

/**
 * A JWT access token of ours (verifyOwnJwt: our keys, our issuer, as introspection finds it),
 * `typ: at+jwt`, not expired. One we issued and stored must also be active (not revoked);
 * one we did not store is the gateway's internal JWT (short-lived).
 */
async function validateJwt(ctx: AuthContext, token: string, now: number, name: string): Promise<Presented> {
  const verified = verifyOwnJwt(ctx, token);
  if (!verified) throw rejected(`${name} is not a valid JWT signed by this issuer`);
  const typ = typeof verified.header.typ === 'string' ? verified.header.typ.toLowerCase() : '';
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt') throw rejected(`${name} is not an access token (typ at+jwt)`);
  const c = verified.payload;
  if (typeof c.sub !== 'string' || c.sub === '') throw rejected(`${name} has no subject`);
  if (typeof c.exp !== 'number' || c.exp <= now) throw rejected(`${name} has expired`);
  if ((typeof c.iat === 'number' && c.iat > now + LEEWAY) || (typeof c.nbf === 'number' && c.nbf > now + LEEWAY)) {
    throw rejected(`${name} is not valid yet`);
  }
  let grantId: string | null = null;
  let stored: StoredSubject | null = null;
  if (typeof c.jti === 'string') {
    const rec = await findStoredJwt(ctx, c.jti);
    if (rec !== undefined) {
      if (rec.kind !== 'access_token' || !isActive(rec, now) || !(await clientExists(ctx, rec.client_id))) throw rejected(`${name} is invalid, expired or revoked`);
      grantId = rec.grant_id;
      stored = { digest: rec.digest, clientId: rec.client_id };
    }
  }
  return {
    sub: c.sub,
    scope: typeof c.scope === 'string' ? splitScope(c.scope) : [],
    audience: typeof c.aud === 'string' ? [c.aud] : (stringList(c.aud) ?? []),
    clientId: typeof c.client_id === 'string' ? c.client_id : undefined,
    expiresAt: c.exp,
    act: isObject(c.act) ? c.act : undefined,
    mayAct: c.may_act,
    groups: stringList(c.groups),
    grantId,
    stored,
  };
}

function splitScope(scope: string): string[] {
  return scope.split(' ').filter((s) => s !== '');
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}
