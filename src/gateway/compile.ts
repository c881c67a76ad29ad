// Config → the route table the request path uses: every route's plugin chain split by
// stage, its service's pools, and the router. Done at start and on every reload, never
// per request.
//
// Plugins come from three levels — global (`gateway.plugins`), service, route — and, as
// in Kong, the most specific configuration of a plugin name wins. Each configured entry is
// instantiated once (a global plugin is one instance shared by every route that uses it),
// validated by its factory with the key path of its `config`. `enabled: false` entries
// are skipped (as Kong: they do not switch off a less specific entry).
import type { GatewayConfig, PluginConfig, ServiceConfig } from '../config/types.js';
import { ConfigError, ConflictingConfigError, keyPath } from '../config/schema.js';
import { PLUGINS } from './plugins.js';
import { compileRouter, type RouteSpec, type Router } from './router.js';
import type { CompiledRoute, CompiledService, ConsumerRef, GatewayDeps, PluginFactory, PluginInstance } from './types.js';
import { ServiceUpstream } from './upstream.js';
import { upstreamTls } from './upstream-tls.js';

/** One compiled configuration. Requests hold on to the table they started with. */
export interface RouteTable {
  readonly router: Router<ServiceUpstream>;
  readonly routes: readonly CompiledRoute[];
  readonly upstreams: readonly ServiceUpstream[];
  /** `Allow` of the answer to `OPTIONS *`: the methods the routes proxy (allowedMethods) */
  readonly allow: string;
  /** closes the pools (after their in-flight requests) */
  close(): Promise<void>;
}

interface Placed {
  instance: PluginInstance;
  /** set on authenticators configured with `anonymous: <consumer>` */
  anonymous?: { username: string; path: string };
}

type Level = Map<string, Placed>;

