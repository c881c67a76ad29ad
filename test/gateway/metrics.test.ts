// The metrics recorder (src/gateway/metrics.ts): what it records, and that its text parses
// as the Prometheus exposition format (checked line by line with the format's grammar).
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, mergeSnapshots, noopMetrics, renderSnapshot } from '../../src/gateway/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser for the text format 0.0.4 (HELP/TYPE comments and samples only). */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
  const labelPair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      assert.match(line, new RegExp(`^# HELP ${NAME} .+$`));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
      assert.ok(m, `TYPE line: ${line}`);
      assert.ok(!types.has(m[1]!), `one TYPE per metric: ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    const m = sampleLine.exec(line);
    assert.ok(m, `sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = labelPair.exec(rest);
      assert.ok(l, `labels: ${m[2]}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `value: ${m[3]}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]!) || types.get(family) === 'histogram', `sample after its TYPE: ${m[1]}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

describe('metrics', () => {
  it('an empty recorder still declares every metric', () => {
    const { types, samples } = parseExposition(createMetrics().render());
    assert.deepEqual(Object.fromEntries(types), {
      drawbridge_requests_total: 'counter',
      drawbridge_request_duration_seconds: 'histogram',
      drawbridge_auth_failures_total: 'counter',
      drawbridge_upstream_errors_total: 'counter',
      drawbridge_upstream_connections: 'gauge',
      drawbridge_upstream_target_healthy: 'gauge',
      drawbridge_cache_hits_total: 'counter',
      drawbridge_cache_misses_total: 'counter',
    });
    assert.deepEqual(samples, []);
  });

  it('counts requests by service, route and status; the histogram is cumulative', () => {
    const m = createMetrics([0.01, 0.1, 1]);
    m.request('orders', 'r1', 200, 0.005);
    m.request('orders', 'r1', 200, 0.05);
    const bound = m.forRoute('orders', 'r1');
    bound.request(503, 2);
    m.request('billing', 'r2', 404, 0.01); // on a bound: counts in that bucket (le is inclusive)
    const { samples } = parseExposition(m.render());
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'orders', route: 'r1', status: '200' }), 2);
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'orders', route: 'r1', status: '503' }), 1);
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'billing', route: 'r2', status: '404' }), 1);
    const bucket = (le: string, service = 'orders', route = 'r1') =>
      value(samples, 'drawbridge_request_duration_seconds_bucket', { service, route, le });
    assert.deepEqual([bucket('0.01'), bucket('0.1'), bucket('1'), bucket('+Inf')], [1, 2, 2, 3]);
    assert.deepEqual([bucket('0.01', 'billing', 'r2'), bucket('+Inf', 'billing', 'r2')], [1, 1]);
    assert.equal(value(samples, 'drawbridge_request_duration_seconds_count', { service: 'orders', route: 'r1' }), 3);
    assert.equal(value(samples, 'drawbridge_request_duration_seconds_sum', { service: 'orders', route: 'r1' }), 2.055);
  });

  it('counts auth failures, upstream errors and cache hits and misses', () => {
    const m = createMetrics();
    m.authFailure('key-auth', 'invalid_key');
    m.authFailure('key-auth', 'invalid_key');
    m.authFailure('basic-auth', 'invalid_password');
    m.upstreamError('orders', 'connect');
    m.cache('consumers', true);
    m.cache('consumers', true);
    m.cache('consumers', false);
    m.cache('jwks', false);
    const { samples } = parseExposition(m.render());
    assert.equal(value(samples, 'drawbridge_auth_failures_total', { plugin: 'key-auth', reason: 'invalid_key' }), 2);
    assert.equal(value(samples, 'drawbridge_auth_failures_total', { plugin: 'basic-auth', reason: 'invalid_password' }), 1);
    assert.equal(value(samples, 'drawbridge_upstream_errors_total', { service: 'orders', kind: 'connect' }), 1);
    assert.equal(value(samples, 'drawbridge_cache_hits_total', { cache: 'consumers' }), 2);
    assert.equal(value(samples, 'drawbridge_cache_misses_total', { cache: 'consumers' }), 1);
    assert.equal(value(samples, 'drawbridge_cache_hits_total', { cache: 'jwks' }), 0);
    assert.equal(value(samples, 'drawbridge_cache_misses_total', { cache: 'jwks' }), 1);
  });

  it('reads the upstream targets at render: busy and idle connections, health', () => {
    const m = createMetrics();
    let states = [
      { service: 'orders', target: 'http://10.0.0.1:80', busy: 2, idle: 5, healthy: true },
      { service: 'orders', target: 'http://10.0.0.2:80', busy: 0, idle: 0, healthy: false },
    ];
    m.watchTargets(() => states);
    const { samples } = parseExposition(m.render());
    assert.equal(value(samples, 'drawbridge_upstream_connections', { service: 'orders', target: 'http://10.0.0.1:80', state: 'busy' }), 2);
    assert.equal(value(samples, 'drawbridge_upstream_connections', { service: 'orders', target: 'http://10.0.0.1:80', state: 'idle' }), 5);
    assert.equal(value(samples, 'drawbridge_upstream_target_healthy', { service: 'orders', target: 'http://10.0.0.1:80' }), 1);
    assert.equal(value(samples, 'drawbridge_upstream_target_healthy', { service: 'orders', target: 'http://10.0.0.2:80' }), 0);
    // a new route table: render reads the source again
    states = [{ service: 'billing', target: 'https://b.internal', busy: 0, idle: 1, healthy: true }];
    const again = parseExposition(m.render()).samples;
    assert.equal(value(again, 'drawbridge_upstream_target_healthy', { service: 'orders', target: 'http://10.0.0.1:80' }), undefined);
    assert.equal(value(again, 'drawbridge_upstream_connections', { service: 'billing', target: 'https://b.internal', state: 'idle' }), 1);
  });

  it('escapes label values', () => {
    const m = createMetrics();
    m.request('we"ird\\svc', 'line\nbreak', 200, 0);
    const text = m.render();
    assert.ok(text.includes('service="we\\"ird\\\\svc",route="line\\nbreak"'));
    const { samples } = parseExposition(text);
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'we"ird\\svc', route: 'line\nbreak', status: '200' }), 1);
  });

  it('merges workers\' snapshots: counters and histograms summed, connections summed, healthy only if healthy everywhere', () => {
    const bounds = [0.01, 0.1, 1];
    const a = createMetrics(bounds);
    const b = createMetrics(bounds);
    a.request('orders', 'r1', 200, 0.005);
    b.request('orders', 'r1', 200, 0.05);
    b.request('orders', 'r1', 502, 2);
    b.request('billing', 'r2', 200, 0.5);
    a.authFailure('key-auth', 'invalid_key');
    b.authFailure('key-auth', 'invalid_key');
    a.cache('consumers', true);
    b.cache('consumers', false);
    a.watchTargets(() => [{ service: 'orders', target: 'http://10.0.0.1:80', busy: 1, idle: 2, healthy: true }]);
    b.watchTargets(() => [{ service: 'orders', target: 'http://10.0.0.1:80', busy: 3, idle: 0, healthy: false }]);
    // through JSON, as cluster IPC carries them
    const merged = mergeSnapshots([a.snapshot(), b.snapshot()].map((s) => JSON.parse(JSON.stringify(s))));
    const { samples } = parseExposition(renderSnapshot(merged, bounds));
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'orders', route: 'r1', status: '200' }), 2);
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'orders', route: 'r1', status: '502' }), 1);
    assert.equal(value(samples, 'drawbridge_requests_total', { service: 'billing', route: 'r2', status: '200' }), 1);
    const bucket = (le: string) => value(samples, 'drawbridge_request_duration_seconds_bucket', { service: 'orders', route: 'r1', le });
    assert.deepEqual([bucket('0.01'), bucket('0.1'), bucket('1'), bucket('+Inf')], [1, 2, 2, 3]);
    assert.ok(Math.abs(value(samples, 'drawbridge_request_duration_seconds_sum', { service: 'orders', route: 'r1' })! - 2.055) < 1e-9);
    assert.equal(value(samples, 'drawbridge_auth_failures_total', { plugin: 'key-auth', reason: 'invalid_key' }), 2);
    assert.equal(value(samples, 'drawbridge_cache_hits_total', { cache: 'consumers' }), 1);
    assert.equal(value(samples, 'drawbridge_cache_misses_total', { cache: 'consumers' }), 1);
    assert.equal(value(samples, 'drawbridge_upstream_connections', { service: 'orders', target: 'http://10.0.0.1:80', state: 'busy' }), 4);
    assert.equal(value(samples, 'drawbridge_upstream_connections', { service: 'orders', target: 'http://10.0.0.1:80', state: 'idle' }), 2);
    assert.equal(value(samples, 'drawbridge_upstream_target_healthy', { service: 'orders', target: 'http://10.0.0.1:80' }), 0);
    // one process alone renders as before
    assert.equal(renderSnapshot(a.snapshot(), bounds), a.render());
  });

  it('noopMetrics records nothing and renders nothing', () => {
    noopMetrics.request('a', 'b', 200, 1);
    noopMetrics.forRoute('a', 'b').request(200, 1);
    noopMetrics.authFailure('a', 'b');
    noopMetrics.upstreamError('a', 'b');
    noopMetrics.cache('a', true);
    assert.equal(noopMetrics.render(), '');
  });
});
