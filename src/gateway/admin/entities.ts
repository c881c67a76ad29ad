// /services, /routes, /plugins (and /services/{name}/routes, /services/{name}/plugins,
// /routes/{id}/plugins, /routes/{id}/service) with Kong's verbs. What the config file defines is listed with
// `source: "config"` and read-only; admin entities live in storage. Every write is applied
// on this instance before the answer (a body the gateway cannot run is refused with 400
// and rolled back) and announced with `config.changed` to the others.
import { timeOrderedId } from '../../core/crypto-util.js';
import { ConfigError, ConflictingConfigError, isPlainObject } from '../../config/schema.js';
import { upstreamUrl } from '../../config/formats.js';
import type { GatewayConfig, PluginConfig, ServiceConfig } from '../../config/types.js';
import type { EntityKind, EntityRecord } from '../../storage/types.js';
import { mergePatch, retyped, setOwn, typedFormValues } from './body.js';
import type { AdminContext, AdminRequest } from './context.js';
import { configPart, refOf, validatePlugin, validateRoute, validateService } from './merge.js';
import { redactPluginConfig } from './redact.js';
import { AdminError, methodNotAllowed, conflict, invalidField, notFound, readObject, sendData, sendList } from './respond.js';

const ENTITY_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A listed entity: its public JSON, and whether the admin API may change it. */
interface Shown {
  kind: EntityKind;
  id: string;
  name: string | null;
  view: Record<string, unknown>;
  stored?: EntityRecord;
}

export async function servicesEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [, ref, sub, ...rest] = ar.segments;
  if (ref === undefined) return collection(ctx, ar, 'service', {});
  if (sub === undefined && rest.length === 0) return one(ctx, ar, 'service', ref);
  if ((sub === 'routes' || sub === 'plugins') && rest.length === 0) {
    const svc = await findShown(ctx, 'service', ref);
    return collection(ctx, ar, sub === 'routes' ? 'route' : 'plugin', { service: svc.id });
  }
  throw notFound('path');
}

export async function routesEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [, ref, sub, ...rest] = ar.segments;
  if (ref === undefined) return collection(ctx, ar, 'route', {});
  if (sub === undefined && rest.length === 0) return one(ctx, ar, 'route', ref);
  if (sub === 'plugins' && rest.length === 0) {
    const route = await findShown(ctx, 'route', ref);
    return collection(ctx, ar, 'plugin', { route: route.id });
  }
  if (sub === 'service' && rest.length === 0) {
    // Kong's /routes/{id}/service: the route's service (read here; change it at /services/{name})
    ar.req.resume();
    if (ar.method !== 'GET' && ar.method !== 'HEAD') throw methodNotAllowed(['GET']);
    const route = await findShown(ctx, 'route', ref);
    return sendData(ar.res, 200, publicView(await findShown(ctx, 'service', String(route.view.service_ref))));
  }
  throw notFound('path');
}

export async function pluginsEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [, ref, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  if (ref === undefined) return collection(ctx, ar, 'plugin', {});
  return one(ctx, ar, 'plugin', ref);
}

async function collection(ctx: AdminContext, ar: AdminRequest, kind: EntityKind, scope: { service?: string; route?: string }): Promise<void> {
  if (ar.method === 'GET') {
    // file entities first, in file order (their index), then stored ones by creation (created_at, id)
    const all = (await listShown(ctx, kind)).map((s, i) => ({ s, key: s.stored ? [1, s.stored.created_at, s.stored.id] : [0, i] }));
    const inScope = all.filter(({ s }) => (scope.service === undefined || s.view.service_ref === scope.service) && (scope.route === undefined || s.view.route_ref === scope.route));
    return sendList(ar.res, inScope, ar.req, { key: (e) => e.key }, (e) => publicView(e.s));
  }
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const body = await readObject(ar.req);
  if (scope.service !== undefined) body.service = { id: scope.service };
  if (scope.route !== undefined) body.route = { id: scope.route };
  const id = body.id === undefined ? timeOrderedId() : checkId(body.id);
  const rec = await prepare(ctx, kind, id, body, undefined);
  if (!(await ctx.storage.entities.insert(rec))) throw conflict(`${kind} ${rec.name !== null ? `"${rec.name}"` : id} already exists`);
  await applyOrRevert(ctx, () => ctx.storage.entities.delete(kind, id));
  sendData(ar.res, 201, publicView(shownOf(rec)));
}

