// Several processes starting at once against one fresh database (the real first-start race):
// each opens storage (SQLite migrates on open), calls keys.insertInitial with its own key and
// jtis.remember with the same jti. Exactly one key must be current and one remember must win.

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { openStorage } from '../../src/storage/open.js';
import { postgresTarget, sqliteFileTarget, type Target } from './targets.js';

const PROCESSES = 4;
const OPEN_MODULE = new URL('../../src/storage/open.js', import.meta.url).href;

// Runs in each child: prints {"kid": <current kid>, "won": <remember result>}.
const CHILD = `
const { openStorage } = await import(process.env.OPEN_MODULE);
const storage = await openStorage(process.env.STORAGE_URL, { autoMigrate: true });
try {
  const kid = process.env.KID;
  const current = await storage.keys.insertInitial({
    kid, alg: 'ES256', public_jwk: { kid }, private_enc: 'enc', status: 'current',
    created_at: 1700000000, publish_until: null,
  });
  const won = await storage.jtis.remember('race', 'same-jti', 1700000600, 1700000000);
  process.stdout.write(JSON.stringify({ kid: current.kid, won }));
} finally {
  await storage.close();
}
`;

function runChild(url: string, kid: string): Promise<{ kid: string; won: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      env: { ...process.env, OPEN_MODULE, STORAGE_URL: url, KID: kid },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as { kid: string; won: boolean });
      else reject(new Error(`child ${kid} exited ${code}: ${err}`));
    });
  });
}

function multiProcessSuite(target: Target): void {
  describe(`multi-process first start: ${target.name}`, { skip: target.skip }, () => {
    it(`${PROCESSES} processes racing leave one current key and one remember winner`, async () => {
      const place = await target.prepare();
      try {
        const kids = Array.from({ length: PROCESSES }, (_, i) => `proc-${i}`);
        const results = await Promise.all(kids.map((kid) => runChild(place.url, kid)));
        const winners = new Set(results.map((r) => r.kid));
        assert.equal(winners.size, 1, `every process sees the same current key: ${JSON.stringify(results)}`);
        assert.equal(results.filter((r) => r.won).length, 1);

        const storage = await openStorage(place.url);
        try {
          const keys = await storage.keys.list();
          assert.deepEqual(keys.map((k) => k.status), ['current']);
          assert.ok(winners.has(keys[0]!.kid));
          assert.deepEqual(await storage.migrate(), [], 'migrated exactly once');
        } finally {
          await storage.close();
        }
      } finally {
        await place.cleanup();
      }
    });
  });
}

multiProcessSuite(sqliteFileTarget);
multiProcessSuite(await postgresTarget());
