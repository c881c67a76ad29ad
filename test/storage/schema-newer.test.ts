// A database a newer Drawbridge has migrated (a rollback of the code, or an old instance left
// running beside upgraded ones): its bookkeeping names a migration this code does not know.
// Running on it could write rows the newer schema does not expect, so every way in refuses,
// with a message that says what happened and what to do: opening for `start` (PostgreSQL
// checks, SQLite migrates on open), and `drawbridge migrate`.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import { runCli } from '../cli/spawn.js';
import { TEST_SECRET } from '../helpers/auth-server.js';
import { postgresTarget, sqliteFileTarget, type Place } from './targets.js';

const FUTURE = '9999-from-the-future';
const REFUSAL = new RegExp(`newer version of Drawbridge.*${FUTURE}`);

for (const target of [sqliteFileTarget, await postgresTarget()]) {
  describe(`a database migrated by a newer version (${target.name})`, { skip: target.skip }, () => {
    let place: Place;

    beforeEach(async () => {
      place = await target.prepare();
      const storage = await openStorage(place.url, { autoMigrate: true });
      try {
        await sql`insert into drawbridge_migration (name, timestamp) values (${FUTURE}, ${new Date().toISOString()})`.execute(sqlHandleOf(storage)!.db);
      } finally {
        await storage.close();
      }
    });
    afterEach(() => place.cleanup());

    it('is refused when opened, naming the unknown migration', async () => {
      await assert.rejects(openStorage(place.url), REFUSAL);
      await assert.rejects(openStorage(place.url, { autoMigrate: true }), REFUSAL);
    });

    it('is refused by migrate()', async () => {
      const storage = await openStorage(place.url, { autoMigrate: false, checkMigrations: false });
      try {
        await assert.rejects(storage.migrate(), REFUSAL);
      } finally {
        await storage.close();
      }
    });

    it('drawbridge migrate exits 1 with the refusal and no stack trace', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'drawbridge-newer-'));
      const file = join(dir, 'drawbridge.json');
      await writeFile(file, JSON.stringify({ issuer: 'http://127.0.0.1:1', storage: place.url, secret: TEST_SECRET, auth: {} }));
      const result = await runCli(['migrate', '--config', file]).finally(() => rm(dir, { recursive: true, force: true }));
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, REFUSAL);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    });
  });
}
