// The internal-token cache on a fixed clock: reuse while more than ~20% of the lifetime is
// left, a new token after that, after a key rotation, or when the identity changed; the
// LRU bound. Tokens are checked with jose against the keyring's JWKS.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { fixedClock } from '../../src/core/clock.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { InternalTokenMinter } from '../../src/gateway/mutate/internal-token.js';
import type { Identity } from '../../src/gateway/types.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { TEST_SECRET } from '../helpers/gateway.js';

const ISSUER = 'https://auth.example.test';

function identity(credential: string, extra: Partial<Identity> = {}): Identity {
  return { auth_method: 'key-auth', sub: `consumer:${credential}`, scope: [], groups: ['g'], credential_id: credential, ...extra };
}

describe('internal token cache', () => {
  const start = 1_800_000_000;
  const clock = fixedClock(start);
  let storage: Storage;
  let keyring: Keyring;

  before(async () => {
    storage = await openStorage('memory:');
    keyring = new Keyring({ repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', clock, refreshInterval: 0 });
    await keyring.start();
  });

  after(async () => {
    keyring?.stop();
    await storage?.close();
  });

  it('reuses a token until less than a fifth of its lifetime is left', async () => {
    const minter = new InternalTokenMinter({ keyring, issuer: ISSUER, clock, ttl: 60 });
    const id = identity('cred-1');
    const first = minter.tokenFor(id, 'orders');
    const { payload } = await jwtVerify(first, createLocalJWKSet(keyring.jwks() as never), { issuer: ISSUER, audience: 'orders', typ: 'at+jwt', currentDate: new Date(start * 1000) });
    assert.equal(payload.exp, start + 60);
    clock.advance(47);
    assert.equal(minter.tokenFor(id, 'orders'), first, '13 s of 60 left: still reused');
    clock.advance(1);
    const second = minter.tokenFor(id, 'orders');
    assert.notEqual(second, first, '12 s left: re-minted');
    assert.equal(decodeJwt(second).iat, start + 48);
    assert.notEqual(minter.tokenFor(id, 'billing'), second, 'another audience, another token');
  });

  it('re-mints when the identity behind the credential changed, not when only the object did', () => {
    const minter = new InternalTokenMinter({ keyring, issuer: ISSUER, clock, ttl: 60 });
    const first = minter.tokenFor(identity('cred-2'), 'orders');
    assert.equal(minter.tokenFor(identity('cred-2'), 'orders'), first);
    const regrouped = minter.tokenFor(identity('cred-2', { groups: ['g', 'admins'] }), 'orders');
    assert.notEqual(regrouped, first);
    assert.deepEqual(decodeJwt(regrouped).groups, ['g', 'admins']);
  });

  it('re-mints after a key rotation, with the new kid', async () => {
    const minter = new InternalTokenMinter({ keyring, issuer: ISSUER, clock, ttl: 60 });
    const id = identity('cred-3');
    const before = minter.tokenFor(id, 'orders');
    await keyring.rotate(120);
    const after = minter.tokenFor(id, 'orders');
    assert.notEqual(after, before);
    const header = JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()) as { kid: string; typ: string };
    assert.equal(header.kid, keyring.current.kid);
    assert.equal(header.typ, 'at+jwt');
  });

  it('never outlives expires_at, and keeps at most maxEntries tokens', () => {
    const minter = new InternalTokenMinter({ keyring, issuer: ISSUER, clock, ttl: 60, maxEntries: 2 });
    const short = minter.tokenFor(identity('cred-4', { expires_at: clock.now() + 10 }), 'orders');
    assert.equal(decodeJwt(short).exp, clock.now() + 10);
    minter.tokenFor(identity('cred-5'), 'orders');
    minter.tokenFor(identity('cred-6'), 'orders');
    assert.equal(minter.size, 2);
  });
});
