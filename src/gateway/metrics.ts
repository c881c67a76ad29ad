// Prometheus metrics for the gateway, served as text (exposition format 0.0.4) on the admin
// listener's /metrics. No library: a handful of counters and one histogram. Every recorder
// call is O(1): nested Maps keyed by label value (no string building per call), created on
// first use; series for known routes can be prepared at compile time with forRoute().
// With `gateway.workers`, each process records its own; snapshot() and mergeSnapshots()
// let one scrape answer for the whole group (src/gateway/metrics-cluster.ts).

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Latency buckets in seconds: a proxy hop is ~1 ms, upstreams up to seconds. */
const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RouteRecorder {
  request(status: number, seconds: number): void;
}

export interface Metrics {
  /** one proxied (or refused) request: counts it by status and observes its duration */
  request(service: string, route: string, status: number, seconds: number): void;
  /** a recorder bound to one route: resolve it when compiling the route, call it per request */
  forRoute(service: string, route: string): RouteRecorder;
  /** an authenticator refused a credential (reason: GatewayError.reason, never secret) */
  authFailure(plugin: string, reason: string): void;
  /** kind: connect | timeout | reset | status … */
  upstreamError(service: string, kind: string): void;
  cache(name: string, hit: boolean): void;
  /** where render() reads the upstream targets' state (the route table in use) */
  watchTargets(source: () => readonly TargetState[]): void;
  /** the exposition text of this process's series */
  render(): string;
  /** this process's series as data, to be merged with other processes' */
  snapshot(): MetricsSnapshot;
  /** what GET /metrics serves: render(), or with workers the whole group's series merged */
  scrape(): Promise<string>;
}

/**
 * A registry's series as plain data (structured-clone safe, for cluster IPC). Label values
 * come first in each tuple; histogram buckets are per slot (not cumulative), the last +Inf.
 */
export interface MetricsSnapshot {
  requests: Array<[service: string, route: string, status: number, n: number]>;
  durations: Array<[service: string, route: string, buckets: number[], sum: number, count: number]>;
  authFailures: Array<[plugin: string, reason: string, n: number]>;
  upstreamErrors: Array<[service: string, kind: string, n: number]>;
  caches: Array<[cache: string, hits: number, misses: number]>;
  targets: TargetState[];
}

/** One upstream target at render time: its pool's connections and its health. */
export interface TargetState {
  service: string;
  /** the target's origin, e.g. http://10.0.0.5:8080 */
  target: string;
  busy: number;
  idle: number;
  /** false while a health check (passive or active) keeps it out of rotation */
  healthy: boolean;
}

