// hmac-auth through the real gateway, with requests signed by an independent RFC 9421
// implementation (`http-message-signatures` from npm), not our own code: coverage rules,
// Content-Digest checked against the body, created/expires, nonce replay (in process and,
// across two gateways, in Redis), malformed input, and Kong's legacy scheme.
import * as assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createSigner, httpbis } from 'http-message-signatures';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { assertNoCredential, assertNotSpoofed, assertUnauthorized, challenges, internalClaims, send, SPOOFED, type Reply } from './authn-support.js';

const KEY_ID = 'partner-a-key';
const SECRET = 'hmac-secret-of-partner-a-0123456789';
/** hmac-auth's challenge for a request of this shape: `headers` names what Accept-Signature asks this request to sign. */
function challengeFor(shape: { query?: boolean; body?: boolean; enforced?: string[] } = {}): string {
  const ids = ['@method', '@authority', '@path'];
  if (shape.query === true) ids.push('@query');
  if (shape.body === true) ids.push('content-digest');
  ids.push(...(shape.enforced ?? []));
  return `Signature realm="drawbridge", alg="hmac-sha256", headers="${ids.join(' ')}"`;
}
/** for a request without a query or a body */
const CHALLENGE = challengeFor();
/** for a request with a body and no query */
const CHALLENGE_BODY = challengeFor({ body: true });

interface SignOptions {
  method?: string;
  target: string;
  body?: string;
  headers?: Record<string, string>;
  fields?: string[];
  params?: string[];
  paramValues?: Record<string, unknown>;
  keyId?: string;
  secret?: string;
}

function digestOf(body: string | Buffer, alg: 'sha256' | 'sha512' = 'sha256'): string {
  return `${alg === 'sha256' ? 'sha-256' : 'sha-512'}=:${createHash(alg).update(body).digest('base64')}:`;
}

/** Headers signed by http-message-signatures for a request to `base + target`. */
async function signedHeaders(base: string, opts: SignOptions): Promise<Record<string, string>> {
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined && headers['content-digest'] === undefined) headers['content-digest'] = digestOf(opts.body);
  const url = new URL(opts.target, base);
  const defaultFields = ['@method', '@authority', '@path'];
  if (url.search !== '') defaultFields.push('@query');
  if (opts.body !== undefined) defaultFields.push('content-digest');
  const signed = await httpbis.signMessage(
    {
      key: createSigner(opts.secret ?? SECRET, 'hmac-sha256', opts.keyId ?? KEY_ID),
      fields: opts.fields ?? defaultFields,
      params: opts.params ?? ['created', 'keyid', 'alg', 'nonce'],
      paramValues: { nonce: Math.random().toString(36).slice(2), ...opts.paramValues } as never,
    },
    { method, url: url.href, headers },
  );
  return signed.headers as Record<string, string>;
}

async function signedSend(base: string, opts: SignOptions & { sendBody?: string }): Promise<Reply> {
  const headers = await signedHeaders(base, opts);
  const body = opts.sendBody ?? opts.body;
  return send(base, opts.target, { method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers, body });
}

function gatewayConfig(upstream: Upstream): Record<string, unknown> {
  return {
    consumers: [
      { username: 'partner-a', groups: ['partners'], credentials: { 'hmac-auth': [{ key_id: KEY_ID, secret: SECRET }] } },
    ],
    services: [
      { name: 'ledger', url: upstream.url, routes: [{ paths: ['/ledger'], strip_path: false }], plugins: [{ name: 'hmac-auth', config: { max_body: '1kb' } }] },
      {
        name: 'either',
        url: upstream.url,
        routes: [{ paths: ['/either'], strip_path: false }],
        plugins: [{ name: 'key-auth' }, { name: 'hmac-auth', config: { enforce_headers: ['x-tenant'] } }],
      },
      {
        name: 'scoped',
        url: upstream.url,
        routes: [{ paths: ['/scoped'], strip_path: false }],
        plugins: [{ name: 'hmac-auth' }, { name: 'scopes', config: { required: ['ledger:write'] } }],
      },
      {
        name: 'strict',
        url: upstream.url,
        routes: [{ paths: ['/strict'], strip_path: false }],
        plugins: [{ name: 'hmac-auth', config: { enforce_nonce: true, enforce_headers: ['content-type'] } }],
      },
      {
        name: 'legacy',
        url: upstream.url,
        routes: [{ paths: ['/legacy'], strip_path: false }],
        plugins: [{ name: 'hmac-auth', config: { legacy: true, validate_request_body: true } }],
      },
    ],
  };
}

