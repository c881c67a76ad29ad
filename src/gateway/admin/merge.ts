// Admin-created services, routes and plugins (stored as the JSON the admin API accepted)
// merged with the config file's gateway section into the GatewayConfig the gateway runs.
// Each stored body is validated by the config schema itself, so the admin API accepts
// exactly what the file would.
import { ConfigError, validateConfig } from '../../config/schema.js';
import type { GatewayConfig, PluginConfig, ServiceConfig, ServiceRouteConfig } from '../../config/types.js';
import type { EntityRecord } from '../../storage/types.js';
import { checkPluginConfig } from '../plugin-check.js';

/** Keys of a stored body that are references or bookkeeping, not config. */
const REF_KEYS = new Set(['id', 'service', 'route', 'created_at', 'updated_at', 'source']);

const WRAP_ISSUER = 'http://127.0.0.1';

/**
 * The body without references and nulls. Copied as own keys (fromEntries), never by assignment:
 * `out["__proto__"] = v` set the copy's prototype, so the schema saw no unknown key and read
 * the fields through it. A stored body with such a key is now refused by name.
 */
export function configPart(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => !REF_KEYS.has(k) && v !== null));
}

/** Runs `raw` through the schema at `prefix`; errors are re-pathed to the entity's own fields. */
function validateAt<T>(wrap: (raw: Record<string, unknown>) => Record<string, unknown>, pick: (gw: GatewayConfig) => T, prefix: string, raw: Record<string, unknown>): T {
  try {
    return pick(validateConfig({ issuer: WRAP_ISSUER, storage: 'memory:', gateway: wrap(raw) }).gateway!);
  } catch (err) {
    if (err instanceof ConfigError && (err.path === prefix || err.path.startsWith(prefix))) {
      const field = err.path.slice(prefix.length).replace(/^\./, '');
      throw new ConfigError(field, err.problem, err.expected === undefined ? {} : { expected: err.expected });
    }
    throw err;
  }
}

/** A service body (without routes and plugins: those are entities of their own). */
export function validateService(raw: Record<string, unknown>): ServiceConfig {
  for (const nested of ['routes', 'plugins']) {
    if (raw[nested] !== undefined) throw new ConfigError(nested, `create ${nested} with POST /${nested} (or /services/{name}/${nested})`);
  }
  return validateAt((r) => ({ services: [r] }), (gw) => gw.services[0]!, 'gateway.services[0]', raw);
}

export function validateRoute(raw: Record<string, unknown>): ServiceRouteConfig {
  if (raw.plugins !== undefined) throw new ConfigError('plugins', 'create plugins with POST /plugins and "route"');
  return validateAt(
    (r) => ({ services: [{ name: 'admin-route-check', url: WRAP_ISSUER, routes: [r] }] }),
    (gw) => gw.services[0]!.routes[0]!,
    'gateway.services[0].routes[0]',
    raw,
  );
}

export function validatePlugin(raw: Record<string, unknown>): PluginConfig {
  return validateAt((r) => ({ plugins: [r] }), (gw) => gw.plugins[0]!, 'gateway.plugins[0]', raw);
}

/** What a stored route or plugin refers to: an admin service's id, or a file service's name. */
export function refOf(body: Record<string, unknown>, key: 'service' | 'route'): string | undefined {
  const value = body[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The config file's gateway section plus the admin entities: admin services are appended,
 * admin routes join their service (admin or file), admin plugins their route, service or
 * the global list. The file config is not modified. Throws ConfigError naming the entity.
 */
export function mergeAdminEntities(file: GatewayConfig, entities: readonly EntityRecord[]): GatewayConfig {
  const services: ServiceConfig[] = file.services.map((s) => ({ ...s, routes: s.routes.map((r) => ({ ...r, plugins: [...r.plugins] })), plugins: [...s.plugins] }));
  const serviceByRef = new Map<string, ServiceConfig>(services.map((s) => [s.name, s]));
  const routeById = new Map<string, ServiceRouteConfig>();
  for (const s of services) for (const [i, r] of s.routes.entries()) routeById.set(r.id ?? r.name ?? `${s.name}-${i}`, r);
  const globalPlugins: PluginConfig[] = [...file.plugins];

  const of = (kind: EntityRecord['kind']) => entities.filter((e) => e.kind === kind);
  for (const e of of('service')) {
    const svc = { ...entityValidated(e, validateService), routes: [], plugins: [] } as ServiceConfig;
    services.push(svc);
    serviceByRef.set(e.id, svc);
  }
  for (const e of of('route')) {
    const route: ServiceRouteConfig = { ...entityValidated(e, validateRoute), id: e.id, plugins: [] };
    const svc = serviceByRef.get(refOf(e.body, 'service') ?? '');
    if (!svc) throw new ConfigError(`admin.routes[${e.id}].service`, `unknown service ${JSON.stringify(refOf(e.body, 'service'))}`);
    svc.routes.push(route);
    routeById.set(e.id, route);
  }
  for (const e of of('plugin')) {
    // its own config too, here: a stored plugin that a stricter release refuses is named by
    // its admin id (admin.plugins[<id>].config…), not by where the merge put it
    const plugin = entityValidated(e, validateStoredPlugin);
    const routeRef = refOf(e.body, 'route');
    const serviceRef = refOf(e.body, 'service');
    if (routeRef !== undefined) {
      const route = routeById.get(routeRef);
      if (!route) throw new ConfigError(`admin.plugins[${e.id}].route`, `unknown route ${JSON.stringify(routeRef)}`);
      route.plugins.push(plugin);
    } else if (serviceRef !== undefined) {
      const svc = serviceByRef.get(serviceRef);
      if (!svc) throw new ConfigError(`admin.plugins[${e.id}].service`, `unknown service ${JSON.stringify(serviceRef)}`);
      svc.plugins.push(plugin);
    } else {
      globalPlugins.push(plugin);
    }
  }
  return { ...file, services, plugins: globalPlugins };
}

function validateStoredPlugin(raw: Record<string, unknown>): PluginConfig {
  const plugin = validatePlugin(raw);
  checkPluginConfig(plugin, '');
  return plugin;
}

function entityValidated<T>(e: EntityRecord, validate: (raw: Record<string, unknown>) => T): T {
  try {
    return validate(configPart(e.body));
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`admin.${e.kind}s[${e.id}]${err.path ? `.${err.path}` : ''}`, err.problem);
    throw err;
  }
}
