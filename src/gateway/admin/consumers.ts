// /consumers, /consumers/{username or id}, /consumers/{username}/{key-auth|basic-auth|hmac-auth}[/{id}].
// Consumers carry Kong's custom_id (unique when set) and tags; `GET /consumers?custom_id=X`
// and `?tags=a,b` (all of them) / `?tags=a/b` (any of them) filter the list as in Kong.
// Consumers defined in the config file are listed but read-only (the next reload would
// undo a change). Every change publishes `credentials.changed`, so each instance drops its
// credential cache.
import { timeOrderedId } from '../../core/crypto-util.js';
import {
  CONSUMER_USERNAME,
  CREDENTIAL_IDENTITY_FIELD,
  CONSUMER_USERNAME_RULE,
  CredentialInputError,
  customIdProblem,
  describeCredential,
  groupsProblem,
  isTag,
  CONSUMER_TAG_RULE,
  tagsProblem,
  uniqueTags,
  isCredentialPlugin,
  prepareCredential,
  prepareCredentialPatch,
  type PreparedCredential,
} from '../credentials.js';
import { CustomIdTakenError, type ConsumerRecord, type CredentialPlugin, type CredentialRecord } from '../../storage/types.js';
import type { AdminContext, AdminRequest } from './context.js';
import { AdminError, methodNotAllowed, conflict, invalidField, notFound, readObject, sendData, sendList } from './respond.js';

/** Ids we make (and accept from a client, as Kong does) are UUIDs. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function consumersEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [, idOrName, plugin, credentialId, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  if (idOrName === undefined) return consumerCollection(ctx, ar);
  if (plugin === undefined) return oneConsumer(ctx, ar, idOrName);
  if (!isCredentialPlugin(plugin)) throw notFound('path');
  const consumer = await findConsumer(ctx, idOrName);
  if (credentialId === undefined) return credentialCollection(ctx, ar, consumer, plugin);
  return oneCredential(ctx, ar, consumer, plugin, credentialId);
}

/**
 * Kong's `/key-auths`, `/basic-auths`, `/hmac-auths` (and `/{…}/{id}`; basic-auth also by
 * username, hmac-auth by key_id): every consumer's credentials of one plugin, described as
 * under a consumer, never with a key or secret. Read-only here: changes go through
 * `/consumers/{consumer}/{plugin}/{id}`.
 */
export async function credentialsEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [collection, id, ...rest] = ar.segments;
  const plugin = collection!.slice(0, -1);
  if (rest.length > 0 || !isCredentialPlugin(plugin)) throw notFound('path');
  ar.req.resume();
  if (ar.method !== 'GET' && ar.method !== 'HEAD') throw methodNotAllowed(['GET']);
  if (id === undefined) {
    const usernames = new Map((await ctx.storage.consumers.list()).map((c) => [c.id, c.username]));
    const creds = (await ctx.storage.credentials.listByPlugin(plugin)).filter((c) => usernames.has(c.consumer_id));
    return sendList(ar.res, creds, ar.req, { key: (c) => [c.created_at, c.id] }, (c) => describeCredential(c, usernames.get(c.consumer_id)!));
  }
  const found = (await ctx.storage.credentials.get(id)) ?? (await byName(ctx, plugin, id));
  const owner = found && found.plugin === plugin ? await ctx.storage.consumers.get(found.consumer_id) : undefined;
  if (!found || !owner) throw notFound(`${plugin} credential`);
  sendData(ar.res, 200, describeCredential(found, owner.username));
}

