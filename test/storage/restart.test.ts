// Data survives close + reopen (SQLite file, PostgreSQL schema), and migrations are
// versioned: applied once, idempotent, and required before PostgreSQL opens.

import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { openStorage, pendingMigrations } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { postgresTarget, sqliteFileTarget, type Target } from './targets.js';

const NOW = 1_700_000_000;
// every migration, in order: a fresh database has all of them pending
const ALL_MIGRATIONS = Object.keys(await migrationProvider.getMigrations());
const PENDING = new RegExp(`storage: ${ALL_MIGRATIONS.length} pending migration\\(s\\); run "drawbridge migrate --config FILE"$`);

async function writeEverything(storage: Storage): Promise<void> {
  await storage.clients.upsert({
    client_id: 'web',
    client_name: 'Web',
    secret_hash: 'cd'.repeat(32),
    redirect_uris: ['https://app.example/cb'],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'profile'],
    default_scopes: ['openid'],
    token_endpoint_auth_method: 'client_secret_basic',
    jwks: null,
    jwks_uri: null,
    access_token_format: 'opaque',
    access_token_ttl: 600,
    audiences: ['orders'],
    post_logout_redirect_uris: [],
    backchannel_logout_uri: null,
    backchannel_logout_session_required: false,
    source: 'config',
    created_at: NOW,
    updated_at: NOW,
  });
  await storage.keys.insertInitial({
    kid: 'k1',
    alg: 'ES256',
    public_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    private_enc: 'enc',
    status: 'current',
    created_at: NOW - 100,
    publish_until: null,
  });
  await storage.keys.rotate(
    {
      kid: 'k2',
      alg: 'ES256',
      public_jwk: { kty: 'EC', crv: 'P-256', x: 'x2', y: 'y2' },
      private_enc: 'enc2',
      status: 'current',
      created_at: NOW,
      publish_until: null,
    },
    NOW + 600,
  );
  await storage.tokens.insert({
    digest: 'digest-1',
    kind: 'refresh_token',
    format: 'opaque',
    jti: 'jti-1',
    client_id: 'web',
    sub: 'alice-id',
    scope: 'openid',
    audience: ['orders'],
    grant_id: 'grant-1',
    issued_at: NOW,
    expires_at: NOW + 86_400,
    revoked_at: null,
    extra: { username: 'alice' },
  });
  await storage.jtis.remember('client-assertion', 'jti-1', NOW + 60, NOW);
  await storage.users.upsert({
    id: 'alice-id',
    username: 'alice',
    password_hash: null,
    claims: { email: 'alice@example.com' },
    locked: false,
    source: 'config',
    created_at: NOW,
    updated_at: NOW,
  });
}

async function assertEverythingThere(storage: Storage): Promise<void> {
  assert.equal((await storage.clients.get('web'))?.client_name, 'Web');
  assert.deepEqual((await storage.clients.get('web'))?.audiences, ['orders']);
  assert.equal((await storage.keys.current())?.kid, 'k2');
  assert.deepEqual(
    (await storage.keys.published(NOW)).map((k) => k.kid),
    ['k2', 'k1'],
  );
  assert.deepEqual((await storage.tokens.findByDigest('digest-1'))?.extra, { username: 'alice' });
  assert.equal(await storage.jtis.has('client-assertion', 'jti-1', NOW), true);
  assert.equal(await storage.jtis.remember('client-assertion', 'jti-1', NOW + 60, NOW), false);
  assert.equal((await storage.users.getByUsername('alice'))?.id, 'alice-id');
}

function restartSuite(target: Target, opts: { autoMigrateByDefault: boolean }): void {
  describe(`restart: ${target.name}`, { skip: target.skip }, () => {
    it('keeps clients, keys, tokens, jtis and users across close and reopen', async () => {
      const place = await target.prepare();
      try {
        const first = await openStorage(place.url, { autoMigrate: true });
        await writeEverything(first);
        await first.close();

        const second = await openStorage(place.url);
        try {
          await assertEverythingThere(second);
          assert.deepEqual(await pendingMigrations(second), []);
          assert.deepEqual(await second.migrate(), [], 'a second migrate applies nothing');
        } finally {
          await second.close();
        }
      } finally {
        await place.cleanup();
      }
    });

    it('applies migrations once: pending before, applied by migrate(), then idempotent', async () => {
      const place = await target.prepare();
      try {
        if (!opts.autoMigrateByDefault) {
          await assert.rejects(openStorage(place.url), PENDING);
        }
        await assert.rejects(openStorage(place.url, { autoMigrate: false }), PENDING);

        // what `drawbridge migrate` does
        const storage = await openStorage(place.url, { autoMigrate: false, checkMigrations: false });
        try {
          assert.deepEqual(await pendingMigrations(storage), ALL_MIGRATIONS);
          assert.deepEqual(await storage.migrate(), ALL_MIGRATIONS);
          assert.deepEqual(await storage.migrate(), []);
          assert.deepEqual(await pendingMigrations(storage), []);
        } finally {
          await storage.close();
        }

        const reopened = await openStorage(place.url, { autoMigrate: false });
        await reopened.ping();
        await reopened.close();
      } finally {
        await place.cleanup();
      }
    });
  });
}

restartSuite(sqliteFileTarget, { autoMigrateByDefault: true });
restartSuite(await postgresTarget(), { autoMigrateByDefault: false });

describe('restart: sqlite file specifics', () => {
  it('creates the parent directory and uses WAL', async () => {
    const place = await sqliteFileTarget.prepare();
    try {
      const file = place.url.slice('sqlite:'.length);
      const storage = await openStorage(place.url);
      try {
        assert.ok(existsSync(file));
        await storage.tokens.deleteExpired(NOW); // any write
        assert.ok(existsSync(`${file}-wal`), 'journal_mode=WAL keeps a -wal file while open');
      } finally {
        await storage.close();
      }
    } finally {
      await place.cleanup();
    }
  });
});
