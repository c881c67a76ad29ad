// Clients of `auth.clients` are the source of truth for the `source: config` rows: each start
// upserts them, and a client removed from the file goes as with `drawbridge client delete`:
// its row is deleted, its tokens and those other clients exchanged from them are revoked,
// and every gateway hears of it (client.revoked, token.revoked for the exchanged ones).
import type { AuthConfig } from '../config/types.js';
import type { Storage } from '../storage/types.js';
import { clientRecordFromConfig } from './clients.js';
import type { AuthContext } from './context.js';
import { clientRevocationEvents } from './events.js';

/** Upserts the configured clients; deletes the config clients no longer there. Returns their ids. */
async function syncConfiguredClients(storage: Storage, auth: AuthConfig, now: number): Promise<string[]> {
  for (const c of auth.clients) await storage.clients.upsert(clientRecordFromConfig(c, 'config', now));
  return storage.clients.prune('config', auth.clients.map((c) => c.client_id));
}

/** syncConfiguredClients, with every removed client's tokens revoked and the gateways told. */
export async function syncConfiguredClientsRevokingRemoved(ctx: AuthContext): Promise<string[]> {
  const now = ctx.clock.now();
  const removed = await syncConfiguredClients(ctx.storage, ctx.auth, now);
  for (const clientId of removed) {
    const own = await ctx.storage.tokens.revokeByClient(clientId, now);
    const exchanged = await ctx.storage.tokens.revokeExchangedFromClient(clientId, now);
    for (const e of clientRevocationEvents(clientId, exchanged)) await ctx.events.publish(e);
    ctx.logger.info(
      { client_id: clientId, tokens_revoked: own, exchanged_revoked: exchanged.length },
      'auth.clients: client removed from the config file deleted and its tokens revoked',
    );
  }
  return removed;
}
