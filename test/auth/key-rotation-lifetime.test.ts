// A rotated-out signing key stays published until every token it signed has expired. How long
// that is was computed from the config file's clients only, so a client made with the admin
// API (or stored by an earlier config) with a longer access_token_ttl had its JWT access
// tokens outlive the key: after `key rotate` (11 min with the defaults) resource servers
// refused the rest of a 2 h token for an unknown kid. Both ways a key is rotated out are
// checked: `drawbridge key rotate --now`, and a next key taking over in a running server.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../src/config/index.js';
import { fixedClock } from '../../src/core/clock.js';
import { clientRecordFromConfig } from '../../src/storage/client-records.js';
import { openStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { startAuth, TEST_SECRET, type TestServer } from '../helpers/auth-server.js';
import { runCli } from '../cli/spawn.js';

const LONG_TTL = 7200;

/** Stores a client as the admin API does: not in the config file, with a 2 h JWT access token. */
async function storeLongLivedClient(storage: Storage, now: number): Promise<void> {
  const cfg = validateConfig({
    issuer: 'http://127.0.0.1:1',
    storage: 'memory:',
    auth: { clients: [{ client_id: 'long', client_secret: 'long-secret-long-secret', access_token_format: 'jwt', access_token_ttl: '2h', scopes: ['read'] }] },
  });
  await storage.clients.upsert(clientRecordFromConfig(cfg.auth!.clients[0]!, 'admin', now));
}

async function previousKeysUntil(storage: Storage): Promise<number[]> {
  return (await storage.keys.list()).filter((k) => k.status === 'previous').map((k) => k.publish_until ?? 0);
}

describe('a rotated-out key stays published as long as stored clients’ tokens live', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drawbridge-key-lifetime-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drawbridge key rotate --now', async () => {
    const db = join(dir, 'cli.db');
    const file = join(dir, 'cli.yaml');
    writeFileSync(file, JSON.stringify({ issuer: 'http://127.0.0.1:9', storage: `sqlite:${db}`, secret: TEST_SECRET, keys: { id_token_algorithms: ['ES256'] }, auth: {} }));
    const config = validateConfig({ issuer: 'http://127.0.0.1:9', storage: `sqlite:${db}`, secret: TEST_SECRET, auth: {} });
    let storage = await openStorage(config.storage);
    const t0 = Math.floor(Date.now() / 1000);
    await storeLongLivedClient(storage, t0);
    await storage.close();
    // the first key is made on the way (none was stored), then rotated out
    const rotated = await runCli(['key', 'rotate', '--now', '--config', file], { timeoutMs: 60_000 });
    assert.equal(rotated.code, 0, rotated.stderr);
    storage = await openStorage(config.storage);
    try {
      const until = await previousKeysUntil(storage);
      assert.equal(until.length, 1);
      assert.ok(until[0]! >= t0 + LONG_TTL, `published until ${until[0]! - t0}s from now, the client's tokens live ${LONG_TTL}s`);
    } finally {
      await storage.close();
    }
  });

  describe('a next key taking over in a running server', () => {
    let server: TestServer;
    const clock = fixedClock(Math.floor(Date.now() / 1000));
    before(async () => {
      server = await startAuth({}, { storage: `sqlite:${join(dir, 'run.db')}`, keys: { refresh_interval: '1h' } }, { clock });
    });
    after(() => server.close());

    it('keeps the replaced key published for the stored client’s token lifetime', async () => {
      const ctx = server.running.auth!.ctx;
      await storeLongLivedClient(ctx.storage, clock.now());
      const keyring = server.running.keyring;
      await keyring.prepareNext(60);
      clock.advance(61);
      await keyring.refresh();
      const until = await previousKeysUntil(ctx.storage);
      assert.equal(until.length, 1, 'the next key took over');
      assert.ok(until[0]! >= clock.now() + LONG_TTL, `published until ${until[0]! - clock.now()}s from now, the client's tokens live ${LONG_TTL}s`);
    });
  });
});
