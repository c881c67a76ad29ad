// What signing a user out everywhere ended, and how it is answered: `drawbridge user
// set-password --sign-out --json` prints it and the admin API's /users answers it, in the same
// words. The auth server's user operations (src/auth/users/sign-out.ts) make it. Lives in core,
// as refused.ts does, so that the admin API can share it without importing the auth server.

/** A back-channel logout delivery after its first attempt (src/auth/logout/backchannel.ts DeliveryResult). */
export interface SignedOutDelivery {
  client_id: string;
  delivered: boolean;
  attempts: number;
  status?: number;
  /** not delivered yet, and left to the auth servers' retries */
  pending?: boolean;
}

export interface SignedOut {
  /** SSO sessions at the auth server, and gateway browser sessions where the caller ends those too */
  sessions: Array<{ kind: 'sso' | 'gateway'; id: string; clients: string[] }>;
  tokens_revoked: number;
  /** one per client of an ended session with a backchannel_logout_uri, once its first attempt is over */
  backchannel: SignedOutDelivery[];
}

/** The answer's fields: sessions_ended, sessions, tokens_revoked, backchannel. */
export function signedOutAnswer(out: SignedOut): Record<string, unknown> {
  return { sessions_ended: out.sessions.length, sessions: out.sessions, tokens_revoked: out.tokens_revoked, backchannel: out.backchannel };
}
