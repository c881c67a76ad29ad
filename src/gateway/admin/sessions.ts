// /sessions: the gateway's browser sessions (issue #5 "sign out everywhere").
//   GET    /sessions?user=SUB   a user's live sessions, newest first (never their tokens)
//   GET    /sessions/{id}       one session
//   DELETE /sessions/{id}       ends it (204; 404 when there is none)
//   DELETE /sessions?user=SUB   ends every session of the user: `{ ended: [ids] }`
// The store is shared by every instance; what is ended here is also announced
// (`gateway-session.ended`, store ids only) so that every instance drops its cached copy at
// once (src/gateway/session-events.ts). A store that does not answer: 503 with Retry-After.
import { SessionStoreUnavailableError, type GatewaySession, type SessionStore } from '../../sessions/types.js';
import { sessionCacheOf, type GatewaySessionCache } from '../session-events.js';
import type { AdminContext, AdminRequest } from './context.js';
import { AdminError, invalidField, notFound, sendData, sendList } from './respond.js';

const MAX_PARAM = 512;

export async function sessionsEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  ar.req.resume(); // no endpoint here reads a body
  const store = ctx.sessions;
  if (!store) throw new AdminError('not_found', 404, 'this gateway has no session store (gateway.sessions)');
  const [, id, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  const cache = sessionCacheOf(ctx.events);
  try {
    if (id === undefined) return await collection(store, cache, ar);
    return await one(store, cache, ar, id);
  } catch (err) {
    if (err instanceof SessionStoreUnavailableError) {
      throw new AdminError('service_unavailable', 503, 'the session store is unavailable; try again', { headers: { 'retry-after': '5' } });
    }
    throw err;
  }
}

async function collection(store: SessionStore, cache: GatewaySessionCache, ar: AdminRequest): Promise<void> {
  if (ar.method !== 'GET' && ar.method !== 'DELETE') throw methodNotAllowed(['GET', 'DELETE']);
  const user = userParam(ar);
  if (ar.method === 'GET') return sendList(ar.res, (await store.listByUser(user)).map(view));
  const ended = await store.deleteByUser(user);
  void cache.ended(ended);
  sendData(ar.res, 200, { ended });
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

/** `?user=SUB`, required on the collection (there is no listing of everyone's sessions). */
function userParam(ar: AdminRequest): string {
  const url = ar.req.url ?? '';
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const user = params.get('user');
  if (user === null || user === '') throw invalidField('user', 'required: the user (subject) whose sessions to list or end, as ?user=SUB');
  if (user.length > MAX_PARAM) throw invalidField('user', `at most ${MAX_PARAM} characters`);
  return user;
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

function methodNotAllowed(allow: string[]): AdminError {
  return new AdminError('method_not_allowed', 405, `method not allowed; use ${allow.join(', ')}`, { headers: { allow: allow.join(', ') } });
}
