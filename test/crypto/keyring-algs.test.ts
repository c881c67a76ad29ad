// The keyring with more than one algorithm (keys.algorithm + keys.id_token_algorithms) when
// storage and config disagree: a current key demoted by someone else's `key rotate`, or a
// client asking for an algorithm this instance does not keep, must not stop the keyring.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Keyring } from '../../src/crypto/keyring.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { systemClock } from '../../src/core/clock.js';
import { TEST_SECRET } from '../helpers/auth-server.js';

describe('keyring: one current key per algorithm, when storage and config disagree', () => {
  let storage: Storage;
  let keyring: Keyring;
  const problems: string[] = [];

  before(async () => {
    storage = await openStorage('memory:');
    keyring = new Keyring({
      repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', idTokenAlgs: ['RS256', 'ES256'], clock: systemClock, refreshInterval: 0,
      onError: (err) => problems.push((err as Error).message),
    });
    await keyring.start();
  });

  after(async () => {
    keyring?.stop();
    await storage?.close();
  });

  it('an ID-token algorithm demoted elsewhere keeps its key here, and a new main key is still picked up', async () => {
    const rs = keyring.currentFor('RS256');
    const es = keyring.current;
    // another instance's `key rotate`, run with a config without RS256, demoted it
    assert.equal(await storage.keys.demoteCurrent('RS256', systemClock.now() + 600), true);
    // and a main-key rotation by the same operator
    const other = new Keyring({ repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', clock: systemClock, refreshInterval: 0 });
    await other.start();
    const rotated = await other.rotate(600);
    await keyring.refresh();
    assert.equal(keyring.current.kid, rotated.kid, 'the new main key is in use');
    assert.notEqual(keyring.current.kid, es.kid);
    assert.equal(keyring.currentFor('RS256').kid, rs.kid, 'the RS256 key in use is kept');
    assert.ok(keyring.jwks().keys.some((k) => k.kid === rs.kid), 'and still published');
    assert.equal(problems.filter((p) => /no current RS256/.test(p)).length, 1, problems.join('; '));
    await keyring.refresh();
    assert.equal(problems.filter((p) => /no current RS256/.test(p)).length, 1, 'said once, not on every refresh');
  });

  it('a client asking for an algorithm not kept here gets the default one, and the log says so once', () => {
    const key = keyring.idTokenKey('EdDSA');
    assert.equal(key.alg, 'RS256');
    keyring.idTokenKey('EdDSA');
    assert.equal(problems.filter((p) => /asks for EdDSA/.test(p)).length, 1, problems.join('; '));
    assert.equal(keyring.idTokenKey().alg, 'RS256');
    assert.equal(keyring.idTokenKey('ES256').alg, 'ES256');
  });
});
