// The storage contract (src/storage/types.ts), one suite run against every target:
// memory:, a SQLite file and PostgreSQL. Every test gets a fresh, empty database.

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryJtiRepo } from '../../src/storage/memory/jtis.js';
import { MemoryTokenRepo } from '../../src/storage/memory/tokens.js';
import { openStorage, pendingMigrations } from '../../src/storage/open.js';
import { SqlJtiRepo } from '../../src/storage/repos/jtis.js';
import { SqlTokenRepo } from '../../src/storage/repos/tokens.js';
import type {
  AuthCodeRecord,
  ClientRecord,
  ConsumerRecord,
  CredentialRecord,
  EntityKind,
  EntityRecord,
  SsoSessionRecord,
  Storage,
  TokenRecord,
  UserRecord,
} from '../../src/storage/types.js';
import { eachFreshStorage, allTargets, type Place } from './targets.js';
import { NOW, signingKeyRecord as key, tokenRecord as token } from './fixtures.js';


function client(client_id: string, over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id,
    client_name: null,
    secret_hash: null,
    redirect_uris: [],
    grant_types: ['client_credentials'],
    scopes: ['orders:read'],
    default_scopes: [],
    token_endpoint_auth_method: 'client_secret_basic',
    jwks: null,
    jwks_uri: null,
    access_token_format: 'opaque',
    access_token_ttl: null,
    audiences: null,
    post_logout_redirect_uris: [],
    backchannel_logout_uri: null,
    backchannel_logout_session_required: false,
    source: 'config',
    created_at: NOW,
    updated_at: NOW,
    ...over,
  };
}

function user(username: string, over: Partial<UserRecord> = {}): UserRecord {
  return {
    id: `id-${username}`,
    username,
    password_hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
    claims: {},
    locked: false,
    source: 'config',
    created_at: NOW,
    updated_at: NOW,
    ...over,
  };
}

function consumer(username: string, over: Partial<ConsumerRecord> = {}): ConsumerRecord {
  return { id: `cid-${username}`, username, groups: [], source: 'config', created_at: NOW, updated_at: NOW, ...over };
}

function credential(id: string, consumer_id: string, over: Partial<CredentialRecord> = {}): CredentialRecord {
  return {
    id,
    consumer_id,
    plugin: 'key-auth',
    lookup: `lookup-${id}`,
    secret_hash: null,
    secret_sealed: null,
    source: 'config',
    created_at: NOW,
    ...over,
  };
}

function entity(kind: EntityKind, id: string, over: Partial<EntityRecord> = {}): EntityRecord {
  return { kind, id, name: null, body: {}, created_at: NOW, updated_at: NOW, ...over };
}

