// Route matching in Kong's order ("traditional_compatible" priorities), compiled once.
//
// Every route is split into entries, one per (host, path) pair, so each entry has a single
// host condition and a single path condition and can be ranked on its own. Entries are
// sorted, best first, by:
//   1. how many kinds of attribute the route matches on (hosts, paths, methods, headers);
//   2. a plain host before a wildcard host (or none);
//   3. more header conditions first;
//   4. regex paths (`~…`) before prefix paths;
//   5. among regexes, higher `regex_priority` first;
//   6. among prefixes, the longest first (a prefix matches whole segments; `;` ends one too);
//   7. definition order.
// Entries are then bucketed by plain host: a request looks up its Host in one Map and walks
// only the entries that can match it (that host's entries plus the host-less and wildcard
// ones, already merged in order). The first entry whose conditions all hold wins.
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledRoute } from './types.js';

/** What compile.ts knows about one configured route. */
export interface RouteSpec<T> {
  route: CompiledRoute;
  /** carried through to the match (the route's upstream) */
  payload: T;
  hosts?: readonly string[];
  paths?: readonly string[];
  methods?: readonly string[];
  headers?: Readonly<Record<string, readonly string[]>>;
  regexPriority: number;
}

export interface RouteEntry<T> {
  route: CompiledRoute;
  payload: T;
  methods: ReadonlySet<string> | null;
  /** wildcard host test; null when the entry has no host or a plain one (the bucket decided) */
  wildcard: RegExp | null;
  /** wildcard written with a port: test it against host:port, not the bare host */
  wildcardWithPort: boolean;
  headers: ReadonlyArray<readonly [string, ReadonlySet<string>]> | null;
  /** prefix path condition: test and the length to strip */
  prefix: string | null;
  prefixIsDir: boolean;
  stripLength: number;
  regex: RegExp | null;
}

export interface RouteMatch<T> {
  entry: RouteEntry<T>;
  /** the part of the path the route matched (what strip_path removes) */
  matched: string;
}

interface Ranked<T> {
  entry: RouteEntry<T>;
  plainHost: string | null;
  rank: readonly number[];
}

export interface Router<T> {
  readonly size: number;
  match(method: string, host: string, path: string, headers: IncomingHttpHeaders): RouteMatch<T> | undefined;
  /** The winning entry alone: match() without the RouteMatch object and the matched slice (most routes never strip). */
  find(method: string, host: string, path: string, headers: IncomingHttpHeaders): RouteEntry<T> | undefined;
}

/** The part of `path` that `entry` (found for it) matched: what strip_path removes. */
export function matchedPart<T>(entry: RouteEntry<T>, path: string): string {
  if (entry.prefix !== null) return path.slice(0, entry.stripLength);
  if (entry.regex !== null) return entry.regex.exec(path)?.[0] ?? '';
  return '';
}

export function compileRouter<T>(specs: ReadonlyArray<RouteSpec<T>>): Router<T> {
  const ranked: Ranked<T>[] = [];
  let order = 0;
  for (const spec of specs) {
    for (const host of spec.hosts ?? [null]) {
      for (const path of spec.paths ?? [null]) ranked.push(rankEntry(spec, host, path, order++));
    }
  }
  ranked.sort(compareRanks);

  const generic = ranked.filter((r) => r.plainHost === null).map((r) => r.entry);
  const plainHosts = new Set(ranked.flatMap((r) => (r.plainHost === null ? [] : [r.plainHost])));
  const byHost = new Map<string, RouteEntry<T>[]>();
  for (const host of plainHosts) {
    // `a.com:8000` also takes the entries written for `a.com`
    const bare = host.includes(':') && !host.startsWith('[') ? host.slice(0, host.lastIndexOf(':')) : null;
    byHost.set(
      host,
      ranked.filter((r) => r.plainHost === null || r.plainHost === host || (bare !== null && r.plainHost === bare)).map((r) => r.entry),
    );
  }

  function find(method: string, host: string, path: string, headers: IncomingHttpHeaders): RouteEntry<T> | undefined {
    // the bare host (without port) only when a lookup or a wildcard needs it: no slice per request otherwise
    let bareHost: string | undefined;
    let entries = generic;
    if (byHost.size > 0) {
      let bucket = byHost.get(host);
      if (bucket === undefined) {
        bareHost = stripPort(host);
        if (bareHost !== host) bucket = byHost.get(bareHost);
      }
      if (bucket !== undefined) entries = bucket;
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.methods !== null && !e.methods.has(method)) continue;
      if (e.wildcard !== null && !e.wildcard.test(e.wildcardWithPort ? host : (bareHost ??= stripPort(host)))) continue;
      if (e.headers !== null && !headersMatch(e.headers, headers)) continue;
      if (e.prefix !== null) {
        if (e.prefixIsDir ? !path.startsWith(e.prefix) : !(path === e.prefix || (path.startsWith(e.prefix) && segmentEnds(path.charCodeAt(e.prefix.length))))) {
          continue;
        }
        return e;
      }
      if (e.regex !== null && !e.regex.test(path)) continue;
      return e;
    }
    return undefined;
  }

  return {
    size: ranked.length,
    find,
    match: function matchRoute(method, host, path, headers) {
      const entry = find(method, host, path, headers);
      return entry === undefined ? undefined : { entry, matched: matchedPart(entry, path) };
    },
  };
}

