// A client deleted while one of its token requests is under way (`drawbridge client delete`,
// DELETE /clients/{id} on the admin API): the deletion revokes the client's tokens, but a
// token stored a moment after that revocation (its request had authenticated the client
// before the deletion, here or on another instance whose client cache had not heard yet)
// escaped it and stayed active at introspection for its whole lifetime. 20 loops of
// client_credentials over two instances kept 5 to 16 such tokens per deletion. A token whose
// client no longer exists is not active.
//
// Deterministic here: the client authenticates with private_key_jwt at a jwks_uri the test
// holds back, so its request has loaded the client and waits on the key set while the client
// is deleted the way the CLI and the admin API delete it; then the key set is released.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { validateClientConfig } from '../../src/config/client.js';
import { clientRecordFromConfig } from '../../src/storage/client-records.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';

describe('a token request racing the deletion of its client', () => {
  let server: TestServer;
  let jwksServer: Server;
  let jwksUrl: string;
  let release!: () => void;
  let requested!: Promise<void>;
  let jwks: unknown;

  before(async () => {
    let asked!: () => void;
    requested = new Promise<void>((resolve) => (asked = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    jwksServer = createServer(async (_req, res) => {
      asked();
      await released;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    server = await startAuth({
      clients: [{ client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] }],
    });
  });
  after(async () => {
    release();
    await server?.close();
    jwksServer.closeAllConnections();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  const introspect = async (token: string) =>
    (await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean };

  it('the token it gets is not active once the client is gone', async () => {
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
    jwks = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    const clientId = `svc-${randomBytes(6).toString('hex')}`;
    const storage = server.running.storage;
    // made as the admin API makes clients
    await storage.clients.insert(
      clientRecordFromConfig(validateClientConfig({ client_id: clientId, jwks_uri: jwksUrl, grant_types: ['client_credentials'], scopes: ['a'] }), 'admin', 1),
    );
    const assertion = await new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${server.issuer}/oauth2/token`)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);

    const pending = postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion });
    await requested; // the client is loaded, its request waits on the key set

    // deleted as `drawbridge client delete` and DELETE /clients/{id} delete it: the record,
    // then its tokens (none yet)
    assert.equal(await storage.clients.delete(clientId), true);
    await storage.tokens.revokeByClient(clientId, Math.floor(Date.now() / 1000));
    release();

    const res = await pending;
    if (res.status !== 200) {
      // refusing the request outright is as good
      assert.equal(res.status, 401, await res.text());
      return;
    }
    const { access_token } = (await res.json()) as { access_token: string };
    assert.deepEqual(await introspect(access_token), { active: false }, 'a token of a deleted client');
  });
});
