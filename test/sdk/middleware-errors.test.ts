// What the middleware does with errors that surface after authentication: guards thrown inside
// Express routes (authErrorHandler), and anything a wrapped node:http handler throws (a 500,
// never an unhandled rejection that ends the service). Tokens are signed by a local key whose
// JWKS a small server publishes: nothing here needs the auth server.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  authenticate,
  authErrorHandler,
  createVerifier,
  DrawbridgeAuthError,
  requireScopes,
  type AuthenticatedRequest,
  type Verifier,
} from '../../src/sdk/index.js';

const ISSUER = 'https://auth.test.example';

async function listen(listener: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** GET with a deadline: a request nobody answers is 'left hanging', a cut connection 'cut'. */
async function get(url: string, headers: Record<string, string> = {}): Promise<Reply | 'cut' | 'left hanging'> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(3000) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    return (err as Error).name === 'TimeoutError' ? 'left hanging' : 'cut';
  }
}

function answered(reply: Reply | 'cut' | 'left hanging'): Reply {
  assert.ok(typeof reply === 'object', `expected an answer, got: ${String(reply)}`);
  return reply;
}

describe('sdk: errors after authentication', () => {
  let jwks: Server;
  let verifier: Verifier;
  let privateKey: CryptoKey;

  const token = (scope: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: 'user-1', client_id: 'web', scope, groups: [], auth_method: 'oauth2', jti: `j-${Math.random()}` })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('orders')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
  };
  const bearer = async (scope = 'orders:read') => ({ authorization: `Bearer ${await token(scope)}` });

  before(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const body = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    let url: string;
    ({ server: jwks, url } = await listen((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body)));
    verifier = createVerifier({ issuer: ISSUER, audience: 'orders', jwksUri: `${url}/jwks.json` });
  });

  after(() => close(jwks));

  describe('Express: authErrorHandler answers guards thrown in routes', () => {
    let server: Server;
    let url: string;
    const refusals: string[] = [];

    before(async () => {
      const app = express();
      app.use(authenticate(verifier));
      app.get('/write', (req, res) => {
        requireScopes((req as AuthenticatedRequest<typeof req>).auth, 'orders:write');
        res.send('written');
      });
      // Express 5 passes a rejected promise on to the error handlers too
      app.get('/write-async', async (req, res) => {
        await new Promise((r) => setImmediate(r));
        requireScopes((req as AuthenticatedRequest<typeof req>).auth, 'orders:write');
        res.send('written');
      });
      app.get('/read', (req, res) => {
        requireScopes((req as AuthenticatedRequest<typeof req>).auth, 'orders:read');
        res.send('read');
      });
      app.get('/boom', () => {
        throw new Error('the database password is hunter2');
      });
      app.use(authErrorHandler(verifier, { onError: (err) => refusals.push(err.code) }));
      // what the application does with everything else
      app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).json({ handled_by: 'the app', was_auth_error: err instanceof DrawbridgeAuthError });
      });
      ({ server, url } = await listen(app));
    });

    after(() => close(server));

    for (const path of ['/write', '/write-async']) {
      it(`${path}: a missing scope is a 403 with the RFC 6750 challenge and the JSON body, not Express's HTML page`, async () => {
        const reply = answered(await get(`${url}${path}`, { ...(await bearer()), 'x-request-id': 'req-42' }));
        assert.equal(reply.status, 403, reply.text);
        assert.equal(
          reply.headers.get('www-authenticate'),
          'Bearer realm="orders", error="insufficient_scope", error_description="missing scope: orders:write", scope="orders:write"',
        );
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        assert.deepEqual(JSON.parse(reply.text), { error: 'insufficient_scope', error_description: 'missing scope: orders:write', request_id: 'req-42' });
        assert.doesNotMatch(reply.text, /at |<html|<pre/i, 'no stack trace, no HTML');
      });
    }

    it('lets a granted scope through, and the realm option wins over the verifier audience', async () => {
      const reply = answered(await get(`${url}/read`, await bearer()));
      assert.equal(reply.status, 200);
      assert.equal(reply.text, 'read');
      const handler = authErrorHandler(verifier, { realm: 'orders-api' });
      assert.equal(handler.length, 4, 'Express recognises error handlers by their four parameters');
      const plain = await listen((req, res) => handler(new DrawbridgeAuthError('invalid_token', 'the token expired'), req, res, () => res.end('next')));
      try {
        const refused = answered(await get(plain.url));
        assert.equal(refused.status, 401);
        assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="orders-api", error="invalid_token", error_description="the token expired"');
      } finally {
        await close(plain.server);
      }
    });

    it('passes other errors on to next(err), untouched', async () => {
      const reply = answered(await get(`${url}/boom`, await bearer()));
      assert.equal(reply.status, 500);
      assert.deepEqual(JSON.parse(reply.text), { handled_by: 'the app', was_auth_error: false });
    });

    it('calls onError with each refusal it answers', () => {
      assert.deepEqual(refusals, ['insufficient_scope', 'insufficient_scope']);
    });
  });

  describe('node:http: what the wrapped handler throws', () => {
    /** Wraps `handler` and serves it, recording how each call of the wrapper settled. */
    async function serve(handler: Parameters<ReturnType<typeof authenticate>>[0], opts: Parameters<typeof authenticate>[1] = {}) {
      const wrapped = authenticate(verifier, opts)(handler);
      const settled: string[] = [];
      const { server, url } = await listen((req, res) => {
        wrapped(req, res).then(
          () => settled.push('resolved'),
          (err: unknown) => settled.push(`rejected: ${String(err)}`),
        );
      });
      return { server, url, settled };
    }

    it('an error before answering: 500 server_error with the request id, nothing of the error, reported to onHandlerError; the promise resolves', async () => {
      const seen: Array<[unknown, string | undefined]> = [];
      const boom = new Error('the database password is hunter2');
      const { server, url, settled } = await serve(
        async (_req, res) => {
          res.setHeader('content-encoding', 'gzip');
          res.setHeader('x-kept', 'yes');
          throw boom;
        },
        { onHandlerError: (err, req: IncomingMessage) => seen.push([err, req.url]) },
      );
      try {
        const reply = answered(await get(`${url}/orders/7?x=1`, { ...(await bearer()), 'x-request-id': 'req-7' }));
        assert.equal(reply.status, 500);
        assert.deepEqual(JSON.parse(reply.text), { error: 'server_error', error_description: 'internal error', request_id: 'req-7' });
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        assert.equal(reply.headers.get('content-encoding'), null, 'the body is not what the handler meant to encode');
        assert.equal(reply.headers.get('x-kept'), 'yes');
        assert.equal(reply.headers.get('www-authenticate'), null);
        assert.deepEqual(seen, [[boom, '/orders/7?x=1']]);
        assert.deepEqual(settled, ['resolved']);
      } finally {
        await close(server);
      }
    });

    it('a non-Error thrown synchronously, with a throwing hook and no request id: still a plain 500', async () => {
      const { server, url, settled } = await serve(
        () => {
          throw 'a string'; // eslint-disable-line no-throw-literal
        },
        {
          onHandlerError: () => {
            throw new Error('the logger is broken');
          },
        },
      );
      try {
        const reply = answered(await get(url, await bearer()));
        assert.equal(reply.status, 500);
        assert.deepEqual(JSON.parse(reply.text), { error: 'server_error', error_description: 'internal error' });
        assert.deepEqual(settled, ['resolved']);
      } finally {
        await close(server);
      }
    });

    it('an error after the answer began: the connection is cut, not left hanging nor answered twice', async () => {
      const seen: unknown[] = [];
      const { server, url, settled } = await serve(
        async (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('partial ');
          await new Promise((r) => setTimeout(r, 20));
          throw new Error('failed halfway');
        },
        { onHandlerError: (err) => seen.push(err) },
      );
      try {
        assert.equal(await get(url, await bearer()), 'cut');
        assert.equal(seen.length, 1);
        assert.deepEqual(settled, ['resolved']);
      } finally {
        await close(server);
      }
    });

    it('an error after the answer was sent in full: the answer stands (the connection is not cut)', async () => {
      const seen: unknown[] = [];
      const { server, url, settled } = await serve(
        async (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
          res.end('done');
          throw new Error('failed after answering');
        },
        { onHandlerError: (err) => seen.push(err) },
      );
      try {
        const reply = answered(await get(url, await bearer()));
        assert.equal(reply.status, 200);
        assert.equal(reply.text, 'done');
        assert.equal(seen.length, 1);
        assert.deepEqual(settled, ['resolved']);
      } finally {
        await close(server);
      }
    });

    it('the documented bare createServer(authenticate(verifier)(handler)): a 500, the error on console.error, and the process lives', async (t: TestContext) => {
      const logged = t.mock.method(console, 'error', () => undefined);
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => rejections.push(reason);
      process.on('unhandledRejection', onRejection);
      const boom = new Error('the handler failed');
      // exactly the README's pattern: nothing catches the wrapper's promise
      const { server, url } = await listen(
        authenticate(verifier)(async () => {
          throw boom;
        }),
      );
      try {
        const reply = answered(await get(`${url}/orders`, await bearer()));
        assert.equal(reply.status, 500);
        assert.equal(JSON.parse(reply.text).error, 'server_error');
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(rejections, []);
        assert.equal(logged.mock.callCount(), 1);
        assert.ok((logged.mock.calls[0]!.arguments as unknown[]).includes(boom), 'the error itself is logged');
        assert.match(String(logged.mock.calls[0]!.arguments[0]), /GET \/orders/);
      } finally {
        process.off('unhandledRejection', onRejection);
        await close(server);
      }
    });

    it('a guard that fails after the answer was sent in full: the answer stands, and so does the connection', async () => {
      const { server, url } = await serve(async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
        res.end('done');
        requireScopes(req.auth, 'orders:write');
      });
      try {
        // two requests pipelined on one keep-alive connection: both answered, none cut
        const { hostname, port } = new URL(url);
        const auth = (await bearer()).authorization;
        const text = await new Promise<string>((resolve) => {
          const socket = connect(Number(port), hostname, () => {
            const head = `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`;
            socket.write(head + head);
          });
          let got = '';
          socket.on('data', (c: Buffer) => {
            got += c.toString('latin1');
            if (got.split('HTTP/1.1 200').length === 3) socket.end();
          });
          socket.on('error', () => undefined);
          socket.on('close', () => resolve(got));
          socket.setTimeout(3000, () => socket.destroy());
        });
        assert.equal(text.split('HTTP/1.1 200').length - 1, 2, text);
      } finally {
        await close(server);
      }
    });

    it('auth errors stay what they were: a guard in the handler is a 403, onHandlerError is not called', async () => {
      const seen: unknown[] = [];
      const { server, url } = await serve(
        (req) => {
          requireScopes(req.auth, 'orders:write');
        },
        { onHandlerError: (err) => seen.push(err) },
      );
      try {
        const reply = answered(await get(url, await bearer()));
        assert.equal(reply.status, 403);
        assert.equal(JSON.parse(reply.text).error, 'insufficient_scope');
        assert.deepEqual(seen, []);
      } finally {
        await close(server);
      }
    });
  });
});
