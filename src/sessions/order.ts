// The order of listByUser: newest first, the id breaking ties (the same in every store).
import type { GatewaySession } from './types.js';

export function newestFirst(a: GatewaySession, b: GatewaySession): number {
  return b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
