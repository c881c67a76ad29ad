// A client in the middle of a key rotation publishes two keys of one type, and signs without a
// `kid` (RFC 7517 leaves kid optional). jose will not pick between two matching keys
// (JWKSMultipleMatchingKeys), so a right assertion or request object signed with the second
// key used to be refused as a bad signature. Now each matching key is tried: the one whose
// signature verifies decides, and a key the client does not publish is still refused.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const CB = 'https://rp.example/cb';
const CHALLENGE = createHash('sha256').update('v'.repeat(43)).digest('base64url');

type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>['privateKey'];

describe('client keys without kid, two of one type (a rotation): each matching key is tried', () => {
  let server: TestServer;
  let oldKey: PrivateKey;
  let newKey: PrivateKey;
  let strangerKey: PrivateKey;

  before(async () => {
    const [a, b, c] = await Promise.all([jose.generateKeyPair('ES256'), jose.generateKeyPair('ES256'), jose.generateKeyPair('ES256')]);
    [oldKey, newKey, strangerKey] = [a.privateKey, b.privateKey, c.privateKey];
    const keys = [await jose.exportJWK(a.publicKey), await jose.exportJWK(b.publicKey)]; // no kid, no alg
    server = await startAuth({
      clients: [{ client_id: 'rotating', jwks: { keys }, token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials', 'authorization_code'], redirect_uris: [CB], scopes: ['openid', 'a'] }],
    });
  });
  after(() => server?.close());

  const assertion = (key: PrivateKey) =>
    new jose.SignJWT({ jti: randomBytes(12).toString('hex') })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('rotating')
      .setSubject('rotating')
      .setAudience(server.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(key);

  const token = async (key: PrivateKey) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'a', client_assertion_type: JWT_BEARER, client_assertion: await assertion(key) });

  it('an assertion signed with either published key is taken; another key is refused', async () => {
    for (const key of [oldKey, newKey]) {
      const res = await token(key);
      assert.equal(res.status, 200, await res.text());
    }
    const res = await token(strangerKey);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('a request object signed with the second key is taken at the PAR endpoint', async () => {
    const request = await new jose.SignJWT({ response_type: 'code', redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's' })
      .setProtectedHeader({ alg: 'ES256', typ: 'oauth-authz-req+jwt' })
      .setIssuer('rotating')
      .setAudience(server.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(newKey);
    const res = await postForm(`${server.issuer}/oauth2/par`, { client_id: 'rotating', request, client_assertion_type: JWT_BEARER, client_assertion: await assertion(oldKey) });
    assert.equal(res.status, 201, await res.text());
  });
});