interface RouteSeries {
  readonly byStatus: Map<number, { n: number }>;
  /** the counter of the status seen last: nearly every request repeats it (no Map lookup then) */
  lastStatus: number;
  lastCounter: { n: number };
  /** cumulative counts are computed at render; here one slot per bucket plus +Inf */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** A two-level label map: outer → inner → value, created on first use. */
function nested<V>(make: () => V) {
  const outer = new Map<string, Map<string, V>>();
  return {
    get(a: string, b: string): V {
      let inner = outer.get(a);
      if (inner === undefined) outer.set(a, (inner = new Map()));
      let value = inner.get(b);
      if (value === undefined) inner.set(b, (value = make()));
      return value;
    },
    *entries(): Generator<[string, string, V]> {
      for (const [a, inner] of outer) for (const [b, value] of inner) yield [a, b, value];
    },
  };
}

export function createMetrics(buckets: readonly number[] = DURATION_BUCKETS): Metrics {
  let targets: () => readonly TargetState[] = () => [];
  const bounds = Float64Array.from(buckets);
  const routes = nested<RouteSeries>(() => ({ byStatus: new Map(), lastStatus: -1, lastCounter: { n: 0 }, buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 }));
  const authFailures = nested<{ n: number }>(() => ({ n: 0 }));
  const upstreamErrors = nested<{ n: number }>(() => ({ n: 0 }));
  const caches = new Map<string, { hits: number; misses: number }>();

  function observe(series: RouteSeries, status: number, seconds: number): void {
    if (series.lastStatus !== status) {
      let counter = series.byStatus.get(status);
      if (counter === undefined) series.byStatus.set(status, (counter = { n: 0 }));
      series.lastStatus = status;
      series.lastCounter = counter; // the placeholder it starts with is never rendered
    }
    series.lastCounter.n++;
    // a fixed, short bucket list: the scan is bounded by its length
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    series.buckets[i]!++;
    series.sum += seconds;
    series.count++;
  }

  function snapshot(): MetricsSnapshot {
    const snap: MetricsSnapshot = { requests: [], durations: [], authFailures: [], upstreamErrors: [], caches: [], targets: targets().map((t) => ({ service: t.service, target: t.target, busy: t.busy, idle: t.idle, healthy: t.healthy })) };
    for (const [service, route, s] of routes.entries()) {
      for (const [status, c] of s.byStatus) snap.requests.push([service, route, status, c.n]);
      snap.durations.push([service, route, Array.from(s.buckets), s.sum, s.count]);
    }
    for (const [plugin, reason, c] of authFailures.entries()) snap.authFailures.push([plugin, reason, c.n]);
    for (const [service, kind, c] of upstreamErrors.entries()) snap.upstreamErrors.push([service, kind, c.n]);
    for (const [name, c] of caches) snap.caches.push([name, c.hits, c.misses]);
    return snap;
  }

  return {
    request(service, route, status, seconds) {
      observe(routes.get(service, route), status, seconds);
    },
    forRoute(service, route) {
      const series = routes.get(service, route);
      return {
        request(status: number, seconds: number) {
          observe(series, status, seconds);
        },
      };
    },
    authFailure(plugin, reason) {
      authFailures.get(plugin, reason).n++;
    },
    upstreamError(service, kind) {
      upstreamErrors.get(service, kind).n++;
    },
    cache(name, hit) {
      let c = caches.get(name);
      if (c === undefined) caches.set(name, (c = { hits: 0, misses: 0 }));
      if (hit) c.hits++;
      else c.misses++;
    },
    watchTargets(source) {
      targets = source;
    },
    snapshot,
    render() {
      return renderSnapshot(snapshot(), bounds);
    },
    scrape() {
      return Promise.resolve(renderSnapshot(snapshot(), bounds));
    },
  };
}

/** The exposition text of a snapshot (one process's, or a merged one). */
export function renderSnapshot(snap: MetricsSnapshot, bounds: ArrayLike<number> = DURATION_BUCKETS): string {
  const out: string[] = [];
  head(out, 'drawbridge_requests_total', 'counter', 'Requests by service, route and response status.');
  for (const [service, route, status, n] of snap.requests) out.push(`drawbridge_requests_total{service="${esc(service)}",route="${esc(route)}",status="${status}"} ${n}`);
  head(out, 'drawbridge_request_duration_seconds', 'histogram', 'Time from request to response, by service and route.');
  for (const [service, route, buckets, sum, count] of snap.durations) {
    const labels = `service="${esc(service)}",route="${esc(route)}"`;
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += buckets[i]!;
      out.push(`drawbridge_request_duration_seconds_bucket{${labels},le="${bounds[i]}"} ${cumulative}`);
    }
    out.push(`drawbridge_request_duration_seconds_bucket{${labels},le="+Inf"} ${count}`);
    out.push(`drawbridge_request_duration_seconds_sum{${labels}} ${sum}`);
    out.push(`drawbridge_request_duration_seconds_count{${labels}} ${count}`);
  }
  head(out, 'drawbridge_auth_failures_total', 'counter', 'Refused credentials by plugin and reason.');
  for (const [plugin, reason, n] of snap.authFailures) out.push(`drawbridge_auth_failures_total{plugin="${esc(plugin)}",reason="${esc(reason)}"} ${n}`);
  head(out, 'drawbridge_upstream_errors_total', 'counter', 'Failed upstream attempts by service and kind.');
  for (const [service, kind, n] of snap.upstreamErrors) out.push(`drawbridge_upstream_errors_total{service="${esc(service)}",kind="${esc(kind)}"} ${n}`);
  head(out, 'drawbridge_upstream_connections', 'gauge', 'Open connections to upstream targets, by state (busy: an exchange in progress; idle: kept alive for reuse).');
  for (const t of snap.targets) {
    const labels = `service="${esc(t.service)}",target="${esc(t.target)}"`;
    out.push(`drawbridge_upstream_connections{${labels},state="busy"} ${t.busy}`, `drawbridge_upstream_connections{${labels},state="idle"} ${t.idle}`);
  }
  head(out, 'drawbridge_upstream_target_healthy', 'gauge', '1 while a target takes traffic, 0 while a health check (passive or active) keeps it out.');
  for (const t of snap.targets) out.push(`drawbridge_upstream_target_healthy{service="${esc(t.service)}",target="${esc(t.target)}"} ${t.healthy ? 1 : 0}`);
  head(out, 'drawbridge_cache_hits_total', 'counter', 'Cache hits by cache.');
  for (const [name, hits] of snap.caches) out.push(`drawbridge_cache_hits_total{cache="${esc(name)}"} ${hits}`);
  head(out, 'drawbridge_cache_misses_total', 'counter', 'Cache misses by cache.');
  for (const [name, , misses] of snap.caches) out.push(`drawbridge_cache_misses_total{cache="${esc(name)}"} ${misses}`);
  return out.join('\n') + '\n';
}

