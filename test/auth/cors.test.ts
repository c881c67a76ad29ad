// CORS on the token, userinfo and revocation endpoints (src/auth/cors.ts): the allowed
// origins are the origins of the registered clients' redirect URIs, kept fresh as clients
// change. Header checks over raw HTTP (any Origin can be sent), then a real Chromium on an
// allowed origin and on an unknown one: the browser's own CORS check is the judge.
import * as assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { clientRecordFromConfig } from '../../src/auth/clients.js';
import { AllowedOrigins, PREFLIGHT_MAX_AGE, originOf } from '../../src/auth/cors.js';
import type { ClientRecord, ClientRepo } from '../../src/storage/types.js';
import { validateConfig } from '../../src/config/index.js';
import { basic, startAuth, TEST_SECRET, type TestServer } from '../helpers/auth-server.js';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';

const SECRET = 'cors-rp-secret-0123456789abcdef-0123';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request with exactly these headers (fetch would not let us choose Origin freely). */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A tiny web app: its page at / (the origin under test). */
async function startApp(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title><p>app</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('AllowedOrigins: built from the client list, rebuilt only when clients change', () => {
  function repoWith(uris: string[][]): ClientRepo & { lists: number } {
    const records = uris.map((redirect_uris, i) => ({ client_id: `c${i}`, redirect_uris }) as ClientRecord);
    return {
      lists: 0,
      async list() {
        this.lists++;
        return records;
      },
      get: async () => undefined,
      upsert: async () => undefined,
      insert: async () => false,
      update: async () => false,
      delete: async () => false,
      prune: async () => [],
    };
  }

  it('one list() for many checks; a new change stamp or the TTL rebuilds; concurrent rebuilds share one read', async () => {
    const repo = repoWith([['https://a.example/cb', 'com.example.app:/cb'], ['http://127.0.0.1:9/cb', 'https://a.example/other']]);
    let stamp = 1;
    let now = 0;
    const origins = new AllowedOrigins(repo, { ttlMs: 1000, changeStamp: () => stamp, nowMs: () => now });
    assert.equal(origins.peek('https://a.example'), undefined, 'nothing built yet');
    const first = await Promise.all([origins.has('https://a.example'), origins.has('http://127.0.0.1:9'), origins.has('null')]);
    assert.deepEqual(first, [true, true, false]);
    for (let i = 0; i < 100; i++) assert.equal(await origins.has('https://b.example'), false);
    assert.equal(repo.lists, 1);
    stamp = 2;
    assert.equal(origins.peek('https://a.example'), undefined, 'clients changed: stale');
    await origins.has('https://a.example');
    assert.equal(repo.lists, 2);
    now = 1000;
    await origins.has('https://a.example');
    assert.equal(repo.lists, 3, 'the TTL bounds changes the stamp cannot see (another process)');
  });
});

describe('CORS for browser apps (token, userinfo, revocation)', () => {
  let auth: TestServer;
  let app: { server: Server; origin: string };
  let unknownApp: { server: Server; origin: string };
  let token: string;
  let userinfo: string;
  let revoke: string;

  before(async () => {
    app = await startApp();
    unknownApp = await startApp();
    auth = await startAuth({
      clients: [
        // a browser app (public client): its redirect URI's origin may call us
        { client_id: 'spa', redirect_uris: [`${app.origin}/callback`], scopes: ['openid'] },
        // a native app: custom-scheme redirect URIs have no web origin ("null")
        { client_id: 'native', redirect_uris: ['com.example.app:/cb'], scopes: ['openid'] },
        { client_id: 'svc', client_secret: SECRET, scopes: ['api'] },
      ],
    });
    token = `${auth.issuer}/oauth2/token`;
    userinfo = `${auth.issuer}/oauth2/userinfo`;
    revoke = `${auth.issuer}/oauth2/revoke`;
  });

  after(async () => {
    await auth?.close();
    app?.server.close();
    unknownApp?.server.close();
  });

  function preflight(url: string, origin: string, method = 'POST'): Promise<Answer> {
    return send(url, 'OPTIONS', { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' });
  }

  it('originOf: http(s) origins only', () => {
    assert.equal(originOf('https://App.Example:443/cb?x=1'), 'https://app.example');
    assert.equal(originOf('http://127.0.0.1:8080/cb'), 'http://127.0.0.1:8080');
    assert.equal(originOf('com.example.app:/cb'), undefined);
    assert.equal(originOf('file:///cb'), undefined);
  });

  it('preflight from an allowed origin → 204 with the allow headers, per endpoint', async () => {
    for (const [url, methods] of [[token, 'POST'], [`${auth.issuer}/oauth2/par`, 'POST'], [revoke, 'POST'], [userinfo, 'GET, POST']] as const) {
      const r = await preflight(url, app.origin);
      assert.equal(r.status, 204, url);
      assert.equal(r.headers['access-control-allow-origin'], app.origin);
      assert.equal(r.headers['access-control-allow-methods'], methods);
      assert.equal(r.headers['access-control-allow-headers'], 'Authorization, Content-Type');
      assert.equal(r.headers['access-control-max-age'], String(PREFLIGHT_MAX_AGE));
      assert.equal(r.headers.vary, 'Origin');
      assert.equal(r.headers['access-control-allow-credentials'], undefined, 'never credentials');
      assert.equal(r.body, '');
    }
  });

  it('preflight from an unknown origin, or Origin: null → 403 without any Access-Control-Allow-*', async () => {
    for (const origin of [unknownApp.origin, 'null', 'https://evil.example', `${app.origin}/`, app.origin.toUpperCase()]) {
      const r = await preflight(token, origin);
      assert.equal(r.status, 403, origin);
      assert.equal(r.headers.vary, 'Origin');
      for (const name of Object.keys(r.headers)) assert.ok(!name.startsWith('access-control-'), `${origin}: ${name}`);
    }
  });

  it('OPTIONS without Origin is no preflight: 204 with Allow and no CORS headers (peer-review.test.ts); other endpoints get no CORS', async () => {
    const plain = await send(token, 'OPTIONS', {});
    assert.equal(plain.status, 204);
    assert.equal(plain.headers.allow, 'POST, OPTIONS');
    for (const name of Object.keys(plain.headers)) assert.ok(!name.startsWith('access-control-'), name);
    const authorize = await send(`${auth.issuer}/oauth2/authorize`, 'OPTIONS', { origin: app.origin, 'access-control-request-method': 'GET' });
    assert.equal(authorize.status, 405);
    assert.equal(authorize.headers['access-control-allow-origin'], undefined);
    const introspect = await preflight(`${auth.issuer}/oauth2/introspect`, app.origin);
    assert.equal(introspect.status, 405);
    assert.equal(introspect.headers['access-control-allow-origin'], undefined);
  });

  it('actual responses: the allowed Origin echoed with Vary: Origin, errors included; nothing for others', async () => {
    const form = 'grant_type=authorization_code&client_id=spa&code=nope&code_verifier=' + 'v'.repeat(43);
    const type = { 'content-type': 'application/x-www-form-urlencoded' };
    const allowed = await send(token, 'POST', { ...type, origin: app.origin }, form);
    assert.equal(allowed.status, 400);
    assert.equal(JSON.parse(allowed.body).error, 'invalid_grant');
    assert.equal(allowed.headers['access-control-allow-origin'], app.origin);
    assert.equal(allowed.headers.vary, 'Origin');
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined);

    const unknown = await send(token, 'POST', { ...type, origin: unknownApp.origin }, form);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers['access-control-allow-origin'], undefined);
    assert.equal(unknown.headers.vary, 'Origin');

    // a server-side client sends no Origin: its answers carry no CORS headers at all
    const server = await send(token, 'POST', { ...type, authorization: basic('svc', SECRET) }, 'grant_type=client_credentials');
    assert.equal(server.status, 200, server.body);
    assert.equal(server.headers['access-control-allow-origin'], undefined);
    assert.equal(server.headers.vary, undefined);

    // userinfo's 401 challenge is readable by the app; revocation's 200 too
    const ui = await send(userinfo, 'GET', { origin: app.origin, authorization: 'Bearer not-a-token' });
    assert.equal(ui.status, 401);
    assert.equal(ui.headers['access-control-allow-origin'], app.origin);
    assert.equal(ui.headers['access-control-expose-headers'], 'WWW-Authenticate');
    const rv = await send(revoke, 'POST', { ...type, origin: app.origin }, 'client_id=spa&token=unknown');
    assert.equal(rv.status, 200);
    assert.equal(rv.headers['access-control-allow-origin'], app.origin);
  });

  it('discovery and JWKS keep Access-Control-Allow-Origin: *', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
      const r = await send(`${auth.issuer}${path}`, 'GET', { origin: unknownApp.origin });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], '*');
    }
  });

  it('clients created or deleted while running change the allowed origins (not per request, but when clients change)', async () => {
    const storage = auth.running.storage;
    const cfg = validateConfig({
      issuer: auth.issuer, storage: 'memory:', secret: TEST_SECRET,
      auth: { clients: [{ client_id: 'late', redirect_uris: [`${unknownApp.origin}/cb`], scopes: ['openid'] }] },
    }).auth!.clients[0]!;
    assert.equal((await preflight(token, unknownApp.origin)).status, 403);
    await storage.clients.upsert(clientRecordFromConfig(cfg, 'cli', Math.floor(Date.now() / 1000)));
    try {
      const r = await preflight(token, unknownApp.origin);
      assert.equal(r.status, 204);
      assert.equal(r.headers['access-control-allow-origin'], unknownApp.origin);
    } finally {
      await storage.clients.delete('late');
    }
    assert.equal((await preflight(token, unknownApp.origin)).status, 403);
  });

  describe('in Chromium', { skip: !chromiumAvailable() }, () => {
    let chrome: RunningChromium;

    before(async () => {
      chrome = await launchChromium();
    });

    after(() => chrome?.close());

    /** Runs fetch calls from a page at `origin`; each answer as status + body + a header, or the error. */
    async function fromPage(origin: string): Promise<Array<{ status?: number; body?: string; challenge?: string | null; error?: string }>> {
      const page = await (await chrome.newContext()).newPage();
      await page.goto(`${origin}/`);
      return page.evaluate(async ({ token, userinfo }) => {
        const calls: Array<() => Promise<Response>> = [
          // a simple request (form POST): no preflight, the answer must still be readable
          () => fetch(token, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'spa', code: 'nope', code_verifier: 'v'.repeat(43) }) }),
          // Authorization makes it preflighted
          () => fetch(userinfo, { headers: { authorization: 'Bearer not-a-token' } }),
        ];
        const out = [];
        for (const call of calls) {
          try {
            const res = await call();
            out.push({ status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') });
          } catch (err) {
            out.push({ error: String(err) });
          }
        }
        return out;
      }, { token, userinfo });
    }

    it('a page on an allowed origin reads the token endpoint\'s error and userinfo\'s challenge (after a preflight)', async () => {
      const [tokenAnswer, userinfoAnswer] = await fromPage(app.origin);
      assert.equal(tokenAnswer!.status, 400, JSON.stringify(tokenAnswer));
      assert.equal(JSON.parse(tokenAnswer!.body!).error, 'invalid_grant');
      assert.equal(userinfoAnswer!.status, 401, JSON.stringify(userinfoAnswer));
      assert.match(userinfoAnswer!.challenge ?? '', /error="invalid_token"/);
    });

    it('a page on an unknown origin is refused by the browser', async () => {
      const answers = await fromPage(unknownApp.origin);
      for (const a of answers) assert.match(a.error ?? '', /TypeError|Failed to fetch/, JSON.stringify(a));
    });
  });
});
