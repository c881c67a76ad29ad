// The pieces under hmac-auth, checked against published vectors and an independent
// implementation: RFC 8941 structured fields, the RFC 9421 signature base (Appendix B.2.5
// for hmac-sha256; http-message-signatures' own base builder for the derived components),
// RFC 9530 Content-Digest, and Kong's legacy signing string.
import * as assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { httpbis } from 'http-message-signatures';
import { fixedClock } from '../../src/core/clock.js';
import { checkContentDigest, contentDigest } from '../../src/gateway/authn/hmac/content-digest.js';
import { checkLegacyDigest, legacySigningString, parseLegacyParams, verifyLegacySignature } from '../../src/gateway/authn/hmac/kong-legacy.js';
import { findHmacSignature, verifyHmacSignature } from '../../src/gateway/authn/hmac/message-signature.js';
import { memoryNonceStore } from '../../src/gateway/authn/hmac/nonce-cache.js';
import { normalizeAuthority, signatureBase, SignatureBaseError, type SignedMessage } from '../../src/gateway/authn/hmac/signature-base.js';
import {
  Decimal,
  isInnerList,
  parseDictionary,
  parseItem,
  serializeDictionary,
  StructuredFieldError,
  Token,
  type InnerList,
} from '../../src/gateway/authn/hmac/structured-fields.js';

// RFC 9421 Appendix B.2's test request and B.1.5's shared secret.
const B15_SECRET = Buffer.from('uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==', 'base64');
const B2_BODY = '{"hello": "world"}';
const B2_HEADERS: Record<string, string[]> = {
  host: ['example.com'],
  date: ['Tue, 20 Apr 2021 02:07:55 GMT'],
  'content-type': ['application/json'],
  'content-digest': ['sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:'],
  'content-length': ['18'],
};

function message(overrides: Partial<SignedMessage> & { headers?: Record<string, string[]> } = {}): SignedMessage {
  const headers = overrides.headers ?? B2_HEADERS;
  return {
    method: 'POST',
    scheme: 'https',
    authority: 'example.com',
    path: '/foo',
    query: 'param=Value&Pet=dog',
    field: (name) => headers[name],
    ...overrides,
  };
}

function innerList(signatureInput: string, label: string): InnerList {
  const member = parseDictionary(signatureInput).get(label);
  assert.ok(member && isInnerList(member));
  return member;
}

describe('structured fields (RFC 8941)', () => {
  it('parses a Signature-Input dictionary with inner lists and parameters', () => {
    const dict = parseDictionary('sig1=("@method" "@query-param";name="Pet" "content-digest");created=1618884473;keyid="k 1";alg="hmac-sha256", sig2=?0');
    const sig1 = dict.get('sig1');
    assert.ok(sig1 && isInnerList(sig1));
    assert.deepEqual(sig1.items.map((i) => i.value), ['@method', '@query-param', 'content-digest']);
    assert.equal(sig1.items[1]!.params.get('name'), 'Pet');
    assert.equal(sig1.params.get('created'), 1618884473);
    assert.equal(sig1.params.get('keyid'), 'k 1');
    const sig2 = dict.get('sig2');
    assert.ok(sig2 && !isInnerList(sig2));
    assert.equal(sig2.value, false);
  });

  it('parses every bare item type and serializes canonically', () => {
    const dict = parseDictionary('a=1,  b=-2.5;x, c="q\\"s\\\\", d=tok/en:1, e=:aGk=:, f, g=?1');
    assert.equal(dict.get('a')!.params.size, 0);
    const b = dict.get('b');
    assert.ok(b && !isInnerList(b) && b.value instanceof Decimal);
    assert.equal(b.value.value, -2.5);
    const c = dict.get('c');
    assert.ok(c && !isInnerList(c));
    assert.equal(c.value, 'q"s\\');
    const d = dict.get('d');
    assert.ok(d && !isInnerList(d) && d.value instanceof Token);
    const e = dict.get('e');
    assert.ok(e && !isInnerList(e) && Buffer.isBuffer(e.value));
    assert.equal(e.value.toString(), 'hi');
    assert.equal(serializeDictionary(dict), 'a=1, b=-2.5;x, c="q\\"s\\\\", d=tok/en:1, e=:aGk=:, f, g');
    assert.equal(parseItem('  "x";a=1  ').value, 'x');
  });

  it('parses integers and decimals up to their RFC 8941 lengths', () => {
    const dict = parseDictionary('a=-999999999999999, b=123456789012.123, c=-0.5, d=0;p=7, e=(1 -2.25)');
    const item = (key: string) => {
      const member = dict.get(key);
      assert.ok(member && !isInnerList(member));
      return member;
    };
    assert.equal(item('a').value, -999999999999999);
    const b = item('b').value;
    assert.ok(b instanceof Decimal);
    assert.equal(b.value, 123456789012.123);
    assert.equal((item('c').value as Decimal).value, -0.5);
    assert.equal(item('d').params.get('p'), 7);
    const e = dict.get('e');
    assert.ok(e && isInnerList(e));
    assert.equal(e.items[0]!.value, 1);
    assert.equal((e.items[1]!.value as Decimal).value, -2.25);
    for (const bad of ['a=-', 'a=-x', 'a=1.', 'a=1234567890123.1', 'a=1.5.5', 'a=--1', 'a=12345678901234567890123']) {
      assert.throws(() => parseDictionary(bad), StructuredFieldError, bad);
    }
  });

  it('refuses what the grammar does not allow', () => {
    for (const bad of ['a=', 'A=1', 'a=(1 2', 'a=1,', 'a=1 b=2', 'a="\\x"', 'a=:abc:', 'a=1.2345', 'a=1234567890123456', 'a=?2', 'a="é"', 'a=1;B=2']) {
      assert.throws(() => parseDictionary(bad), StructuredFieldError, bad);
    }
  });
});

