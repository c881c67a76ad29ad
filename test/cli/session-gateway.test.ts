// `drawbridge session list|revoke --user NAME` shows and ends the gateway's browser sessions
// (rows of kind `gateway`) next to the auth server's, from the store `gateway.sessions`
// names: the SQL database, and Redis.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newSessionCookieValue, sessionIdOf } from '../../src/sessions/cookie.js';
import { openSessionStore, type RunningSessionStore } from '../../src/sessions/open.js';
import { sealTokens, sessionTokensKey } from '../../src/sessions/tokens.js';
import type { GatewaySession } from '../../src/sessions/types.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { TEST_SECRET } from '../helpers/auth-server.js';
import { redisUrl } from '../helpers/services.js';
import { runCli } from './spawn.js';

const ISSUER = 'http://127.0.0.1:9';

function session(sub: string, fields: Partial<GatewaySession> = {}): GatewaySession {
  const id = sessionIdOf(newSessionCookieValue());
  const now = Math.floor(Date.now() / 1000);
  return {
    id,
    sub,
    issuer: ISSUER,
    client_id: 'edge',
    idp_sid: null,
    claims: { amr: ['pwd'] },
    scope: ['openid'],
    tokens: sealTokens(sessionTokensKey(TEST_SECRET), id, { access_token: 'at', expires_at: now + 300 }),
    access_expires_at: now + 300,
    created_at: now,
    last_seen_at: now,
    expires_at: now + 3600,
    ...fields,
  };
}

const variants: Record<string, () => Promise<Record<string, unknown> | undefined>> = {
  sql: async () => ({}),
  redis: async () => {
    const url = await redisUrl();
    return url ? { redis: url } : undefined;
  },
};

for (const [name, extra] of Object.entries(variants)) {
  describe(`drawbridge session list|revoke: gateway sessions (${name} store)`, () => {
    let dir: string;
    let configFile: string;
    let top: Record<string, unknown> | undefined;
    const alice = `alice-${randomBytes(4).toString('hex')}`;
    const bob = `bob-${randomBytes(4).toString('hex')}`;
    const ids: Record<string, string> = {};
    const mine: GatewaySession[] = [];
    let theirs: GatewaySession;

    /** the store as the CLI sees it, opened for the length of fn */
    async function withStore<T>(fn: (store: RunningSessionStore, storage: Storage) => Promise<T>): Promise<T> {
      const storage = await openStorage(`sqlite:${join(dir, 'db.sqlite')}`);
      const store = await openSessionStore({ config: { redis: top!.redis as string | undefined, gateway: undefined }, storage });
      try {
        return await fn(store, storage);
      } finally {
        await store.close();
        await storage.close();
      }
    }

    before(async () => {
      top = await extra();
      if (!top) return;
      dir = mkdtempSync(join(tmpdir(), 'cli-gws-'));
      configFile = join(dir, 'drawbridge.json');
      const config = {
        issuer: ISSUER,
        storage: `sqlite:${join(dir, 'db.sqlite')}`,
        secret: TEST_SECRET,
        log: { level: 'silent' },
        ...top,
        gateway: { listen: '127.0.0.1:0', sessions: { store: name } },
      };
      writeFileSync(configFile, JSON.stringify(config));
      await withStore(async (store, storage) => {
        const now = Math.floor(Date.now() / 1000);
        for (const username of [alice, bob]) {
          const rec = await storage.users.upsert({ id: `id-${username}`, username, password_hash: null, claims: {}, locked: false, source: 'cli', created_at: now, updated_at: now });
          ids[username] = rec.id;
        }
        mine.push(session(ids[alice]!, { created_at: now - 100 }), session(ids[alice]!));
        theirs = session(ids[bob]!);
        for (const s of [...mine, theirs]) await store.insert(s);
      });
    });

    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('session list --user shows the gateway sessions (kind gateway), only that user\'s', async (t) => {
      if (!top) return t.skip(`${name} not available`);
      const json = await runCli(['session', 'list', '--user', alice, '--config', configFile, '--json'], { timeoutMs: 90_000 });
      assert.equal(json.code, 0, json.stderr);
      const rows = JSON.parse(json.stdout) as Array<{ kind: string; id: string; user: string; amr: string[]; clients: string[] }>;
      const gateway = rows.filter((r) => r.kind === 'gateway');
      assert.deepEqual(gateway.map((r) => r.id).sort(), mine.map((s) => s.id).sort());
      assert.ok(gateway.every((r) => r.user === ids[alice] && r.clients[0] === 'edge' && r.amr[0] === 'pwd'));
      const table = await runCli(['session', 'list', '--user', alice, '--config', configFile], { timeoutMs: 90_000 });
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /gateway/);
      assert.ok(table.stdout.includes(mine[0]!.id.slice(0, 12)));
    });

    it('session revoke --user ends every gateway session of the user; others keep theirs', async (t) => {
      if (!top) return t.skip(`${name} not available`);
      const res = await runCli(['session', 'revoke', '--user', alice, '--config', configFile, '--json'], { timeoutMs: 90_000 });
      assert.equal(res.code, 0, res.stderr);
      const out = JSON.parse(res.stdout) as { sessions_ended: number; sessions: Array<{ kind: string; id: string }> };
      assert.deepEqual(out.sessions.filter((s) => s.kind === 'gateway').map((s) => s.id).sort(), mine.map((s) => s.id).sort());
      await withStore(async (store) => {
        assert.deepEqual(await store.listByUser(ids[alice]!), []);
        assert.ok(await store.get(theirs.id), "bob's session is untouched");
      });
      const again = await runCli(['session', 'list', '--user', alice, '--config', configFile, '--json'], { timeoutMs: 90_000 });
      assert.deepEqual((JSON.parse(again.stdout) as unknown[]).length, 0);
    });

    it('session revoke --id ends one gateway session', async (t) => {
      if (!top) return t.skip(`${name} not available`);
      const res = await runCli(['session', 'revoke', '--user', bob, '--id', theirs.id.slice(0, 12), '--config', configFile, '--json'], { timeoutMs: 90_000 });
      assert.equal(res.code, 0, res.stderr);
      assert.equal((JSON.parse(res.stdout) as { sessions_ended: number }).sessions_ended, 1);
      await withStore(async (store) => assert.equal(await store.get(theirs.id), undefined));
    });
  });
}
