// Consumer credentials as they are stored: one place that turns what a user gives (config
// file, admin API, CLI) into a CredentialRecord, so every entry point stores secrets the
// same way. key-auth keys become a keyed digest (high-entropy keys need no slow hash, and
// the digest is the lookup); basic-auth passwords argon2id; HMAC secrets sealed, because
// verifying a signature needs the secret itself.
import { createHmac } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify, type Options as Argon2Options } from '@node-rs/argon2';
import { CREDENTIAL_FIELDS } from '../config/consumer-fields.js';
import { randomToken } from '../core/crypto-util.js';
import { deriveKey, seal, unseal } from '../crypto/seal.js';
import type { CredentialPlugin, CredentialRecord } from '../storage/types.js';
import { hasControlCharacter } from '../core/text.js';

export const CREDENTIAL_PLUGINS: readonly CredentialPlugin[] = ['key-auth', 'basic-auth', 'hmac-auth'];

export function isCredentialPlugin(name: string): name is CredentialPlugin {
  return (CREDENTIAL_PLUGINS as readonly string[]).includes(name);
}

/** OWASP's argon2id minimum (m=19 MiB, t=2, p=1): ~15 ms, which is why basic-auth caches successes. */
const ARGON2_OPTIONS: Argon2Options = { algorithm: 2 as Argon2Options['algorithm'], memoryCost: 19456, timeCost: 2, parallelism: 1 };
const ARGON2_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';

/** A user-facing problem with one field of a credential (400 in the admin API, exit 2 in the CLI). */
export class CredentialInputError extends Error {
  override readonly name = 'CredentialInputError';
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.field = field;
  }
}

/** The field each credential type is identified by: unique across all consumers, the stored lookup. */
export const CREDENTIAL_IDENTITY_FIELD = { 'key-auth': 'key', 'basic-auth': 'username', 'hmac-auth': 'key_id' } as const satisfies Record<CredentialPlugin, string>;

/** Consumer usernames the admin API and the CLI accept. */
export const CONSUMER_USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
export const CONSUMER_USERNAME_RULE = 'letters, digits and . _ @ + - only (1–128)';

/**
 * Why a consumer's groups cannot be stored, or undefined when they can. Groups reach upstream
 * comma-joined in `X-Consumer-Groups`: a comma would split one group into two there, and a
 * control character cannot travel in a header at all (every proxied request of the consumer
 * failed with 502).
 */
export function groupsProblem(groups: unknown): string | undefined {
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && g !== '')) return 'expected a list of non-empty strings';
  for (const g of groups as string[]) {
    if (g.length > 256) return 'a group has at most 256 characters';
    if (/[\x00-\x1f\x7f,]/.test(g)) return `${JSON.stringify(g)}: a group must not contain a comma or control characters`;
  }
  return undefined;
}

// custom_id and tags: one rule for the config file, the admin API and the CLI
export { CONSUMER_CUSTOM_ID_RULE, CONSUMER_TAG_RULE, customIdProblem, isTag, tagsProblem, uniqueTags } from '../config/consumer-fields.js';

/** Keys derived once from the master secret. */
export interface CredentialKeys {
  /** HMAC key for key-auth lookups */
  readonly lookup: Buffer;
  /** AES key sealing HMAC secrets */
  readonly seal: Buffer;
}

export function credentialKeys(secret: string): CredentialKeys {
  return { lookup: deriveKey(secret, 'key-auth-lookup'), seal: deriveKey(secret, 'hmac-credentials') };
}

/** The stored lookup of an API key: HMAC-SHA256 under a key derived from the master secret. */
export function keyLookup(keys: CredentialKeys, key: string): string {
  return createHmac('sha256', keys.lookup).update(key, 'utf8').digest('base64url');
}

/** AAD binds a sealed secret to its key_id: a sealed value copied to another row does not open. */
function hmacAad(keyId: string): string {
  return `hmac-auth:${keyId}`;
}

export function sealHmacSecret(keys: CredentialKeys, keyId: string, secret: string): string {
  return seal(keys.seal, secret, hmacAad(keyId));
}

export function unsealHmacSecret(keys: CredentialKeys, keyId: string, sealed: string): string {
  return unseal(keys.seal, sealed, hmacAad(keyId));
}

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2_OPTIONS);
}

/** true when `hash` is argon2id with our parameters and verifies `password` (a stored hash need not be redone). */
export async function passwordHashIsCurrent(hash: string, password: string): Promise<boolean> {
  if (!hash.startsWith(ARGON2_PREFIX)) return false;
  try {
    return await argon2Verify(hash, password);
  } catch {
    return false;
  }
}

/** What to store, and what to show the caller once (generated keys and secrets). */
export interface PreparedCredential {
  plugin: CredentialPlugin;
  lookup: string;
  secret_hash: string | null;
  secret_sealed: string | null;
  /** fields that may be shown now and never again (the key or secret as given or generated) */
  once: Record<string, string>;
}

interface PrepareOptions {
  /** generate a key-auth key or HMAC secret when absent (admin API, CLI); the config file must give them */
  generate: boolean;
}

// the same fields the config file's schema allows
const FIELDS = CREDENTIAL_FIELDS as Readonly<Record<CredentialPlugin, readonly string[]>>;