export async function compileGateway(
  gateway: GatewayConfig,
  deps: GatewayDeps,
  plugins: ReadonlyMap<string, PluginFactory> = PLUGINS,
): Promise<RouteTable> {
  const global = await instantiate(gateway.plugins, 'gateway.plugins', deps, plugins);
  const anonymousRefs = new Map<string, ConsumerRef>();
  const specs: Array<RouteSpec<ServiceUpstream>> = [];
  const routes: CompiledRoute[] = [];
  const pending: Array<{ service: CompiledService; config: ServiceConfig; specs: Array<RouteSpec<ServiceUpstream>> }> = [];

  for (const [s, svc] of gateway.services.entries()) {
    const svcPath = keyPath(keyPath('gateway', 'services'), s);
    const servicePlugins = await instantiate(svc.plugins, keyPath(svcPath, 'plugins'), deps, plugins);
    const service: CompiledService = {
      name: svc.name,
      targets: (svc.targets ?? [svc.url!]).map((url) => ({ url: new URL(url) })),
      connectTimeout: svc.connect_timeout,
      readTimeout: svc.read_timeout,
      retries: svc.retries,
      tls: upstreamTls(svc, svcPath),
    };
    if (!svc.tls_verify) {
      deps.logger.warn({ service: svc.name }, `gateway.services: ${svc.name} has tls_verify: false; its https targets' certificates are not verified`);
    }
    const serviceSpecs: Array<RouteSpec<ServiceUpstream>> = [];
    for (const [r, rc] of svc.routes.entries()) {
      const routePath = keyPath(keyPath(svcPath, 'routes'), r);
      const routePlugins = await instantiate(rc.plugins, keyPath(routePath, 'plugins'), deps, plugins);
      // most specific wins: route over service over global, by plugin name
      const chain = new Map<string, Placed>([...global, ...servicePlugins, ...routePlugins]);
      const route: CompiledRoute = {
        id: rc.id ?? rc.name ?? `${svc.name}-${r}`,
        name: rc.name ?? rc.id ?? `${svc.name}-${r}`,
        service,
        stripPath: rc.strip_path,
        preserveHost: rc.preserve_host,
        interceptors: [],
        authenticators: [],
        challenges: [],
        requesting: [],
        authorizers: [],
        limiters: [],
        metrics: undefined,
      };
      for (const placed of chain.values()) {
        const { instance } = placed;
        switch (instance.stage) {
          case 'intercept':
            route.interceptors.push(instance.impl);
            break;
          case 'authenticate':
            route.authenticators.push(instance.impl);
            if (placed.anonymous && route.anonymous === undefined) {
              route.anonymous = await resolveAnonymous(placed.anonymous, deps, anonymousRefs);
            }
            break;
          case 'authorize':
            route.authorizers.push(instance.impl);
            break;
          case 'limit':
            route.limiters.push(instance.impl);
            break;
        }
      }
      // ip-restriction refuses before CORS answers a preflight or anyone looks at a credential
      route.interceptors.sort((a, b) => Number(b.early === true) - Number(a.early === true));
      // one challenge per scheme: jwt and oauth2-introspection on one route both say Bearer
      route.challenges = [...new Set(route.authenticators.map((a) => a.challenge))];
      route.requesting = route.authenticators.flatMap((authenticator) =>
        authenticator.requested === undefined ? [] : [{ authenticator, slot: route.challenges.indexOf(authenticator.challenge) }],
      );
      routes.push(route);
      serviceSpecs.push({
        route,
        payload: undefined as unknown as ServiceUpstream, // set below, once the pools exist
        hosts: rc.hosts,
        paths: rc.paths,
        methods: rc.methods,
        headers: rc.headers,
        regexPriority: rc.regex_priority,
      });
    }
    pending.push({ service, config: svc, specs: serviceSpecs });
  }

  // Pools last: nothing above can fail after connections exist.
  const upstreams: ServiceUpstream[] = [];
  for (const p of pending) {
    const upstream = new ServiceUpstream(p.service, p.config, deps.logger);
    upstreams.push(upstream);
    for (const spec of p.specs) specs.push({ ...spec, payload: upstream });
  }
  return {
    router: compileRouter(specs),
    routes,
    upstreams,
    allow: allowedMethods(specs.map((spec) => spec.methods)),
    close: async () => {
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

/**
 * What a route without a method condition proxies, as `Allow` names it: every method does
 * go upstream, and these are RFC 9110's and PATCH's (CONNECT never: the listener answers
 * it 501 itself).
 */
const EVERY_METHOD = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];

/**
 * `Allow` for `OPTIONS *` (RFC 9110 §9.3.7, §10.2.1): the methods some route proxies (a route
 * without `methods`, EVERY_METHOD), and OPTIONS, which the gateway answers for `*` itself; in
 * EVERY_METHOD's order, other methods after them in alphabetical order. Made once per table.
 */
export function allowedMethods(routeMethods: ReadonlyArray<readonly string[] | undefined>): string {
  const methods = new Set<string>(['OPTIONS']);
  for (const list of routeMethods) {
    for (const method of list ?? EVERY_METHOD) if (method !== 'CONNECT') methods.add(method);
  }
  const known = EVERY_METHOD.filter((method) => methods.has(method));
  const others = [...methods].filter((method) => !EVERY_METHOD.includes(method)).sort();
  return [...known, ...others].join(', ');
}

async function instantiate(
  entries: readonly PluginConfig[],
  path: string,
  deps: GatewayDeps,
  plugins: ReadonlyMap<string, PluginFactory>,
): Promise<Level> {
  const level: Level = new Map();
  const seen = new Map<string, string>();
  for (const [i, entry] of entries.entries()) {
    const at = keyPath(path, i);
    const factory = plugins.get(entry.name);
    if (!factory) {
      const known = [...plugins.keys()].sort().join(', ') || 'none in this build';
      throw new ConfigError(keyPath(at, 'name'), `unknown plugin ${JSON.stringify(entry.name)} (known: ${known})`);
    }
    const other = seen.get(entry.name);
    if (other !== undefined) throw new ConflictingConfigError(keyPath(at, 'name'), `plugin ${entry.name} is already configured at ${other}`);
    seen.set(entry.name, at);
    if (!entry.enabled) continue;
    const configPath = keyPath(at, 'config');
    const instance = await factory.create(entry.config, deps, configPath);
    const placed: Placed = { instance };
    const anonymous = entry.config.anonymous;
    if (anonymous !== undefined && anonymous !== null) {
      if (instance.stage !== 'authenticate') {
        throw new ConfigError(keyPath(configPath, 'anonymous'), 'only authentication plugins take anonymous');
      }
      if (typeof anonymous !== 'string' || anonymous === '') {
        throw new ConfigError(keyPath(configPath, 'anonymous'), 'expected the username of a consumer', { expected: 'a consumer username' });
      }
      placed.anonymous = { username: anonymous, path: keyPath(configPath, 'anonymous') };
    }
    level.set(entry.name, placed);
  }
  return level;
}

async function resolveAnonymous(
  anonymous: { username: string; path: string },
  deps: GatewayDeps,
  resolved: Map<string, ConsumerRef>,
): Promise<ConsumerRef> {
  const known = resolved.get(anonymous.username);
  if (known) return known;
  const consumer = await deps.consumers.byUsername(anonymous.username);
  if (!consumer) throw new ConfigError(anonymous.path, `no consumer named ${JSON.stringify(anonymous.username)}`);
  resolved.set(anonymous.username, consumer);
  return consumer;
}