describe('hmac-auth (RFC 9421)', () => {
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({ gateway: gatewayConfig(upstream) });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('accepts a signed GET with a query; upstream gets the internal token and no signature', async () => {
    upstream.reset();
    const reply = await signedSend(stack.gatewayUrl, { target: '/ledger/entries?from=2024-01-01&to=now', headers: { ...SPOOFED } });
    assert.equal(reply.status, 200, reply.text);
    const rec = upstream.last();
    assert.equal(rec.url, '/ledger/entries?from=2024-01-01&to=now');
    assert.equal(rec.headers.signature, undefined);
    assert.equal(rec.headers['signature-input'], undefined);
    assertNoCredential(rec, SECRET);
    assertNotSpoofed(rec);
    const claims = await internalClaims(stack, rec, 'ledger');
    assert.equal(claims.auth_method, 'hmac-auth');
    assert.equal(claims.consumer, 'partner-a');
    assert.deepEqual(claims.groups, ['partners']);
  });

  it('signs the path as sent, before the gateway normalizes it', async () => {
    upstream.reset();
    const reply = await signedSend(stack.gatewayUrl, { target: '/ledger/%7Eada/a%20b?q=%C3%A9' });
    assert.equal(reply.status, 200, reply.text);
    // upstream gets the normalized path; the signature covered the raw one
    assert.equal(upstream.last().url, '/ledger/~ada/a%20b?q=%C3%A9');
  });

  it('accepts a signed POST whose Content-Digest (sha-256 or sha-512) matches, and replays the body upstream', async () => {
    for (const alg of ['sha256', 'sha512'] as const) {
      upstream.reset();
      const body = JSON.stringify({ amount: 42, currency: 'EUR', alg });
      const reply = await signedSend(stack.gatewayUrl, {
        target: '/ledger/entries',
        body,
        headers: { 'content-type': 'application/json', 'content-digest': digestOf(body, alg) },
      });
      assert.equal(reply.status, 200, reply.text);
      const rec = upstream.last();
      assert.equal(rec.method, 'POST');
      assert.equal(rec.body.toString('utf8'), body);
      assert.equal(rec.headers['content-length'], String(Buffer.byteLength(body)));
    }
  });

  it('detects a tampered body', async () => {
    upstream.reset();
    const reply = await signedSend(stack.gatewayUrl, { target: '/ledger/entries', body: '{"amount":42}', sendBody: '{"amount":99}' });
    assertUnauthorized(reply, [CHALLENGE_BODY]);
    assert.equal(reply.json.error_description, 'the Content-Digest does not match the body');
    assert.equal(upstream.requests.length, 0);
  });

  it('detects a tampered path and method', async () => {
    const headers = await signedHeaders(stack.gatewayUrl, { target: '/ledger/entries' });
    assertUnauthorized(await send(stack.gatewayUrl, '/ledger/other', { headers }), [CHALLENGE]);
    const again = await signedHeaders(stack.gatewayUrl, { target: '/ledger/entries' });
    const reply = await send(stack.gatewayUrl, '/ledger/entries', { method: 'DELETE', headers: again });
    assertUnauthorized(reply, [CHALLENGE]);
    assert.equal(reply.json.error_description, 'invalid signature');
  });

  it('requires @method, @authority, @path, @query (with a query) and content-digest (with a body)', async () => {
    const noPath = await signedSend(stack.gatewayUrl, { target: '/ledger', fields: ['@method', '@authority'] });
    assertUnauthorized(noPath, [CHALLENGE]);
    assert.equal(noPath.json.error_description, 'the signature must cover "@path"');
    const noQuery = await signedSend(stack.gatewayUrl, { target: '/ledger?x=1', fields: ['@method', '@authority', '@path'] });
    assert.equal(noQuery.json.error_description, 'the signature must cover "@query"');
    const noDigest = await signedSend(stack.gatewayUrl, { target: '/ledger', body: 'hello', fields: ['@method', '@authority', '@path'] });
    assertUnauthorized(noDigest, [CHALLENGE_BODY]);
    assert.equal(noDigest.json.error_description, 'the signature must cover "content-digest"');
  });

  it('refuses a replayed nonce', async () => {
    const headers = await signedHeaders(stack.gatewayUrl, { target: '/ledger/once', paramValues: { nonce: 'nonce-123' } });
    assert.equal((await send(stack.gatewayUrl, '/ledger/once', { headers })).status, 200);
    const replay = await send(stack.gatewayUrl, '/ledger/once', { headers });
    assertUnauthorized(replay, [CHALLENGE]);
    assert.equal(replay.json.error_description, 'the nonce was already used');
  });

  it('refuses a stale created, a future created and an expired signature', async () => {
    const now = Date.now();
    const stale = await signedSend(stack.gatewayUrl, { target: '/ledger', paramValues: { created: new Date(now - 301_000) } });
    assertUnauthorized(stale, [CHALLENGE]);
    assert.equal(stale.json.error_description, 'the signature was not created within the allowed clock skew');
    const future = await signedSend(stack.gatewayUrl, { target: '/ledger', paramValues: { created: new Date(now + 400_000) } });
    assertUnauthorized(future, [CHALLENGE]);
    const expired = await signedSend(stack.gatewayUrl, {
      target: '/ledger',
      params: ['created', 'expires', 'keyid', 'alg'],
      paramValues: { created: new Date(now - 60_000), expires: new Date(now - 30_000) },
    });
    assertUnauthorized(expired, [CHALLENGE]);
    assert.equal(expired.json.error_description, 'the signature has expired');
    const noCreated = await signedSend(stack.gatewayUrl, { target: '/ledger', params: ['keyid', 'alg'] });
    assert.equal(noCreated.json.error_description, 'the signature has no created time');
  });

  it('refuses a wrong secret and an unknown key id', async () => {
    const wrong = await signedSend(stack.gatewayUrl, { target: '/ledger', secret: 'not-the-secret' });
    assertUnauthorized(wrong, [CHALLENGE]);
    assert.equal(wrong.json.error_description, 'invalid signature');
    const unknown = await signedSend(stack.gatewayUrl, { target: '/ledger', keyId: 'nobody' });
    assertUnauthorized(unknown, [CHALLENGE]);
    assert.equal(unknown.json.error_description, 'unknown key id');
  });

  it('answers malformed signature fields with 401, not 500', async () => {
    const good = await signedHeaders(stack.gatewayUrl, { target: '/ledger' });
    const cases: Array<Record<string, string>> = [
      { 'signature-input': 'sig=("@method" "@path";keyid="x"', signature: 'sig=:AAAA:' },
      { 'signature-input': good['Signature-Input']!, signature: 'sig=not-bytes' },
      { 'signature-input': good['Signature-Input']!, signature: 'other=:AAAA:' },
      { 'signature-input': good['Signature-Input']! },
      { 'signature-input': 'sig=("@method" "@authority" "@path");created="yesterday";keyid="partner-a-key"', signature: 'sig=:AAAA:' },
      { 'signature-input': 'sig=("@method" "@authority" "@path" "@status");created=1;keyid="partner-a-key"', signature: 'sig=:AAAA:' },
    ];
    for (const headers of cases) {
      const reply = await send(stack.gatewayUrl, '/ledger', { headers });
      assertUnauthorized(reply, [CHALLENGE]);
    }
  });

  it('skips signatures that are not ours (another alg, no keyid) and asks for one', async () => {
    const other = await send(stack.gatewayUrl, '/ledger', {
      headers: { 'signature-input': 'sig=("@method");created=1;keyid="k";alg="ed25519"', signature: 'sig=:AAAA:' },
    });
    assertUnauthorized(other, [CHALLENGE]);
    assert.equal(other.json.error_description, 'authentication required');
    assertUnauthorized(await send(stack.gatewayUrl, '/ledger'), [CHALLENGE]);
  });

  it('refuses a body larger than max_body with 413 before reading it all', async () => {
    const body = 'x'.repeat(2048);
    const reply = await signedSend(stack.gatewayUrl, { target: '/ledger', body });
    assert.equal(reply.status, 413, reply.text);
    assert.equal(reply.json.error, 'payload_too_large');
  });

  it('every 401 says in Accept-Signature (RFC 9421 §5.1) what this request must sign, and a client that follows it gets in', async () => {
    const base = '("@method" "@authority" "@path"';
    const tail = ';created;alg="hmac-sha256"';
    const cases: Array<{ reply: Reply; expected: string }> = [
      // no credential at all: the route's 401
      { reply: await send(stack.gatewayUrl, '/ledger'), expected: `sig1=${base})${tail}` },
      { reply: await send(stack.gatewayUrl, '/ledger/x?page=2'), expected: `sig1=${base} "@query")${tail}` },
      // hmac-auth's own refusals
      {
        reply: await signedSend(stack.gatewayUrl, { target: '/ledger/x?page=2', body: '{"a":1}', secret: 'not-the-secret-of-partner-a-000000' }),
        expected: `sig1=${base} "@query" "content-digest")${tail}`,
      },
      {
        reply: await signedSend(stack.gatewayUrl, { target: '/strict', fields: ['@method', '@authority', '@path'] }),
        expected: `sig1=${base} "content-type")${tail}`,
      },
    ];
    for (const { reply, expected } of cases) {
      assert.equal(reply.status, 401, reply.text);
      assert.equal(reply.headers['accept-signature'], expected);
      // and the challenge names the very same components
      const asked = /^sig1=\(([^)]*)\)/.exec(expected)![1]!.split(' ').map((id) => JSON.parse(id) as string);
      assert.deepEqual(challenges(reply), [`Signature realm="drawbridge", alg="hmac-sha256", headers="${asked.join(' ')}"`]);
    }
    // a client that signs what the 401 asked for is let in
    const asked = await send(stack.gatewayUrl, '/ledger/x?page=2', { method: 'POST', body: '{"a":1}' });
    const list = /^sig1=\(([^)]*)\)/.exec(String(asked.headers['accept-signature']))![1]!;
    const fields = list.split(' ').map((id) => JSON.parse(id) as string);
    const ok = await signedSend(stack.gatewayUrl, { target: '/ledger/x?page=2', body: '{"a":1}', fields });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers['accept-signature'], undefined);
  });

  it('a signed caller without a required scope gets 403 insufficient_scope with no Bearer challenge (it used no Bearer token)', async () => {
    upstream.reset();
    const reply = await signedSend(stack.gatewayUrl, { target: '/scoped/x?a=1', headers: { 'x-request-id': 'hmac-scope' } });
    assert.equal(reply.status, 403, reply.text);
    assert.deepEqual(reply.json, { error: 'insufficient_scope', error_description: 'requires scope: ledger:write', request_id: 'hmac-scope' });
    assert.equal(reply.headers['www-authenticate'], undefined);
    assert.equal(reply.headers['accept-signature'], undefined);
    assert.equal(upstream.requests.length, 0);
  });

  it("the challenge names what this request's signature must cover, as Accept-Signature does, enforce_headers too: on hmac-auth's own 401s and on the route's 401 beside another scheme", async () => {
    const cases: Array<{ reply: Reply; challenge: string }> = [
      { reply: await send(stack.gatewayUrl, '/ledger'), challenge: CHALLENGE },
      { reply: await send(stack.gatewayUrl, '/ledger?a=1'), challenge: challengeFor({ query: true }) },
      { reply: await send(stack.gatewayUrl, '/ledger', { method: 'POST', body: 'x' }), challenge: CHALLENGE_BODY },
      { reply: await send(stack.gatewayUrl, '/ledger?a=1', { method: 'PUT', body: 'x' }), challenge: challengeFor({ query: true, body: true }) },
      { reply: await signedSend(stack.gatewayUrl, { target: '/ledger?a=1', keyId: 'nobody' }), challenge: challengeFor({ query: true }) },
      { reply: await signedSend(stack.gatewayUrl, { target: '/strict', body: 'x', fields: ['@method', '@authority', '@path', 'content-digest'] }), challenge: challengeFor({ body: true, enforced: ['content-type'] }) },
      { reply: await send(stack.gatewayUrl, '/strict?a=1'), challenge: challengeFor({ query: true, enforced: ['content-type'] }) },
    ];
    for (const { reply, challenge } of cases) {
      assert.equal(reply.status, 401, reply.text);
      assert.deepEqual(challenges(reply), [challenge]);
      const asked = /^sig1=\(([^)]*)\)/.exec(String(reply.headers['accept-signature']))![1]!.split(' ').map((id) => JSON.parse(id) as string);
      assert.equal(challenge, `Signature realm="drawbridge", alg="hmac-sha256", headers="${asked.join(' ')}"`);
    }
    // no credential on a route with key-auth too: every scheme's challenge, hmac-auth's for this request
    for (const [target, init, shape] of [
      ['/either', {}, {}],
      ['/either/x?a=1', { method: 'POST', body: '{}' }, { query: true, body: true }],
    ] as const) {
      const reply = await send(stack.gatewayUrl, target, init);
      assertUnauthorized(reply, ['Key realm="drawbridge"', challengeFor({ ...shape, enforced: ['x-tenant'] })]);
      assert.match(String(reply.headers['accept-signature']), /"x-tenant"\);created/);
    }
    // a wrong key on that route: key-auth's own 401, no hmac-auth challenge
    assertUnauthorized(await send(stack.gatewayUrl, '/either', { headers: { apikey: 'no-such-key-0123456789' } }), ['Key realm="drawbridge"']);
  });

  it('enforces nonces and extra components when configured', async () => {
    const fields = ['@method', '@authority', '@path', 'content-type'];
    const noNonce = await signedSend(stack.gatewayUrl, {
      target: '/strict',
      headers: { 'content-type': 'text/plain' },
      fields,
      params: ['created', 'keyid'],
    });
    assertUnauthorized(noNonce, [challengeFor({ enforced: ['content-type'] })]);
    assert.equal(noNonce.json.error_description, 'the signature needs a nonce');
    const noType = await signedSend(stack.gatewayUrl, { target: '/strict' });
    assert.equal(noType.json.error_description, 'the signature must cover "content-type"');
    const ok = await signedSend(stack.gatewayUrl, { target: '/strict', headers: { 'content-type': 'text/plain' }, fields });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe("hmac-auth (Kong's legacy scheme)", () => {
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({ gateway: gatewayConfig(upstream) });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  function legacy(opts: { target: string; method?: string; date?: string; headers?: string; algorithm?: string; secret?: string; digest?: string; username?: string }): Record<string, string> {
    const date = opts.date ?? new Date().toUTCString();
    const names = (opts.headers ?? 'date request-line').split(' ');
    const hash = (opts.algorithm ?? 'hmac-sha256').slice(5);
    const lines = names.map((name) =>
      name === 'request-line' ? `${opts.method ?? 'GET'} ${opts.target} HTTP/1.1` : name === 'digest' ? `digest: ${opts.digest}` : `${name}: ${date}`,
    );
    const signature = createHmac(hash, opts.secret ?? SECRET).update(lines.join('\n')).digest('base64');
    const headers: Record<string, string> = {
      date,
      authorization: `hmac username="${opts.username ?? KEY_ID}", algorithm="${opts.algorithm ?? 'hmac-sha256'}", headers="${names.join(' ')}", signature="${signature}"`,
    };
    if (opts.digest !== undefined) headers.digest = opts.digest;
    return headers;
  }

  it('accepts a Kong-signed request and hides the Authorization header', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/legacy/x?a=1', { headers: legacy({ target: '/legacy/x?a=1' }) });
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(stack, upstream.last(), 'legacy');
    assert.equal(claims.auth_method, 'hmac-auth');
    assert.equal(claims.consumer, 'partner-a');
  });

  it('reads Proxy-Authorization first and X-Date before Date', async () => {
    const signed = legacy({ target: '/legacy', headers: 'x-date request-line' });
    const xDate = signed.date!;
    const reply = await send(stack.gatewayUrl, '/legacy', {
      headers: { 'proxy-authorization': signed.authorization!, 'x-date': xDate, date: 'Mon, 01 Jan 2001 00:00:00 GMT' },
    });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(upstream.last().headers['proxy-authorization'], undefined);
  });

  it('accepts hmac-sha384/512 and refuses hmac-sha1 unless allowed', async () => {
    for (const algorithm of ['hmac-sha384', 'hmac-sha512']) {
      assert.equal((await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', algorithm }) })).status, 200);
    }
    const sha1 = await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', algorithm: 'hmac-sha1' }) });
    assertUnauthorized(sha1, [CHALLENGE]);
    assert.equal(sha1.json.error_description, 'algorithm hmac-sha1 is not accepted');
  });

  it('refuses a wrong signature, a stale or unsigned date, and malformed parameters', async () => {
    assertUnauthorized(await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', secret: 'wrong' }) }), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/legacy/b', { headers: legacy({ target: '/legacy/a' }) }), [CHALLENGE]);
    const stale = await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', date: new Date(Date.now() - 600_000).toUTCString() }) });
    assert.equal(stale.json.error_description, 'the Date is not within the allowed clock skew');
    const unsigned = await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', headers: 'request-line' }) });
    assert.equal(unsigned.json.error_description, 'the signature must cover date');
    const malformed = await send(stack.gatewayUrl, '/legacy', { headers: { date: new Date().toUTCString(), authorization: 'hmac username=oops' } });
    assertUnauthorized(malformed, [CHALLENGE]);
    assert.equal(malformed.json.error_description, 'malformed hmac credentials');
    // a correctly signed request whose scheme is followed by a TAB (RFC 9110 §11.4: SP only)
    const good = legacy({ target: '/legacy' });
    const tab = await send(stack.gatewayUrl, '/legacy', { headers: { ...good, authorization: good.authorization!.replace(/^hmac /, 'hmac\t') } });
    assertUnauthorized(tab, [CHALLENGE]);
    assert.equal(tab.json.error_description, 'malformed hmac credentials');
    const unknown = await send(stack.gatewayUrl, '/legacy', { headers: legacy({ target: '/legacy', username: 'nobody' }) });
    assert.equal(unknown.json.error_description, 'unknown username');
  });

  it('requires request-line: a signature over the date alone would fit any method and path', async () => {
    upstream.reset();
    const signed = legacy({ target: '/legacy/orders', headers: 'date' });
    for (const [method, target] of [['GET', '/legacy/orders'], ['DELETE', '/legacy/accounts/7']]) {
      const reply = await send(stack.gatewayUrl, target!, { method, headers: signed });
      assertUnauthorized(reply, [CHALLENGE]);
      assert.equal(reply.json.error_description, 'the signature must cover request-line');
    }
    assert.equal(upstream.requests.length, 0);
  });

  it('checks Digest against the body with validate_request_body', async () => {
    const body = '{"a":1}';
    const digest = `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
    upstream.reset();
    const ok = await send(stack.gatewayUrl, '/legacy', {
      method: 'POST',
      body,
      headers: legacy({ target: '/legacy', method: 'POST', headers: 'date request-line digest', digest }),
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(upstream.last().body.toString(), body);
    const tampered = await send(stack.gatewayUrl, '/legacy', {
      method: 'POST',
      body: '{"a":2}',
      headers: legacy({ target: '/legacy', method: 'POST', headers: 'date request-line digest', digest }),
    });
    assertUnauthorized(tampered, [CHALLENGE_BODY]);
    assert.equal(tampered.json.error_description, 'the Digest does not match the body');
    const unsignedDigest = await send(stack.gatewayUrl, '/legacy', { method: 'POST', body, headers: { ...legacy({ target: '/legacy', method: 'POST' }), digest } });
    assert.equal(unsignedDigest.json.error_description, 'the signature must cover digest');
  });

  it('is off unless legacy: true', async () => {
    const reply = await send(stack.gatewayUrl, '/ledger', { headers: legacy({ target: '/ledger' }) });
    assertUnauthorized(reply, [CHALLENGE]);
    assert.equal(reply.json.error_description, 'authentication required');
  });
});

describe('hmac-auth nonces across two gateways sharing Redis', async () => {
  const redis = await redisUrl();
  let upstream: Upstream;
  let stacks: Stack[] = [];

  before(async () => {
    if (!redis) return;
    upstream = await startUpstream();
    stacks = [await startStack({ gateway: gatewayConfig(upstream), top: { redis } }), await startStack({ gateway: gatewayConfig(upstream), top: { redis } })];
  });

  after(async () => {
    for (const s of stacks) await s.close();
    await upstream?.close();
  });

  it('refuses on one gateway a nonce already used on the other', { skip: !redis && 'Redis not reachable' }, async () => {
    const [a, b] = stacks as [Stack, Stack];
    const nonce = `shared-${Math.random().toString(36).slice(2)}`;
    // both gateways listen on 127.0.0.1 with different ports: sign for each authority
    const forA = await signedHeaders(a.gatewayUrl, { target: '/ledger', paramValues: { nonce } });
    assert.equal((await send(a.gatewayUrl, '/ledger', { headers: forA })).status, 200);
    const forB = await signedHeaders(b.gatewayUrl, { target: '/ledger', paramValues: { nonce } });
    const replay = await send(b.gatewayUrl, '/ledger', { headers: forB });
    assertUnauthorized(replay, [CHALLENGE]);
    assert.equal(replay.json.error_description, 'the nonce was already used');
  });
});
