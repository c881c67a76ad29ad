// /consumers, /consumers/{username or id}, /consumers/{username}/{key-auth|basic-auth|hmac-auth}[/{id}].
// Consumers defined in the config file are listed but read-only (the next reload would
// undo a change). Every change publishes `credentials.changed`, so each instance drops its
// credential cache.
import { timeOrderedId } from '../../core/crypto-util.js';
import { randomUUID } from 'node:crypto';
import { CredentialInputError, describeCredential, isCredentialPlugin, prepareCredential } from '../credentials.js';
import type { ConsumerRecord, CredentialPlugin } from '../../storage/types.js';
import type { AdminContext, AdminRequest } from './context.js';
import { AdminError, conflict, invalidField, notFound, readObject, sendData, sendList } from './respond.js';

const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;

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

async function consumerCollection(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  if (ar.method === 'GET') return sendList(ar.res, (await ctx.storage.consumers.list()).map(view));
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = await readObject(ar.req);
  const input = consumerInput(body, true);
  if (await ctx.storage.consumers.getByUsername(input.username)) throw conflict(`consumer "${input.username}" already exists`);
  const now = ctx.clock.now();
  const rec = await ctx.storage.consumers.upsert({ id: randomUUID(), username: input.username, groups: input.groups ?? [], source: 'admin', created_at: now, updated_at: now });
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
      const next = await ctx.storage.consumers.upsert({ ...rec, groups: input.groups ?? rec.groups, updated_at: ctx.clock.now() });
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

/** Kong's PUT: create or replace, addressed by username. */
async function putConsumer(ctx: AdminContext, ar: AdminRequest, username: string): Promise<void> {
  const input = consumerInput(await readObject(ar.req), false);
  if (input.username !== undefined && input.username !== username) throw invalidField('username', 'must match the path');
  if (!USERNAME.test(username)) throw invalidField('username', 'letters, digits and . _ @ + - only (1–128)');
  const existing = (await ctx.storage.consumers.getByUsername(username)) ?? (await ctx.storage.consumers.get(username));
  if (existing) refuseConfig(existing);
  const now = ctx.clock.now();
  const rec = await ctx.storage.consumers.upsert({
    id: existing?.id ?? randomUUID(),
    username: existing?.username ?? username,
    groups: input.groups ?? [],
    source: 'admin',
    created_at: existing?.created_at ?? now,
    updated_at: now,
  });
  await changed(ctx, rec.username);
  sendData(ar.res, existing ? 200 : 201, view(rec));
}

async function credentialCollection(ctx: AdminContext, ar: AdminRequest, consumer: ConsumerRecord, plugin: CredentialPlugin): Promise<void> {
  if (ar.method === 'GET') {
    const creds = await ctx.storage.credentials.listByConsumer(consumer.id, plugin);
    return sendList(ar.res, creds.map((c) => describeCredential(c, consumer.username)));
  }
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = await readObject(ar.req);
  let prepared;
  try {
    prepared = await prepareCredential(plugin, body, ctx.keys, { generate: true });
  } catch (err) {
    if (err instanceof CredentialInputError) throw invalidField(err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
  const rec = {
    id: timeOrderedId(),
    consumer_id: consumer.id,
    plugin,
    lookup: prepared.lookup,
    secret_hash: prepared.secret_hash,
    secret_sealed: prepared.secret_sealed,
    source: 'admin' as const,
    created_at: ctx.clock.now(),
  };
  if (!(await ctx.storage.credentials.insert(rec))) {
    const field = plugin === 'key-auth' ? 'key' : plugin === 'basic-auth' ? 'username' : 'key_id';
    throw new AdminError('conflict', 409, `${field}: already in use`, { fields: { [field]: 'already in use' } });
  }
  await changed(ctx, consumer.username);
  // the key or secret is shown now and never again
  sendData(ar.res, 201, { ...describeCredential(rec, consumer.username), ...prepared.once });
}

async function oneCredential(ctx: AdminContext, ar: AdminRequest, consumer: ConsumerRecord, plugin: CredentialPlugin, id: string): Promise<void> {
  const cred = await ctx.storage.credentials.get(id);
  if (!cred || cred.consumer_id !== consumer.id || cred.plugin !== plugin) throw notFound(`${plugin} credential`);
  switch (ar.method) {
    case 'GET':
      return sendData(ar.res, 200, describeCredential(cred, consumer.username));
    case 'DELETE':
      if (cred.source === 'config') throw conflict('this credential is defined in the config file; remove it there');
      await ctx.storage.credentials.delete(cred.id);
      await changed(ctx, consumer.username);
      return sendData(ar.res, 204, null);
    default:
      throw methodNotAllowed(['GET', 'DELETE']);
  }
}

async function findConsumer(ctx: AdminContext, idOrName: string): Promise<ConsumerRecord> {
  const rec = (await ctx.storage.consumers.getByUsername(idOrName)) ?? (await ctx.storage.consumers.get(idOrName));
  if (!rec) throw notFound(`consumer "${idOrName}"`);
  return rec;
}

function refuseConfig(rec: ConsumerRecord): void {
  if (rec.source === 'config') throw conflict(`consumer "${rec.username}" is defined in the config file; change it there`);
}

function consumerInput(body: Record<string, unknown>, create: boolean): { username: string; groups?: string[] } & { username: string } {
  for (const key of Object.keys(body)) {
    if (!['username', 'groups', 'id', 'created_at', 'updated_at', 'source'].includes(key)) throw invalidField(key, 'unknown field');
  }
  const username = body.username;
  if (create && username === undefined) throw invalidField('username', 'required');
  if (username !== undefined && (typeof username !== 'string' || !USERNAME.test(username))) {
    throw invalidField('username', 'letters, digits and . _ @ + - only (1–128)');
  }
  const groups = body.groups;
  if (groups !== undefined && (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string' && g !== ''))) {
    throw invalidField('groups', 'expected a list of non-empty strings');
  }
  return { username: username as string, groups: groups as string[] | undefined };
}

function view(rec: ConsumerRecord): Record<string, unknown> {
  return { id: rec.id, username: rec.username, groups: rec.groups, source: rec.source, created_at: rec.created_at, updated_at: rec.updated_at };
}

async function changed(ctx: AdminContext, consumer: string): Promise<void> {
  await ctx.events.publish({ type: 'credentials.changed', consumer });
}

export function methodNotAllowed(allowed: string[]): AdminError {
  return new AdminError('method_not_allowed', 405, `method not allowed; use ${allowed.join(', ')}`, { headers: { allow: allowed.join(', ') } });
}