async function one(ctx: AdminContext, ar: AdminRequest, kind: EntityKind, ref: string): Promise<void> {
  if (ar.method === 'GET') return sendData(ar.res, 200, publicView(await findShown(ctx, kind, ref)));
  if (ar.method === 'PUT') return put(ctx, ar, kind, ref);
  const shown = await findShown(ctx, kind, ref);
  const stored = writable(shown);
  if (ar.method === 'PATCH') {
    const patch = await readObject(ar.req);
    // Kong: PATCH changes the given fields, nested ones too (`{ config: { minute: 10 } }` keeps
    // the plugin's other settings; it used to replace the whole config); null removes one
    const merged = mergePatch(stored.body, patch, kind);
    const rec = await prepare(ctx, kind, stored.id, merged, stored);
    if (!(await ctx.storage.entities.update(rec))) throw conflict(`${kind} name "${rec.name}" is already taken`);
    await applyOrRevert(ctx, () => ctx.storage.entities.update(stored));
    return sendData(ar.res, 200, publicView(shownOf(rec)));
  }
  if (ar.method === 'DELETE') {
    await refuseIfRouted(ctx, shown);
    // Kong deletes a route's or service's plugins with it (on_delete = cascade); this was a 409
    const plugins = kind === 'plugin' ? [] : await pluginsOf(ctx, shown);
    for (const p of plugins) await ctx.storage.entities.delete('plugin', p.id);
    await ctx.storage.entities.delete(kind, stored.id);
    await applyOrRevert(ctx, async () => {
      await ctx.storage.entities.insert(stored);
      for (const p of plugins) await ctx.storage.entities.insert(p);
    });
    return sendData(ar.res, 204, null);
  }
  throw methodNotAllowed(['GET', 'PUT', 'PATCH', 'DELETE']);
}

/**
 * Kong's PUT: create or replace. A service is addressed by name (the body's `name`
 * defaults to it) or, when the body names it differently, by id; routes and plugins by id.
 */
async function put(ctx: AdminContext, ar: AdminRequest, kind: EntityKind, ref: string): Promise<void> {
  const body = await readObject(ar.req);
  const found = await ctx.storage.entities.get(kind, ref);
  if (found) {
    if (kind === 'service' && body.name === undefined) body.name = found.name;
    const rec = await prepare(ctx, kind, found.id, body, found);
    if (!(await ctx.storage.entities.update(rec))) throw conflict(`${kind} name "${rec.name}" is already taken`);
    await applyOrRevert(ctx, () => ctx.storage.entities.update(found));
    return sendData(ar.res, 200, publicView(shownOf(rec)));
  }
  if ((await listShown(ctx, kind)).some((s) => s.id === ref || s.name === ref)) {
    throw conflict(`${kind} "${ref}" is defined in the config file; change it there`);
  }
  if (kind === 'service') body.name ??= ref;
  const id = kind === 'service' && body.name === ref ? timeOrderedId() : checkId(ref);
  const rec = await prepare(ctx, kind, id, body, undefined);
  if (!(await ctx.storage.entities.insert(rec))) throw conflict(`${kind} "${rec.name ?? id}" already exists`);
  await applyOrRevert(ctx, () => ctx.storage.entities.delete(kind, id));
  sendData(ar.res, 201, publicView(shownOf(rec)));
}

/** Validates a body with the config schema and resolves its references. */
async function prepare(ctx: AdminContext, kind: EntityKind, id: string, rawBody: Record<string, unknown>, previous: EntityRecord | undefined): Promise<EntityRecord> {
  const body = { ...rawBody };
  for (const k of ['id', 'created_at', 'updated_at', 'source']) delete body[k];
  for (const [k, v] of Object.entries(body)) if (v === null) delete body[k];
  let name: string | null = null;
  try {
    if (kind === 'service') {
      urlFromParts(body);
      const service = validateService(configPart(body));
      name = service.name;
      setOwn(body, retyped(configPart(body), service) as Record<string, unknown>);
      const file = ctx.fileConfig().services.find((s) => s.name === name);
      if (file) throw conflict(`service "${name}" is defined in the config file`);
    } else if (kind === 'route') {
      const route = validateRoute(configPart(body));
      name = route.name ?? null;
      setOwn(body, retyped(configPart(body), route) as Record<string, unknown>);
      body.service = await resolveRef(ctx, 'service', body.service, true);
    } else {
      const plugin = validatePlugin(configPart(body));
      if (!ctx.plugins.has(plugin.name)) {
        const known = [...ctx.plugins.keys()].sort().join(', ');
        throw invalidField('name', `unknown plugin ${JSON.stringify(plugin.name)} (known: ${known})`);
      }
      if (isPlainObject(body.config)) body.config = typedFormValues(plugin.name, body.config);
      const service = await resolveRef(ctx, 'service', body.service, false);
      const route = await resolveRef(ctx, 'route', body.route, false);
      if (service === undefined) delete body.service;
      else body.service = service;
      if (route === undefined) delete body.route;
      else body.route = route;
    }
  } catch (err) {
    if (err instanceof ConflictingConfigError) throw conflictAt(err.path, err.problem);
    if (err instanceof ConfigError) throw invalidField(err.path, err.problem);
    throw err;
  }
  // An id or name the config file already uses would make two entities answer to one ref
  // (a POST /routes with a file route's id was stored, and took over its plugins' lookups)
  const refs = name === null ? [id] : [id, name];
  const clash = fileEntities(ctx.fileConfig()).find((s) => s.kind === kind && refs.some((r) => r === s.id || r === s.name));
  if (clash) throw conflict(`${kind} "${clash.name ?? clash.id}" is defined in the config file; choose another id or name`);
  const now = ctx.clock.now();
  return { kind, id, name, body, created_at: previous?.created_at ?? now, updated_at: now };
}