for (const target of await allTargets()) {
  describe(`storage contract: ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let place: Place;
    eachFreshStorage(target, (opened, at) => {
      storage = opened;
      place = at;
    });

    describe('storage', () => {
      it('reports its kind, pings, and has no pending migrations after open', async () => {
        assert.equal(storage.kind, target.name === 'postgres' ? 'postgres' : 'sqlite');
        await storage.ping();
        assert.deepEqual(await pendingMigrations(storage), []);
        assert.deepEqual(await storage.migrate(), []);
      });

      it(`keeps tokens and jtis in the ${target.tokenStore} adapters, which this suite therefore covers`, () => {
        const memory = target.tokenStore === 'memory';
        assert.ok(storage.tokens instanceof (memory ? MemoryTokenRepo : SqlTokenRepo));
        assert.ok(storage.jtis instanceof (memory ? MemoryJtiRepo : SqlJtiRepo));
      });

      it('close is idempotent', async () => {
        await storage.close();
        await storage.close();
      });
    });

    describe('clients', () => {
      it('returns undefined for an unknown client', async () => {
        assert.equal(await storage.clients.get('nope'), undefined);
      });

      it('round-trips every field, JSON and nullable ones included', async () => {
        const full = client('full', {
          client_name: 'Full Client — ünïcødé',
          secret_hash: 'ab'.repeat(32),
          redirect_uris: ['https://app.example/cb', 'http://127.0.0.1:3000/cb'],
          grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
          scopes: ['openid', 'profile', 'orders:read'],
          default_scopes: ['openid'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', use: 'sig', nested: { a: [1, 2, null] } }] },
          jwks_uri: 'https://app.example/jwks',
          access_token_format: 'jwt',
          access_token_ttl: 300,
          audiences: ['orders', 'billing'],
          consent: 'skip',
          mfa: 'required',
          source: 'admin',
          created_at: NOW - 10,
          updated_at: NOW,
        });
        const bare = client('bare', { scopes: [], audiences: [] });
        await storage.clients.upsert(full);
        await storage.clients.upsert(bare);
        assert.deepEqual(await storage.clients.get('full'), full);
        assert.deepEqual(await storage.clients.get('bare'), bare);
      });

      it('logout metadata (migration 0007): round-trips, and defaults for rows written before it', async () => {
        const rp = client('rp', {
          post_logout_redirect_uris: ['https://app.example/bye', 'http://127.0.0.1:4000/bye?x=1'],
          backchannel_logout_uri: 'https://app.example/bc',
          backchannel_logout_session_required: true,
        });
        await storage.clients.upsert(rp);
        assert.deepEqual(await storage.clients.get('rp'), rp);
        await storage.clients.upsert(client('rp', { updated_at: NOW + 1 }));
        const replaced = await storage.clients.get('rp');
        assert.deepEqual(replaced?.post_logout_redirect_uris, []);
        assert.equal(replaced?.backchannel_logout_uri, null);
        assert.equal(replaced?.backchannel_logout_session_required, false);
      });

      it('consent and mfa (migration 0008): absent stays absent, each value round-trips and can be replaced', async () => {
        await storage.clients.upsert(client('plain'));
        const plain = await storage.clients.get('plain');
        assert.equal(plain?.consent, undefined);
        assert.equal(plain?.mfa, undefined);
        await storage.clients.upsert(client('fp', { consent: 'skip', mfa: 'required' }));
        assert.equal((await storage.clients.get('fp'))?.consent, 'skip');
        assert.equal((await storage.clients.get('fp'))?.mfa, 'required');
        await storage.clients.upsert(client('fp', { consent: 'ask', mfa: 'optional' }));
        const back = await storage.clients.get('fp');
        assert.equal(back?.consent, 'ask');
        assert.equal(back?.mfa, 'optional');
      });

      it('upsert replaces the fields but keeps created_at', async () => {
        await storage.clients.upsert(client('web', { created_at: NOW - 100, updated_at: NOW - 100 }));
        const changed = client('web', {
          client_name: 'Renamed',
          scopes: ['openid'],
          jwks: { keys: [] },
          access_token_ttl: 60,
          source: 'cli',
          created_at: NOW,
          updated_at: NOW,
        });
        await storage.clients.upsert(changed);
        assert.deepEqual(await storage.clients.get('web'), { ...changed, created_at: NOW - 100 });
        assert.equal((await storage.clients.list()).length, 1);
      });

      it('lists every client, ordered by client_id', async () => {
        for (const id of ['b', 'c', 'a']) await storage.clients.upsert(client(id));
        assert.deepEqual(
          (await storage.clients.list()).map((c) => c.client_id),
          ['a', 'b', 'c'],
        );
      });

      it('delete says whether a row went', async () => {
        await storage.clients.upsert(client('web'));
        assert.equal(await storage.clients.delete('web'), true);
        assert.equal(await storage.clients.delete('web'), false);
        assert.equal(await storage.clients.get('web'), undefined);
      });

      it('prune deletes only that source, except the kept ids', async () => {
        await storage.clients.upsert(client('keep', { source: 'config' }));
        await storage.clients.upsert(client('gone-1', { source: 'config' }));
        await storage.clients.upsert(client('gone-2', { source: 'config' }));
        await storage.clients.upsert(client('from-cli', { source: 'cli' }));
        assert.deepEqual(await storage.clients.prune('config', ['keep', 'not-there']), ['gone-1', 'gone-2']);
        assert.deepEqual(
          (await storage.clients.list()).map((c) => c.client_id),
          ['from-cli', 'keep'],
        );
        // nothing to keep: every client of the source goes
        assert.deepEqual(await storage.clients.prune('config', []), ['keep']);
        assert.deepEqual(await storage.clients.prune('admin', []), []);
        assert.deepEqual(
          (await storage.clients.list()).map((c) => c.client_id),
          ['from-cli'],
        );
      });
    });

    describe('keys', () => {
      it('is empty at first', async () => {
        assert.equal(await storage.keys.current(), undefined);
        assert.deepEqual(await storage.keys.list(), []);
        assert.deepEqual(await storage.keys.published(NOW), []);
        assert.equal(await storage.keys.retireExpired(NOW), 0);
      });

      it('insertInitial stores the first key and returns the existing one afterwards', async () => {
        const first = key('k1');
        assert.deepEqual(await storage.keys.insertInitial(first), first);
        assert.deepEqual(await storage.keys.insertInitial(key('k2', { created_at: NOW + 1 })), first);
        assert.deepEqual(await storage.keys.current(), first);
        assert.deepEqual(await storage.keys.list(), [first]);
      });

      it('insertInitial run concurrently leaves exactly one current key', async () => {
        const kids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
        const results = await Promise.all(kids.map((kid) => storage.keys.insertInitial(key(kid))));
        const winner = results[0]!.kid;
        assert.ok(kids.includes(winner));
        for (const r of results) assert.equal(r.kid, winner);
        const keys = await storage.keys.list();
        assert.deepEqual(keys.map((k) => [k.kid, k.status]), [[winner, 'current']]);
      });

      if (target.name === 'postgres') {
        it('insertInitial from several independent pools (as from processes) leaves one current key', async () => {
          const others = await Promise.all([1, 2, 3].map(() => openStorage(place.url)));
          try {
            const all = [storage, ...others];
            const results = await Promise.all(
              all.flatMap((s, i) => [s.keys.insertInitial(key(`p${i}a`)), s.keys.insertInitial(key(`p${i}b`))]),
            );
            assert.equal(new Set(results.map((r) => r.kid)).size, 1);
            assert.equal((await storage.keys.list()).length, 1);
          } finally {
            await Promise.all(others.map((s) => s.close()));
          }
        });
      }

      it('rotate demotes the current key with publish_until and inserts the new current one', async () => {
        const k1 = key('k1', { created_at: NOW - 200 });
        await storage.keys.insertInitial(k1);
        const k2 = key('k2', { created_at: NOW - 100 });
        await storage.keys.rotate(k2, NOW + 50);
        assert.deepEqual(await storage.keys.current(), k2);
        assert.deepEqual(await storage.keys.list(), [
          k2,
          { ...k1, status: 'previous', publish_until: NOW + 50 },
        ]);

        const k3 = key('k3', { created_at: NOW });
        await storage.keys.rotate(k3, NOW + 100);
        // only the then-current key gets the new publish_until; k1 keeps its own
        assert.deepEqual(
          (await storage.keys.list()).map((k) => [k.kid, k.status, k.publish_until]),
          [
            ['k3', 'current', null],
            ['k2', 'previous', NOW + 100],
            ['k1', 'previous', NOW + 50],
          ],
        );
      });

      it('keeps one current key per algorithm: insertInitial and rotate touch only their alg', async () => {
        const es = key('es1', { created_at: NOW - 300 });
        const rs = key('rs1', { alg: 'RS256', created_at: NOW - 200 });
        assert.deepEqual(await storage.keys.insertInitial(es), es);
        // another alg is not "already there": its first key goes in next to the ES256 one
        assert.deepEqual(await storage.keys.insertInitial(rs), rs);
        assert.deepEqual(await storage.keys.insertInitial(key('rs-late', { alg: 'RS256', created_at: NOW })), rs);
        assert.deepEqual(await storage.keys.current('ES256'), es);
        assert.deepEqual(await storage.keys.current('RS256'), rs);
        assert.equal(await storage.keys.current('EdDSA'), undefined);
        // without an alg: the newest current key
        assert.deepEqual(await storage.keys.current(), rs);

        const rs2 = key('rs2', { alg: 'RS256', created_at: NOW - 100 });
        await storage.keys.rotate(rs2, NOW + 60);
        assert.deepEqual(
          (await storage.keys.list()).map((k) => [k.kid, k.alg, k.status, k.publish_until]),
          [
            ['rs2', 'RS256', 'current', null],
            ['rs1', 'RS256', 'previous', NOW + 60],
            ['es1', 'ES256', 'current', null],
          ],
        );
        // published: both current keys first (newest first), then the previous one
        assert.deepEqual((await storage.keys.published(NOW)).map((k) => k.kid), ['rs2', 'es1', 'rs1']);

        // an alg no longer in use: its current key is demoted without a successor
        assert.equal(await storage.keys.demoteCurrent('RS256', NOW + 30), true);
        assert.equal(await storage.keys.demoteCurrent('RS256', NOW + 30), false);
        assert.equal(await storage.keys.current('RS256'), undefined);
        assert.deepEqual(await storage.keys.current('ES256'), es);
        assert.deepEqual((await storage.keys.published(NOW)).map((k) => [k.kid, k.status, k.publish_until]), [
          ['es1', 'current', null],
          ['rs2', 'previous', NOW + 30],
          ['rs1', 'previous', NOW + 60],
        ]);
      });

      it('concurrent rotations never leave two current keys', async () => {
        await storage.keys.insertInitial(key('k0', { created_at: NOW - 10 }));
        // On PostgreSQL use separate pools, as separate processes would.
        const others = target.name === 'postgres' ? await Promise.all([1, 2].map(() => openStorage(place.url))) : [];
        try {
          const all = [storage, ...others, storage];
          const outcomes = await Promise.allSettled(all.map((s, i) => s.keys.rotate(key(`n${i}`), NOW + 60)));
          const rotated = outcomes.filter((o) => o.status === 'fulfilled').length;
          assert.ok(rotated >= 1, 'at least one rotation succeeds');
          const keys = await storage.keys.list();
          assert.equal(keys.filter((k) => k.status === 'current').length, 1);
          // a rotation that lost the race left nothing behind
          assert.equal(keys.length, 1 + rotated);
          assert.equal(keys.find((k) => k.kid === 'k0')?.status, 'previous');
        } finally {
          await Promise.all(others.map((s) => s.close()));
        }
      });

      it('rotate works without a current key', async () => {
        await storage.keys.rotate(key('k1'), NOW + 60);
        assert.equal((await storage.keys.current())?.kid, 'k1');
        assert.equal((await storage.keys.list()).length, 1);
      });

      it('rotate rolls back when the new key cannot be stored', async () => {
        await storage.keys.insertInitial(key('k1'));
        // same kid again: the insert fails after the demotion, which must be undone
        await assert.rejects(storage.keys.rotate(key('k1'), NOW + 60));
        assert.equal((await storage.keys.current())?.kid, 'k1');
        assert.deepEqual((await storage.keys.list()).map((k) => k.status), ['current']);
      });

      it('published: current first, then previous keys until publish_until; retireExpired retires them', async () => {
        await storage.keys.insertInitial(key('k1', { created_at: NOW - 300 }));
        await storage.keys.rotate(key('k2', { created_at: NOW - 200 }), NOW + 100); // k1 until +100
        await storage.keys.rotate(key('k3', { created_at: NOW - 100 }), NOW + 200); // k2 until +200

        const kids = async (now: number) => (await storage.keys.published(now)).map((k) => k.kid);
        assert.deepEqual(await kids(NOW), ['k3', 'k2', 'k1']);
        assert.deepEqual(await kids(NOW + 100), ['k3', 'k2'], 'publish_until is exclusive');
        assert.deepEqual(await kids(NOW + 200), ['k3']);

        assert.equal(await storage.keys.retireExpired(NOW + 99), 0);
        assert.equal(await storage.keys.retireExpired(NOW + 100), 1, 'publish_until <= now retires');
        assert.deepEqual(
          (await storage.keys.list()).map((k) => [k.kid, k.status]),
          [
            ['k3', 'current'],
            ['k2', 'previous'],
            ['k1', 'retired'],
          ],
        );
        assert.equal(await storage.keys.retireExpired(NOW + 1000), 1);
        assert.equal(await storage.keys.retireExpired(NOW + 1000), 0);
        assert.deepEqual(await kids(NOW), ['k3'], 'retired keys are never published');
      });

      it('round-trips the public JWK and the encrypted private key', async () => {
        const k = key('rsa', {
          alg: 'RS256',
          public_jwk: { kty: 'RSA', n: 'n'.repeat(342), e: 'AQAB', kid: 'rsa', use: 'sig', alg: 'RS256' },
          private_enc: 'v1.' + 'A'.repeat(3000),
        });
        await storage.keys.insertInitial(k);
        assert.deepEqual(await storage.keys.current(), k);
      });
    });

    describe('tokens', () => {
      it('insert then findByDigest and findByJti round-trip every field', async () => {
        const full = token('d1', {
          kind: 'refresh_token',
          format: 'jwt',
          jti: 'jti-1',
          scope: '',
          audience: [],
          grant_id: 'grant-1',
          revoked_at: NOW + 5,
          extra: { username: 'alice', sid: 's-1', act: { sub: 'svc', act: { sub: 'gw' } }, n: 1.5, ok: true },
        });
        const bare = token('d2');
        await storage.tokens.insert(full);
        await storage.tokens.insert(bare);
        assert.deepEqual(await storage.tokens.findByDigest('d1'), full);
        assert.deepEqual(await storage.tokens.findByDigest('d2'), bare);
        assert.deepEqual(await storage.tokens.findByJti('jti-1'), full);
        assert.equal(await storage.tokens.findByDigest('nope'), undefined);
        assert.equal(await storage.tokens.findByJti('nope'), undefined);
      });

      it('keeps times beyond 2038 exact (bigint columns)', async () => {
        const far = token('far', { issued_at: 4_102_444_800, expires_at: 253_402_300_799 });
        await storage.tokens.insert(far);
        const found = await storage.tokens.findByDigest('far');
        assert.equal(found?.expires_at, 253_402_300_799);
        assert.equal(typeof found?.issued_at, 'number');
      });

      it('rejects a second token with the same digest', async () => {
        await storage.tokens.insert(token('d1'));
        await assert.rejects(storage.tokens.insert(token('d1', { jti: 'other' })));
      });

      it('revoke sets revoked_at once', async () => {
        await storage.tokens.insert(token('d1'));
        assert.equal(await storage.tokens.revoke('d1', NOW + 10), true);
        assert.equal(await storage.tokens.revoke('d1', NOW + 20), false);
        assert.equal((await storage.tokens.findByDigest('d1'))?.revoked_at, NOW + 10);
        assert.equal(await storage.tokens.revoke('nope', NOW), false);
      });

      it('revokeByGrant, revokeByClient, revokeBySubject count only tokens they changed', async () => {
        await storage.tokens.insert(token('g1', { grant_id: 'G', client_id: 'c1', sub: 's1' }));
        await storage.tokens.insert(token('g2', { grant_id: 'G', client_id: 'c1', sub: 's1', kind: 'refresh_token' }));
        await storage.tokens.insert(token('g3', { grant_id: 'G', client_id: 'c2', sub: 's2', revoked_at: NOW - 1 }));
        await storage.tokens.insert(token('o1', { grant_id: 'H', client_id: 'c1', sub: 's2' }));
        await storage.tokens.insert(token('o2', { grant_id: null, client_id: 'c2', sub: 's1' }));
        await storage.tokens.insert(token('o3', { grant_id: null, client_id: 'c3', sub: 's3' }));

        const revokedAt = async (digest: string) => (await storage.tokens.findByDigest(digest))?.revoked_at;

        assert.equal(await storage.tokens.revokeByGrant('G', NOW + 1), 2);
        assert.equal(await revokedAt('g1'), NOW + 1);
        assert.equal(await revokedAt('g2'), NOW + 1);
        assert.equal(await revokedAt('g3'), NOW - 1, 'an earlier revocation is kept');
        assert.equal(await revokedAt('o1'), null);
        assert.equal(await storage.tokens.revokeByGrant('G', NOW + 2), 0);

        assert.equal(await storage.tokens.revokeByClient('c1', NOW + 3), 1); // o1
        assert.equal(await revokedAt('o1'), NOW + 3);
        assert.equal(await revokedAt('o2'), null);

        assert.equal(await storage.tokens.revokeBySubject('s1', NOW + 4), 1); // o2
        assert.equal(await revokedAt('o2'), NOW + 4);
        assert.equal(await revokedAt('o3'), null);
        assert.equal(await storage.tokens.revokeBySubject('nobody', NOW), 0);
      });

      it('deleteExpired removes tokens with expires_at < now', async () => {
        await storage.tokens.insert(token('old', { expires_at: NOW - 1 }));
        await storage.tokens.insert(token('edge', { expires_at: NOW }));
        await storage.tokens.insert(token('new', { expires_at: NOW + 1 }));
        assert.equal(await storage.tokens.deleteExpired(NOW), 1);
        assert.equal(await storage.tokens.findByDigest('old'), undefined);
        assert.ok(await storage.tokens.findByDigest('edge'));
        assert.ok(await storage.tokens.findByDigest('new'));
        assert.equal(await storage.tokens.deleteExpired(NOW), 0);
      });

      it('deleteExpired leaves nothing behind: not by jti, not for the revoke-by lookups', async () => {
        await storage.tokens.insert(token('old', { expires_at: NOW - 1, grant_id: 'G', client_id: 'c1', sub: 's1' }));
        await storage.tokens.insert(token('new', { expires_at: NOW + 1, grant_id: 'G', client_id: 'c1', sub: 's1' }));
        assert.equal(await storage.tokens.deleteExpired(NOW), 1);
        assert.equal(await storage.tokens.findByJti('jti-old'), undefined);
        assert.equal(await storage.tokens.revokeByGrant('G', NOW), 1);
        assert.equal(await storage.tokens.revokeByClient('c1', NOW), 0);
        assert.equal(await storage.tokens.revokeBySubject('s1', NOW), 0);
        assert.equal((await storage.tokens.findByJti('jti-new'))?.revoked_at, NOW);
      });

      it('records are copies: changing one read or inserted changes nothing stored', async () => {
        const rec = token('d1', { audience: ['a'], extra: { act: { sub: 'svc' } } });
        await storage.tokens.insert(rec);
        rec.audience.push('changed');
        (rec.extra!.act as Record<string, unknown>).sub = 'changed';
        const read = (await storage.tokens.findByDigest('d1'))!;
        assert.deepEqual(read.audience, ['a']);
        assert.deepEqual(read.extra, { act: { sub: 'svc' } });
        read.revoked_at = NOW;
        read.audience.push('changed');
        assert.deepEqual(await storage.tokens.findByDigest('d1'), token('d1', { audience: ['a'], extra: { act: { sub: 'svc' } } }));
      });

      it('a revocation by digest shows when the token is found by jti', async () => {
        await storage.tokens.insert(token('d1', { format: 'jwt' }));
        assert.equal(await storage.tokens.revoke('d1', NOW + 1), true);
        assert.equal((await storage.tokens.findByJti('jti-d1'))?.revoked_at, NOW + 1);
      });
    });

    describe('jtis', () => {
      it('remember is true the first time, false while the marker lives', async () => {
        assert.equal(await storage.jtis.remember('client-assertion', 'j1', NOW + 60, NOW), true);
        assert.equal(await storage.jtis.remember('client-assertion', 'j1', NOW + 120, NOW + 30), false);
        assert.equal(await storage.jtis.has('client-assertion', 'j1', NOW + 59), true);
        // the refused call did not extend the marker
        assert.equal(await storage.jtis.has('client-assertion', 'j1', NOW + 60), false);
      });

      it('namespaces are independent', async () => {
        assert.equal(await storage.jtis.remember('a', 'j1', NOW + 60, NOW), true);
        assert.equal(await storage.jtis.remember('b', 'j1', NOW + 60, NOW), true);
        assert.equal(await storage.jtis.has('c', 'j1', NOW), false);
      });

      it('an expired marker is taken over', async () => {
        assert.equal(await storage.jtis.remember('ns', 'j1', NOW + 60, NOW), true);
        assert.equal(await storage.jtis.remember('ns', 'j1', NOW + 200, NOW + 60), true, 'expires_at <= now is expired');
        assert.equal(await storage.jtis.has('ns', 'j1', NOW + 199), true);
        assert.equal(await storage.jtis.remember('ns', 'j1', NOW + 300, NOW + 199), false);
      });

      it('remember without now uses the wall clock', async () => {
        const wall = Math.floor(Date.now() / 1000);
        assert.equal(await storage.jtis.remember('ns', 'past', wall - 10), true);
        assert.equal(await storage.jtis.remember('ns', 'past', wall + 60), true, 'the old marker had expired');
        assert.equal(await storage.jtis.remember('ns', 'past', wall + 120), false);
      });

      it('only one of many concurrent remember() calls wins', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, () => storage.jtis.remember('race', 'j1', NOW + 60, NOW)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        // and the same for taking over an expired marker
        const takeovers = await Promise.all(
          Array.from({ length: 20 }, () => storage.jtis.remember('race', 'j1', NOW + 200, NOW + 60)),
        );
        assert.equal(takeovers.filter(Boolean).length, 1);
      });

      if (target.name === 'postgres') {
        it('only one remember() wins across independent pools (as across processes)', async () => {
          const others = await Promise.all([1, 2, 3].map(() => openStorage(place.url)));
          try {
            const all = [storage, ...others];
            const results = await Promise.all(
              all.flatMap((s) => Array.from({ length: 5 }, () => s.jtis.remember('race', 'j2', NOW + 60, NOW))),
            );
            assert.equal(results.filter(Boolean).length, 1);
          } finally {
            await Promise.all(others.map((s) => s.close()));
          }
        });
      }

      it('deleteExpired removes expired markers and counts them', async () => {
        await storage.jtis.remember('ns', 'old', NOW - 1, NOW - 100);
        await storage.jtis.remember('ns', 'edge', NOW, NOW - 100);
        await storage.jtis.remember('ns', 'live', NOW + 1, NOW - 100);
        assert.equal(await storage.jtis.deleteExpired(NOW), 2);
        assert.equal(await storage.jtis.has('ns', 'live', NOW), true);
        assert.equal(await storage.jtis.deleteExpired(NOW), 0);
      });

      it('a deleted marker may be remembered again', async () => {
        await storage.jtis.remember('ns', 'j1', NOW + 10, NOW);
        assert.equal(await storage.jtis.deleteExpired(NOW + 10), 1);
        assert.equal(await storage.jtis.has('ns', 'j1', NOW), false, 'gone, whatever the clock says');
        assert.equal(await storage.jtis.remember('ns', 'j1', NOW + 60, NOW), true);
      });
    });

    describe('users', () => {
      it('upsert returns the stored record; get and getByUsername find it', async () => {
        const alice = user('alice', {
          claims: { email: 'alice@example.com', name: 'Alice Ünïcødé', groups: ['admin', 'ops'], address: { country: 'NL' }, email_verified: true },
          locked: true,
        });
        assert.deepEqual(await storage.users.upsert(alice), alice);
        assert.deepEqual(await storage.users.get('id-alice'), alice);
        assert.deepEqual(await storage.users.getByUsername('alice'), alice);
        assert.equal(await storage.users.get('alice'), undefined, 'get is by id, not username');
        assert.equal(await storage.users.getByUsername('bob'), undefined);
      });

      it('upsert of an existing username keeps id and created_at, replaces the rest', async () => {
        await storage.users.upsert(user('alice', { id: 'original', created_at: NOW - 100, updated_at: NOW - 100 }));
        const next = user('alice', {
          id: 'would-be-new',
          password_hash: null,
          claims: { email: 'new@example.com' },
          locked: true,
          source: 'cli',
          created_at: NOW,
          updated_at: NOW,
        });
        const expected = { ...next, id: 'original', created_at: NOW - 100 };
        assert.deepEqual(await storage.users.upsert(next), expected);
        assert.deepEqual(await storage.users.getByUsername('alice'), expected);
        assert.equal(await storage.users.get('would-be-new'), undefined);
        assert.equal((await storage.users.list()).length, 1);
      });

      it('insert adds a new user only: a taken username or id changes nothing', async () => {
        const alice = user('alice', { claims: { email: 'a@example.com' } });
        assert.equal(await storage.users.insert(alice), true);
        assert.deepEqual(await storage.users.getByUsername('alice'), alice);
        assert.equal(await storage.users.insert(user('alice', { id: 'other', password_hash: '$argon2id$other', claims: {} })), false);
        assert.equal(await storage.users.insert(user('bob', { id: 'id-alice' })), false);
        assert.deepEqual(await storage.users.list(), [alice]);
        // of creates racing for one name, exactly one is stored
        const raced = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => storage.users.insert(user('carol', { id }))));
        assert.equal(raced.filter(Boolean).length, 1);
      });

      it('setClaims replaces the claims of an existing user only', async () => {
        await storage.users.upsert(user('alice', { claims: { email: 'a@example.com', name: 'A' } }));
        assert.equal(await storage.users.setClaims('alice', { name: 'Alice', groups: ['x'] }, NOW + 5), true);
        assert.deepEqual(await storage.users.getByUsername('alice'), user('alice', { claims: { name: 'Alice', groups: ['x'] }, updated_at: NOW + 5 }));
        assert.equal(await storage.users.setClaims('nobody', {}, NOW), false);
        assert.equal(await storage.users.getByUsername('nobody'), undefined, 'never an insert');
      });

      it('lists users ordered by username; delete says whether a row went', async () => {
        for (const name of ['carol', 'alice', 'bob']) await storage.users.upsert(user(name));
        assert.deepEqual(
          (await storage.users.list()).map((u) => u.username),
          ['alice', 'bob', 'carol'],
        );
        assert.equal(await storage.users.delete('bob'), true);
        assert.equal(await storage.users.delete('bob'), false);
        assert.deepEqual(
          (await storage.users.list()).map((u) => u.username),
          ['alice', 'carol'],
        );
      });

      it('prune deletes only that source, except the kept usernames', async () => {
        await storage.users.upsert(user('keep'));
        await storage.users.upsert(user('gone'));
        await storage.users.upsert(user('admin-made', { source: 'admin' }));
        assert.deepEqual(await storage.users.prune('config', ['keep']), ['gone']);
        assert.deepEqual(await storage.users.prune('config', []), ['keep']);
        assert.deepEqual(
          (await storage.users.list()).map((u) => u.username),
          ['admin-made'],
        );
      });
    });

    describe('consumers and credentials (gateway)', () => {
      it('upsert returns the stored record; get, getByUsername and list find it', async () => {
        const partner = consumer('partner-a', { groups: ['partners', 'Ünïcødé'], source: 'admin' });
        assert.deepEqual(await storage.consumers.upsert(partner), partner);
        await storage.consumers.upsert(consumer('b-other', { groups: [] }));
        assert.deepEqual(await storage.consumers.get('cid-partner-a'), partner);
        assert.deepEqual(await storage.consumers.getByUsername('partner-a'), partner);
        assert.equal(await storage.consumers.get('partner-a'), undefined, 'get is by id, not username');
        assert.equal(await storage.consumers.getByUsername('nobody'), undefined);
        assert.deepEqual((await storage.consumers.list()).map((c) => c.username), ['b-other', 'partner-a']);
      });

      it('upsert of an existing username keeps id and created_at, replaces the rest', async () => {
        await storage.consumers.upsert(consumer('p', { id: 'original', created_at: NOW - 100, updated_at: NOW - 100 }));
        const next = consumer('p', { id: 'would-be-new', groups: ['x'], source: 'cli', updated_at: NOW + 5 });
        const expected = { ...next, id: 'original', created_at: NOW - 100 };
        assert.deepEqual(await storage.consumers.upsert(next), expected);
        assert.deepEqual(await storage.consumers.getByUsername('p'), expected);
        assert.equal((await storage.consumers.list()).length, 1);
      });

      it('credentials: insert, get, find (with the consumer), listByConsumer', async () => {
        const owner = await storage.consumers.upsert(consumer('owner', { groups: ['g1'] }));
        const key = credential('c-key', owner.id, { plugin: 'key-auth', lookup: 'digest-1' });
        const basic = credential('c-basic', owner.id, {
          plugin: 'basic-auth',
          lookup: 'alice',
          secret_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
          created_at: NOW + 1,
        });
        const hmac = credential('c-hmac', owner.id, { plugin: 'hmac-auth', lookup: 'kid-1', secret_sealed: 'v1.a.b.c', source: 'admin', created_at: NOW + 2 });
        for (const c of [hmac, basic, key]) assert.equal(await storage.credentials.insert(c), true);
        assert.deepEqual(await storage.credentials.get('c-basic'), basic);
        assert.equal(await storage.credentials.get('nope'), undefined);
        assert.deepEqual(await storage.credentials.find('hmac-auth', 'kid-1'), { credential: hmac, consumer: owner });
        assert.equal(await storage.credentials.find('key-auth', 'kid-1'), undefined, 'lookups are per plugin');
        assert.deepEqual(await storage.credentials.listByConsumer(owner.id), [key, basic, hmac]);
        assert.deepEqual(await storage.credentials.listByConsumer(owner.id, 'basic-auth'), [basic]);
        assert.deepEqual(await storage.credentials.listByConsumer('other'), []);
      });

      it('insert is false when (plugin, lookup) is taken, also by another consumer; other plugins may reuse it', async () => {
        const a = await storage.consumers.upsert(consumer('a'));
        const b = await storage.consumers.upsert(consumer('b'));
        assert.equal(await storage.credentials.insert(credential('k1', a.id, { lookup: 'same' })), true);
        assert.equal(await storage.credentials.insert(credential('k2', b.id, { lookup: 'same' })), false);
        assert.equal(await storage.credentials.insert(credential('k3', a.id, { lookup: 'same' })), false);
        assert.equal(await storage.credentials.insert(credential('h1', b.id, { plugin: 'hmac-auth', lookup: 'same', secret_sealed: 's' })), true);
        assert.equal((await storage.credentials.find('key-auth', 'same'))?.consumer.username, 'a');
        assert.equal(await storage.credentials.get('k2'), undefined);
      });

      it('consumers.insert stores a new consumer only: false when the username or the id is taken', async () => {
        assert.equal(await storage.consumers.insert(consumer('fresh', { id: 'id-1' })), true);
        assert.equal(await storage.consumers.insert(consumer('fresh', { id: 'id-2', groups: ['x'] })), false);
        assert.equal(await storage.consumers.insert(consumer('other', { id: 'id-1' })), false);
        assert.deepEqual(await storage.consumers.getByUsername('fresh'), consumer('fresh', { id: 'id-1' }));
        assert.equal(await storage.consumers.getByUsername('other'), undefined);
        // of many inserts racing for one username, exactly one succeeds
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => storage.consumers.insert(consumer('racer', { id: `r-${i}` }))));
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('credentials.replace changes lookup and secrets in place (same id); false when the lookup is taken or the id unknown', async () => {
        const owner = await storage.consumers.upsert(consumer('rp'));
        await storage.credentials.insert(credential('r1', owner.id, { lookup: 'old-key' }));
        await storage.credentials.insert(credential('r2', owner.id, { lookup: 'taken-key' }));
        const next = credential('r1', owner.id, { lookup: 'new-key' });
        assert.equal(await storage.credentials.replace(next), true);
        assert.deepEqual(await storage.credentials.get('r1'), next);
        assert.equal(await storage.credentials.find('key-auth', 'old-key'), undefined);
        assert.equal((await storage.credentials.find('key-auth', 'new-key'))?.credential.id, 'r1');
        // another credential's lookup: refused, nothing changed
        assert.equal(await storage.credentials.replace(credential('r1', owner.id, { lookup: 'taken-key' })), false);
        assert.deepEqual(await storage.credentials.get('r1'), next);
        assert.equal(await storage.credentials.replace(credential('nope', owner.id, { lookup: 'x' })), false);
        const hmac = credential('r3', owner.id, { plugin: 'hmac-auth', lookup: 'kid', secret_sealed: 'a' });
        await storage.credentials.insert(hmac);
        assert.equal(await storage.credentials.replace({ ...hmac, lookup: 'kid-2', secret_sealed: 'b' }), true);
        assert.equal((await storage.credentials.get('r3'))?.secret_sealed, 'b');
      });

      it('a credential needs an existing consumer (foreign key)', async () => {
        await assert.rejects(storage.credentials.insert(credential('orphan', 'no-such-consumer')));
      });

      it('updateSecret and delete say whether the credential was there', async () => {
        const owner = await storage.consumers.upsert(consumer('o'));
        await storage.credentials.insert(credential('c1', owner.id, { plugin: 'basic-auth', lookup: 'u', secret_hash: 'old' }));
        assert.equal(await storage.credentials.updateSecret('c1', 'new', null), true);
        assert.equal((await storage.credentials.get('c1'))?.secret_hash, 'new');
        assert.equal(await storage.credentials.updateSecret('nope', 'x', null), false);
        assert.equal(await storage.credentials.delete('c1'), true);
        assert.equal(await storage.credentials.delete('c1'), false);
        assert.equal(await storage.credentials.find('basic-auth', 'u'), undefined);
      });

      it("deleting a consumer deletes its credentials (cascade); prune only that source's", async () => {
        const keep = await storage.consumers.upsert(consumer('keep'));
        const gone = await storage.consumers.upsert(consumer('gone'));
        const admin = await storage.consumers.upsert(consumer('admin-made', { source: 'admin' }));
        await storage.credentials.insert(credential('ck', keep.id, { lookup: 'l-keep' }));
        await storage.credentials.insert(credential('cg', gone.id, { lookup: 'l-gone' }));
        await storage.credentials.insert(credential('ca', admin.id, { lookup: 'l-admin' }));
        assert.deepEqual(await storage.consumers.prune('config', ['keep']), ['gone']);
        assert.equal(await storage.credentials.get('cg'), undefined);
        assert.ok(await storage.credentials.get('ck'));
        assert.equal(await storage.consumers.delete('admin-made'), true);
        assert.equal(await storage.consumers.delete('admin-made'), false);
        assert.equal(await storage.credentials.find('key-auth', 'l-admin'), undefined);
        assert.deepEqual(await storage.consumers.prune('config', []), ['keep']);
        assert.deepEqual(await storage.consumers.list(), []);
      });
    });

    describe('gateway entities', () => {
      it('insert, get by id or name, list by kind in creation order', async () => {
        const svc = entity('service', 's1', { name: 'orders', body: { url: 'http://127.0.0.1:7001', nested: { a: [1, null] } } });
        const route = entity('route', 'r1', { body: { service: 'orders', paths: ['/orders'] }, created_at: NOW + 1 });
        const plugin = entity('plugin', 'p1', { body: { name: 'key-auth', config: {} }, created_at: NOW - 1 });
        for (const e of [svc, route, plugin]) assert.equal(await storage.entities.insert(e), true);
        assert.deepEqual(await storage.entities.get('service', 's1'), svc);
        assert.deepEqual(await storage.entities.get('service', 'orders'), svc);
        assert.equal(await storage.entities.get('route', 's1'), undefined, 'kinds are separate');
        assert.deepEqual(await storage.entities.list('route'), [route]);
        assert.deepEqual((await storage.entities.list()).map((e) => e.id), ['p1', 's1', 'r1']);
      });

      it('an id match wins over another entity named like that id', async () => {
        await storage.entities.insert(entity('service', 'aaa', { name: 'first' }));
        await storage.entities.insert(entity('service', 'bbb', { name: 'aaa', created_at: NOW - 5 }));
        assert.equal((await storage.entities.get('service', 'aaa'))?.id, 'aaa');
      });

      it('insert is false for a taken id or name of the same kind; unnamed entities never collide', async () => {
        assert.equal(await storage.entities.insert(entity('service', 's1', { name: 'orders' })), true);
        assert.equal(await storage.entities.insert(entity('service', 's1', { name: 'other' })), false);
        assert.equal(await storage.entities.insert(entity('service', 's2', { name: 'orders' })), false);
        assert.equal(await storage.entities.insert(entity('route', 's1', { name: 'orders' })), true);
        assert.equal(await storage.entities.insert(entity('route', 'r2')), true);
        assert.equal(await storage.entities.insert(entity('route', 'r3')), true);
      });

      it('update replaces name, body and updated_at; false when absent or the name is taken; delete', async () => {
        await storage.entities.insert(entity('service', 's1', { name: 'orders' }));
        await storage.entities.insert(entity('service', 's2', { name: 'billing' }));
        const changed = entity('service', 's1', { name: 'orders-v2', body: { url: 'http://127.0.0.1:7002' }, created_at: NOW + 99, updated_at: NOW + 10 });
        assert.equal(await storage.entities.update(changed), true);
        assert.deepEqual(await storage.entities.get('service', 's1'), { ...changed, created_at: NOW });
        assert.equal(await storage.entities.update(entity('service', 's1', { name: 'billing' })), false);
        assert.equal((await storage.entities.get('service', 's1'))?.name, 'orders-v2');
        assert.equal(await storage.entities.update(entity('service', 'nope')), false);
        assert.equal(await storage.entities.delete('service', 's1'), true);
        assert.equal(await storage.entities.delete('service', 's1'), false);
        assert.deepEqual((await storage.entities.list('service')).map((e) => e.id), ['s2']);
      });
    });

    // ─── users: account state and MFA (migration 0003; src/auth/users, src/auth/mfa) ───
    describe('users: account state and MFA', () => {
      it('setLocked and setPasswordHash change one user by username; false for unknown usernames', async () => {
        await storage.users.upsert(user('alice'));
        assert.equal(await storage.users.setLocked('alice', true, NOW + 1), true);
        assert.equal(await storage.users.setPasswordHash('alice', '$argon2id$new', NOW + 2), true);
        assert.deepEqual(await storage.users.getByUsername('alice'), user('alice', { locked: true, password_hash: '$argon2id$new', updated_at: NOW + 2 }));
        assert.equal(await storage.users.setLocked('nobody', true, NOW), false);
        assert.equal(await storage.users.setPasswordHash('nobody', null, NOW), false);
      });

      it('MFA state: absent until set; required, TOTP secret and confirmation are independent', async () => {
        const alice = await storage.users.upsert(user('alice'));
        assert.equal(await storage.users.getMfa(alice.id), undefined);
        assert.equal(await storage.users.confirmTotp(alice.id, NOW), false, 'no secret yet');
        await storage.users.setMfaRequired(alice.id, true, NOW);
        assert.deepEqual(await storage.users.getMfa(alice.id), {
          user_id: alice.id,
          required: true,
          totp_secret: null,
          totp_confirmed_at: null,
          totp_last_step: null,
          recovery_codes_left: 0,
          updated_at: NOW,
        });
        await storage.users.setTotpSecret(alice.id, 'v1.sealed-1', NOW + 1);
        assert.equal(await storage.users.confirmTotp(alice.id, NOW + 2), true);
        assert.equal(await storage.users.useTotpStep(alice.id, 100, NOW + 2), true);
        assert.deepEqual(await storage.users.getMfa(alice.id), {
          user_id: alice.id,
          required: true,
          totp_secret: 'v1.sealed-1',
          totp_confirmed_at: NOW + 2,
          totp_last_step: 100,
          recovery_codes_left: 0,
          updated_at: NOW + 2,
        });
        // a new secret restarts enrolment and forgets the used step; `required` stays
        await storage.users.setTotpSecret(alice.id, 'v1.sealed-2', NOW + 3);
        const restarted = await storage.users.getMfa(alice.id);
        assert.deepEqual(
          [restarted?.required, restarted?.totp_secret, restarted?.totp_confirmed_at, restarted?.totp_last_step],
          [true, 'v1.sealed-2', null, null],
        );
        await storage.users.setMfaRequired(alice.id, false, NOW + 4);
        assert.equal((await storage.users.getMfa(alice.id))?.totp_secret, 'v1.sealed-2', 'required does not touch the secret');
      });

      it('useTotpStep accepts each later step once, also under concurrency; never without a secret', async () => {
        const alice = await storage.users.upsert(user('alice'));
        assert.equal(await storage.users.useTotpStep(alice.id, 5, NOW), false, 'no row');
        await storage.users.setTotpSecret(alice.id, 'v1.sealed', NOW);
        const raced = await Promise.all(Array.from({ length: 8 }, () => storage.users.useTotpStep(alice.id, 1000, NOW)));
        assert.equal(raced.filter(Boolean).length, 1);
        assert.equal(await storage.users.useTotpStep(alice.id, 1000, NOW), false, 'replay');
        assert.equal(await storage.users.useTotpStep(alice.id, 999, NOW), false, 'older');
        assert.equal(await storage.users.useTotpStep(alice.id, 1001, NOW), true);
        assert.equal((await storage.users.getMfa(alice.id))?.totp_last_step, 1001);
      });

      it('recovery codes: replaced as a set, each used at most once (under concurrency too)', async () => {
        const alice = await storage.users.upsert(user('alice'));
        const bob = await storage.users.upsert(user('bob'));
        await storage.users.setMfaRequired(alice.id, true, NOW);
        await storage.users.setRecoveryCodes(alice.id, ['d1', 'd2', 'd3', 'd3'], NOW);
        await storage.users.setRecoveryCodes(bob.id, ['d1'], NOW);
        assert.equal((await storage.users.getMfa(alice.id))?.recovery_codes_left, 3);
        const raced = await Promise.all(Array.from({ length: 6 }, () => storage.users.useRecoveryCode(alice.id, 'd2')));
        assert.equal(raced.filter(Boolean).length, 1);
        assert.equal(await storage.users.useRecoveryCode(alice.id, 'nope'), false);
        assert.equal((await storage.users.getMfa(alice.id))?.recovery_codes_left, 2);
        await storage.users.setRecoveryCodes(alice.id, ['e1'], NOW + 1);
        assert.equal(await storage.users.useRecoveryCode(alice.id, 'd1'), false, 'old codes are gone');
        assert.equal(await storage.users.useRecoveryCode(bob.id, 'd1'), true, "another user's codes are their own");
        assert.equal(await storage.users.useRecoveryCode(alice.id, 'e1'), true);
      });

      it('resetMfa forgets secret and codes, keeps required; delete of the user removes it all', async () => {
        const alice = await storage.users.upsert(user('alice'));
        assert.equal(await storage.users.resetMfa(alice.id, NOW), false, 'nothing to reset');
        await storage.users.setMfaRequired(alice.id, true, NOW);
        await storage.users.setTotpSecret(alice.id, 'v1.sealed', NOW);
        await storage.users.confirmTotp(alice.id, NOW);
        await storage.users.setRecoveryCodes(alice.id, ['d1', 'd2'], NOW);
        assert.equal(await storage.users.resetMfa(alice.id, NOW + 1), true);
        assert.deepEqual(await storage.users.getMfa(alice.id), {
          user_id: alice.id,
          required: true,
          totp_secret: null,
          totp_confirmed_at: null,
          totp_last_step: null,
          recovery_codes_left: 0,
          updated_at: NOW + 1,
        });
        await storage.users.setTotpSecret(alice.id, 'v1.sealed', NOW);
        await storage.users.setRecoveryCodes(alice.id, ['d1'], NOW);
        assert.equal(await storage.users.delete('alice'), true);
        await storage.users.upsert(user('alice')); // same id again
        assert.equal(await storage.users.getMfa(alice.id), undefined, 'MFA rows went with the user');
        assert.equal(await storage.users.useRecoveryCode(alice.id, 'd1'), false);
        await storage.users.upsert(user('carol'));
        await storage.users.setMfaRequired('id-carol', true, NOW);
        assert.deepEqual(await storage.users.prune('config', []), ['alice', 'carol']);
        assert.equal(await storage.users.getMfa('id-carol'), undefined, 'pruned users too');
      });
    });
  });
}

// ─── Authorization code flow (migration 0006): SSO sessions, authorization codes, consents ───

for (const target of await allTargets()) {
  describe(`storage contract (code flow): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let userId: string;
    eachFreshStorage(target, async (opened) => {
      storage = opened;
      userId = (await storage.users.upsert(user('alice'))).id;
    });

    function session(id: string, over: Partial<SsoSessionRecord> = {}): SsoSessionRecord {
      return { id, user_id: userId, auth_time: NOW, amr: ['pwd'], acr: null, created_at: NOW, last_seen_at: NOW, expires_at: NOW + 3600, ...over };
    }

    function code(digest: string, over: Partial<AuthCodeRecord> = {}): AuthCodeRecord {
      return {
        digest,
        id: `grant-${digest}`,
        client_id: 'web',
        redirect_uri: 'https://app.example/cb',
        scope: 'openid profile',
        nonce: 'n-1',
        code_challenge: 'c'.repeat(43),
        user_id: userId,
        sid: 'sid-1',
        auth_time: NOW,
        amr: ['pwd', 'otp'],
        acr: null,
        created_at: NOW,
        expires_at: NOW + 60,
        used_at: null,
        redirect_uri_given: true,
        ...over,
      };
    }

    it('sso sessions: insert, get, touch, delete, deleteByUser, deleteExpired', async () => {
      assert.equal(await storage.ssoSessions.get('nope'), undefined);
      await storage.ssoSessions.insert(session('s1', { acr: 'urn:x' }));
      assert.deepEqual(await storage.ssoSessions.get('s1'), session('s1', { acr: 'urn:x' }));
      assert.equal(await storage.ssoSessions.touch('s1', NOW + 5), true);
      assert.equal((await storage.ssoSessions.get('s1'))!.last_seen_at, NOW + 5);
      assert.equal(await storage.ssoSessions.touch('nope', NOW), false);
      assert.equal(await storage.ssoSessions.delete('s1'), true);
      assert.equal(await storage.ssoSessions.delete('s1'), false);
      await storage.ssoSessions.insert(session('s2'));
      await storage.ssoSessions.insert(session('s3', { expires_at: NOW }));
      assert.equal(await storage.ssoSessions.deleteExpired(NOW), 1);
      assert.equal(await storage.ssoSessions.get('s3'), undefined);
      assert.equal(await storage.ssoSessions.deleteByUser(userId), 1);
      assert.equal(await storage.ssoSessions.get('s2'), undefined);
    });

    it('sso sessions (migration 0007): listByUser, addGrant and grants; grants go with their session', async () => {
      assert.deepEqual(await storage.ssoSessions.listByUser(userId), []);
      await storage.ssoSessions.insert(session('s2', { created_at: NOW + 1 }));
      await storage.ssoSessions.insert(session('s1'));
      assert.deepEqual(await storage.ssoSessions.listByUser(userId), [session('s1'), session('s2', { created_at: NOW + 1 })]);
      assert.deepEqual(await storage.ssoSessions.listByUser('someone-else'), []);
      assert.deepEqual(await storage.ssoSessions.grants('s1'), []);
      await storage.ssoSessions.addGrant('s1', 'web', 'g1', NOW);
      await storage.ssoSessions.addGrant('s1', 'app', 'g2', NOW + 1);
      await storage.ssoSessions.addGrant('s1', 'web', 'g1', NOW + 2); // the same grant again: kept once
      await storage.ssoSessions.addGrant('s2', 'web', 'g3', NOW);
      assert.deepEqual(await storage.ssoSessions.grants('s1'), [{ client_id: 'web', grant_id: 'g1' }, { client_id: 'app', grant_id: 'g2' }]);
      // a session that ended (or never was) records nothing
      await storage.ssoSessions.addGrant('gone', 'web', 'g9', NOW);
      assert.deepEqual(await storage.ssoSessions.grants('gone'), []);
      assert.equal(await storage.ssoSessions.delete('s1'), true);
      assert.deepEqual(await storage.ssoSessions.grants('s1'), []);
      await storage.ssoSessions.insert(session('s1')); // the same id again starts with no grants
      assert.deepEqual(await storage.ssoSessions.grants('s1'), []);
      assert.equal(await storage.ssoSessions.deleteByUser(userId), 2);
      assert.deepEqual(await storage.ssoSessions.grants('s2'), []);
    });

    it('sso sessions: end deletes the session, then reads and deletes its grants, returning them', async () => {
      await storage.ssoSessions.insert(session('s1'));
      await storage.ssoSessions.addGrant('s1', 'web', 'g1', NOW);
      await storage.ssoSessions.addGrant('s1', 'app', 'g2', NOW + 1);
      // the grants are read once the session is gone (logout: grants/session-still-alive.ts)
      const repo = storage.ssoSessions;
      const grants = repo.grants;
      let sessionAtRead: unknown = 'not read';
      repo.grants = async (id) => {
        sessionAtRead = await repo.get(id);
        return grants.call(repo, id);
      };
      try {
        assert.deepEqual(await repo.end('s1'), [{ client_id: 'web', grant_id: 'g1' }, { client_id: 'app', grant_id: 'g2' }]);
      } finally {
        repo.grants = grants;
      }
      assert.equal(sessionAtRead, undefined, 'the session was gone when its grants were read');
      assert.equal(await repo.get('s1'), undefined);
      assert.deepEqual(await repo.grants('s1'), []);
      assert.deepEqual(await repo.end('s1'), [], 'no session: nothing');
    });

    it('sso sessions go with their user', async () => {
      await storage.ssoSessions.insert(session('s1'));
      assert.equal(await storage.users.delete('alice'), true);
      assert.equal(await storage.ssoSessions.get('s1'), undefined);
    });

    it('auth codes: consume is single use and reports replays', async () => {
      assert.equal(await storage.authCodes.consume('nope', NOW), undefined);
      await storage.authCodes.insert(code('d1'));
      const first = await storage.authCodes.consume('d1', NOW + 1);
      assert.deepEqual(first, { code: code('d1', { used_at: NOW + 1 }), first: true });
      const again = await storage.authCodes.consume('d1', NOW + 2);
      assert.equal(again!.first, false);
      assert.equal(again!.code.used_at, NOW + 1, 'the first use time is kept');
      assert.equal(again!.code.id, 'grant-d1');
    });

    it('auth codes: concurrent consumers, exactly one first', async () => {
      await storage.authCodes.insert(code('d2', { nonce: null, sid: null }));
      const results = await Promise.all([1, 2, 3, 4].map((i) => storage.authCodes.consume('d2', NOW + i)));
      assert.equal(results.filter((r) => r!.first).length, 1);
      assert.equal(results[0]!.code.nonce, null);
    });

    it('auth codes: deleteExpired', async () => {
      await storage.authCodes.insert(code('d3', { expires_at: NOW }));
      await storage.authCodes.insert(code('d4'));
      assert.equal(await storage.authCodes.deleteExpired(NOW), 1);
      assert.equal(await storage.authCodes.consume('d3', NOW), undefined);
      assert.notEqual(await storage.authCodes.consume('d4', NOW), undefined);
    });

    it('used codes (migration 0017): found until they expire, then deleted with the codes', async () => {
      assert.equal(await storage.authCodes.findUsed('u1', NOW), undefined);
      const used = { digest: 'u1', grant_id: 'grant-u1', client_id: 'web', user_id: userId, expires_at: NOW + 100 };
      await storage.authCodes.rememberUsed(used);
      await storage.authCodes.rememberUsed({ ...used, grant_id: 'other', expires_at: NOW + 5 }); // changes nothing
      assert.deepEqual(await storage.authCodes.findUsed('u1', NOW + 99), used);
      assert.equal(await storage.authCodes.findUsed('u1', NOW + 100), undefined, 'expired');
      await storage.authCodes.rememberUsed({ ...used, digest: 'u2', expires_at: NOW + 200 });
      await storage.authCodes.insert(code('d5', { expires_at: NOW + 300 }));
      assert.equal(await storage.authCodes.deleteExpired(NOW + 100), 1);
      assert.equal(await storage.authCodes.findUsed('u1', NOW), undefined, 'deleted');
      assert.deepEqual(await storage.authCodes.findUsed('u2', NOW), { ...used, digest: 'u2', expires_at: NOW + 200 });
      assert.equal(await storage.authCodes.deleteExpired(NOW + 200), 1);
      assert.equal(await storage.authCodes.findUsed('u2', NOW), undefined);
      assert.notEqual(await storage.authCodes.consume('d5', NOW), undefined, 'a code is deleted by its own expiry');
    });

    it('consents: granted scopes accumulate per user and client; revoke forgets them', async () => {
      assert.deepEqual(await storage.consents.get(userId, 'web'), []);
      await storage.consents.grant(userId, 'web', ['openid', 'profile'], NOW);
      await storage.consents.grant(userId, 'web', ['email', 'openid'], NOW + 1);
      assert.deepEqual(await storage.consents.get(userId, 'web'), ['email', 'openid', 'profile']);
      assert.deepEqual(await storage.consents.get(userId, 'other'), []);
      assert.equal(await storage.consents.revoke(userId, 'web'), true);
      assert.equal(await storage.consents.revoke(userId, 'web'), false);
      assert.deepEqual(await storage.consents.get(userId, 'web'), []);
    });
  });
}