describe('signature base (RFC 9421 §2.5)', () => {
  it('reproduces Appendix B.2.5 (hmac-sha256) exactly', () => {
    const input = 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"';
    const base = signatureBase(innerList(input, 'sig-b25'), message());
    assert.equal(
      base,
      '"date": Tue, 20 Apr 2021 02:07:55 GMT\n' +
        '"@authority": example.com\n' +
        '"content-type": application/json\n' +
        '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
    );
    assert.equal(createHmac('sha256', B15_SECRET).update(base).digest('base64'), 'pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=');
    const found = findHmacSignature(input, 'sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:');
    assert.equal(found.kind, 'found');
    assert.ok(found.kind === 'found');
    assert.equal(found.signature.keyid, 'test-shared-secret');
    assert.equal(found.signature.created, 1618884473);
    assert.ok(verifyHmacSignature(found.signature, message(), B15_SECRET));
    assert.ok(!verifyHmacSignature(found.signature, message({ authority: 'example.org' }), B15_SECRET));
    assert.ok(!verifyHmacSignature(found.signature, message(), Buffer.from('another secret')));
  });

  it('derives components as http-message-signatures does', () => {
    const url = 'http://api.example.com:8080/a/b%2Fc?x=1&y=with+plus&Pet=dog&Pet=cat';
    const headers: Record<string, string[]> = { date: ['Tue, 20 Apr 2021 02:07:55 GMT'], 'x-multi': ['a', ' b '] };
    const ours = message({
      method: 'GET',
      scheme: 'http',
      authority: 'API.example.com:8080',
      path: '/a/b%2Fc',
      query: 'x=1&y=with+plus&Pet=dog&Pet=cat',
      headers,
    });
    const theirs = { method: 'GET', url, headers: { date: headers.date![0]!, 'x-multi': headers['x-multi']! } };
    const fields = ['@method', '@authority', '@scheme', '@request-target', '@path', '@query', 'date', 'x-multi'];
    const list = `(${[...fields.map((f) => `"${f}"`), '"@query-param";name="y"', '"@query-param";name="Pet"', '"x-multi";bs'].join(' ')});created=1`;
    const expected = httpbis.formatSignatureBase(
      httpbis.createSignatureBase({ fields: [...fields, '"@query-param";name="y"', '"@query-param";name="Pet"', '"x-multi";bs'] }, theirs),
    );
    assert.equal(signatureBase(innerList(`s=${list}`, 's'), ours), `${expected}\n"@signature-params": ${list}`);
  });

  it('re-encodes @query-param names and values (§2.2.8) and gives "?" for an empty @query', () => {
    const ours = message({ query: 'var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something' });
    const list = '("@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20")';
    assert.equal(
      signatureBase(innerList(`s=${list}`, 's'), ours),
      '"@query-param";name="var": this%20is%20a%20big%0Amultiline%20value\n' +
        '"@query-param";name="bar": with%20plus%20whitespace\n' +
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something\n' +
        `"@signature-params": ${list}`,
    );
    assert.equal(signatureBase(innerList('s=("@query")', 's'), message({ query: '' })), '"@query": ?\n"@signature-params": ("@query")');
  });

  it('serializes dictionary members for ;key and ;sf', () => {
    const list = '("content-digest";key="sha-512" "content-digest";sf)';
    const base = signatureBase(innerList(`s=${list}`, 's'), message());
    assert.equal(
      base,
      '"content-digest";key="sha-512": :WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n' +
        '"content-digest";sf: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n' +
        `"@signature-params": ${list}`,
    );
  });

  it('fails on missing, repeated, unknown or unsupported components', () => {
    const cases = ['("x-missing")', '("@method" "@method")', '("@status")', '("@nope")', '("date";req)', '("date";sf)', '("Date")', '("@method";bs)'];
    for (const list of cases) assert.throws(() => signatureBase(innerList(`s=${list}`, 's'), message()), SignatureBaseError, list);
  });

  it('normalizes @authority: lower case, default ports dropped', () => {
    assert.equal(normalizeAuthority('Example.COM:443', 'https'), 'example.com');
    assert.equal(normalizeAuthority('example.com:80', 'http'), 'example.com');
    assert.equal(normalizeAuthority('example.com:443', 'http'), 'example.com:443');
    assert.equal(normalizeAuthority('[::1]:8000', 'http'), '[::1]:8000');
  });

  it('finds only hmac signatures: another alg or no keyid is absent; bad parameter types are malformed', () => {
    assert.deepEqual(findHmacSignature('s=("@method");keyid="k";alg="ed25519"', 's=:AAAA:'), { kind: 'absent' });
    assert.deepEqual(findHmacSignature('s=("@method");created=1', 's=:AAAA:'), { kind: 'absent' });
    assert.equal(findHmacSignature('s=("@method");keyid="k";created=1.5', 's=:AAAA:').kind, 'malformed');
    assert.equal(findHmacSignature('s=("@method");keyid="k";nonce=1', 's=:AAAA:').kind, 'malformed');
    assert.equal(findHmacSignature('s=("@method");keyid="k"', 't=:AAAA:').kind, 'malformed');
    assert.equal(findHmacSignature('s=(', 's=:AAAA:').kind, 'malformed');
    const two = findHmacSignature('a=("@method");keyid="x";alg="rsa-pss-sha512", b=("@method" "@path");keyid="k";alg="hmac-sha256"', 'a=:AAAA:, b=:AAAA:');
    assert.ok(two.kind === 'found');
    assert.equal(two.signature.label, 'b');
    assert.deepEqual([...two.signature.covered], ['"@method"', '"@path"']);
  });
});

