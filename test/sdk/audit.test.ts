// A fresh-eyes audit of drawbridge/sdk as an RFC 6750 / RFC 8725 / RFC 9068 reviewer would
// run it: a real auth server, a service protected by the SDK whose JWKS comes through a relay
// we can make fail, and tokens forged with jose and the stack's own key. The first tests each
// pinned a deviation (they failed before the fix named in them); the last ones record what
// was probed and found conformant, so it stays that way.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose';
import { authenticate, createVerifier, DrawbridgeAuthError, requireScopes, type AuthenticatedRequest, type Verifier } from '../../src/sdk/index.js';
import { freePort, type Stack } from '../helpers/gateway.js';
import { challenges, send } from '../gateway/authn-support.js';
import {
  internalClaims,
  sendJson,
  signingKey,
  signToken,
  startRelay,
  startSdkStack,
  startService,
  type Relay,
  type Service,
} from './support.js';

const COOLDOWN_MS = 800;
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sdk audit: the verifier and middleware against the real issuer', () => {
  let stack: Stack;
  let issuer: string;
  let jwks: Relay;
  let verifier: Verifier;
  let wrapped: Service;
  let connectStyle: Service;

  before(async () => {
    const authPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    // the issuer's JWKS through a relay: it counts fetches and can be told to fail
    jwks = await startRelay(`${issuer}/.well-known/jwks.json`);
    verifier = createVerifier({ issuer, audience: 'orders', jwksUri: `${jwks.url}/jwks.json`, jwksCooldownMs: COOLDOWN_MS });
    wrapped = await startService(authenticate(verifier)((req, res) => sendJson(res, 200, { sub: req.auth.sub })));
    const mw = authenticate(verifier);
    connectStyle = await startService((req: IncomingMessage, res: ServerResponse) => {
      mw(req, res, (err?: unknown) => (err ? sendJson(res, 500, { error: 'next(err)' }) : sendJson(res, 200, { sub: (req as AuthenticatedRequest).auth.sub })));
    });
    ({ stack } = await startSdkStack([], () => ({}), authPort));
  });

  after(async () => {
    await stack?.close();
    await jwks?.close();
    await wrapped?.close();
    await connectStyle?.close();
  });

  const valid = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    signToken(signingKey(stack), internalClaims(issuer, 'orders', extra), header);

  const refusedWith = (status: number, code: string, description?: RegExp) => (err: unknown) => {
    assert.ok(err instanceof DrawbridgeAuthError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code);
    if (description) assert.match(err.message, description);
    return true;
  };

  // --- deviations (each failed before its fix) ---

  it('RFC 7519 §4.1.6 (and the README\'s promise): an `iat` in the future beyond clockTolerance is refused (jose alone accepts it)', async () => {
    const future = await valid({ iat: now() + 3600, exp: now() + 3660 });
    // jose checks iat only with maxTokenAge: this is why the verifier checks it itself
    await jwtVerify(future, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'orders', typ: 'at+jwt' });
    await assert.rejects(verifier.verify(future), refusedWith(401, 'invalid_token', /issued in the future/));
    const reply = await send(wrapped.url, '/', { headers: { authorization: `Bearer ${future}` } });
    assert.equal(reply.status, 401, reply.text);
    assert.match(challenges(reply)[0]!, /^Bearer realm="orders", error="invalid_token", error_description="the token was issued in the future"$/);
    // within the tolerance (default 5 s) clocks may disagree
    assert.equal((await verifier.verify(await valid({ iat: now() + 3 }))).sub, 'consumer:partner-a');
  });

  it('RFC 9068 §2.2 / ARCHITECTURE §5: a token without `jti` is refused (every internal and RFC 9068 token carries one)', async () => {
    const claims = internalClaims(issuer, 'orders');
    delete claims.jti;
    const key = signingKey(stack);
    const token = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid }).sign(key.privateKey);
    await assert.rejects(verifier.verify(token), refusedWith(401, 'invalid_token', /jti/));
    assert.ok((await verifier.verify(await valid())).jti);
  });

  it('RFC 7515 §4.1.11: an unknown `crit` extension is refused, and the description says so (not "algorithm")', async () => {
    const key = signingKey(stack);
    const token = await new SignJWT(internalClaims(issuer, 'orders'))
      .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, crit: ['urn:example:must-understand'], 'urn:example:must-understand': true })
      .sign(key.privateKey, { crit: { 'urn:example:must-understand': true } });
    await assert.rejects(verifier.verify(token), refusedWith(401, 'invalid_token', /critical header/));
  });

  it('RFC 9110 §11.6.2 / RFC 6750 §3.1: two Authorization fields are a malformed request (400), not "the first one wins"', async () => {
    const good = await valid();
    for (const service of [wrapped, connectStyle]) {
      for (const pair of [[`Bearer ${good}`, 'Bearer other.token.here'], ['Bearer other.token.here', `Bearer ${good}`], [`Bearer ${good}`, `Bearer ${good}`]]) {
        const reply = await send(service.url, '/', { headers: { authorization: pair } });
        assert.equal(reply.status, 400, `${service.url} ${pair.map((p) => p.slice(0, 20)).join(' | ')}: ${reply.text}`);
        assert.equal(reply.json.error, 'invalid_request');
        assert.match(challenges(reply)[0]!, /^Bearer realm="orders", error="invalid_request"/);
      }
      // one field is fine, however it is spelled
      assert.equal((await send(service.url, '/', { headers: { Authorization: `bearer ${good}` } })).status, 200);
    }
  });

  it('a failing JWKS endpoint: forged kids cost at most one fetch per cooldown; tokens under known keys still verify; recovery picks up a new kid', async () => {
    assert.equal((await verifier.verify(await valid())).sub, 'consumer:partner-a');
    await sleep(COOLDOWN_MS + 100);
    jwks.failNext = 1_000_000;
    const before = jwks.calls;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 8; i++) {
      const forged = await new SignJWT(internalClaims(issuer, 'orders')).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `forged-${i}` }).sign(privateKey);
      // the key source is down: we cannot tell a forged kid from a new one, so 503 (not 401)
      await assert.rejects(verifier.verify(forged), refusedWith(503, 'temporarily_unavailable'));
    }
    assert.ok(jwks.calls - before <= 1, `${jwks.calls - before} JWKS fetches for 8 unknown kids while the endpoint fails`);
    // a token under a key already known needs no fetch: still accepted during the outage
    assert.equal((await verifier.verify(await valid())).sub, 'consumer:partner-a');
    // the endpoint recovers; the key rotates; once the cooldown has passed the new kid is fetched
    jwks.failNext = 0;
    const rotated = await stack.running.keyring.rotate(3600);
    await sleep(COOLDOWN_MS + 100);
    const fresh = await valid();
    assert.equal(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid, rotated.kid);
    assert.equal((await verifier.verify(fresh)).sub, 'consumer:partner-a');
  });

  it('node:http: a guard failing after the handler began answering neither rejects (a crash under a bare createServer) nor answers twice', async () => {
    const outcomes: string[] = [];
    const logged: string[] = [];
    const handler = authenticate(verifier, { onError: (err) => logged.push(err.code) })(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial ');
      requireScopes(req.auth, 'orders:write');
      res.end('never');
    });
    // exactly how a service mounts it: http.createServer(handler), nothing catching the promise
    const server = createServer((req, res) => {
      handler(req, res).then(
        () => outcomes.push('resolved'),
        (err: unknown) => outcomes.push(`rejected: ${String(err)}`),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // the answer had begun: the connection is cut rather than a second status line written
      const client = await Promise.race([
        send(url, '/', { headers: { authorization: `Bearer ${await valid()}` } }).then(
          (reply) => `answered ${reply.status}`,
          () => 'cut',
        ),
        sleep(3000).then(() => 'left hanging'),
      ]);
      assert.equal(client, 'cut');
      assert.deepEqual(outcomes, ['resolved']);
      assert.deepEqual(logged, ['insufficient_scope']);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  // --- probed and conformant (kept so they stay that way) ---

  it('an unknown kid with a healthy JWKS: one refetch, then 401; more unknown kids within the cooldown fetch nothing', async () => {
    jwks.failNext = 0;
    await sleep(COOLDOWN_MS + 100);
    const before = jwks.calls;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 5; i++) {
      const forged = await new SignJWT(internalClaims(issuer, 'orders')).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `unknown-${i}` }).sign(privateKey);
      await assert.rejects(verifier.verify(forged), refusedWith(401, 'invalid_token', /unknown key/));
    }
    assert.equal(jwks.calls - before, 1);
  });

  it('RFC 9068 §2.1/§4: typ `application/at+jwt` and an `aud` array containing the service are accepted; an array without it is not', async () => {
    assert.equal((await verifier.verify(await valid({}, { typ: 'application/at+jwt' }))).sub, 'consumer:partner-a');
    assert.deepEqual((await verifier.verify(await valid({ aud: ['billing', 'orders'] }))).aud, ['billing', 'orders']);
    await assert.rejects(verifier.verify(await valid({ aud: ['billing', 'ledger'] })), refusedWith(401, 'invalid_token'));
    await assert.rejects(verifier.verify(await valid({}, { typ: 'at+jwt; x=1' })), refusedWith(401, 'invalid_token'));
  });

  it('oversized and pathological tokens: 401 invalid_token, never a crash or a 500', async () => {
    const key = signingKey(stack);
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    // a signed payload nested 100 000 deep (act chains and plain arrays)
    const base = JSON.stringify(internalClaims(issuer, 'orders')).slice(0, -1);
    const deepAct = `${base},"act":${'{"sub":"a","act":'.repeat(100_000)}{"sub":"z"}${'}'.repeat(100_000)}}`;
    const header = b64(JSON.stringify({ alg: key.alg, typ: 'at+jwt', kid: key.kid }));
    const signRaw = (payload: string) => {
      const input = `${header}.${b64(payload)}`;
      const sig = sign(key.alg === 'EdDSA' ? null : `sha${key.alg.slice(2)}`, Buffer.from(input), key.alg.startsWith('ES') ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
      return `${input}.${sig.toString('base64url')}`;
    };
    await assert.rejects(verifier.verify(signRaw(deepAct)), refusedWith(401, 'invalid_token', /act claim/));
    for (const token of [`${'a'.repeat(2_000_000)}.${'b'.repeat(2_000_000)}.c`, 'a.b.c.d.e', '..', `${header}..`, `${header}.e30.`]) {
      await assert.rejects(verifier.verify(token), refusedWith(401, 'invalid_token'));
    }
    // through HTTP: node refuses a header over its limit (431) before the SDK sees it; just under it, a 401
    const big = `${header}.${'A'.repeat(14_000)}.sig`;
    const reply = await send(wrapped.url, '/', { headers: { authorization: `Bearer ${big}` } });
    assert.equal(reply.status, 401, reply.text.slice(0, 200));
    assert.ok(!reply.text.includes('    at '));
  });

  it('RFC 6750 §2.3: a token in the query string is not read (401 with a bare challenge)', async () => {
    const reply = await send(wrapped.url, `/?access_token=${await valid()}`);
    assert.equal(reply.status, 401, reply.text);
    assert.deepEqual(challenges(reply), ['Bearer realm="orders"']);
  });
});
