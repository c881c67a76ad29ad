// ip-restriction: config errors that name the key, allow / deny / both on IPv4 and IPv6,
// then through the real gateway: the JSON refusal, a spoofed X-Forwarded-For that does not
// help, one from a trusted proxy that does, and the plugin running before CORS and
// authentication whatever the config order.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { createIpRestriction } from '../../src/gateway/limits/ip-restriction.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { gatewayRequest, refusal } from './limits-harness.js';

const PATH = 'gateway.services[0].plugins[1].config';

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createIpRestriction(config, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** true when the plugin lets `ip` through, false when it refuses it (403/404), else it throws. */
async function lets(config: Record<string, unknown>, ip: string): Promise<boolean> {
  const plugin = createIpRestriction(config, PATH);
  try {
    assert.equal(await plugin.intercept(gatewayRequest({ clientIp: ip })), false);
    return true;
  } catch {
    const err = await refusal(() => plugin.intercept(gatewayRequest({ clientIp: ip })));
    assert.ok(err.status === 403 || err.status === 404, `status ${err.status}`);
    return false;
  }
}

describe('ip-restriction config', () => {
  it('is registered as an early intercept-stage plugin', async () => {
    const instance = await PLUGINS.get('ip-restriction')!.create({ deny: ['192.0.2.1'] }, undefined as never, PATH);
    assert.equal(instance.stage, 'intercept');
    assert.equal(instance.impl.name, 'ip-restriction');
    assert.equal((instance.impl as { early?: boolean }).early, true);
  });

  it('names the offending key and what it expects', () => {
    assert.equal(configError({}).path, `${PATH}.allow`);
    assert.match(configError({}).message, /required unless deny is set/);
    assert.equal(configError({ allow: ['10.0.0.0/8', '10.0.0.0/33'] }).path, `${PATH}.allow[1]`);
    assert.equal(configError({ deny: ['not-an-ip'] }).path, `${PATH}.deny[0]`);
    assert.equal(configError({ allow: [] }).path, `${PATH}.allow`);
    assert.equal(configError({ allow: ['10.0.0.1'], status: 500 }).path, `${PATH}.status`);
    assert.equal(configError({ allow: ['10.0.0.1'], whitelist: ['10.0.0.1'] }).path, `${PATH}.whitelist`);
  });
});

describe('ip-restriction decisions', () => {
  it('allow only: the listed addresses and ranges get in, nobody else', async () => {
    const config = { allow: ['203.0.113.7', '10.0.0.0/8', '2001:db8::/32'] };
    assert.equal(await lets(config, '203.0.113.7'), true);
    assert.equal(await lets(config, '203.0.113.8'), false);
    assert.equal(await lets(config, '10.255.1.2'), true);
    assert.equal(await lets(config, '11.0.0.1'), false);
    assert.equal(await lets(config, '2001:db8:1::5'), true);
    assert.equal(await lets(config, '2001:db9::5'), false);
    assert.equal(await lets(config, ''), false); // no address known: not on the list
  });

  it('deny only: the listed addresses are refused, everyone else gets in', async () => {
    const config = { deny: ['198.51.100.0/24', '::1'] };
    assert.equal(await lets(config, '198.51.100.200'), false);
    assert.equal(await lets(config, '::1'), false);
    assert.equal(await lets(config, '198.51.101.1'), true);
    assert.equal(await lets(config, '127.0.0.1'), true);
  });

  it('both: deny carves addresses out of the allowed range', async () => {
    const config = { allow: ['10.0.0.0/8'], deny: ['10.6.6.0/24'] };
    assert.equal(await lets(config, '10.1.1.1'), true);
    assert.equal(await lets(config, '10.6.6.6'), false);
    assert.equal(await lets(config, '172.16.0.1'), false);
  });

  it('refuses with the configured status and message', async () => {
    const hidden = createIpRestriction({ deny: ['192.0.2.0/24'], status: 404, message: 'nothing here' }, PATH);
    const err = await refusal(() => hidden.intercept(gatewayRequest({ clientIp: '192.0.2.9' })));
    assert.equal(err.status, 404);
    assert.equal(err.code, 'not_found');
    assert.equal(err.message, 'nothing here');
    assert.equal(err.reason, 'ip_restricted');
    const plain = createIpRestriction({ deny: ['192.0.2.0/24'] }, PATH);
    const refused = await refusal(() => plain.intercept(gatewayRequest({ clientIp: '192.0.2.9' })));
    assert.equal(refused.status, 403);
    assert.equal(refused.code, 'forbidden');
    assert.equal(refused.message, 'Your IP address is not allowed');
  });
});

describe('ip-restriction through the gateway', () => {
  let upstream: Upstream;
  let stack: Stack;
  let trusting: Stack;

  before(async () => {
    upstream = await startUpstream();
    const services = [
      // the test client is 127.0.0.1
      { name: 'office', url: upstream.url, routes: [{ paths: ['/office'] }], plugins: [{ name: 'ip-restriction', config: { allow: ['10.0.0.0/8'] } }] },
      { name: 'local', url: upstream.url, routes: [{ paths: ['/local'] }], plugins: [{ name: 'ip-restriction', config: { allow: ['127.0.0.1', '::1'] } }] },
      {
        name: 'guarded',
        url: upstream.url,
        routes: [{ paths: ['/guarded'] }],
        // listed last, runs first: a refused address gets neither a preflight answer nor a challenge
        plugins: [{ name: 'cors', config: { origins: ['https://app.example'] } }, { name: 'key-auth' }, { name: 'ip-restriction', config: { deny: ['127.0.0.0/8', '::1'] } }],
      },
    ];
    stack = await startStack({ auth: false, gateway: { services } });
    trusting = await startStack({ auth: false, gateway: { trusted_proxies: ['127.0.0.1/32', '::1/128'], services } });
  });

  after(async () => {
    await stack?.close();
    await trusting?.close();
    await upstream?.close();
  });

  it('answers a refused address with the gateway error JSON, and lets a listed one through', async () => {
    const refused = await fetch(`${stack.gatewayUrl}/office/x`);
    assert.equal(refused.status, 403);
    const body = (await refused.json()) as Record<string, unknown>;
    assert.equal(body.error, 'forbidden');
    assert.equal(body.error_description, 'Your IP address is not allowed');
    assert.equal(typeof body.request_id, 'string');
    const through = await fetch(`${stack.gatewayUrl}/local/x`);
    assert.equal(through.status, 200);
    await through.arrayBuffer();
  });

  it('a client cannot claim another address with X-Forwarded-For unless it is a trusted proxy', async () => {
    const spoofed = await fetch(`${stack.gatewayUrl}/office/x`, { headers: { 'x-forwarded-for': '10.1.2.3' } });
    assert.equal(spoofed.status, 403);
    await spoofed.arrayBuffer();
    const relayed = await fetch(`${trusting.gatewayUrl}/office/x`, { headers: { 'x-forwarded-for': '10.1.2.3' } });
    assert.equal(relayed.status, 200);
    await relayed.arrayBuffer();
    const outsider = await fetch(`${trusting.gatewayUrl}/office/x`, { headers: { 'x-forwarded-for': '192.0.2.50' } });
    assert.equal(outsider.status, 403);
    await outsider.arrayBuffer();
  });

  it('runs before CORS and authentication, whatever the config order', async () => {
    const preflight = await fetch(`${stack.gatewayUrl}/guarded/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    await preflight.arrayBuffer();
    const unauthenticated = await fetch(`${stack.gatewayUrl}/guarded/x`);
    assert.equal(unauthenticated.status, 403); // not 401: no challenge for a refused address
    assert.equal(unauthenticated.headers.get('www-authenticate'), null);
    await unauthenticated.arrayBuffer();
  });
});
