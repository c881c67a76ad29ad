// The upstream request's header list (mutate/headers.ts upstreamHeaderList): every name
// once, the client's hop-by-hop, spoofable and forwarding fields replaced by ours, and
// what plugins set (gr.upstreamHeaders) winning over both; gr.omitUpstreamHeaders last.
import * as assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { headerPolicy, upstreamHeaderList, upstreamHeaders } from '../../src/gateway/mutate/headers.js';
import { RequestState, type CompiledRoute } from '../../src/gateway/types.js';

const PROXY = '10.0.0.9';

/** A request as Node's parser leaves it: lower-case header names, the peer on the socket. */
function request(headers: Record<string, string>, peer = '192.0.2.7', httpVersion = '1.1'): RequestState {
  const req = { headers, httpVersion, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
  return new RequestState(req, undefined as unknown as ServerResponse, 'req-123', 'GET', '/orders/1', '', 'api.example', peer, 'https', undefined as unknown as CompiledRoute);
}

const policy = headerPolicy((address) => address === PROXY, ['x-secret-*'], '8443');

/** The list as [name, value] pairs, checking that no name comes twice. */
function pairs(list: Array<string | string[]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    assert.equal(out.has(name), false, `${name} sent twice`);
    out.set(name, list[i + 1]!);
  }
  return out;
}

describe('upstream header list', () => {
  it('replaces the client forwarding claims and request id, drops hop-by-hop and spoofable fields', () => {
    const gr = request({
      host: 'api.example',
      connection: 'keep-alive, x-drop-me',
      'x-drop-me': '1',
      accept: 'application/json',
      'x-forwarded-for': '203.0.113.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-prefix': '/evil',
      'x-request-id': 'client-id',
      'x-real-ip': '203.0.113.1',
      'x-consumer-id': 'spoofed',
      'x-secret-token': 'nope',
      te: 'trailers',
    });
    const h = pairs(upstreamHeaderList(gr, policy, false, ''));
    assert.deepEqual(
      [...h.keys()].sort(),
      ['accept', 'via', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip', 'x-request-id'],
    );
    assert.equal(h.get('via'), '1.1 drawbridge');
    assert.equal(h.get('x-forwarded-for'), '192.0.2.7');
    assert.equal(h.get('x-forwarded-proto'), 'https');
    assert.equal(h.get('x-forwarded-host'), 'api.example');
    assert.equal(h.get('x-forwarded-port'), '8443');
    assert.equal(h.get('x-real-ip'), '192.0.2.7');
    assert.equal(h.get('x-request-id'), 'req-123');
  });

  it('keeps a trusted proxy’s forwarding fields (prefix too, unless strip_path sets one) and Host with preserve_host', () => {
    const gr = request({ host: 'api.example', 'x-forwarded-for': '203.0.113.1', 'x-forwarded-proto': 'https', 'x-forwarded-prefix': '/edge' }, PROXY);
    const kept = pairs(upstreamHeaderList(gr, policy, true, ''));
    assert.equal(kept.get('host'), 'api.example');
    assert.equal(kept.get('x-forwarded-for'), `203.0.113.1, ${PROXY}`);
    assert.equal(kept.get('x-forwarded-proto'), 'https');
    assert.equal(kept.get('x-forwarded-prefix'), '/edge');
    const stripped = pairs(upstreamHeaderList(gr, policy, false, '/orders'));
    assert.equal(stripped.has('host'), false);
    assert.equal(stripped.get('x-forwarded-prefix'), '/orders');
  });

  it('lets plugin fields win over the client’s and ours, hides stripped credentials, omits last', () => {
    const gr = request({ authorization: 'Basic client', apikey: 'secret-key', accept: '*/*' });
    gr.stripHeaders.add('apikey');
    gr.upstreamHeaders.authorization = 'Bearer internal';
    gr.upstreamHeaders['X-Request-Id'] = 'from-plugin'; // a plugin that did not lower-case its name still wins
    gr.upstreamHeaders['x-consumer-groups'] = 'staff';
    gr.omitUpstreamHeaders = new Set(['x-consumer-groups', 'x-real-ip']);
    const h = pairs(upstreamHeaderList(gr, policy, false, ''));
    assert.equal(h.get('authorization'), 'Bearer internal');
    assert.equal(h.get('x-request-id'), 'from-plugin');
    assert.equal(h.has('apikey'), false);
    assert.equal(h.has('x-consumer-groups'), false);
    assert.equal(h.has('x-real-ip'), false);
    assert.equal(h.get('accept'), '*/*');
    // the object form (WebSocket upgrades) carries the same fields
    assert.deepEqual(new Map(Object.entries(upstreamHeaders(gr, policy, { preserveHost: false, strippedPrefix: '' }))), h);
  });

  it('appends its Via entry to the client’s, with the protocol version it received (RFC 9110 §7.6.3)', () => {
    const h = pairs(upstreamHeaderList(request({ via: '1.1 edge-cache, 2 cdn', accept: '*/*' }), policy, false, ''));
    assert.equal(h.get('via'), '1.1 edge-cache, 2 cdn, 1.1 drawbridge');
    const old = pairs(upstreamHeaderList(request({ accept: '*/*' }, '192.0.2.7', '1.0'), policy, false, ''));
    assert.equal(old.get('via'), '1.0 drawbridge');
    // with plugin fields set (the other path), the same
    const gr = request({ via: '1.1 edge' });
    gr.upstreamHeaders.authorization = 'Bearer internal';
    assert.equal(pairs(upstreamHeaderList(gr, policy, false, '')).get('via'), '1.1 edge, 1.1 drawbridge');
  });

  it('passes client fields named like Object.prototype members when a plugin set fields too', () => {
    const gr = request({ constructor: 'c', tostring: 't', accept: '*/*' });
    gr.upstreamHeaders.authorization = 'Bearer internal';
    const h = pairs(upstreamHeaderList(gr, policy, false, ''));
    assert.equal(h.get('constructor'), 'c');
    assert.equal(h.get('tostring'), 't');
    assert.equal(h.get('authorization'), 'Bearer internal');
  });
});
