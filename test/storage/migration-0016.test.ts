// Migration 0016 (clients.require_par) on every target: clients of an older database read on
// as not requiring PAR (the field absent), new ones record it either way, and down (column
// gone) and up again work (SQLite file, memory:, PostgreSQL).

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
const BEFORE = '0015-tokens-exchanged-from';
const THIS = '0016-client-require-par';

/** A raw client row as an older version writes it: no require_par column yet. */
function oldRow(clientId: string): Record<string, unknown> {
  return {
    client_id: clientId, client_name: null, secret_hash: null, redirect_uris: '["https://app.example/cb"]', grant_types: '["authorization_code"]',
    scopes: '["openid"]', default_scopes: '["openid"]', token_endpoint_auth_method: 'none', jwks: null, jwks_uri: null, access_token_format: 'opaque',
    access_token_ttl: null, audiences: null, post_logout_redirect_uris: null, backchannel_logout_uri: null, backchannel_logout_session_required: null,
    consent: null, mfa: null, require_pkce: null, id_token_signed_response_alg: null, source: 'cli', created_at: NOW, updated_at: NOW,
  };
}

function record(clientId: string, requirePar?: boolean) {
  const config = validateClientConfig(
    { client_id: clientId, redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'], ...(requirePar === undefined ? {} : { require_pushed_authorization_requests: requirePar }) },
    { issuer: 'http://127.0.0.1:9000' },
  );
  return clientRecordFromConfig(config, 'cli', NOW);
}

for (const target of await allTargets()) {
  describe(`migration 0016 (clients require PAR): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older clients read on as not requiring PAR; new ones record it either way', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values(oldRow('old')).execute();
      await migrateTo(migrator, THIS);
      const old = (await storage.clients.get('old'))!;
      assert.equal('require_pushed_authorization_requests' in old, false, 'absent, not false, for clients written before');
      // through the repository, which writes the columns of later migrations too
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('strict', true));
      await storage.clients.upsert(record('lenient'));
      assert.equal((await storage.clients.get('strict'))?.require_pushed_authorization_requests, true);
      assert.equal((await storage.clients.get('lenient'))?.require_pushed_authorization_requests, false);
      const rows = await db.selectFrom('clients').select(['client_id', 'require_par']).orderBy('client_id').execute();
      assert.deepEqual(rows.map((r: { client_id: string; require_par: unknown }) => [r.client_id, r.require_par === null ? null : Number(r.require_par)]), [
        ['lenient', 0],
        ['old', null],
        ['strict', 1],
      ]);
    });

    it('down drops the column; up again works', async () => {
      await migrateTo(migrator, THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values({ ...oldRow('strict'), require_par: 1 }).execute();
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const columns = Object.keys((await db.selectFrom('clients').selectAll().executeTakeFirst()) as object);
      assert.equal(columns.includes('require_par'), false);
      assert.equal(columns.includes('client_id'), true);
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('strict', true));
      assert.equal((await storage.clients.get('strict'))?.require_pushed_authorization_requests, true);
    });
  });
}
