// Part of the repository contracts (../types.ts, which re-exports it): back-channel logout
// deliveries not yet made (migration 0018), kept in SQL so that they outlive the process that
// ended the session and any auth server instance retries them (src/auth/logout/backchannel.ts).
// Times are epoch seconds (integers).

/**
 * A logout token still to be delivered. What is needed to mint it at each attempt, never the
 * signed token: a reader of the database can replay nothing (it cannot sign one).
 */
export interface PendingLogoutRecord {
  /** the logout token's jti, the same at every attempt (a receiver can tell it is one logout) */
  jti: string;
  client_id: string;
  /** the user (logout token `sub`) */
  sub: string;
  /** the SSO session that ended (`sid`); null: every session of the user */
  sid: string | null;
  created_at: number;
  /** attempts made so far */
  attempts: number;
  /** when the next attempt is due; while `claim` is set, when the claim lapses (its holder presumed gone) */
  due_at: number;
  /** whoever is making an attempt now; null between attempts */
  claim: string | null;
}

export interface BackchannelLogoutRepo {
  insert(rec: PendingLogoutRecord): Promise<void>;
  /**
   * Claims up to `limit` deliveries due at `now` (due_at <= now), the soonest due: each gets
   * `claim` and due_at = `until`, and is returned so (by jti). Atomic across connections and
   * processes: of callers racing for one, exactly one gets it; one delivery another caller is
   * claiming at that moment is passed over, not waited for.
   */
  claimDue(now: number, until: number, claim: string, limit: number): Promise<PendingLogoutRecord[]>;
  /** The earliest due_at of any delivery, claimed ones included (when their claim lapses); undefined: none. */
  nextDue(): Promise<number | undefined>;
  /**
   * After an attempt that failed: attempts and due_at set, the claim released. false (nothing
   * changed) when `claim` no longer holds the delivery (it lapsed and another took it) or it is gone.
   */
  reschedule(jti: string, claim: string, attempts: number, dueAt: number): Promise<boolean>;
  /** delivered, or given up; true when it was there */
  delete(jti: string): Promise<boolean>;
  /** every pending delivery, soonest due first (the CLI, tests) */
  list(): Promise<PendingLogoutRecord[]>;
}
