// The ConsumerStore: credential lookups for the authenticators, backed by SQL with a small
// in-process cache (most requests repeat a few credentials). Admin and CLI changes publish
// `credentials.changed`; every instance drops its cache on it, so changes apply within a
// second. The TTL bounds staleness when no event can arrive (several instances, no Redis).
// Also: syncing the config file's consumers into storage at start and on reload.
import { OldestKeys } from '../core/oldest-keys.js';
import { timeOrderedId } from '../core/crypto-util.js';
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from '../config/types.js';
import { ConfigError, keyPath } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import { noopMetrics, type Metrics } from './metrics.js';
import { CustomIdTakenError, type ConsumerRecord, type CredentialPlugin, type CredentialRecord, type Storage } from '../storage/types.js';
import {
  checkCredentialFields,
  CREDENTIAL_IDENTITY_FIELD,
  credentialKeys,
  CredentialInputError,
  isCredentialPlugin,
  keyLookup,
  passwordHashIsCurrent,
  prepareCredential,
  sealHmacSecret,
  uniqueTags,
  unsealHmacSecret,
  type CredentialKeys,
} from './credentials.js';
import type { ConsumerCredentialMatch, ConsumerRef, ConsumerStore, EventBus } from './types.js';

interface ConsumerStoreOptions {
  secret: string;
  clock?: Clock;
  logger: Logger;
  /** drop the cache on `credentials.changed` / `config.changed` */
  events?: EventBus;
  /** seconds a found credential stays cached (default 30) */
  ttl?: number;
  /** seconds an unknown credential stays cached, so a flood of wrong keys does not reach SQL (default 5) */
  negativeTtl?: number;
  /** entries kept at most; the oldest go first (default 10000) */
  maxEntries?: number;
  /** counts hits and misses as cache "consumers" */
  metrics?: Metrics;
}

export interface RunningConsumerStore extends ConsumerStore {
  /** drop every cached entry (what a `credentials.changed` event does) */
  invalidate(): void;
  /** stop listening for events */
  close(): void;
}

interface Entry {
  value: unknown;
  expires: number;
}

type BasicMatch = ConsumerCredentialMatch & { password_hash: string };
type HmacMatch = ConsumerCredentialMatch & { secret: string };

export function createConsumerStore(storage: Storage, opts: ConsumerStoreOptions): RunningConsumerStore {
  const keys = credentialKeys(opts.secret);
  const clock = opts.clock ?? systemClock;
  const ttl = opts.ttl ?? 30;
  const negativeTtl = opts.negativeTtl ?? 5;
  const maxEntries = opts.maxEntries ?? 10_000;
  const metrics = opts.metrics ?? noopMetrics;
  const cache = new Map<string, Entry>();
  const oldest = new OldestKeys(cache);
  const loading = new Map<string, Promise<unknown>>();
  // Bumped by invalidate(): a load that started before it must not refill the cache.
  let generation = 0;

  function invalidate(): void {
    generation++;
    cache.clear();
    loading.clear();
  }

  /** Cache hit: one Map lookup and a clock read. Misses share one query per key. */
  function cached<T>(cacheKey: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const hit = cache.get(cacheKey);
    if (hit !== undefined) {
      if (hit.expires > clock.now()) {
        metrics.cache('consumers', true);
        return Promise.resolve(hit.value as T | undefined);
      }
      cache.delete(cacheKey);
    }
    metrics.cache('consumers', false);
    const pending = loading.get(cacheKey);
    if (pending !== undefined) return pending as Promise<T | undefined>;
    const started = generation;
    const promise = load().then(
      function remember(value) {
        if (started === generation) {
          loading.delete(cacheKey);
          if (cache.size >= maxEntries) oldest.evict();
          cache.set(cacheKey, { value, expires: clock.now() + (value === undefined ? negativeTtl : ttl) });
        }
        return value;
      },
      function forget(err: unknown) {
        if (started === generation) loading.delete(cacheKey);
        throw err;
      },
    );
    loading.set(cacheKey, promise);
    return promise;
  }

  async function find(plugin: CredentialPlugin, lookup: string) {
    return storage.credentials.find(plugin, lookup);
  }

  const unsubscribe =
    opts.events?.subscribe(function onEvent(event) {
      if (event.type === 'credentials.changed' || event.type === 'config.changed') invalidate();
    }) ?? (() => undefined);

  return {
    byKey(key: string) {
      const lookup = keyLookup(keys, key);
      return cached<ConsumerCredentialMatch>(`k:${lookup}`, async function loadKey() {
        const found = await find('key-auth', lookup);
        return found && match(found.consumer, found.credential);
      });
    },
    basicCredential(username: string) {
      return cached<BasicMatch>(`b:${username}`, async function loadBasic() {
        const found = await find('basic-auth', username);
        if (!found || found.credential.secret_hash === null) return undefined;
        return { ...match(found.consumer, found.credential), password_hash: found.credential.secret_hash };
      });
    },
    hmacCredential(keyId: string) {
      return cached<HmacMatch>(`h:${keyId}`, async function loadHmac() {
        const found = await find('hmac-auth', keyId);
        if (!found || found.credential.secret_sealed === null) return undefined;
        let secret: string;
        try {
          secret = unsealHmacSecret(keys, keyId, found.credential.secret_sealed);
        } catch (err) {
          // sealed under another master secret: unusable, as if absent (and say so once per load)
          opts.logger.warn({ key_id: keyId, err: (err as Error).message }, 'hmac-auth credential cannot be unsealed');
          return undefined;
        }
        return { ...match(found.consumer, found.credential), secret };
      });
    },
    byUsername(username: string) {
      return cached<ConsumerRef>(`u:${username}`, async function loadConsumer() {
        const rec = await storage.consumers.getByUsername(username);
        return rec && toRef(rec);
      });
    },
    invalidate,
    close: unsubscribe,
  };
}