async function consumerCollection(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  if (ar.method === 'GET') return sendList(ar.res, await listConsumers(ctx, ar), ar.req, { key: (c) => [c.username] }, view);
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = await readObject(ar.req);
  const input = consumerInput(body, true);
  // Kong takes a client-chosen id (declarative sync tools send one); it used to be dropped silently
  const id = input.id ?? timeOrderedId();
  const now = ctx.clock.now();
  const rec: ConsumerRecord = withExtras({ id, username: input.username, groups: input.groups ?? [], source: 'admin', created_at: now, updated_at: now }, input.custom_id, input.tags);
  // insert-only: of two POSTs racing for one username or one custom_id, exactly one gets 201
  if (!(await ctx.storage.consumers.insert(rec))) {
    if (await ctx.storage.consumers.getByUsername(input.username)) throw conflict(`consumer "${input.username}" already exists`);
    if (rec.custom_id !== undefined && (await ctx.storage.consumers.getByCustomId(rec.custom_id))) throw customIdInUse();
    throw conflict(`a consumer with id ${id} already exists`);
  }
  await changed(ctx, rec.username);
  sendData(ar.res, 201, view(rec));
}

async function oneConsumer(ctx: AdminContext, ar: AdminRequest, idOrName: string): Promise<void> {
  if (ar.method === 'PUT') return putConsumer(ctx, ar, idOrName);
  const rec = await findConsumer(ctx, idOrName);
  switch (ar.method) {
    case 'GET':
      return sendData(ar.res, 200, view(rec));
    case 'PATCH': {
      refuseConfig(rec);
      const input = consumerInput(await readObject(ar.req), false);
      if (input.username !== undefined && input.username !== rec.username) throw invalidField('username', 'cannot be changed; create a new consumer');
      if (input.id !== undefined && input.id !== rec.id) throw invalidField('id', 'cannot be changed');
      // absent keeps what is stored, null clears it (as in Kong's PATCH)
      const { custom_id: storedCustomId, tags: storedTags, ...base } = rec;
      const customId = input.custom_id === undefined ? storedCustomId : input.custom_id;
      const tags = input.tags === undefined ? storedTags : input.tags;
      const next = await storeConsumer(ctx, withExtras({ ...base, groups: input.groups ?? rec.groups, updated_at: ctx.clock.now() }, customId, tags));
      await changed(ctx, next.username);
      return sendData(ar.res, 200, view(next));
    }
    case 'DELETE':
      refuseConfig(rec);
      await ctx.storage.consumers.delete(rec.username);
      await changed(ctx, rec.username);
      return sendData(ar.res, 204, null);
    default:
      throw methodNotAllowed(['GET', 'PUT', 'PATCH', 'DELETE']);
  }
}

/**
 * Kong's PUT /consumers/{username or id}: create or replace. An existing consumer is found by
 * either; a new one is named by the path, or, when the path is a UUID, created with that id
 * and the body's username.
 */
async function putConsumer(ctx: AdminContext, ar: AdminRequest, ref: string): Promise<void> {
  const input = consumerInput(await readObject(ar.req), false);
  const existing = (await ctx.storage.consumers.getByUsername(ref)) ?? (await ctx.storage.consumers.get(ref));
  let id: string;
  let username: string;
  if (existing) {
    refuseConfig(existing);
    if (input.username !== undefined && input.username !== existing.username) throw invalidField('username', 'cannot be changed; create a new consumer');
    ({ id, username } = existing);
  } else if (UUID.test(ref) && input.username !== undefined) {
    id = ref;
    username = input.username;
    if (await ctx.storage.consumers.getByUsername(username)) throw conflict(`consumer "${username}" already exists`);
  } else {
    if (input.username !== undefined && input.username !== ref) throw invalidField('username', 'must match the path');
    if (!CONSUMER_USERNAME.test(ref)) throw invalidField('username', CONSUMER_USERNAME_RULE);
    id = input.id ?? timeOrderedId();
    username = ref;
    if (input.id !== undefined && (await ctx.storage.consumers.get(input.id))) throw conflict(`a consumer with id ${input.id} already exists`);
  }
  if (input.id !== undefined && input.id !== id) throw invalidField('id', 'must match the consumer addressed by the path');
  const now = ctx.clock.now();
  const rec = await storeConsumer(
    ctx,
    withExtras(
      {
        id,
        username,
        groups: input.groups ?? [],
        // a consumer made with the CLI stays one (the source says who manages it)
        source: existing?.source ?? 'admin',
        created_at: existing?.created_at ?? now,
        updated_at: now,
      },
      input.custom_id,
      input.tags,
    ),
  );
  await changed(ctx, rec.username);
  sendData(ar.res, existing ? 200 : 201, view(rec));
}

