// Sealed tickets between the pages of the sign-in flow (AES-256-GCM under a key derived from
// the master secret; the purpose is the AAD, so a ticket opens only for its own step): what a
// page proved (the password, enrolment) or showed (the consent page), for whom, until when.
// Each carries a random id `j`: a ticket that must finish one sign-in only (or, the consent
// page's, be answered once) is claimed in the shared one-time store (storage.jtis) when its
// step succeeds, so a replay fails on every instance; a step that fails (a wrong code) leaves
// the ticket usable for the next try.
import { randomBytes } from 'node:crypto';
import { seal, unseal } from '../../../crypto/seal.js';
import { derivedKey } from '../../derived-keys.js';
import type { AuthContext } from '../../context.js';

type TicketPurpose = 'mfa' | 'enrol' | 'enrolled' | 'consent';

/** The ticket's own fields beside what its step put in: id and expiry (epoch seconds). */
export interface OpenedTicket {
  j: string;
  exp: number;
  [claim: string]: unknown;
}

/** the longest ticket opened at all (every ticket is a few hundred characters) */
const MAX_TICKET_LENGTH = 2048;
const USED_NAMESPACE = 'flow-ticket';

// without a master secret (development) a per-process key: a known fallback would let anyone
// forge a ticket and skip the password step
const PROCESS_TICKET_KEY = randomBytes(32);

function ticketKey(ctx: AuthContext): Buffer {
  return derivedKey(ctx, 'login-mfa-ticket', () => PROCESS_TICKET_KEY);
}

export function sealTicket(ctx: AuthContext, purpose: TicketPurpose, claims: Record<string, unknown>, ttl: number, now: number): string {
  const body = { ...claims, j: randomBytes(16).toString('base64url'), exp: now + ttl };
  return seal(ticketKey(ctx), JSON.stringify(body), `${purpose}-ticket`);
}

/** The ticket's contents; undefined when it is not one of ours for `purpose`, or has expired. */
export function openTicket(ctx: AuthContext, purpose: TicketPurpose, ticket: string | undefined, now: number): OpenedTicket | undefined {
  if (ticket === undefined || ticket.length > MAX_TICKET_LENGTH) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(unseal(ticketKey(ctx), ticket, `${purpose}-ticket`));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const t = parsed as Partial<OpenedTicket>;
  if (typeof t.j !== 'string' || typeof t.exp !== 'number' || t.exp <= now) return undefined;
  return t as OpenedTicket;
}

/** Whether the ticket has already finished its step (checked before any work is done for it). */
export function ticketUsed(ctx: AuthContext, t: OpenedTicket, now: number): Promise<boolean> {
  return ctx.storage.jtis.has(USED_NAMESPACE, t.j, now);
}

/** Claims the ticket for the step that just succeeded: false when another request claimed it first. */
export function useTicket(ctx: AuthContext, t: OpenedTicket, now: number): Promise<boolean> {
  return ctx.storage.jtis.remember(USED_NAMESPACE, t.j, t.exp + 1, now);
}