/** A snapshot with no series (an identity for mergeSnapshots). */
export function emptySnapshot(): MetricsSnapshot {
  return { requests: [], durations: [], authFailures: [], upstreamErrors: [], caches: [], targets: [] };
}

/**
 * Several processes' snapshots as one: counters and histograms (buckets, sum, count) summed
 * per series; upstream connections summed per target; a target is healthy only while every
 * process that reports it has it in rotation (each runs its own health checks, so 0 means
 * "at least one worker keeps it out"). Series keep the order they first appear in.
 */
export function mergeSnapshots(snaps: readonly MetricsSnapshot[]): MetricsSnapshot {
  const requests = new Map<string, [string, string, number, number]>();
  const durations = new Map<string, [string, string, number[], number, number]>();
  const authFailures = new Map<string, [string, string, number]>();
  const upstreamErrors = new Map<string, [string, string, number]>();
  const caches = new Map<string, [string, number, number]>();
  const targets = new Map<string, TargetState>();
  const key = (...parts: Array<string | number>) => JSON.stringify(parts);
  for (const snap of snaps) {
    for (const [service, route, status, n] of snap.requests) {
      const k = key(service, route, status);
      const have = requests.get(k);
      if (have) have[3] += n;
      else requests.set(k, [service, route, status, n]);
    }
    for (const [service, route, buckets, sum, count] of snap.durations) {
      const k = key(service, route);
      const have = durations.get(k);
      if (have) {
        for (let i = 0; i < buckets.length; i++) have[2][i] = (have[2][i] ?? 0) + buckets[i]!;
        have[3] += sum;
        have[4] += count;
      } else durations.set(k, [service, route, [...buckets], sum, count]);
    }
    for (const [plugin, reason, n] of snap.authFailures) {
      const k = key(plugin, reason);
      const have = authFailures.get(k);
      if (have) have[2] += n;
      else authFailures.set(k, [plugin, reason, n]);
    }
    for (const [service, kind, n] of snap.upstreamErrors) {
      const k = key(service, kind);
      const have = upstreamErrors.get(k);
      if (have) have[2] += n;
      else upstreamErrors.set(k, [service, kind, n]);
    }
    for (const [name, hits, misses] of snap.caches) {
      const have = caches.get(name);
      if (have) {
        have[1] += hits;
        have[2] += misses;
      } else caches.set(name, [name, hits, misses]);
    }
    for (const t of snap.targets) {
      const k = key(t.service, t.target);
      const have = targets.get(k);
      if (have) {
        have.busy += t.busy;
        have.idle += t.idle;
        have.healthy &&= t.healthy;
      } else targets.set(k, { ...t });
    }
  }
  return {
    requests: [...requests.values()],
    durations: [...durations.values()],
    authFailures: [...authFailures.values()],
    upstreamErrors: [...upstreamErrors.values()],
    caches: [...caches.values()],
    targets: [...targets.values()],
  };
}

/** Records nothing: the default when metrics are not wired, so callers never test for them. */
export const noopMetrics: Metrics = {
  request() {},
  forRoute() {
    return NOOP_ROUTE;
  },
  authFailure() {},
  upstreamError() {},
  cache() {},
  watchTargets() {},
  render: () => '',
  snapshot: emptySnapshot,
  scrape: () => Promise.resolve(''),
};
const NOOP_ROUTE: RouteRecorder = { request() {} };

function head(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** Label values: backslash, double quote and newline are escaped (exposition format). */
function esc(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}