async function credentialCollection(ctx: AdminContext, ar: AdminRequest, consumer: ConsumerRecord, plugin: CredentialPlugin): Promise<void> {
  if (ar.method === 'GET') {
    const creds = await ctx.storage.credentials.listByConsumer(consumer.id, plugin);
    return sendList(ar.res, creds, ar.req, { key: (c) => [c.created_at, c.id] }, (c) => describeCredential(c, consumer.username));
  }
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = await readObject(ar.req);
  const prepared = await credentialInput(() => prepareCredential(plugin, body, ctx.keys, { generate: true }));
  const rec = credentialRecord(ctx, consumer, prepared, timeOrderedId(), undefined);
  if (!(await ctx.storage.credentials.insert(rec))) throw inUse(plugin);
  await changed(ctx, consumer.username);
  // the key or secret is shown now and never again
  sendData(ar.res, 201, { ...describeCredential(rec, consumer.username), ...prepared.once });
}

async function oneCredential(ctx: AdminContext, ar: AdminRequest, consumer: ConsumerRecord, plugin: CredentialPlugin, id: string): Promise<void> {
  const found = (await ctx.storage.credentials.get(id)) ?? (await byName(ctx, plugin, id));
  const cred = found && found.consumer_id === consumer.id && found.plugin === plugin ? found : undefined;
  if (ar.method === 'PUT') return putCredential(ctx, ar, consumer, plugin, id, found, cred);
  if (!cred) throw notFound(`${plugin} credential`);
  switch (ar.method) {
    case 'GET':
      return sendData(ar.res, 200, describeCredential(cred, consumer.username));
    case 'PATCH': {
      // README promised PATCH/PUT on credentials (Kong has both); only GET and DELETE answered
      refuseConfigCredential(cred);
      const body = await readObject(ar.req);
      const prepared = await credentialInput(() => prepareCredentialPatch(cred, body, ctx.keys));
      const next = credentialRecord(ctx, consumer, prepared, cred.id, cred);
      await replaceCredential(ctx, cred, next);
      await changed(ctx, consumer.username);
      return sendData(ar.res, 200, describeCredential(next, consumer.username));
    }
    case 'DELETE':
      refuseConfigCredential(cred);
      await ctx.storage.credentials.delete(cred.id);
      await changed(ctx, consumer.username);
      return sendData(ar.res, 204, null);
    default:
      throw methodNotAllowed(['GET', 'PUT', 'PATCH', 'DELETE']);
  }
}

/** Kong's PUT on a credential: replace it (a key or secret left out is generated), or create it under that id. */
async function putCredential(
  ctx: AdminContext,
  ar: AdminRequest,
  consumer: ConsumerRecord,
  plugin: CredentialPlugin,
  id: string,
  found: CredentialRecord | undefined,
  cred: CredentialRecord | undefined,
): Promise<void> {
  if (found && !cred) throw conflict(`id ${id} belongs to another credential`);
  if (!cred && !UUID.test(id)) throw notFound(`${plugin} credential`);
  if (cred) refuseConfigCredential(cred);
  const body = await readObject(ar.req);
  const prepared = await credentialInput(() => prepareCredential(plugin, body, ctx.keys, { generate: true }));
  const next = credentialRecord(ctx, consumer, prepared, cred?.id ?? id, cred);
  if (cred) await replaceCredential(ctx, cred, next);
  else if (!(await ctx.storage.credentials.insert(next))) throw inUse(plugin);
  await changed(ctx, consumer.username);
  sendData(ar.res, cred ? 200 : 201, { ...describeCredential(next, consumer.username), ...prepared.once });
}

