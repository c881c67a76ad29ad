// Whom the client-authentication throttle (auth.client_auth_throttle) counts failures against.
// Every failure counted against the client as well as the address let anyone who knows a
// private_key_jwt client's id lock it out for the window with forged assertions (or any
// secret sent with its id): max_failures of them and its own good assertions got 429, while
// the count protected nothing, since a signature cannot be guessed. The same held for public
// clients, which have no credential at all. Their failures now count against the sending
// address only; a client with a secret keeps its own count, which stops guessing spread over
// many addresses.
//
// The addresses are real: the requests leave from 127.0.0.2, 127.0.0.3, … (all loopback).
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, startAuth, type TestServer } from '../helpers/auth-server.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_FAILURES = 3;
const SECRET = 'the-right-secret-0123456789abcdef';

type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>['privateKey'];

/** POSTs a form from the given local address; the status and the JSON body (if any). */
function postFrom(from: string, url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('client-authentication failures count against the client only when it has a secret', () => {
  let server: TestServer;
  let privateKey: PrivateKey;
  let forgeryKey: PrivateKey;

  before(async () => {
    const pair = await jose.generateKeyPair('ES256');
    privateKey = pair.privateKey;
    forgeryKey = (await jose.generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = await startAuth({
      // one address may fail as often as one client: each side's lock-out shows
      client_auth_throttle: { max_failures: MAX_FAILURES, max_failures_per_ip: MAX_FAILURES, window: '60s' },
      clients: [
        { client_id: 'svc-jwt', jwks: { keys: [jwk] }, grant_types: ['client_credentials'], scopes: ['a'] },
        { client_id: 'svc-jwt-2', jwks: { keys: [jwk] }, grant_types: ['client_credentials'], scopes: ['a'] },
        { client_id: 'svc-secret', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'] },
        { client_id: 'spa', redirect_uris: ['https://app.example/cb'], scopes: ['openid'] },
      ],
    });
  });
  after(() => server?.close());

  const tokenUrl = () => `${server.issuer}/oauth2/token`;

  async function assertion(clientId: string, key: PrivateKey): Promise<string> {
    return new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenUrl())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(key);
  }

  const withAssertion = async (from: string, clientId: string, key: PrivateKey) =>
    postFrom(from, tokenUrl(), { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion(clientId, key) });

  /** max_failures failures answered 401 from `from`, then that address is throttled. */
  async function lockOut(from: string, fail: () => Promise<{ status: number; body: Record<string, unknown> }>): Promise<void> {
    for (let i = 0; i < MAX_FAILURES; i++) {
      const res = await fail();
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_client');
    }
    assert.equal((await fail()).status, 429, 'the address is throttled');
  }

  it('private_key_jwt: forged assertions lock out their address, not the client', async () => {
    await lockOut('127.0.0.2', () => withAssertion('127.0.0.2', 'svc-jwt', forgeryKey));
    assert.equal((await withAssertion('127.0.0.2', 'svc-jwt', privateKey)).status, 429, 'the forger’s address stays locked out');
    const res = await withAssertion('127.0.0.3', 'svc-jwt', privateKey);
    assert.equal(res.status, 200, `the client's own assertion from elsewhere: ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body.access_token, 'string');
  });

  it('private_key_jwt: secrets sent with its client_id lock out their address, not the client', async () => {
    await lockOut('127.0.0.4', () => postFrom('127.0.0.4', tokenUrl(), { grant_type: 'client_credentials' }, { authorization: basic('svc-jwt-2', 'a-guess') }));
    assert.equal((await withAssertion('127.0.0.5', 'svc-jwt-2', privateKey)).status, 200, "the client's own assertion from elsewhere");
  });

  it('public client: secrets sent with its client_id lock out their address, not the client', async () => {
    await lockOut('127.0.0.6', () => postFrom('127.0.0.6', `${server.issuer}/oauth2/revoke`, { token: 'x' }, { authorization: basic('spa', 'a-guess') }));
    // RFC 7009: a public client revokes with its client_id alone; an unknown token is a 200
    assert.equal((await postFrom('127.0.0.7', `${server.issuer}/oauth2/revoke`, { token: 'x', client_id: 'spa' })).status, 200, 'the public client from elsewhere');
  });

  it('client secret: wrong secrets spread over addresses lock the client out everywhere', async () => {
    // one guess from each address: none of them reaches its own limit
    for (let i = 0; i < MAX_FAILURES; i++) {
      const from = `127.0.1.${i + 1}`;
      const res = await postFrom(from, tokenUrl(), { grant_type: 'client_credentials' }, { authorization: basic('svc-secret', `guess-${i}`) });
      assert.equal(res.status, 401, JSON.stringify(res.body));
    }
    const res = await postFrom('127.0.2.1', tokenUrl(), { grant_type: 'client_credentials' }, { authorization: basic('svc-secret', SECRET) });
    assert.equal(res.status, 429, `the right secret from yet another address: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error, 'temporarily_unavailable');
  });
});