const URL_PARTS = ['protocol', 'host', 'port', 'path'] as const;

/**
 * Kong describes a service's upstream as `protocol`, `host`, `port` and `path` (what deck and
 * the Terraform provider send; `url` is the shorthand). Ours is `url`: the parts given are
 * folded into it (over the stored or given url, so a PATCH of `host` alone moves only the
 * host). Refused as unknown keys before.
 */
function urlFromParts(body: Record<string, unknown>): void {
  if (!URL_PARTS.some((k) => body[k] !== undefined)) return;
  for (const k of URL_PARTS) {
    const v = body[k];
    if (v !== undefined && (k === 'port' ? !(typeof v === 'number' || (typeof v === 'string' && /^\d{1,5}$/.test(v))) : typeof v !== 'string' || v === '')) {
      throw invalidField(k, k === 'port' ? 'expected a port number' : 'expected a non-empty string');
    }
  }
  // a url with credentials or a query is refused, not folded away with them
  if (body.url !== undefined) upstreamUrl.parse(body.url, 'url');
  let base: URL;
  try {
    base = new URL(typeof body.url === 'string' ? body.url : 'http://placeholder.invalid');
  } catch {
    throw invalidField('url', 'expected an absolute http(s) URL');
  }
  if (body.url === undefined && body.host === undefined) throw invalidField('host', 'required (or give url)');
  const protocol = body.protocol === undefined ? base.protocol.slice(0, -1) : String(body.protocol).toLowerCase();
  if (protocol !== 'http' && protocol !== 'https') throw invalidField('protocol', 'expected http or https');
  const host = body.host === undefined ? base.hostname : String(body.host);
  const port = body.port === undefined ? base.port : String(body.port);
  const path = body.path === undefined ? (base.pathname === '/' ? '' : base.pathname) : String(body.path);
  if (path !== '' && !path.startsWith('/')) throw invalidField('path', 'must start with /');
  if (/[?#]/.test(path)) throw invalidField('path', 'expected a path without a query (?) or fragment (#)');
  if (Number(port) > 65535) throw invalidField('port', 'expected a port number');
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  body.url = `${protocol}://${hostPart}${port === '' ? '' : `:${port}`}${path}`;
  for (const k of URL_PARTS) delete body[k];
}

/** `{ id }`, `{ name }` or a plain string → the id the merge understands (an admin id or a file service name). */
async function resolveRef(ctx: AdminContext, kind: 'service' | 'route', raw: unknown, required: boolean): Promise<string | undefined> {
  if (raw === undefined || raw === null) {
    if (required) throw invalidField(kind, 'required: { "id": … } or { "name": … }');
    return undefined;
  }
  const ref = typeof raw === 'string' ? raw : typeof raw === 'object' && !Array.isArray(raw) ? ((raw as { id?: unknown; name?: unknown }).id ?? (raw as { name?: unknown }).name) : undefined;
  if (typeof ref !== 'string' || ref === '') throw invalidField(kind, 'expected { "id": … } or { "name": … }');
  const found = (await listShown(ctx, kind)).find((s) => s.id === ref || (s.name !== null && s.name === ref));
  if (!found) throw invalidField(kind, `no ${kind} ${JSON.stringify(ref)}`);
  return found.id;
}

async function applyOrRevert(ctx: AdminContext, revert: () => Promise<unknown>): Promise<void> {
  try {
    await ctx.applyEntities();
  } catch (err) {
    await revert().catch((e: unknown) => ctx.logger.error({ err: e }, 'admin: could not roll back a refused change'));
    if (err instanceof ConfigError) {
      // the compiled config names e.g. gateway.services[3].plugins[0].config.key_names: keep the entity's part
      const field = err.path.replace(/^.*(?:plugins|routes|services)\[[^\]]*\]\.?/, '');
      // e.g. a second key-auth plugin on one service: a clash, 409 as Kong answers a unique violation
      if (err instanceof ConflictingConfigError) throw conflictAt(field, err.problem);
      throw invalidField(field, err.problem);
    }
    throw err;
  }
}

/** 409 naming the field that clashes (the shape of a 400's `fields`). */
function conflictAt(field: string, problem: string): AdminError {
  return new AdminError('conflict', 409, `${field}: ${problem}`, { fields: { [field]: problem } });
}

/** A service that routes still lead to is not deleted (409, as in Kong: routes do not cascade). */
async function refuseIfRouted(ctx: AdminContext, shown: Shown): Promise<void> {
  if (shown.kind !== 'service') return;
  const routes = (await listShown(ctx, 'route')).filter((s) => s.view.service_ref === shown.id);
  if (routes.length > 0) throw conflict(`an existing route (${routes[0]!.id}) references this service; delete it first`);
}

/** The stored plugins of a route or service (only admin plugins can name an admin entity). */
async function pluginsOf(ctx: AdminContext, shown: Shown): Promise<EntityRecord[]> {
  const key = shown.kind === 'service' ? 'service_ref' : 'route_ref';
  return (await listShown(ctx, 'plugin')).filter((s) => s.view[key] === shown.id && s.stored !== undefined).map((s) => s.stored!);
}

function writable(shown: Shown): EntityRecord {
  if (!shown.stored) throw conflict(`${shown.kind} "${shown.name ?? shown.id}" is defined in the config file; change it there`);
  return shown.stored;
}

function checkId(raw: unknown): string {
  if (typeof raw !== 'string' || !ENTITY_ID.test(raw)) throw invalidField('id', 'letters, digits, ".", "_" or "-" (1–128)');
  return raw;
}

async function findShown(ctx: AdminContext, kind: EntityKind, ref: string): Promise<Shown> {
  const stored = await ctx.storage.entities.get(kind, ref);
  if (stored) return shownOf(stored);
  const found = (await listShown(ctx, kind)).find((s) => s.id === ref || (s.name !== null && s.name === ref));
  if (!found) throw notFound(`${kind} "${ref}"`);
  return found;
}

/** File entities first (in file order), then stored ones (in creation order). */
async function listShown(ctx: AdminContext, kind: EntityKind): Promise<Shown[]> {
  const file = fileEntities(ctx.fileConfig()).filter((s) => s.kind === kind);
  const stored = (await ctx.storage.entities.list(kind)).map(shownOf);
  return [...file, ...stored];
}

function shownOf(rec: EntityRecord): Shown {
  const view: Record<string, unknown> = { id: rec.id, ...rec.body, source: 'admin', created_at: rec.created_at, updated_at: rec.updated_at };
  const service = refOf(rec.body, 'service');
  const route = refOf(rec.body, 'route');
  view.service = service === undefined ? null : { id: service };
  if (rec.kind !== 'service') view.service_ref = service;
  if (rec.kind === 'plugin') {
    view.route = route === undefined ? null : { id: route };
    view.route_ref = route;
  } else delete view.route;
  if (rec.kind === 'service') delete view.service;
  return { kind: rec.kind, id: rec.id, name: rec.name, view, stored: rec };
}

/** The config file's services, routes and plugins, with the ids the gateway gives them. */
function fileEntities(gw: GatewayConfig): Shown[] {
  const out: Shown[] = [];
  const plugin = (p: PluginConfig, id: string, service?: string, route?: string): Shown => ({
    kind: 'plugin',
    id,
    name: null,
    view: { id, ...p, service: service === undefined ? null : { id: service }, route: route === undefined ? null : { id: route }, service_ref: service, route_ref: route, source: 'config' },
  });
  for (const [i, p] of gw.plugins.entries()) out.push(plugin(p, `config:plugins[${i}]`));
  for (const svc of gw.services) {
    out.push({ kind: 'service', id: svc.name, name: svc.name, view: { id: svc.name, ...serviceFields(svc), source: 'config' } });
    for (const [i, p] of svc.plugins.entries()) out.push(plugin(p, `config:${svc.name}:plugins[${i}]`, svc.name));
    for (const [r, route] of svc.routes.entries()) {
      const id = route.id ?? route.name ?? `${svc.name}-${r}`;
      const { plugins, ...fields } = route;
      out.push({ kind: 'route', id, name: route.name ?? null, view: { ...fields, id, service: { id: svc.name }, service_ref: svc.name, source: 'config' } });
      for (const [j, p] of plugins.entries()) out.push(plugin(p, `config:${id}:plugins[${j}]`, undefined, id));
    }
  }
  return out;
}

function serviceFields(svc: ServiceConfig): Record<string, unknown> {
  const { routes: _routes, plugins: _plugins, ...fields } = svc;
  return fields;
}

function publicView(s: Shown): Record<string, unknown> {
  const { service_ref: _s, route_ref: _r, ...view } = s.view;
  if (s.kind === 'plugin' && view.config !== undefined) view.config = redactPluginConfig(view.name, view.config);
  return view;
}

