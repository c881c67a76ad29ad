// A private_key_jwt assertion that carries the client's valid signature but is refused anyway
// (its jti was already used, or it has expired) is a 401 invalid_client, but it is no guess:
// whoever sends it captured an assertion the client signed, and learns nothing by sending it
// again. It used to count as a client-authentication failure, so one captured assertion
// replayed max_failures times locked the client out (429 for its own fresh assertions) for
// the whole window. Such refusals are no longer counted; a wrong signature or an unknown key
// still is, against the address that sent it (a private_key_jwt client's failures are not
// counted against the client: client-auth-throttle-who.test.ts). One address may fail as often
// as one client here, so a refusal counted either way would show.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { fixedClock } from '../../src/core/clock.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_FAILURES = 3;
const CLIENTS = ['svc-replay', 'svc-expired', 'svc-forged'];

type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>['privateKey'];

describe('client assertions refused with a valid signature do not lock the client out', () => {
  let server: TestServer;
  let privateKey: PrivateKey;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    const pair = await jose.generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = await startAuth(
      {
        client_auth_throttle: { max_failures: MAX_FAILURES, max_failures_per_ip: MAX_FAILURES, window: '60s' },
        clients: CLIENTS.map((client_id) => ({ client_id, jwks: { keys: [jwk] }, grant_types: ['client_credentials'], scopes: ['a'] })),
      },
      {},
      { clock },
    );
  });
  after(() => server?.close());

  async function assertion(clientId: string, opts: { key?: PrivateKey; exp?: number } = {}): Promise<string> {
    return new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${server.issuer}/oauth2/token`)
      .setIssuedAt(clock.now() - 10)
      .setExpirationTime(opts.exp ?? clock.now() + 60)
      .sign(opts.key ?? privateKey);
  }

  const token = (clientAssertion: string) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: clientAssertion });

  async function refused(res: Response, description: RegExp): Promise<void> {
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(res.status, 401, JSON.stringify(body));
    assert.equal(body.error, 'invalid_client');
    assert.match(body.error_description, description);
  }

  it('a replayed assertion: 401 every time, and the client still gets tokens', async () => {
    const captured = await assertion('svc-replay');
    assert.equal((await token(captured)).status, 200, 'the first use');
    for (let i = 0; i < MAX_FAILURES * 2; i++) await refused(await token(captured), /already used/);
    assert.equal((await token(await assertion('svc-replay'))).status, 200, 'a fresh assertion of the client');
  });

  it('an expired assertion: 401 every time, and the client still gets tokens', async () => {
    const stale = await assertion('svc-expired', { exp: clock.now() - 120 });
    for (let i = 0; i < MAX_FAILURES * 2; i++) await refused(await token(stale), /invalid/);
    assert.equal((await token(await assertion('svc-expired'))).status, 200, 'a fresh assertion of the client');
  });

  it('a wrong signature still counts, against the address: 429 after max_failures_per_ip', async () => {
    const { privateKey: other } = await jose.generateKeyPair('ES256');
    for (let i = 0; i < MAX_FAILURES; i++) await refused(await token(await assertion('svc-forged', { key: other })), /invalid/);
    assert.equal((await token(await assertion('svc-forged', { key: other }))).status, 429);
    assert.equal((await token(await assertion('svc-forged'))).status, 429, 'the address is locked out for the window');
  });
});
