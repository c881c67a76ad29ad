// Configured users → storage: hashed once (a restart keeps the stored hash and writes
// nothing), password_hash stored as given, what the file cannot say is kept (id, locked,
// a CLI-set password), mfa_required applied when given, removed users pruned.
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { validateConfig } from '../../src/config/schema.js';
import type { AuthConfig } from '../../src/config/types.js';
import { hashPassword, verifyPassword } from '../../src/auth/users/password.js';
import { syncConfiguredUsers } from '../../src/auth/users/sync.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';

const NOW = 1_700_000_000;

function authOf(users: unknown[]): AuthConfig {
  return validateConfig({ issuer: 'https://id.example', auth: { users } }).auth!;
}

describe('syncConfiguredUsers', () => {
  let storage: Storage;
  beforeEach(async () => {
    storage = await openStorage('memory:');
  });
  afterEach(async () => {
    await storage.close();
  });

  it('hashes plain passwords with argon2id; a restart keeps the stored hash and writes nothing', async () => {
    const auth = authOf([
      { username: 'alice', password: 'alice-long-password', claims: { email: 'alice@example.com' } },
      { username: 'bob', password: 'bob-long-password' },
    ]);
    const first = await syncConfiguredUsers(storage, auth, NOW);
    assert.deepEqual(first, { created: ['alice', 'bob'], updated: [], hashed: ['alice', 'bob'], pruned: [] });
    const alice = (await storage.users.getByUsername('alice'))!;
    assert.match(alice.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(alice.password_hash!, 'alice-long-password'), true);
    assert.deepEqual(alice.claims, { email: 'alice@example.com' });
    assert.equal(alice.source, 'config');
    assert.equal(alice.created_at, NOW);

    const second = await syncConfiguredUsers(storage, auth, NOW + 60);
    assert.deepEqual(second, { created: [], updated: [], hashed: [], pruned: [] });
    const again = (await storage.users.getByUsername('alice'))!;
    assert.deepEqual(again, alice, 'same hash, same id, not even updated_at changed');
  });

  it('re-hashes a changed password and updates changed claims, keeping id and created_at', async () => {
    await syncConfiguredUsers(storage, authOf([{ username: 'alice', password: 'first-long-password' }]), NOW);
    const before = (await storage.users.getByUsername('alice'))!;
    const result = await syncConfiguredUsers(
      storage,
      authOf([{ username: 'alice', password: 'second-long-password', claims: { name: 'Alice' } }]),
      NOW + 10,
    );
    assert.deepEqual(result, { created: [], updated: ['alice'], hashed: ['alice'], pruned: [] });
    const after = (await storage.users.getByUsername('alice'))!;
    assert.equal(after.id, before.id);
    assert.equal(after.created_at, NOW);
    assert.equal(after.updated_at, NOW + 10);
    assert.deepEqual(after.claims, { name: 'Alice' });
    assert.equal(await verifyPassword(after.password_hash!, 'second-long-password'), true);
    assert.equal(await verifyPassword(after.password_hash!, 'first-long-password'), false);
  });

  it('stores password_hash as given', async () => {
    const hash = await hashPassword('hashed-elsewhere-password');
    const result = await syncConfiguredUsers(storage, authOf([{ username: 'carol', password_hash: hash }]), NOW);
    assert.deepEqual(result.hashed, []);
    assert.equal((await storage.users.getByUsername('carol'))!.password_hash, hash);
  });

  it('keeps what the file cannot say: `locked`, and a password set outside the file', async () => {
    await syncConfiguredUsers(storage, authOf([{ username: 'dave' }, { username: 'erin', password: 'erin-long-password' }]), NOW);
    assert.equal((await storage.users.getByUsername('dave'))!.password_hash, null);
    const cliHash = await hashPassword('set-with-the-cli');
    await storage.users.setPasswordHash('dave', cliHash, NOW + 1);
    await storage.users.setLocked('erin', true, NOW + 1);
    await syncConfiguredUsers(storage, authOf([{ username: 'dave' }, { username: 'erin', password: 'erin-long-password' }]), NOW + 2);
    assert.equal((await storage.users.getByUsername('dave'))!.password_hash, cliHash);
    assert.equal((await storage.users.getByUsername('erin'))!.locked, true);
  });

  it('applies mfa_required when the file gives it, leaves it alone otherwise', async () => {
    await syncConfiguredUsers(storage, authOf([{ username: 'frank', mfa_required: true }, { username: 'gina' }]), NOW);
    const frank = (await storage.users.getByUsername('frank'))!;
    const gina = (await storage.users.getByUsername('gina'))!;
    assert.equal((await storage.users.getMfa(frank.id))?.required, true);
    assert.equal(await storage.users.getMfa(gina.id), undefined);
    await storage.users.setMfaRequired(gina.id, true, NOW); // the CLI's `user require-mfa`
    await syncConfiguredUsers(storage, authOf([{ username: 'frank', mfa_required: false }, { username: 'gina' }]), NOW + 1);
    assert.equal((await storage.users.getMfa(frank.id))?.required, false);
    assert.equal((await storage.users.getMfa(gina.id))?.required, true);
  });

  it('prunes config users removed from the file, never users created elsewhere', async () => {
    await syncConfiguredUsers(storage, authOf([{ username: 'keep' }, { username: 'gone' }]), NOW);
    await storage.users.upsert({
      id: 'cli-user',
      username: 'made-with-cli',
      password_hash: null,
      claims: {},
      locked: false,
      source: 'cli',
      created_at: NOW,
      updated_at: NOW,
    });
    const result = await syncConfiguredUsers(storage, authOf([{ username: 'keep' }]), NOW + 1);
    assert.deepEqual(result.pruned, ['gone']);
    assert.deepEqual((await storage.users.list()).map((u) => u.username), ['keep', 'made-with-cli']);
    assert.deepEqual((await syncConfiguredUsers(storage, authOf([]), NOW + 2)).pruned, ['keep']);
    assert.deepEqual((await storage.users.list()).map((u) => u.username), ['made-with-cli']);
  });

  it('runs at auth server start (next to the configured clients)', async () => {
    const { startAuth } = await import('../helpers/auth-server.js');
    const server = await startAuth({ users: [{ username: 'zoe', password: 'zoe-long-password', claims: { name: 'Zoe' } }] });
    try {
      const zoe = await server.running.storage.users.getByUsername('zoe');
      assert.equal(zoe?.source, 'config');
      assert.equal(await verifyPassword(zoe!.password_hash!, 'zoe-long-password'), true);
    } finally {
      await server.close();
    }
  });
});
