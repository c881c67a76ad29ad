// `drawbridge user lock` (and user delete) while a token request of that user is under way:
// the lock is stored, then every token of the user revoked; a password grant that had read the
// user before the lock stored its tokens after that revocation, and they stayed active (over
// two instances, 6 of the ~30 tokens issued around each lock). The grants read the user again
// once their tokens are stored and take them back when the user is locked or gone.
//
// The request is caught in the act by a password hash that takes a second or two to verify:
// the user is locked (as the CLI locks: setLocked, then revokeBySubject) while it verifies.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash } from '@node-rs/argon2';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const PASSWORD = 'correct horse battery staple 42';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';

describe('a password grant racing the lock of its user', () => {
  let server: TestServer;

  before(async () => {
    // argon2id (2 = Argon2id) at far more passes than the default: verifying takes long enough
    // to lock the user meanwhile (stronger parameters are kept, never rehashed)
    const slow = await hash(PASSWORD, { algorithm: 2, memoryCost: 19456, timeCost: 400, parallelism: 1 });
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'slow', password_hash: slow, claims: {} }],
      clients: [
        { client_id: 'app', client_secret: 'app-secret-0123456789-abcdefghijklmnop', grant_types: ['password', 'refresh_token'], scopes: ['openid'] },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
  });
  after(() => server?.close());

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  it('leaves no active token once the lock is done', async () => {
    const storage = server.running.storage;
    const user = (await storage.users.getByUsername('slow'))!;
    const pending = postForm(
      `${server.issuer}/oauth2/token`,
      { grant_type: 'password', username: 'slow', password: PASSWORD, scope: 'openid' },
      { authorization: basic('app', 'app-secret-0123456789-abcdefghijklmnop') },
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the hash is being verified
    const now = Math.floor(Date.now() / 1000);
    await storage.users.setLocked('slow', true, now);
    await storage.tokens.revokeBySubject(user.id, now);

    const res = await pending;
    const body = (await res.json()) as { access_token?: string; refresh_token?: string; error?: string };
    if (res.status === 200) {
      assert.equal(await active(body.access_token!), false, 'the access token of a locked user');
      assert.equal(await active(body.refresh_token!), false, 'the refresh token of a locked user');
    } else {
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_grant');
    }
  });
});