describe('Content-Digest (RFC 9530)', () => {
  it('verifies the RFC examples for sha-256 and sha-512', () => {
    const body = Buffer.from(B2_BODY);
    assert.equal(checkContentDigest('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:', body), 'ok');
    assert.equal(checkContentDigest(B2_HEADERS['content-digest']![0]!, body), 'ok');
    assert.equal(contentDigest(body), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    assert.equal(contentDigest(body, 'sha-512'), B2_HEADERS['content-digest']![0]);
  });

  it('needs every known digest to match, ignores unknown ones, and needs at least one known', () => {
    const body = Buffer.from(B2_BODY);
    const good = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
    assert.equal(checkContentDigest(`md5=:AAAA:, ${good}`, body), 'ok');
    assert.equal(checkContentDigest(`${good}, sha-512=:AAAA:`, body), 'mismatch');
    assert.equal(checkContentDigest(good, Buffer.from('{"hello": "world!"}')), 'mismatch');
    assert.equal(checkContentDigest('md5=:AAAA:', body), 'unsupported');
    assert.equal(checkContentDigest('sha-256="not bytes"', body), 'malformed');
    assert.equal(checkContentDigest('sha-256=:X48E9q', body), 'malformed');
  });
});

describe("Kong's legacy hmac scheme", () => {
  it('parses parameters and builds the signing string with request-line', () => {
    const params = parseLegacyParams('username="alice", algorithm="hmac-sha256", headers="Date request-line x-custom", signature="YWJj"');
    assert.ok(params);
    assert.deepEqual(params.headers, ['date', 'request-line', 'x-custom']);
    const req = { method: 'GET', target: '/a?b=c', httpVersion: '1.1', field: (n: string) => (n === 'date' ? 'Tue, 20 Apr 2021 02:07:55 GMT' : undefined) };
    assert.equal(legacySigningString(params.headers, req), 'date: Tue, 20 Apr 2021 02:07:55 GMT\nGET /a?b=c HTTP/1.1\nx-custom:');
    const signature = createHmac('sha512', 'secret').update(legacySigningString(['date', 'request-line'], req)).digest('base64');
    const signed = parseLegacyParams(`username="alice", algorithm="hmac-sha512", headers="date request-line", signature="${signature}"`);
    assert.ok(signed && verifyLegacySignature(signed, req, 'secret'));
    assert.ok(!verifyLegacySignature(signed, { ...req, target: '/a?b=d' }, 'secret'));
    assert.ok(!verifyLegacySignature({ ...signed, algorithm: 'hmac-md5' }, req, 'secret'));
  });

  it('refuses incomplete or malformed parameters', () => {
    for (const bad of ['username="a", algorithm="hmac-sha256", headers="date"', 'username=a, algorithm="x", headers="date", signature="YWJj"', 'username="a" algorithm="b"', 'username="a", username="b", algorithm="hmac-sha256", headers="date", signature="YWJj"', 'username="a", algorithm="hmac-sha256", headers="date", signature="not base64!"']) {
      assert.equal(parseLegacyParams(bad), undefined, bad);
    }
  });

  it('checks Digest: SHA-256=… against the body', () => {
    const body = Buffer.from('{"a":1}');
    const digest = `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
    assert.ok(checkLegacyDigest(digest, body));
    assert.ok(!checkLegacyDigest(digest, Buffer.from('{"a":2}')));
    assert.ok(checkLegacyDigest(undefined, Buffer.alloc(0)));
    assert.ok(!checkLegacyDigest(undefined, body));
  });
});

describe('in-process nonce store', () => {
  it('accepts a nonce once while it lives, and again once it has expired', () => {
    const clock = fixedClock(1_000_000);
    const store = memoryNonceStore(clock);
    assert.equal(store.claim('n', 5), true);
    assert.equal(store.claim('n', 5), false);
    clock.advance(4);
    assert.equal(store.claim('n', 5), false);
    clock.advance(1);
    assert.equal(store.claim('n', 5), true);
  });

  it('remembers every live nonce while the table has room', () => {
    const clock = fixedClock(1_000_000);
    const store = memoryNonceStore(clock, 8192);
    for (let i = 0; i < 1000; i++) assert.equal(store.claim(`key\nnonce-${i}`, 300), true, `first claim ${i}`);
    clock.advance(299);
    for (let i = 0; i < 1000; i++) assert.equal(store.claim(`key\nnonce-${i}`, 300), false, `replay ${i}`);
    assert.equal(store.claim('other-key\nnonce-1', 300), true, 'the same nonce under another key id is another nonce');
    clock.advance(1);
    for (let i = 0; i < 1000; i++) assert.equal(store.claim(`key\nnonce-${i}`, 300), true, `expired ${i}`);
  });

  it('when full, forgets the nonce that expires first and never refuses a new one', () => {
    // one window of 16 slots is the whole table: which entry goes is exact
    const clock = fixedClock(1_000_000);
    const store = memoryNonceStore(clock, 16);
    for (let i = 0; i < 16; i++) assert.equal(store.claim(`n${i}`, 100 + i), true);
    assert.equal(store.claim('x', 200), true, 'full: n0, the first to expire, makes room');
    for (let i = 1; i < 16; i++) assert.equal(store.claim(`n${i}`, 100), false, `n${i} kept`);
    assert.equal(store.claim('x', 200), false);
    assert.equal(store.claim('n0', 300), true, 'n0 was forgotten; claiming it forgets n1');
    assert.equal(store.claim('n1', 300), true);
    assert.equal(store.claim('n0', 300), false);
  });

  it('reuses the slots of expired nonces before forgetting live ones', () => {
    const clock = fixedClock(1_000_000);
    const store = memoryNonceStore(clock, 16);
    for (let i = 0; i < 8; i++) assert.equal(store.claim(`short${i}`, 5), true);
    for (let i = 0; i < 8; i++) assert.equal(store.claim(`long${i}`, 500), true);
    clock.advance(5);
    for (let i = 0; i < 8; i++) assert.equal(store.claim(`new${i}`, 500), true);
    for (let i = 0; i < 8; i++) assert.equal(store.claim(`long${i}`, 500), false, `long${i} kept`);
    for (let i = 0; i < 8; i++) assert.equal(store.claim(`new${i}`, 500), false, `new${i} kept`);
  });

  it('takes nonces outside latin1, and refuses a table size it cannot use', () => {
    const clock = fixedClock(1_000_000);
    const store = memoryNonceStore(clock, 64);
    assert.equal(store.claim('key\nnonce-ünïcödé-\u{1F600}', 60), true);
    assert.equal(store.claim('key\nnonce-ünïcödé-\u{1F600}', 60), false);
    assert.equal(store.claim('key\nnonce-ünïcödé-\u{1F601}', 60), true);
    assert.throws(() => memoryNonceStore(clock, 8), /power of two/);
    assert.throws(() => memoryNonceStore(clock, 100), /power of two/);
  });
});
