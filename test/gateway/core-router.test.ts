// Route matching order (Kong's priorities) and path normalization, on the compiled router
// itself: each case names which route must win.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { compileRouter, type RouteSpec } from '../../src/gateway/router.js';
import { normalizePath } from '../../src/core/path.js';
import type { CompiledRoute } from '../../src/gateway/types.js';

type Spec = Omit<RouteSpec<string>, 'route' | 'payload' | 'regexPriority'> & { id: string; regexPriority?: number };

function route(id: string): CompiledRoute {
  return {
    id,
    name: id,
    service: { name: 'svc', targets: [], connectTimeout: 1000, readTimeout: 1000, retries: 0 },
    stripPath: true,
    preserveHost: false,
    interceptors: [],
    authenticators: [],
    challenges: [],
    requesting: [],
    authorizers: [],
    limiters: [],
  };
}

function router(specs: Spec[]) {
  const r = compileRouter(specs.map((s) => ({ ...s, route: route(s.id), payload: s.id, regexPriority: s.regexPriority ?? 0 })));
  return function winner(method: string, host: string, path: string, headers: Record<string, string> = {}) {
    const m = r.match(method, host, path, { host, ...headers });
    return m === undefined ? undefined : { id: m.entry.payload, matched: m.matched };
  };
}

describe('router: prefix paths', () => {
  const match = router([
    { id: 'root', paths: ['/'] },
    { id: 'orders', paths: ['/orders'] },
    { id: 'orders-items', paths: ['/orders/items'] },
    { id: 'dir', paths: ['/dir/'] },
  ]);

  it('matches by whole segments, longest prefix first', () => {
    assert.deepEqual(match('GET', 'a', '/orders'), { id: 'orders', matched: '/orders' });
    assert.deepEqual(match('GET', 'a', '/orders/1'), { id: 'orders', matched: '/orders' });
    assert.deepEqual(match('GET', 'a', '/orders/items/7'), { id: 'orders-items', matched: '/orders/items' });
    assert.deepEqual(match('GET', 'a', '/ordersx'), { id: 'root', matched: '' });
    assert.deepEqual(match('GET', 'a', '/orders/itemsx'), { id: 'orders', matched: '/orders' });
  });

  it('a prefix ending in / matches only below it and strips without the slash', () => {
    assert.deepEqual(match('GET', 'a', '/dir/x'), { id: 'dir', matched: '/dir' });
    assert.deepEqual(match('GET', 'a', '/dir'), { id: 'root', matched: '' });
  });

  it('no route: undefined', () => {
    const only = router([{ id: 'orders', paths: ['/orders'] }]);
    assert.equal(only('GET', 'a', '/other'), undefined);
  });
});

describe('router: hosts', () => {
  const match = router([
    { id: 'wild-sub', hosts: ['*.example.com'] },
    { id: 'plain', hosts: ['api.example.com'] },
    { id: 'wild-tld', hosts: ['example.*'] },
    { id: 'with-port', hosts: ['ported.example.org:8443'] },
  ]);

  it('a plain host beats a wildcard host, whatever the definition order', () => {
    assert.equal(match('GET', 'api.example.com', '/')?.id, 'plain');
    assert.equal(match('GET', 'api.example.com:8000', '/')?.id, 'plain');
  });

  it('wildcards match any subdomain depth (leading) or any suffix (trailing)', () => {
    assert.equal(match('GET', 'web.example.com', '/')?.id, 'wild-sub');
    assert.equal(match('GET', 'a.b.example.com:8000', '/')?.id, 'wild-sub');
    assert.equal(match('GET', 'example.org', '/')?.id, 'wild-tld');
    assert.equal(match('GET', 'example.com', '/')?.id, 'wild-tld');
    assert.equal(match('GET', 'notexample.com', '/'), undefined);
  });

  it('a host written with a port matches only that port', () => {
    assert.equal(match('GET', 'ported.example.org:8443', '/')?.id, 'with-port');
    assert.equal(match('GET', 'ported.example.org', '/'), undefined);
  });

  it('host routes with paths: the host bucket still holds host-less routes', () => {
    const m = router([
      { id: 'host-orders', hosts: ['a.test'], paths: ['/orders'] },
      { id: 'orders-long', paths: ['/orders/very/long'] },
    ]);
    assert.equal(m('GET', 'a.test', '/orders/very/long')?.id, 'host-orders'); // more attributes first
    assert.equal(m('GET', 'b.test', '/orders/very/long')?.id, 'orders-long');
    assert.equal(m('GET', 'b.test', '/orders'), undefined);
  });

  it('as in Kong, a wildcard-host route and a path route tie on attributes, then the prefix length decides', () => {
    const m = router([
      { id: 'wild', hosts: ['*.example.com'] },
      { id: 'root', paths: ['/'] },
    ]);
    assert.equal(m('GET', 'web.example.com', '/x')?.id, 'root');
    const plain = router([
      { id: 'plain', hosts: ['web.example.com'] },
      { id: 'root', paths: ['/'] },
    ]);
    assert.equal(plain('GET', 'web.example.com', '/x')?.id, 'plain'); // plain host outranks the prefix length
  });
});

