// Migration 0019 (clients.request_object_signing_alg) on every target: clients of an older
// database read on without the setting (any request object alg the server accepts), new ones
// record it when set, and down (column gone) and up again work (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { validateClientConfig } from '../../src/config/client.js';
import { clientRecordFromConfig } from '../../src/storage/client-records.js';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo, migrateToLatest } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0018-backchannel-logouts';
const THIS = '0019-client-request-object-alg';
const JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

/** A raw client row as an older version writes it: no request_object_signing_alg column yet. */
function oldRow(clientId: string): Record<string, unknown> {
  return {
    client_id: clientId, client_name: null, secret_hash: null, redirect_uris: '["https://app.example/cb"]', grant_types: '["authorization_code"]',
    scopes: '["openid"]', default_scopes: '["openid"]', token_endpoint_auth_method: 'private_key_jwt', jwks: JSON.stringify({ keys: [JWK] }), jwks_uri: null,
    access_token_format: 'opaque', access_token_ttl: null, audiences: null, post_logout_redirect_uris: null, backchannel_logout_uri: null,
    backchannel_logout_session_required: null, consent: null, mfa: null, require_pkce: null, id_token_signed_response_alg: null, require_par: null,
    source: 'cli', created_at: NOW, updated_at: NOW,
  };
}

function record(clientId: string, alg?: string) {
  const config = validateClientConfig(
    { client_id: clientId, redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'], jwks: { keys: [JWK] }, ...(alg === undefined ? {} : { request_object_signing_alg: alg }) },
    { issuer: 'http://127.0.0.1:9000' },
  );
  return clientRecordFromConfig(config, 'cli', NOW);
}

for (const target of await allTargets()) {
  describe(`migration 0019 (clients request_object_signing_alg): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older clients read on without the setting; new ones record it when set', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values(oldRow('old')).execute();
      await migrateTo(migrator, THIS);
      assert.equal('request_object_signing_alg' in (await storage.clients.get('old'))!, false);
      // through the repository, which writes the columns of later migrations too
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('pinned', 'PS256'));
      await storage.clients.upsert(record('any'));
      assert.equal((await storage.clients.get('pinned'))?.request_object_signing_alg, 'PS256');
      assert.equal('request_object_signing_alg' in (await storage.clients.get('any'))!, false);
    });

    it('down drops the column; up again works', async () => {
      await migrateTo(migrator, THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values({ ...oldRow('pinned'), request_object_signing_alg: 'ES256' }).execute();
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const columns = Object.keys((await db.selectFrom('clients').selectAll().executeTakeFirst()) as object);
      assert.equal(columns.includes('request_object_signing_alg'), false);
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('pinned', 'ES256'));
      assert.equal((await storage.clients.get('pinned'))?.request_object_signing_alg, 'ES256');
    });
  });
}
