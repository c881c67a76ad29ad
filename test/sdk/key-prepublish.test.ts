// The point of `keys.publish_ahead`: a service protected by drawbridge/sdk that fetched the
// JWKS after `drawbridge key rotate` but before the new key took over accepts the first tokens
// under the new kid from its cache, with no refetch (JWKS fetches counted). The immediate
// rotation (`--now`) is the counter-check: the same verifier refuses the new kid until its
// refetch cooldown has passed. A real keyring on real storage with the injectable clock, its
// JWKS served over HTTP; the verifier is the SDK's, unchanged.
import * as assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { createVerifier, DrawbridgeAuthError } from '../../src/sdk/index.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { TEST_SECRET } from '../helpers/auth-server.js';
import { internalClaims, sendJson, signToken, startService, type Service } from './support.js';

const ISSUER = 'https://issuer.example';
const AHEAD = 600;
// long enough that a refetch within the test is impossible: a token under a kid the verifier
// has not seen can only pass if the kid was already in the JWKS it fetched
const COOLDOWN_MS = 60_000;

describe('sdk verifier and a key published ahead', () => {
  let storage: Storage | undefined;
  let keyring: Keyring | undefined;
  let jwks: Service | undefined;

  afterEach(async () => {
    keyring?.stop();
    await jwks?.close();
    await storage?.close();
  });

  async function setUp(): Promise<{ keyring: Keyring; clock: ReturnType<typeof fixedClock>; jwks: Service }> {
    storage = await openStorage('memory:');
    const clock = fixedClock(1_700_000_000);
    keyring = new Keyring({ repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', clock, refreshInterval: 0, publishPreviousFor: 900 });
    await keyring.start();
    const ring = keyring;
    jwks = await startService((_req, res) => sendJson(res, 200, ring.jwks()));
    return { keyring, clock, jwks };
  }

  const token = (k: Keyring) => signToken(k.current, internalClaims(ISSUER, 'orders'));

  it('fetched after the rotation, before the switch: the first tokens under the new kid pass with no refetch', async () => {
    const { keyring, clock, jwks } = await setUp();
    const old = keyring.current.kid;
    const { key: next } = await keyring.prepareNext(AHEAD);

    // a service (re)starting, or refreshing its cache, between rotation and switch
    const verifier = createVerifier({ issuer: ISSUER, audience: 'orders', jwksUri: `${jwks.url}/jwks.json`, jwksCooldownMs: COOLDOWN_MS });
    assert.equal((await verifier.verify(await token(keyring))).sub, 'consumer:partner-a');
    assert.equal(keyring.current.kid, old);
    assert.equal(jwks.hits, 1);

    clock.advance(AHEAD);
    await keyring.refresh();
    assert.equal(keyring.current.kid, next.kid, 'the issuer signs with the new key now');
    for (let i = 0; i < 3; i++) assert.equal((await verifier.verify(await token(keyring))).client_id, 'partner-a');
    assert.equal(jwks.hits, 1, 'no JWKS refetch for the new kid');
  });

  it('counter-check, the immediate rotation (`--now`): the same verifier refuses the new kid until it may refetch', async () => {
    const { keyring, jwks } = await setUp();
    const verifier = createVerifier({ issuer: ISSUER, audience: 'orders', jwksUri: `${jwks.url}/jwks.json`, jwksCooldownMs: COOLDOWN_MS });
    await verifier.verify(await token(keyring));
    assert.equal(jwks.hits, 1);

    await keyring.rotate(900);
    await assert.rejects(verifier.verify(await token(keyring)), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 401);
    assert.equal(jwks.hits, 1, 'within the cooldown the kid is simply unknown');
  });
});