describe('router: more matched attributes first', () => {
  const match = router([
    { id: 'path', paths: ['/api/very/long/prefix'] },
    { id: 'path-method', paths: ['/api'], methods: ['POST'] },
    { id: 'path-method-header', paths: ['/api'], methods: ['POST'], headers: { 'x-version': ['v2', 'V3'] } },
  ]);

  it('methods and headers count as attributes and beat a longer prefix', () => {
    assert.equal(match('POST', 'a', '/api/very/long/prefix')?.id, 'path-method');
    assert.equal(match('POST', 'a', '/api/very/long/prefix', { 'x-version': 'v2' })?.id, 'path-method-header');
    assert.equal(match('POST', 'a', '/api/x', { 'x-version': 'v3' })?.id, 'path-method-header'); // values case-insensitive
    assert.equal(match('POST', 'a', '/api/x', { 'x-version': 'v1' })?.id, 'path-method');
    assert.equal(match('GET', 'a', '/api/very/long/prefix')?.id, 'path');
    assert.equal(match('GET', 'a', '/api/x'), undefined);
  });
});

describe('router: regex paths', () => {
  const match = router([
    { id: 'prefix-long', paths: ['/users/profile/settings'] },
    { id: 're-low', paths: ['~/users/\\d+'], regexPriority: 1 },
    { id: 're-high', paths: ['~/users/(\\d+|me)'], regexPriority: 5 },
    { id: 're-first', paths: ['~/files/.*'] },
    { id: 're-second', paths: ['~/files/a.*'] },
  ]);

  it('regexes are anchored at the start and tried before prefixes', () => {
    assert.deepEqual(match('GET', 'a', '/users/42/x'), { id: 're-high', matched: '/users/42' });
    assert.equal(match('GET', 'a', '/users/profile/settings')?.id, 'prefix-long');
    assert.equal(match('GET', 'a', '/x/users/42'), undefined);
  });

  it('higher regex_priority first; equal priority by definition order', () => {
    assert.equal(match('GET', 'a', '/users/me')?.id, 're-high');
    assert.equal(match('GET', 'a', '/files/abc')?.id, 're-first');
  });

  it('a regex beats a prefix that also matches', () => {
    const m = router([
      { id: 'prefix', paths: ['/users'] },
      { id: 'regex', paths: ['~/users/\\d+$'] },
    ]);
    assert.equal(m('GET', 'a', '/users/1')?.id, 'regex');
    assert.equal(m('GET', 'a', '/users/1/orders')?.id, 'prefix');
  });
});

describe('path normalization', () => {
  it('leaves ordinary paths alone', () => {
    assert.equal(normalizePath('/orders/1'), '/orders/1');
    assert.equal(normalizePath('/'), '/');
  });

  it('removes dot segments and decodes unreserved escapes', () => {
    assert.equal(normalizePath('/public/../admin'), '/admin');
    assert.equal(normalizePath('/a/./b/'), '/a/b/');
    assert.equal(normalizePath('/a/b/..'), '/a/');
    assert.equal(normalizePath('/../../etc'), '/etc');
    assert.equal(normalizePath('/%61dmin'), '/admin');
    assert.equal(normalizePath('/public/%2e%2e/admin'), '/admin');
    assert.equal(normalizePath('/a%2fb'), '/a%2Fb');
  });

  it('rejects malformed paths', () => {
    assert.equal(normalizePath('/a%zz'), undefined);
    assert.equal(normalizePath('/a%'), undefined);
    assert.equal(normalizePath('*'), undefined);
  });
});
