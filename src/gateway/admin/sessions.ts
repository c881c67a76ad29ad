// /sessions: the gateway's browser sessions (issue #5 "sign out everywhere").
//   GET    /sessions?user=NAME  a user's live sessions, newest first (never their tokens)
//   GET    /sessions?sub=SUB    the same by subject (the `sub` the sessions carry)
//   GET    /sessions/{id}       one session
//   DELETE /sessions/{id}       ends it (204; 404 when there is none)
//   DELETE /sessions?user=NAME  ends every session of the user: `{ ended: [ids] }` (or ?sub=SUB)
// user= is a username, resolved to the user's id (their `sub`) as `drawbridge session list
// --user NAME` does. It used to take the subject: a value that names no user is still taken
// as one, so existing scripts keep working; sub= says which is meant.
// The store is shared by every instance; what is ended here is also announced
// (`gateway-session.ended`, store ids only) so that every instance drops its cached copy at
// once (src/gateway/session-events.ts). A store that does not answer: 503 with Retry-After.
import type { GatewaySession, SessionStore } from '../../sessions/types.js';
import { sessionCacheOf, type GatewaySessionCache } from '../session-events.js';
import type { EventBus } from '../types.js';
import type { AdminContext, AdminRequest } from './context.js';
import { AdminError, methodNotAllowed, invalidField, notFound, sendData, sendList } from './respond.js';
import { hasControlCharacter } from '../../core/text.js';

const MAX_PARAM = 512;

export async function sessionsEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  ar.req.resume(); // no endpoint here reads a body
  const store = ctx.sessions;
  if (!store) throw new AdminError('not_found', 404, 'this gateway has no session store (gateway.sessions)');
  const [, id, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  const cache = sessionCacheOf(ctx.events);
  // a store that does not answer is an UnavailableError: the admin server's 503 + Retry-After
  if (id === undefined) return collection(store, cache, ar, ctx);
  return one(store, cache, ar, id);
}

async function collection(store: SessionStore, cache: GatewaySessionCache, ar: AdminRequest, ctx: AdminContext): Promise<void> {
  if (ar.method !== 'GET' && ar.method !== 'DELETE') throw methodNotAllowed(['GET', 'DELETE']);
  const user = await subjectParam(ctx, ar);
  // newest first, the id breaking ties (sessions/order.ts)
  if (ar.method === 'GET') return sendList(ar.res, await store.listByUser(user), ar.req, { key: (s) => [s.created_at, s.id], descending: true }, view);
  const ended = await store.deleteByUser(user);
  void cache.ended(ended);
  sendData(ar.res, 200, { ended });
}

/**
 * Ends every browser session of `sub`: deleted from the store and dropped from every
 * instance's cache (for /users: a lock, a delete, a sign-out everywhere). The ended ones,
 * with the client each signed in as.
 */
export async function endGatewaySessions(store: SessionStore, events: EventBus, sub: string): Promise<Array<{ kind: 'gateway'; id: string; clients: string[] }>> {
  const listed = new Map((await store.listByUser(sub)).map((s) => [s.id, s.client_id]));
  const ended = await store.deleteByUser(sub);
  void sessionCacheOf(events).ended(ended);
  return ended.map((id) => ({ kind: 'gateway', id, clients: listed.has(id) ? [listed.get(id)!] : [] }));
}

async function one(store: SessionStore, cache: GatewaySessionCache, ar: AdminRequest, id: string): Promise<void> {
  if (id.length > MAX_PARAM) throw notFound('session');
  switch (ar.method) {
    case 'GET': {
      const session = await store.get(id);
      if (!session) throw notFound('session');
      return sendData(ar.res, 200, view(session));
    }
    case 'DELETE':
      if (!(await store.delete(id))) throw notFound('session');
      void cache.ended([id]);
      return sendData(ar.res, 204, null);
    default:
      throw methodNotAllowed(['GET', 'DELETE']);
  }
}

/**
 * The subject whose sessions to list or end, from `?user=USERNAME` or `?sub=SUB` (one of them
 * is required: there is no listing of everyone's sessions).
 */
async function subjectParam(ctx: AdminContext, ar: AdminRequest): Promise<string> {
  const url = ar.req.url ?? '';
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const user = nonEmpty(params, 'user');
  const sub = nonEmpty(params, 'sub');
  if (user !== undefined && sub !== undefined) throw invalidField('sub', 'give user=USERNAME or sub=SUB, not both');
  if (sub !== undefined) return sub;
  if (user === undefined) throw invalidField('user', 'required: the user whose sessions to list or end, as ?user=USERNAME (or ?sub=SUB)');
  // the user's id is the `sub` of their sessions (the auth server's subject), as the CLI reads it
  const found = await ctx.storage.users.getByUsername(user);
  // no such user: the value is taken as a subject, as user= was read before usernames were
  return found?.id ?? user;
}

function nonEmpty(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (value.length > MAX_PARAM) throw invalidField(name, `at most ${MAX_PARAM} characters`);
  // no username or subject has them, and PostgreSQL refuses NUL in text: a 400, not a 500
  if (hasControlCharacter(value)) throw invalidField(name, 'must not contain control characters');
  return value;
}

/** What an operator may see: never the sealed tokens, nor the identity claims. */
function view(s: GatewaySession): Record<string, unknown> {
  return {
    id: s.id,
    sub: s.sub,
    issuer: s.issuer,
    client_id: s.client_id,
    idp_sid: s.idp_sid,
    scope: s.scope,
    created_at: s.created_at,
    last_seen_at: s.last_seen_at,
    expires_at: s.expires_at,
  };
}