/**
 * Kong also finds a basic-auth credential by its username (and an hmac-auth one by its
 * key_id here): `/consumers/c/basic-auth/alice`. Not key-auth: a key does not belong in a URL.
 */
async function byName(ctx: AdminContext, plugin: CredentialPlugin, name: string): Promise<CredentialRecord | undefined> {
  if (plugin === 'key-auth') return undefined;
  return (await ctx.storage.credentials.find(plugin, name))?.credential;
}

function credentialRecord(ctx: AdminContext, consumer: ConsumerRecord, prepared: PreparedCredential, id: string, previous: CredentialRecord | undefined): CredentialRecord {
  return {
    id,
    consumer_id: consumer.id,
    plugin: prepared.plugin,
    lookup: prepared.lookup,
    secret_hash: prepared.secret_hash,
    secret_sealed: prepared.secret_sealed,
    source: previous?.source ?? 'admin',
    created_at: previous?.created_at ?? ctx.clock.now(),
  };
}

/** Stores `next` in place of `old` under the same id, in one write; 409 when the new key, username or key_id is taken. */
async function replaceCredential(ctx: AdminContext, old: CredentialRecord, next: CredentialRecord): Promise<void> {
  if (await ctx.storage.credentials.replace(next)) return;
  if ((await ctx.storage.credentials.get(old.id)) === undefined) throw notFound(`${old.plugin} credential`);
  throw inUse(next.plugin);
}

