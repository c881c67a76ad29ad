// request-size-limiting unit tests: config errors, the Content-Length check, what it asks
// of the proxy for chunked bodies (gr.bodyLimit), 411, and the counting stream itself.
import * as assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { readBodyInto } from '../../src/gateway/authn/read-body.js';
import { limitBody } from '../../src/gateway/limits/body-limit.js';
import { createRequestSizeLimiter } from '../../src/gateway/limits/request-size-limiting.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { gatewayRequest, refusal } from './limits-harness.js';

const PATH = 'gateway.services[3].plugins[0].config';

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createRequestSizeLimiter(config, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('request-size-limiting config', () => {
  it('is registered as an intercept-stage plugin', async () => {
    const instance = await PLUGINS.get('request-size-limiting')!.create({}, undefined as never, PATH);
    assert.equal(instance.stage, 'intercept');
    assert.equal(instance.impl.name, 'request-size-limiting');
  });

  it('names the offending key', () => {
    assert.equal(configError({ size_unit: 'gigabytes' }).message, `${PATH}.size_unit: expected one of "bytes", "kilobytes", "megabytes", got "gigabytes"`);
    assert.equal(configError({ allowed_payload_size: -1 }).path, `${PATH}.allowed_payload_size`);
    assert.equal(configError({ allowed_payload_size: '10mb' }).path, `${PATH}.allowed_payload_size`);
    assert.equal(configError({ require_content_length: 1 }).path, `${PATH}.require_content_length`);
    assert.equal(configError({ max_size: 10 }).path, `${PATH}.max_size`);
  });
});

describe('request-size-limiting', () => {
  it("defaults to Kong's 128 megabytes", async () => {
    const limiter = createRequestSizeLimiter({}, PATH);
    assert.equal(await limiter.intercept(gatewayRequest({ method: 'POST', headers: { 'content-length': String(128 * 1024 * 1024) } })), false);
    const err = await refusal(() => limiter.intercept(gatewayRequest({ method: 'POST', headers: { 'content-length': String(128 * 1024 * 1024 + 1) } })));
    assert.equal(err.message, `request body exceeds ${128 * 1024 * 1024} bytes`);
  });

  it('refuses a declared Content-Length over the limit with 413, closing the connection', async () => {
    const limiter = createRequestSizeLimiter({ allowed_payload_size: 2, size_unit: 'kilobytes' }, PATH);
    const fits = gatewayRequest({ method: 'POST', headers: { 'content-length': '2048' } });
    assert.equal(await limiter.intercept(fits), false);
    assert.equal(fits.bodyLimit, undefined, 'Node enforces a declared length itself');
    const err = await refusal(() => limiter.intercept(gatewayRequest({ method: 'POST', headers: { 'content-length': '2049' } })));
    assert.equal(err.status, 413);
    assert.equal(err.code, 'payload_too_large');
    assert.equal(err.message, 'request body exceeds 2048 bytes');
    assert.deepEqual(err.headers, { connection: 'close' });
  });

  it('leaves bodiless requests alone and hands the limit of a chunked body to the proxy', async () => {
    const limiter = createRequestSizeLimiter({ allowed_payload_size: 100, size_unit: 'bytes' }, PATH);
    const bodiless = gatewayRequest();
    assert.equal(await limiter.intercept(bodiless), false);
    assert.equal(bodiless.bodyLimit, undefined);
    const chunked = gatewayRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    assert.equal(await limiter.intercept(chunked), false);
    assert.equal(chunked.bodyLimit, 100);
    // a smaller limit already set (another entry) is kept
    const tighter = gatewayRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    tighter.bodyLimit = 50;
    await limiter.intercept(tighter);
    assert.equal(tighter.bodyLimit, 50);
  });

  it('require_content_length refuses a chunked body with 411', async () => {
    const limiter = createRequestSizeLimiter({ allowed_payload_size: 1, require_content_length: true }, PATH);
    const err = await refusal(() => limiter.intercept(gatewayRequest({ method: 'PUT', headers: { 'transfer-encoding': 'chunked' } })));
    assert.equal(err.status, 411);
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.message, 'a Content-Length header is required for a request body');
    assert.equal(await limiter.intercept(gatewayRequest({ method: 'GET' })), false);
    assert.equal(await limiter.intercept(gatewayRequest({ method: 'POST', headers: { 'content-length': '5' } })), false);
  });
});

describe('limitBody', () => {
  const source = (...chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false });

  it('passes a body up to the limit through unchanged', async () => {
    assert.equal(await text(limitBody(source('abc', 'defg', 'hij'), 10)), 'abcdefghij');
  });

  it('fails with a 413 GatewayError past the limit, without destroying the source', async () => {
    const body = source('abcde', 'fghij', 'k', 'lmnop');
    const limited = limitBody(body, 10);
    const err = await text(limited).then(
      () => assert.fail('expected the stream to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 413);
    assert.equal(err.message, 'request body exceeds 10 bytes');
    assert.deepEqual(err.headers, { connection: 'close' });
    assert.equal(body.destroyed, false, 'the client socket must still carry the 413');
  });

  it('fails when the source fails', async () => {
    const body = new Readable({ read() {} });
    const limited = limitBody(body, 10);
    const failure = text(limited);
    body.destroy(new Error('client went away'));
    await assert.rejects(failure, /client went away/);
  });
});

describe('a body buffered by a plugin (hmac-auth) under request-size-limiting', () => {
  const chunked = (...chunks: string[]) =>
    Object.assign(Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false }), {
      headers: { 'transfer-encoding': 'chunked' },
      complete: false,
    }) as unknown as IncomingMessage;

  it("is refused past the interceptor's smaller limit: the buffered body is replayed, never counted by the proxy", async () => {
    const limiter = createRequestSizeLimiter({ allowed_payload_size: 10, size_unit: 'bytes' }, PATH);
    const gr = gatewayRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked' }, req: chunked('0123456', '7890123') });
    assert.equal(await limiter.intercept(gr), false);
    const err = await readBodyInto(gr, 1024 * 1024).then(
      () => assert.fail('expected a 413'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 413);
    assert.equal(err.message, 'request body exceeds 10 bytes');
    assert.equal(gr.body, undefined);
  });

  it("keeps the plugin's own limit when it is the smaller one, and buffers a body within both", async () => {
    const small = gatewayRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked' }, req: chunked('0123456', '7890123') });
    small.bodyLimit = 100;
    await assert.rejects(readBodyInto(small, 10), /request body exceeds 10 bytes/);
    const fits = gatewayRequest({ method: 'POST', headers: { 'transfer-encoding': 'chunked' }, req: chunked('01234', '56789') });
    fits.bodyLimit = 10;
    assert.equal((await readBodyInto(fits, 1024)).toString(), '0123456789');
  });
});
