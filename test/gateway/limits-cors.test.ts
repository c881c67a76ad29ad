// cors unit tests: config errors, origin matching (exact, *, ~regex), the headers added
// to ordinary answers, and preflights answered by the plugin on a real HTTP server.
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { createCors } from '../../src/gateway/limits/cors.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import type { Interceptor } from '../../src/gateway/types.js';
import { gatewayRequest } from './limits-harness.js';

const PATH = 'gateway.plugins[0].config';

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createCors(config, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** Runs `cors` for a request and returns what it added to the response headers (no preflight). */
function simple(cors: Interceptor, headers: Record<string, string>, method = 'GET'): Record<string, string> {
  const gr = gatewayRequest({ method, headers });
  assert.equal(cors.intercept(gr), false);
  return gr.responseHeaders;
}

describe('cors config', () => {
  it('is registered as an intercept-stage plugin', async () => {
    const instance = await PLUGINS.get('cors')!.create({}, undefined as never, PATH);
    assert.equal(instance.stage, 'intercept');
    assert.equal(instance.impl.name, 'cors');
  });

  it('names the offending key', () => {
    assert.equal(configError({ origins: ['~https://(a'] }).path, `${PATH}.origins[0]`);
    assert.match(configError({ origins: ['https://a.test', '~[z-a]'] }).message, /^gateway\.plugins\[0\]\.config\.origins\[1\]: invalid regex: /);
    assert.equal(configError({ origins: [] }).path, `${PATH}.origins`);
    assert.equal(configError({ methods: ['GET', 'PO ST'] }).path, `${PATH}.methods[1]`);
    assert.equal(configError({ headers: ['x-ok', 'bad header'] }).path, `${PATH}.headers[1]`);
    assert.equal(configError({ max_age: -1 }).path, `${PATH}.max_age`);
    assert.equal(configError({ credentials: 'yes' }).path, `${PATH}.credentials`);
    assert.equal(configError({ origin: ['*'] }).path, `${PATH}.origin`);
  });
});

describe('cors on ordinary requests', () => {
  it('echoes an allowed exact or regex origin, with Vary: Origin', () => {
    const cors = createCors({ origins: ['https://app.example.com/', '~https://[a-z0-9-]+\\.example\\.org'], exposed_headers: ['X-Total', 'X-Page'] }, PATH);
    assert.deepEqual(simple(cors, { origin: 'https://app.example.com' }), {
      vary: 'Origin',
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-expose-headers': 'X-Total, X-Page',
    });
    assert.deepEqual(simple(cors, { origin: 'https://shop-1.example.org' }), {
      vary: 'Origin',
      'access-control-allow-origin': 'https://shop-1.example.org',
      'access-control-expose-headers': 'X-Total, X-Page',
    });
    // anchored at both ends: no prefix or suffix tricks
    assert.deepEqual(simple(cors, { origin: 'https://shop.example.org.evil.test' }), { vary: 'Origin' });
    assert.deepEqual(simple(cors, { origin: 'evil://https://shop.example.org' }), { vary: 'Origin' });
    assert.deepEqual(simple(cors, { origin: 'http://app.example.com' }), { vary: 'Origin' });
    assert.deepEqual(simple(cors, {}), { vary: 'Origin' });
  });

  it('answers * for origins: [*] without credentials', () => {
    const open = createCors({}, PATH);
    assert.deepEqual(simple(open, { origin: 'https://any.test' }), { 'access-control-allow-origin': '*' });
    assert.deepEqual(simple(open, {}), { 'access-control-allow-origin': '*' });
  });

  it('refuses origins: [*] with credentials: true (it would hand every site credentialed responses)', () => {
    // Kong echoes any Origin with Allow-Credentials then: every site could read what a
    // signed-in browser gets. Credentials need the origins named (or a regex, on purpose).
    const configs: Array<{ origins?: string[]; credentials: boolean }> = [{ credentials: true }, { origins: ['https://app.example.com', '*'], credentials: true }];
    for (const config of configs) {
      const err = configError(config);
      assert.equal(err.path, `${PATH}.origins[${(config.origins ?? ['*']).indexOf('*')}]`);
      assert.match(err.message, /credentials/);
    }
    const named = createCors({ origins: ['https://app.example.com'], credentials: true }, PATH);
    assert.deepEqual(simple(named, { origin: 'https://evil.test' }), { vary: 'Origin' });
  });

  it('treats OPTIONS without Access-Control-Request-Method as an ordinary request', () => {
    const cors = createCors({ origins: ['https://app.example.com'] }, PATH);
    assert.deepEqual(simple(cors, { origin: 'https://app.example.com' }, 'OPTIONS'), {
      vary: 'Origin',
      'access-control-allow-origin': 'https://app.example.com',
    });
  });
});

describe('cors preflights (real HTTP server)', () => {
  let server: Server;
  let base: string;
  const plugins = new Map<string, Interceptor>([
    ['/strict', createCors({ origins: ['https://app.example.com'], methods: ['GET', 'put'], headers: ['Authorization', 'Content-Type'], credentials: true, max_age: 3600 }, PATH)],
    ['/echo', createCors({ origins: ['https://app.example.com'] }, PATH)],
    ['/continue', createCors({ origins: ['https://app.example.com'], preflight_continue: true }, PATH)],
  ]);

  before(async () => {
    server = createServer(async (req, res) => {
      const gr = gatewayRequest({ method: req.method, path: req.url, req, res });
      gr.responseHeaders['x-request-id'] = 'from-earlier-plugin';
      const answered = await plugins.get(req.url ?? '')!.intercept(gr);
      if (!answered) {
        res.writeHead(299, { ...gr.responseHeaders, 'content-type': 'text/plain' });
        res.end('passed on');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const preflight = (path: string, headers: Record<string, string>) => fetch(`${base}${path}`, { method: 'OPTIONS', headers });

  function corsHeaders(res: Response): Record<string, string> {
    return Object.fromEntries([...res.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary' || name === 'x-request-id'));
  }

  it('answers 204 with the configured methods, headers, credentials and max age', async () => {
    const res = await preflight('/strict', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-anything' });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.deepEqual(corsHeaders(res), {
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'Authorization, Content-Type',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-max-age': '3600',
      vary: 'Origin',
      'x-request-id': 'from-earlier-plugin',
    });
  });

  it("echoes the preflight's requested headers when none are configured", async () => {
    const res = await preflight('/echo', { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom, content-type' });
    assert.equal(res.status, 204);
    assert.deepEqual(corsHeaders(res), {
      'access-control-allow-headers': 'x-custom, content-type',
      'access-control-allow-methods': 'GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT',
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin, Access-Control-Request-Headers',
      'x-request-id': 'from-earlier-plugin',
    });
  });

  it('answers a preflight from a foreign origin with 204 and no permission', async () => {
    const res = await preflight('/strict', { origin: 'https://evil.example.com', 'access-control-request-method': 'PUT' });
    assert.equal(res.status, 204);
    assert.deepEqual(corsHeaders(res), { vary: 'Origin', 'x-request-id': 'from-earlier-plugin' });
  });

  it('preflight_continue passes the preflight on with the origin headers', async () => {
    const res = await preflight('/continue', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' });
    assert.equal(res.status, 299);
    assert.equal(await res.text(), 'passed on');
    assert.deepEqual(corsHeaders(res), {
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin',
      'x-request-id': 'from-earlier-plugin',
    });
  });
});