/** Unknown fields are errors, not ignored (a typo must not silently drop a setting). */
export function checkCredentialFields(plugin: CredentialPlugin, input: Record<string, unknown>): void {
  for (const field of Object.keys(input)) {
    if (!FIELDS[plugin].includes(field)) {
      throw new CredentialInputError(field, `unknown field for ${plugin}; expected ${FIELDS[plugin].join(', ')}`);
    }
  }
}

/** Validates one credential and hashes or seals its secret. */
export async function prepareCredential(
  plugin: CredentialPlugin,
  input: Record<string, unknown>,
  keys: CredentialKeys,
  opts: PrepareOptions,
): Promise<PreparedCredential> {
  checkCredentialFields(plugin, input);
  switch (plugin) {
    case 'key-auth': {
      const key = optionalText(input, 'key') ?? (opts.generate ? randomToken(32) : required('key'));
      return { plugin, lookup: keyLookup(keys, key), secret_hash: null, secret_sealed: null, once: { key } };
    }
    case 'basic-auth': {
      const username = optionalText(input, 'username') ?? required('username');
      // RFC 7617 §2: the user-id cannot contain a colon
      if (username.includes(':')) throw new CredentialInputError('username', 'must not contain ":" (RFC 7617)');
      const password = optionalText(input, 'password');
      const given = optionalText(input, 'password_hash');
      if (password !== undefined && given !== undefined) throw new CredentialInputError('password_hash', 'give either password or password_hash');
      if (given !== undefined) {
        if (!given.startsWith('$argon2id$')) throw new CredentialInputError('password_hash', 'expected an argon2id PHC string ($argon2id$…)');
        return { plugin, lookup: username, secret_hash: given, secret_sealed: null, once: {} };
      }
      if (password === undefined) throw new CredentialInputError('password', 'required');
      return { plugin, lookup: username, secret_hash: await hashPassword(password), secret_sealed: null, once: {} };
    }
    case 'hmac-auth': {
      const keyId = optionalText(input, 'key_id') ?? required('key_id');
      const secret = optionalText(input, 'secret') ?? (opts.generate ? randomToken(32) : required('secret'));
      return { plugin, lookup: keyId, secret_hash: null, secret_sealed: sealHmacSecret(keys, keyId, secret), once: { secret } };
    }
  }
}

/**
 * A stored credential changed by the fields given (PATCH); what is not given is kept. A
 * basic-auth password and an HMAC secret cannot be read back from their hash, so a new
 * username keeps the stored hash, and a new key_id reseals the stored secret under it.
 */
export async function prepareCredentialPatch(stored: CredentialRecord, input: Record<string, unknown>, keys: CredentialKeys): Promise<PreparedCredential> {
  const plugin = stored.plugin;
  checkCredentialFields(plugin, input);
  const unchanged: PreparedCredential = { plugin, lookup: stored.lookup, secret_hash: stored.secret_hash, secret_sealed: stored.secret_sealed, once: {} };
  switch (plugin) {
    case 'key-auth':
      if (optionalText(input, 'key') === undefined) return unchanged;
      return prepareCredential(plugin, input, keys, { generate: false });
    case 'basic-auth': {
      const username = optionalText(input, 'username') ?? stored.lookup;
      if (optionalText(input, 'password') === undefined && optionalText(input, 'password_hash') === undefined) {
        if (stored.secret_hash === null) throw new CredentialInputError('password', 'required');
        return prepareCredential(plugin, { username, password_hash: stored.secret_hash }, keys, { generate: false });
      }
      return prepareCredential(plugin, { ...input, username }, keys, { generate: false });
    }
    case 'hmac-auth': {
      const keyId = optionalText(input, 'key_id') ?? stored.lookup;
      let secret = optionalText(input, 'secret');
      if (secret === undefined) {
        if (keyId === stored.lookup) return unchanged;
        try {
          secret = unsealHmacSecret(keys, stored.lookup, stored.secret_sealed ?? '');
        } catch {
          throw new CredentialInputError('secret', 'required to change key_id: the stored secret cannot be unsealed (another master secret)');
        }
      }
      return prepareCredential(plugin, { key_id: keyId, secret }, keys, { generate: false });
    }
  }
}

/**
 * What a request presents (key, username, key_id) travels in a header and is stored or looked
 * up as text: a control character can never be presented, and PostgreSQL refuses NUL (a 500
 * instead of a 400 before this check). Passwords and secrets are only hashed or sealed.
 */
const PRESENTED = new Set(['key', 'username', 'key_id']);

function optionalText(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new CredentialInputError(field, 'expected a string');
  if (value === '') throw new CredentialInputError(field, 'must not be empty');
  if (value.length > 1024) throw new CredentialInputError(field, 'longer than 1024 characters');
  if (PRESENTED.has(field) && hasControlCharacter(value)) throw new CredentialInputError(field, 'must not contain control characters');
  return value;
}

function required(field: string): never {
  throw new CredentialInputError(field, 'required');
}

/** The public view of a stored credential: never a secret, hash or digest of a secret. */
export function describeCredential(rec: CredentialRecord, consumerUsername: string): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: rec.id,
    consumer: { id: rec.consumer_id, username: consumerUsername },
    plugin: rec.plugin,
    source: rec.source,
    created_at: rec.created_at,
  };
  if (rec.plugin === 'basic-auth') view.username = rec.lookup;
  if (rec.plugin === 'hmac-auth') view.key_id = rec.lookup;
  return view;
}
