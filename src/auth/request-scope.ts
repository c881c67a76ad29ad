// What the audit log knows about a request (request id, client IP, the client and subject once
// known), attached to the request object by the router. `requestAudit(ctx, req)` is the audit
// log with those filled in. A WeakMap, not AsyncLocalStorage: that would put a hook on every
// promise in the process (the gateway's too, when it runs here), for a few events per request.
import type { IncomingMessage } from 'node:http';
import type { AuditEvent, AuditLog } from '../observability/audit.js';
import type { AuthContext } from './context.js';

interface RequestScope {
  request_id: string;
  ip: string;
  /** set once the client is known (authenticated at the token endpoint, named at /authorize) */
  client_id?: string;
  /** set by the grants once they know whose tokens they issue */
  sub?: string;
}

const scopes = new WeakMap<IncomingMessage, RequestScope>();

export function bindRequest(req: IncomingMessage, scope: RequestScope): void {
  scopes.set(req, scope);
}

export function requestScope(req: IncomingMessage): RequestScope | undefined {
  return scopes.get(req);
}

/** Records which client the request is for (its later audit events name it). */
export function noteClient(req: IncomingMessage, clientId: string): void {
  const scope = scopes.get(req);
  if (scope) scope.client_id = clientId;
}

/** Records whose tokens the request issues (the token endpoint's audit event names it). */
export function noteSubject(req: IncomingMessage, sub: string): void {
  const scope = scopes.get(req);
  if (scope) scope.sub = sub;
}

/** ctx.audit with request_id, ip and client_id of `req` filled in where the event has none. */
export function requestAudit(ctx: AuthContext, req: IncomingMessage): AuditLog {
  const scope = scopes.get(req);
  if (!scope) return ctx.audit;
  return {
    record(e: AuditEvent) {
      const { event, ...rest } = e;
      for (const k of Object.keys(rest)) if (rest[k] === undefined) delete rest[k];
      ctx.audit.record({
        event,
        request_id: scope.request_id,
        ...(scope.client_id !== undefined ? { client_id: scope.client_id } : {}),
        ip: scope.ip,
        ...rest,
      });
    },
  };
}