/** Built once per load and cached with the credential: per-consumer values belong here, not in the request path. */
function toRef(rec: ConsumerRecord): ConsumerRef {
  return { id: rec.id, username: rec.username, groups: rec.groups, custom_id: rec.custom_id };
}

function match(consumer: ConsumerRecord, credential: CredentialRecord): ConsumerCredentialMatch {
  return { consumer: toRef(consumer), credential_id: credential.id };
}

// ─── Config sync ───────────────────────────────────────────────────────────────────────

interface SyncResult {
  /** usernames of configured consumers */
  consumers: string[];
  /** usernames of config consumers removed because the file no longer has them */
  pruned: string[];
  /** credentials inserted, updated or deleted */
  changed: number;
}

interface Desired {
  path: string;
  plugin: CredentialPlugin;
  input: Record<string, unknown>;
  lookup: string;
}

/**
 * The config file is the source of truth for `source: config` consumers and credentials:
 * upsert them, drop what the file no longer lists. Hashes and seals here, once; a stored
 * argon2 hash that still verifies (same parameters) is kept, so a restart costs no re-hash.
 * Throws ConfigError naming the key for a bad or conflicting credential.
 */
export async function syncConfiguredConsumers(
  storage: Storage,
  gateway: Pick<GatewayConfig, 'consumers'>,
  secret: string,
  opts: { now?: number } = {},
): Promise<SyncResult> {
  const keys = credentialKeys(secret);
  const now = opts.now ?? systemClock.now();
  let changed = 0;
  await releaseMovedCustomIds(storage, gateway.consumers, now);
  for (const [i, c] of gateway.consumers.entries()) {
    const path = keyPath('gateway.consumers', i);
    const desired = desiredCredentials(c.credentials, keys, keyPath(path, 'credentials'));
    const tags = uniqueTags(c.tags ?? []);
    let rec: ConsumerRecord;
    try {
      rec = await storage.consumers.upsert({
        id: randomUUID(),
        username: c.username,
        groups: c.groups,
        ...(c.custom_id !== undefined ? { custom_id: c.custom_id } : {}),
        ...(tags.length > 0 ? { tags } : {}),
        source: 'config',
        created_at: now,
        updated_at: now,
      });
    } catch (err) {
      if (!(err instanceof CustomIdTakenError)) throw err;
      const owner = await storage.consumers.getByCustomId(err.custom_id);
      throw new ConfigError(keyPath(path, 'custom_id'), `already used by consumer "${owner?.username ?? '?'}"`);
    }
    const existing = await storage.credentials.listByConsumer(rec.id);
    const kept = new Set<string>();
    for (const d of desired) {
      const same = existing.find((e) => e.plugin === d.plugin && e.lookup === d.lookup);
      if (same) {
        kept.add(same.id);
        if (same.source === 'config') changed += await refreshSecret(storage, keys, same, d);
        continue;
      }
      const prepared = await prepare(d, keys);
      const inserted = await storage.credentials.insert({
        id: timeOrderedId(),
        consumer_id: rec.id,
        plugin: d.plugin,
        lookup: prepared.lookup,
        secret_hash: prepared.secret_hash,
        secret_sealed: prepared.secret_sealed,
        source: 'config',
        created_at: now,
      });
      if (!inserted) {
        const owner = await storage.credentials.find(d.plugin, d.lookup);
        if (owner?.consumer.id === rec.id) {
          // another instance starting with the same file stored it a moment ago
          kept.add(owner.credential.id);
          continue;
        }
        throw new ConfigError(d.path, `this ${CREDENTIAL_IDENTITY_FIELD[d.plugin]} is already used by consumer "${owner?.consumer.username ?? '?'}"`);
      }
      changed++;
    }
    for (const e of existing) {
      if (e.source === 'config' && !kept.has(e.id)) {
        await storage.credentials.delete(e.id);
        changed++;
      }
    }
  }
  const pruned = await storage.consumers.prune(
    'config',
    gateway.consumers.map((c) => c.username),
  );
  return { consumers: gateway.consumers.map((c) => c.username), pruned, changed };
}

/**
 * A custom_id the file moves from one of its consumers to another (or drops) is cleared first,
 * so the consumer that now has it can take it whatever the order of the upserts below.
 */
