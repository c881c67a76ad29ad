// Delegation ends with the token it was delegated from: revoking a subject token (RFC 7009)
// revokes the tokens exchanged from it (RFC 8693), down the chain, and tells the gateways.
// Over real HTTP on every storage target (memory:, a SQLite file, PostgreSQL when reachable),
// then the repository's revokeExchanged on its own against the same targets.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startAuthServer } from '../../src/auth/start.js';
import { createEventBus, type GatewayEvent } from '../../src/cache/events.js';
import { openKeyring } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import { systemClock } from '../../src/core/clock.js';
import { signJwt } from '../../src/crypto/jwt.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import { createAuditLog } from '../../src/observability/audit.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { Storage } from '../../src/storage/types.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { openStorage } from '../../src/storage/open.js';
import { basic, freePort, issued, postForm, testKeys, TEST_SECRET } from '../helpers/auth-server.js';
import { allTargets, eachFreshStorage, type Place } from '../storage/targets.js';
import { NOW, tokenRecord as token } from '../storage/fixtures.js';

const SECRET = 'exchange-revocation-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';

type Body = Record<string, unknown>;

const CLIENTS = [
  { client_id: 'web', client_secret: SECRET, grant_types: ['password', 'refresh_token', GRANT], scopes: ['orders:read', 'inventory:read'] },
  { client_id: 'web-jwt', client_secret: SECRET, grant_types: ['password', GRANT], scopes: ['orders:read'], access_token_format: 'jwt' },
  { client_id: 'orders', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['orders:read', 'inventory:read'], audiences: ['orders', 'inventory'] },
  { client_id: 'inventory', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['orders:read', 'inventory:read'] },
  { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
];

for (const target of await allTargets()) {
  describe(`revoking a subject token revokes what was exchanged from it: ${target.name}`, { skip: target.skip }, () => {
    let place: Place;
    let storage: Storage;
    let issuer: string;
    let close: () => Promise<void>;
    let keyring: Keyring;
    /** what the auth server tells the gateways, over a real in-process event bus */
    const events: GatewayEvent[] = [];

    before(async () => {
      place = await target.prepare();
      storage = await openStorage(place.url, { autoMigrate: true });
      const port = await freePort();
      issuer = `http://127.0.0.1:${port}`;
      const config = validateConfig({
        issuer,
        storage: place.url,
        secret: TEST_SECRET,
        log: { level: 'silent' },
        keys: testKeys({}),
        auth: { listen: `127.0.0.1:${port}`, clients: CLIENTS, users: [{ username: 'alice', password: PASSWORD }] },
      });
      const logger = silentLogger();
      keyring = openKeyring(config, storage, systemClock, logger);
      await keyring.start();
      const bus = createEventBus(undefined, logger);
      bus.subscribe((e) => events.push(e));
      const auth = await startAuthServer({ config, storage, keyring, clock: systemClock, logger, events: bus, audit: createAuditLog(undefined, { silent: true }) });
      close = async () => {
        await auth.close();
        await bus.close();
        keyring.stop();
        await storage.close();
      };
    });

    after(async () => {
      await close?.();
      await place?.cleanup();
    });

    async function tokenResponse(clientId: string, form: Record<string, string>): Promise<Body> {
      return issued(await postForm(`${issuer}/oauth2/token`, form, { authorization: basic(clientId, SECRET) }));
    }

    const userTokens = (clientId: string, scope = 'orders:read') => tokenResponse(clientId, { grant_type: 'password', username: 'alice', password: PASSWORD, scope });

    async function exchange(clientId: string, subject: string, more: Record<string, string> = {}): Promise<string> {
      const body = await tokenResponse(clientId, { grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS, ...more });
      return String(body.access_token);
    }

    async function active(token: string): Promise<boolean> {
      const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('gateway', SECRET) });
      assert.equal(res.status, 200);
      return ((await res.json()) as Body).active === true;
    }

    async function revoke(clientId: string, token: string): Promise<void> {
      const res = await postForm(`${issuer}/oauth2/revoke`, { token }, { authorization: basic(clientId, SECRET) });
      assert.equal(res.status, 200);
    }

    /** The token.revoked event a gateway gets for an issued token: by digest (opaque) or jti (JWT). */
    function revokedEvent(token: string): GatewayEvent {
      if (token.split('.').length !== 3) return { type: 'token.revoked', digest: sha256Base64url(token) };
      const jti = String((JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Body).jti);
      return { type: 'token.revoked', digest: sha256Base64url(jti), jti };
    }

    it('revoking the subject token ends the exchanged token and the one exchanged from that; gateways are told', async () => {
      const subject = String((await userTokens('web')).access_token);
      const first = await exchange('web', subject, { audience: 'orders' });
      // orders received it (aud) and passes it on to inventory, as a JWT
      const second = await exchange('orders', first, { audience: 'inventory', requested_token_type: JWT });
      assert.equal(second.split('.').length, 3);
      assert.equal(await active(first), true);
      assert.equal(await active(second), true);

      events.length = 0;
      await revoke('web', subject);
      assert.equal(await active(subject), false);
      assert.equal(await active(first), false, 'the exchanged token');
      assert.equal(await active(second), false, 'the token exchanged from the exchanged one');
      for (const t of [subject, first, second]) assert.ok(events.some((e) => JSON.stringify(e) === JSON.stringify(revokedEvent(t))), JSON.stringify(events));
      // and nothing can be exchanged from them any more
      const res = await postForm(`${issuer}/oauth2/token`, { grant_type: GRANT, subject_token: first, subject_token_type: ACCESS }, { authorization: basic('orders', SECRET) });
      assert.equal(res.status, 400);
    });

    it('revoking an exchanged token ends it and its own descendants, not the subject token nor its siblings', async () => {
      const subject = String((await userTokens('web')).access_token);
      const first = await exchange('web', subject, { audience: 'orders' });
      const sibling = await exchange('web', subject, { audience: 'inventory' });
      const second = await exchange('orders', first, { audience: 'inventory' });
      await revoke('web', first);
      assert.equal(await active(first), false);
      assert.equal(await active(second), false, 'exchanged from the revoked one');
      assert.equal(await active(subject), true, 'the subject token stays active');
      assert.equal(await active(sibling), true, 'another exchange from the subject stays active');
    });

    it('a subject token without a grant (client_credentials) and a stored JWT subject token cascade too', async () => {
      const service = String((await tokenResponse('orders', { grant_type: 'client_credentials', scope: 'orders:read' })).access_token);
      const fromService = await exchange('orders', service, { audience: 'inventory' });
      const jwtSubject = String((await userTokens('web-jwt')).access_token);
      const fromJwt = await exchange('web-jwt', jwtSubject, { subject_token_type: JWT });
      await revoke('orders', service);
      await revoke('web-jwt', jwtSubject);
      assert.equal(await active(fromService), false, 'exchanged from a client_credentials token');
      assert.equal(await active(fromJwt), false, 'exchanged from a stored JWT access token');
    });

    it('revoking the refresh token ends its family, tokens exchanged from its access tokens included (they share its grant)', async () => {
      const tokens = await userTokens('web');
      assert.equal(typeof tokens.refresh_token, 'string');
      const first = await exchange('web', String(tokens.access_token), { audience: 'orders' });
      const second = await exchange('orders', first, { audience: 'inventory' });
      events.length = 0;
      await revoke('web', String(tokens.refresh_token));
      assert.equal(await active(String(tokens.access_token)), false);
      assert.equal(await active(first), false);
      assert.equal(await active(second), false);
      for (const t of [first, second]) assert.ok(events.some((e) => JSON.stringify(e) === JSON.stringify(revokedEvent(t))), JSON.stringify(events));
    });

    it('records the stored subject token; a token exchanged from an unstored internal JWT records none', async () => {
      const subject = String((await userTokens('web')).access_token);
      const first = await exchange('web', subject, { audience: 'orders' });
      const rec = (await storage.tokens.findByDigest(sha256Base64url(first)))!;
      assert.equal(rec.exchanged_from, sha256Base64url(subject));
      assert.equal('exchanged_from' in (await storage.tokens.findByDigest(sha256Base64url(subject)))!, false);
      // the gateway's internal JWT for orders: signed by us, never stored
      const now = Math.floor(Date.now() / 1000);
      const sub = (await storage.users.getByUsername('alice'))!.id;
      const internal = signJwt(
        keyring.current,
        { iss: issuer, sub, aud: 'orders', iat: now, exp: now + 60, jti: randomUUID(), client_id: 'web', scope: 'orders:read', auth_method: 'oauth2' },
        'at+jwt',
      );
      const fromInternal = await exchange('orders', internal, { subject_token_type: JWT, audience: 'inventory' });
      assert.equal(await active(fromInternal), true);
      assert.equal('exchanged_from' in (await storage.tokens.findByDigest(sha256Base64url(fromInternal)))!, false);
    });
  });
}

