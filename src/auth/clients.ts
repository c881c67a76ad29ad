// Clients as the auth server uses them: the stored record plus lookups prepared once, and
// the in-process cache that keeps them ready between requests.
import { MAX_CLIENT_ID, resourceError } from '../config/formats.js';
import { OldestKeys } from '../core/oldest-keys.js';
import { StampedLoads, type Stamped, type StampOptions } from '../core/stamped.js';
import type { GrantType } from '../config/types.js';
import type { ClientRecord, ClientRepo } from '../storage/types.js';

export interface Client extends Readonly<ClientRecord> {
  scopeSet: ReadonlySet<string>;
  grantSet: ReadonlySet<GrantType>;
  /** SHA-256 of the client secret as bytes (secret_hash decoded once); null: no usable secret */
  secretDigest: Buffer | null;
  /**
   * the configured audiences that are resource indicators (the others are service names: the
   * config schema refuses a value written as a URI that is no valid resource, formats.ts
   * audience, though an admin-made client stored before that check may still hold one);
   * null: any resource allowed
   */
  resourceSet: ReadonlySet<string> | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Built once per cache fill, then shared by every request: frozen so none can change it. */
function toClient(rec: ClientRecord): Client {
  return Object.freeze({
    ...rec,
    redirect_uris: frozenCopy(rec.redirect_uris),
    grant_types: frozenCopy(rec.grant_types),
    scopes: frozenCopy(rec.scopes),
    default_scopes: frozenCopy(rec.default_scopes),
    audiences: rec.audiences && frozenCopy(rec.audiences),
    post_logout_redirect_uris: frozenCopy(rec.post_logout_redirect_uris),
    scopeSet: new Set(rec.scopes),
    grantSet: new Set(rec.grant_types),
    secretDigest: rec.secret_hash !== null && SHA256_HEX.test(rec.secret_hash) ? Buffer.from(rec.secret_hash, 'hex') : null,
    resourceSet: rec.audiences === null ? null : new Set(rec.audiences.filter((a) => resourceError(a) === undefined)),
  });
}

function frozenCopy<T>(list: readonly T[]): T[] {
  return Object.freeze([...list]) as T[];
}

// the record builder lives in storage so that the admin API (gateway side) shares it too
export { clientRecordFromConfig } from '../storage/client-records.js';

interface ClientCacheOptions extends StampOptions {
  /** known clients kept (default 10 000) */
  maxClients?: number;
  /** unknown client_ids remembered as unknown (default 1 000) */
  maxUnknown?: number;
}

/**
 * Whether `clientId` may name a client at all: none is longer than MAX_CLIENT_ID (config/
 * formats.ts, wherever a client is defined). The cache answers a longer one "no such client"
 * without a storage read or an entry (a presented id may be tens of kB), for every caller;
 * client authentication also gives it no throttle window of its own.
 */
export function mayNameClient(clientId: string): boolean {
  return clientId.length <= MAX_CLIENT_ID;
}

/** clear() calls told apart in the change stamp; far more than can happen within one entry's TTL */
const CLEARS_IN_STAMP = 1024;

/** A Client, or null for a client_id known not to exist */
type Entry = Stamped<Client | null>;

/**
 * Ready-built Clients by client_id. Every token and introspection request authenticates a
 * client; reading and preparing it from SQL each time was a quarter of a request's CPU.
 * Entries live `ttlMs` (so changes made by another process, e.g. `drawbridge client delete`,
 * apply within that time, sooner where the change stamp notices them) and unknown ids are
 * cached too (bounded), so a flood of made-up client_ids does not reach the database.
 */
export class ClientCache {
  readonly #repo: ClientRepo;
  /** staleness (TTL, change stamp) and loads shared by concurrent requests for one id */
  readonly #loads: StampedLoads<string, Client | null>;
  readonly #maxClients: number;
  readonly #maxUnknown: number;
  readonly #clients = new Map<string, Entry>();
  readonly #unknown = new Map<string, Entry>();
  readonly #oldestClients = new OldestKeys(this.#clients);
  readonly #oldestUnknown = new OldestKeys(this.#unknown);
  /** clear() calls so far (see the constructor) */
  #clears = 0;

  constructor(repo: ClientRepo, opts: ClientCacheOptions) {
    this.#repo = repo;
    // clear() also counts in the stamp, so a read already under way when it ran (one that may
    // have seen the old row) is stale the moment it lands instead of living out its TTL
    const storageStamp = opts.changeStamp ?? (() => 0);
    this.#loads = new StampedLoads({ ...opts, changeStamp: () => storageStamp() * CLEARS_IN_STAMP + (this.#clears % CLEARS_IN_STAMP) });
    this.#maxClients = opts.maxClients ?? 10_000;
    this.#maxUnknown = opts.maxUnknown ?? 1_000;
  }

  /**
   * The cached answer, synchronously, so the hot path awaits nothing: the Client, null when
   * it is known not to exist, undefined when it must be loaded (not cached, or stale).
   */
  peek(clientId: string): Client | null | undefined {
    if (!mayNameClient(clientId)) return null;
    const entry = this.#clients.get(clientId) ?? this.#unknown.get(clientId);
    return this.#loads.isFresh(entry) ? entry.value : undefined;
  }

  /** Reads the client from storage and caches the answer. */
  load(clientId: string): Promise<Client | null> {
    if (!mayNameClient(clientId)) return Promise.resolve(null);
    return this.#loads.load(
      clientId,
      async () => {
        const rec = await this.#repo.get(clientId);
        return rec ? toClient(rec) : null;
      },
      (entry) => this.#store(clientId, entry),
    );
  }

  /** peek, or load when there is nothing fresh */
  async get(clientId: string): Promise<Client | null> {
    const cached = this.peek(clientId);
    return cached !== undefined ? cached : this.load(clientId);
  }

  /** Forgets everything (e.g. after a change this process made outside storage.clients). */
  clear(): void {
    this.#clears++;
    this.#clients.clear();
    this.#unknown.clear();
  }

  #store(clientId: string, entry: Entry): void {
    const [into, other, max, oldest] = entry.value
      ? [this.#clients, this.#unknown, this.#maxClients, this.#oldestClients]
      : [this.#unknown, this.#clients, this.#maxUnknown, this.#oldestUnknown];
    other.delete(clientId);
    // re-inserted at the end, so the first key is the one refreshed longest ago: evict it
    into.delete(clientId);
    if (into.size >= max) oldest.evict();
    into.set(clientId, entry);
  }
}