// ─── Refresh-token rotation (migration 0005, TokenRepo.rotateRefresh) ───
for (const target of await allTargets()) {
  describe(`storage contract (refresh rotation): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    eachFreshStorage(target, (opened) => {
      storage = opened;
    });

    function refresh(digest: string, over: Partial<TokenRecord> = {}): TokenRecord {
      return token(digest, {
        kind: 'refresh_token',
        audience: [],
        grant_id: 'family-1',
        expires_at: NOW + 30 * 86400,
        extra: { sid: 'sid-1', auth_time: NOW - 5 },
        refresh: { idle_expires_at: NOW + 7 * 86400, session_id: 'sid-1', rotated_at: null, replacement: null },
        ...over,
      });
    }

    it('round-trips the rotation state; access tokens have none', async () => {
      await storage.tokens.insert(refresh('r1'));
      await storage.tokens.insert(token('a1', { grant_id: 'family-1' }));
      assert.deepEqual(await storage.tokens.findByDigest('r1'), refresh('r1'));
      assert.deepEqual(await storage.tokens.findByJti('jti-r1'), refresh('r1'));
      const access = await storage.tokens.findByDigest('a1');
      assert.ok(access);
      assert.equal('refresh' in access, false);
      assert.deepEqual(access, token('a1', { grant_id: 'family-1' }));
    });

    it('rotateRefresh retires the token once: rotated_at, revoked_at and the sealed replacement', async () => {
      await storage.tokens.insert(refresh('r1'));
      assert.equal(await storage.tokens.rotateRefresh('r1', NOW + 10, 'v1.sealed'), true);
      assert.equal(await storage.tokens.rotateRefresh('r1', NOW + 11, 'v1.other'), false);
      const rec = await storage.tokens.findByDigest('r1');
      assert.deepEqual(rec, refresh('r1', {
        revoked_at: NOW + 10,
        refresh: { idle_expires_at: NOW + 7 * 86400, session_id: 'sid-1', rotated_at: NOW + 10, replacement: 'v1.sealed' },
      }));
    });

    it('rotateRefresh is false for a revoked, unknown or access token', async () => {
      await storage.tokens.insert(refresh('r1'));
      await storage.tokens.insert(token('a1'));
      assert.equal(await storage.tokens.revoke('r1', NOW + 1), true);
      assert.equal(await storage.tokens.rotateRefresh('r1', NOW + 2, 'x'), false);
      assert.equal(await storage.tokens.rotateRefresh('nope', NOW + 2, 'x'), false);
      assert.equal(await storage.tokens.rotateRefresh('a1', NOW + 2, 'x'), false);
      assert.equal((await storage.tokens.findByDigest('r1'))?.refresh?.rotated_at, null);
      assert.equal((await storage.tokens.findByDigest('a1'))?.revoked_at, null);
    });

    it('of concurrent rotateRefresh calls exactly one wins', async () => {
      await storage.tokens.insert(refresh('r1'));
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => storage.tokens.rotateRefresh('r1', NOW + 1, `v1.${i}`)));
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.equal((await storage.tokens.findByDigest('r1'))?.refresh?.replacement, `v1.${winner}`);
    });

    it('a refresh token stored without rotation state can still be rotated (idle end = absolute end)', async () => {
      await storage.tokens.insert(token('r0', { kind: 'refresh_token', grant_id: 'family-0' }));
      assert.equal(await storage.tokens.rotateRefresh('r0', NOW + 1, 'v1.s'), true);
      assert.deepEqual((await storage.tokens.findByDigest('r0'))?.refresh, {
        idle_expires_at: NOW + 600,
        session_id: null,
        rotated_at: NOW + 1,
        replacement: 'v1.s',
      });
    });

    it('revokeGrant names what it revoked; keepOffline spares refresh tokens not bound to a session', async () => {
      await storage.tokens.insert(refresh('r1'));
      await storage.tokens.insert(refresh('off', { refresh: { idle_expires_at: NOW + 7 * 86400, session_id: null, rotated_at: null, replacement: null } }));
      await storage.tokens.insert(token('a1', { grant_id: 'family-1', format: 'jwt' }));
      await storage.tokens.insert(token('a2', { grant_id: 'family-1', revoked_at: NOW }));
      await storage.tokens.insert(token('x1', { grant_id: 'family-2' }));
      const kept = await storage.tokens.revokeGrant('family-1', NOW + 1, { keepOffline: true });
      assert.deepEqual(
        kept.sort((a, b) => a.digest.localeCompare(b.digest)),
        [
          { digest: 'a1', jti: 'jti-a1', format: 'jwt', kind: 'access_token' },
          { digest: 'r1', jti: 'jti-r1', format: 'opaque', kind: 'refresh_token' },
        ],
      );
      assert.equal((await storage.tokens.findByDigest('off'))?.revoked_at, null);
      assert.equal((await storage.tokens.findByDigest('a2'))?.revoked_at, NOW, 'already revoked: untouched, not reported');
      assert.deepEqual(await storage.tokens.revokeGrant('family-1', NOW + 2), [{ digest: 'off', jti: 'jti-off', format: 'opaque', kind: 'refresh_token' }]);
      assert.deepEqual(await storage.tokens.revokeGrant('family-1', NOW + 3), []);
      assert.equal((await storage.tokens.findByDigest('x1'))?.revoked_at, null);
    });

    it('revokeByGrant takes rotated and live members of the family; deleteExpired removes them', async () => {
      await storage.tokens.insert(refresh('r1'));
      await storage.tokens.insert(refresh('r2'));
      await storage.tokens.insert(token('a1', { grant_id: 'family-1' }));
      await storage.tokens.insert(refresh('other', { grant_id: 'family-2' }));
      await storage.tokens.rotateRefresh('r1', NOW + 1, 'v1.s');
      assert.equal(await storage.tokens.revokeByGrant('family-1', NOW + 2), 2);
      assert.equal((await storage.tokens.findByDigest('r1'))?.revoked_at, NOW + 1);
      assert.equal((await storage.tokens.findByDigest('r2'))?.revoked_at, NOW + 2);
      assert.equal((await storage.tokens.findByDigest('other'))?.revoked_at, null);
      assert.equal(await storage.tokens.deleteExpired(NOW + 31 * 86400), 4);
      assert.equal(await storage.tokens.findByDigest('r1'), undefined);
    });
  });
}