function rankEntry<T>(spec: RouteSpec<T>, host: string | null, path: string | null, order: number): Ranked<T> {
  const categories = [spec.hosts, spec.paths, spec.methods, spec.headers].filter((c) => c !== undefined).length;
  const isWildcard = host !== null && host.includes('*');
  const regex = path !== null && path.startsWith('~') ? new RegExp(`^(?:${path.slice(1)})`) : null;
  const prefix = path !== null && regex === null ? path : null;
  const headerEntries = spec.headers
    ? Object.entries(spec.headers).map(([name, values]) => [name.toLowerCase(), new Set(values.map((v) => v.toLowerCase()))] as const)
    : null;
  const entry: RouteEntry<T> = {
    route: spec.route,
    payload: spec.payload,
    methods: spec.methods ? new Set(spec.methods) : null,
    wildcard: isWildcard ? wildcardRegex(host) : null,
    wildcardWithPort: isWildcard && /:\d+$/.test(host),
    headers: headerEntries,
    prefix,
    prefixIsDir: prefix !== null && prefix.endsWith('/'),
    // `/orders/` strips `/orders`, so the upstream path keeps its leading slash
    stripLength: prefix === null ? 0 : prefix.endsWith('/') ? prefix.length - 1 : prefix.length,
    regex,
  };
  const rank = [
    categories,
    host !== null && !isWildcard ? 1 : 0,
    headerEntries?.length ?? 0,
    regex !== null ? 1 : 0,
    regex !== null ? spec.regexPriority : 0,
    prefix?.length ?? 0,
    -order,
  ];
  return { entry, plainHost: host !== null && !isWildcard ? host : null, rank };
}

function compareRanks<T>(a: Ranked<T>, b: Ranked<T>): number {
  for (let i = 0; i < a.rank.length; i++) {
    const d = b.rank[i]! - a.rank[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** `*.example.com` (any depth of subdomain) or `example.*` (any suffix). */
function wildcardRegex(host: string): RegExp {
  const escaped = host.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace('*', '.+');
  return new RegExp(`^${escaped}$`);
}

/** `/` ends a segment, and so does `;` (path parameters: `/orders;jsessionid=1/7` is under `/orders`). */
function segmentEnds(code: number): boolean {
  return code === 47 /* / */ || code === 59 /* ; */;
}

function stripPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function headersMatch(conditions: ReadonlyArray<readonly [string, ReadonlySet<string>]>, headers: IncomingHttpHeaders): boolean {
  for (let i = 0; i < conditions.length; i++) {
    const [name, accepted] = conditions[i]!;
    const value = headers[name];
    if (value === undefined) return false;
    if (typeof value === 'string') {
      if (!accepted.has(value.toLowerCase())) return false;
    } else if (!value.some((v) => accepted.has(v.toLowerCase()))) {
      return false;
    }
  }
  return true;
}