async function credentialInput(prepare: () => Promise<PreparedCredential>): Promise<PreparedCredential> {
  try {
    return await prepare();
  } catch (err) {
    if (err instanceof CredentialInputError) throw invalidField(err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
}

function inUse(plugin: CredentialPlugin): AdminError {
  const field = CREDENTIAL_IDENTITY_FIELD[plugin];
  return new AdminError('conflict', 409, `${field}: already in use`, { fields: { [field]: 'already in use' } });
}

function refuseConfigCredential(cred: CredentialRecord): void {
  if (cred.source === 'config') throw conflict('this credential is defined in the config file; change it there');
}

async function findConsumer(ctx: AdminContext, idOrName: string): Promise<ConsumerRecord> {
  const rec = (await ctx.storage.consumers.getByUsername(idOrName)) ?? (await ctx.storage.consumers.get(idOrName));
  if (!rec) throw notFound(`consumer "${idOrName}"`);
  return rec;
}

function refuseConfig(rec: ConsumerRecord): void {
  if (rec.source === 'config') throw conflict(`consumer "${rec.username}" is defined in the config file; change it there`);
}

/** Upsert; 409 naming custom_id when another consumer has it (also when one took it a moment ago). */
async function storeConsumer(ctx: AdminContext, rec: ConsumerRecord): Promise<ConsumerRecord> {
  try {
    return await ctx.storage.consumers.upsert(rec);
  } catch (err) {
    if (err instanceof CustomIdTakenError) throw customIdInUse();
    throw err;
  }
}

function customIdInUse(): AdminError {
  return new AdminError('conflict', 409, 'custom_id: already in use', { fields: { custom_id: 'already in use' } });
}

/** rec with custom_id and tags set when there are some (the record leaves them out otherwise). */
function withExtras(rec: ConsumerRecord, customId: string | null | undefined, tags: string[] | null | undefined): ConsumerRecord {
  if (customId !== null && customId !== undefined) rec.custom_id = customId;
  if (tags !== null && tags !== undefined && tags.length > 0) rec.tags = uniqueTags(tags);
  return rec;
}

/**
 * GET /consumers, filtered as Kong filters it: `custom_id=X` (exact), `tags=a,b` (every tag)
 * or `tags=a/b` (any tag); `,` and `/` together are refused, as in Kong.
 */
async function listConsumers(ctx: AdminContext, ar: AdminRequest): Promise<ConsumerRecord[]> {
  const query = new URL(ar.req.url ?? '/', 'http://admin').searchParams;
  const customId = query.get('custom_id');
  const tagsParam = query.get('tags');
  let rows: ConsumerRecord[];
  if (customId !== null) {
    // one that could never be stored finds nothing (and a NUL never reaches PostgreSQL, which refuses it)
    const found = customIdProblem(customId) !== undefined ? undefined : await ctx.storage.consumers.getByCustomId(customId);
    rows = found ? [found] : [];
  } else {
    rows = await ctx.storage.consumers.list();
  }
  if (tagsParam === null) return rows;
  const all = tagsParam.includes(',');
  const any = tagsParam.includes('/');
  if (all && any) throw invalidField('tags', 'use "," (every tag) or "/" (any tag), not both');
  const wanted = tagsParam.split(all ? ',' : '/');
  for (const t of wanted) if (!isTag(t)) throw invalidField('tags', `${JSON.stringify(t)}: a tag is ${CONSUMER_TAG_RULE}`);
  return rows.filter((c) => {
    const has = c.tags ?? [];
    return all ? wanted.every((t) => has.includes(t)) : wanted.some((t) => has.includes(t));
  });
}

interface ConsumerInput {
  username: string;
  groups?: string[];
  id?: string;
  /** null: none (clears it in a PATCH) */
  custom_id?: string | null;
  /** null: none */
  tags?: string[] | null;
}

/**
 * A consumer body. `groups: null` means the default (none), as null does in Kong's PATCH;
 * `created_at`, `updated_at` and `source` are read-only and ignored (a GET body can be sent back).
 */
function consumerInput(body: Record<string, unknown>, create: boolean): ConsumerInput {
  for (const key of Object.keys(body)) {
    if (!['username', 'groups', 'id', 'custom_id', 'tags', 'created_at', 'updated_at', 'source'].includes(key)) throw invalidField(key, 'unknown field');
  }
  const username = body.username ?? undefined;
  if (create && username === undefined) throw invalidField('username', 'required');
  if (username !== undefined && (typeof username !== 'string' || !CONSUMER_USERNAME.test(username))) {
    throw invalidField('username', CONSUMER_USERNAME_RULE);
  }
  const groups = body.groups === null ? [] : body.groups;
  const problem = groups === undefined ? undefined : groupsProblem(groups);
  if (problem !== undefined) throw invalidField('groups', problem);
  const id = body.id ?? undefined;
  if (id !== undefined && (typeof id !== 'string' || !UUID.test(id))) throw invalidField('id', 'expected a UUID');
  const customId = body.custom_id;
  const customIdBad = customId === undefined || customId === null ? undefined : customIdProblem(customId);
  if (customIdBad !== undefined) throw invalidField('custom_id', customIdBad);
  const tags = body.tags;
  const tagsBad = tags === undefined || tags === null ? undefined : tagsProblem(tags);
  if (tagsBad !== undefined) throw invalidField('tags', tagsBad);
  return {
    username: username as string,
    groups: groups as string[] | undefined,
    id: id as string | undefined,
    custom_id: customId as string | null | undefined,
    tags: tags as string[] | null | undefined,
  };
}

/** As Kong shows a consumer: custom_id and tags are null when there are none. */
function view(rec: ConsumerRecord): Record<string, unknown> {
  return {
    id: rec.id,
    username: rec.username,
    custom_id: rec.custom_id ?? null,
    tags: rec.tags ?? null,
    groups: rec.groups,
    source: rec.source,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
  };
}

async function changed(ctx: AdminContext, consumer: string): Promise<void> {
  await ctx.events.publish({ type: 'credentials.changed', consumer });
}