for (const target of await allTargets()) {
  describe(`tokens.revokeExchanged: ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    eachFreshStorage(target, (opened) => {
      storage = opened;
    });

    it('follows the whole chain, through links revoked before, and names only what it revoked', async () => {
      // a ← b ← c ← d, a ← e; b was revoked on its own before
      await storage.tokens.insert(token('a'));
      await storage.tokens.insert(token('b', { exchanged_from: 'a', revoked_at: NOW + 1 }));
      await storage.tokens.insert(token('c', { exchanged_from: 'b', format: 'jwt' }));
      await storage.tokens.insert(token('d', { exchanged_from: 'c' }));
      await storage.tokens.insert(token('e', { exchanged_from: 'a' }));
      await storage.tokens.insert(token('other', { exchanged_from: 'x' }));
      assert.equal((await storage.tokens.findByDigest('c'))?.exchanged_from, 'b');
      assert.equal('exchanged_from' in (await storage.tokens.findByDigest('a'))!, false, 'absent, not null, when not exchanged');

      const revoked = await storage.tokens.revokeExchanged(['a'], NOW + 5);
      assert.deepEqual(revoked.map((t) => t.digest).sort(), ['c', 'd', 'e']);
      assert.deepEqual(revoked.find((t) => t.digest === 'c'), { digest: 'c', jti: 'jti-c', format: 'jwt', kind: 'access_token' });
      assert.equal((await storage.tokens.findByDigest('a'))?.revoked_at, null, 'the token itself is the caller’s to revoke');
      assert.equal((await storage.tokens.findByDigest('b'))?.revoked_at, NOW + 1, 'revoked before: kept');
      assert.equal((await storage.tokens.findByDigest('d'))?.revoked_at, NOW + 5);
      assert.equal((await storage.tokens.findByDigest('other'))?.revoked_at, null);
      assert.deepEqual(await storage.tokens.revokeExchanged(['a'], NOW + 6), []);
      assert.deepEqual(await storage.tokens.revokeExchanged(['nothing', 'd'], NOW + 6), []);
    });

    it('from a client: every token exchanged from any of its tokens (revoked ones too), whoever holds it', async () => {
      // web's x (live) ← y (orders) ← z (inventory); web's w (revoked) ← v (orders); web's u, nothing below
      await storage.tokens.insert(token('x'));
      await storage.tokens.insert(token('w', { revoked_at: NOW + 1 }));
      await storage.tokens.insert(token('u'));
      await storage.tokens.insert(token('y', { client_id: 'orders', exchanged_from: 'x' }));
      await storage.tokens.insert(token('z', { client_id: 'inventory', exchanged_from: 'y', format: 'jwt' }));
      await storage.tokens.insert(token('v', { client_id: 'orders', exchanged_from: 'w' }));
      await storage.tokens.insert(token('s', { client_id: 'orders' }));
      await storage.tokens.insert(token('t', { client_id: 'inventory', exchanged_from: 's' }));
      const revoked = await storage.tokens.revokeExchangedFromClient('web', NOW + 5);
      assert.deepEqual(revoked.map((t) => t.digest).sort(), ['v', 'y', 'z']);
      assert.equal((await storage.tokens.findByDigest('x'))?.revoked_at, null, 'the client’s own tokens are revokeByClient’s');
      assert.equal((await storage.tokens.findByDigest('t'))?.revoked_at, null, 'exchanged from another client’s token');
      assert.deepEqual(await storage.tokens.revokeExchangedFromClient('web', NOW + 6), []);
      assert.deepEqual(await storage.tokens.revokeExchangedFromClient('nobody', NOW + 6), []);
    });

    it('expired tokens leave with their links', async () => {
      await storage.tokens.insert(token('p', { expires_at: NOW + 10 }));
      await storage.tokens.insert(token('q', { exchanged_from: 'p', expires_at: NOW + 10 }));
      await storage.tokens.insert(token('r', { exchanged_from: 'p', expires_at: NOW + 100 }));
      assert.equal(await storage.tokens.deleteExpired(NOW + 50), 2);
      assert.deepEqual((await storage.tokens.revokeExchanged(['p'], NOW + 60)).map((t) => t.digest), ['r']);
    });
  });
}