async function releaseMovedCustomIds(storage: Storage, wanted: GatewayConfig['consumers'], now: number): Promise<void> {
  const desired = new Map(wanted.map((c) => [c.username, c.custom_id]));
  for (const stored of await storage.consumers.list()) {
    if (stored.source !== 'config' || stored.custom_id === undefined) continue;
    if (desired.get(stored.username) === stored.custom_id) continue;
    const { custom_id: _released, ...rest } = stored;
    await storage.consumers.upsert({ ...rest, updated_at: now });
  }
}

/**
 * The checks syncConfiguredConsumers makes, without storage, for `drawbridge config validate`:
 * the same per-credential checks in the same order (desiredCredentials, then prepare), and no
 * key, username or key_id used by two consumers, which start finds as an insert conflict.
 * Throws the ConfigError start would (the conflict names the identity field's key as well).
 */
export async function checkConfiguredConsumers(gateway: Pick<GatewayConfig, 'consumers'>, secret: string): Promise<void> {
  const keys = credentialKeys(secret);
  const first = new Map<string, { consumer: number; path: string }>();
  for (const [i, c] of gateway.consumers.entries()) {
    for (const d of desiredCredentials(c.credentials, keys, keyPath(keyPath('gateway.consumers', i), 'credentials'))) {
      await prepare(d, keys);
      const path = keyPath(d.path, CREDENTIAL_IDENTITY_FIELD[d.plugin]);
      const id = `${d.plugin}\n${d.lookup}`;
      const owner = first.get(id);
      // a repeat within one consumer is harmless (start keeps one); another consumer's is refused
      if (owner !== undefined && owner.consumer !== i) throw new ConfigError(path, `already used by consumer "${gateway.consumers[owner.consumer]!.username}" at ${owner.path}`);
      if (owner === undefined) first.set(id, { consumer: i, path });
    }
  }
}

function desiredCredentials(
  credentials: Record<string, Array<Record<string, unknown>>>,
  keys: CredentialKeys,
  path: string,
): Desired[] {
  const out: Desired[] = [];
  for (const [plugin, entries] of Object.entries(credentials)) {
    const pluginPath = keyPath(path, plugin);
    if (!isCredentialPlugin(plugin)) {
      throw new ConfigError(pluginPath, 'unknown credential type', { expected: 'key-auth, basic-auth or hmac-auth' });
    }
    for (const [j, input] of entries.entries()) {
      const entryPath = keyPath(pluginPath, j);
      try {
        checkCredentialFields(plugin, input);
      } catch (err) {
        if (err instanceof CredentialInputError) throw new ConfigError(keyPath(entryPath, err.field), 'unknown key');
        throw err;
      }
      out.push({ path: entryPath, plugin, input, lookup: cheapLookup(plugin, input, keys, entryPath) });
    }
  }
  return out;
}

/** The lookup without hashing anything slow, so unchanged credentials cost nothing. */
function cheapLookup(plugin: CredentialPlugin, input: Record<string, unknown>, keys: CredentialKeys, path: string): string {
  const field = CREDENTIAL_IDENTITY_FIELD[plugin];
  const value = input[field];
  if (typeof value !== 'string' || value === '') throw new ConfigError(keyPath(path, field), 'required: a non-empty string');
  return plugin === 'key-auth' ? keyLookup(keys, value) : value;
}

async function prepare(d: Desired, keys: CredentialKeys) {
  try {
    return await prepareCredential(d.plugin, d.input, keys, { generate: false });
  } catch (err) {
    if (err instanceof CredentialInputError) throw new ConfigError(keyPath(d.path, err.field), err.message.slice(err.field.length + 2));
    throw err;
  }
}

/** Keeps a stored secret that still matches the file; replaces it otherwise. Returns 1 when it wrote. */
async function refreshSecret(storage: Storage, keys: CredentialKeys, stored: CredentialRecord, d: Desired): Promise<number> {
  if (d.plugin === 'key-auth') return 0; // the lookup is the key's digest: equal lookup, equal key
  if (d.plugin === 'basic-auth') {
    const password = d.input.password;
    const given = d.input.password_hash;
    if (typeof given === 'string' && given === stored.secret_hash) return 0;
    if (typeof password === 'string' && stored.secret_hash !== null && (await passwordHashIsCurrent(stored.secret_hash, password))) return 0;
    const prepared = await prepare(d, keys);
    await storage.credentials.updateSecret(stored.id, prepared.secret_hash, null);
    return 1;
  }
  const secret = d.input.secret;
  if (typeof secret !== 'string' || secret === '') throw new ConfigError(keyPath(d.path, 'secret'), 'required: a non-empty string');
  if (stored.secret_sealed !== null) {
    try {
      if (unsealHmacSecret(keys, d.lookup, stored.secret_sealed) === secret) return 0;
    } catch {
      // sealed under an older master secret: reseal below
    }
  }
  await storage.credentials.updateSecret(stored.id, null, sealHmacSecret(keys, d.lookup, secret));
  return 1;
}
