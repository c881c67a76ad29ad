// Access tokens as issued, stored, introspected and revoked: entropy and digest-only storage,
// scopes, resource indicators, expiry on a fixed clock, the jti deny-list for JWT access
// tokens, the RFC 9701 JWT introspection response, discovery and the health endpoints.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { sql } from 'kysely';
import { fixedClock } from '../../src/core/clock.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { openSqlite } from '../../src/storage/sqlite.js';

const SECRET = 'tokens-tests-client-secret-0123456789';
const JWT_INTROSPECTION = 'application/token-introspection+jwt';

const CLIENTS = [
  {
    client_id: 'svc',
    client_secret: SECRET,
    scopes: ['orders:read', 'orders:write', 'inventory:read'],
    default_scopes: ['orders:read'],
  },
  { client_id: 'svc-jwt', client_secret: SECRET, scopes: ['orders:read'], access_token_format: 'jwt' },
  {
    client_id: 'svc-aud',
    client_secret: SECRET,
    scopes: ['orders:read'],
    audiences: ['https://orders.example', 'https://inventory.example'],
  },
  { client_id: 'svc-aud-jwt', client_secret: SECRET, scopes: ['orders:read'], audiences: ['orders'], access_token_format: 'jwt' },
  { client_id: 'svc-noscope', client_secret: SECRET },
  { client_id: 'gateway', client_secret: SECRET, scopes: ['introspect'] },
];

function sha256b64u(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

async function json(res: Response, status = 200): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('access tokens', () => {
  let dir: string;
  let dbFile: string;
  let server: TestServer;
  let tokenUrl: string;
  let introspectUrl: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-tokens-'));
    dbFile = join(dir, 'drawbridge.db');
    server = await startAuth({ clients: CLIENTS }, { storage: `sqlite:${dbFile}` });
    tokenUrl = `${server.issuer}/oauth2/token`;
    introspectUrl = `${server.issuer}/oauth2/introspect`;
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function issue(clientId: string, form: Record<string, string | string[]> = {}) {
    return json(await postForm(tokenUrl, { grant_type: 'client_credentials', ...form }, { authorization: basic(clientId, SECRET) }));
  }

  async function introspect(token: string, accept?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: basic('gateway', SECRET) };
    if (accept) headers.accept = accept;
    return postForm(introspectUrl, { token }, headers);
  }

  describe('opaque tokens', () => {
    it('carry at least 256 random bits (≥ 43 base64url characters) and never repeat', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const body = await issue('svc');
        const t = body.access_token as string;
        assert.match(t, /^[A-Za-z0-9_-]{43,}$/);
        assert.ok(Buffer.from(t, 'base64url').length >= 32);
        assert.ok(!seen.has(t));
        seen.add(t);
      }
    });

    it('token responses are never cached', async () => {
      const res = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic('svc', SECRET) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
      assert.equal(body.token_type, 'Bearer');
    });

    it('are stored only as a digest: the token string is nowhere in the database', async () => {
      const t = (await issue('svc')).access_token as string;
      const rec = await server.running.storage.tokens.findByDigest(sha256b64u(t));
      assert.ok(rec, 'the record is found by the SHA-256 digest of the token');
      assert.equal(rec.digest, sha256b64u(t));
      assert.equal(rec.format, 'opaque');
      assert.ok(!JSON.stringify(rec).includes(t), 'token string in the stored record');

      // every cell of every table, through a second connection
      // (openSqlite: whichever SQLite driver this Node uses)
      const { db } = openSqlite(dbFile);
      try {
        const tables = (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows;
        assert.ok(tables.some((x) => x.name === 'tokens'));
        let rows = 0;
        for (const { name } of tables) {
          for (const row of (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows) {
            rows++;
            for (const [col, value] of Object.entries(row)) {
              const text = value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : String(value);
              assert.ok(!text.includes(t), `token string found in ${name}.${col}`);
            }
          }
        }
        assert.ok(rows > 0);
        const tokenRow = (await sql`select * from tokens where digest = ${sha256b64u(t)}`.execute(db)).rows[0];
        assert.ok(tokenRow, 'the tokens row is keyed by the digest');
      } finally {
        await db.destroy();
      }
      // and not in the raw files either (the WAL holds the latest pages)
      for (const f of [dbFile, `${dbFile}-wal`]) {
        if (existsSync(f)) assert.ok(!readFileSync(f).includes(Buffer.from(t)), `token string in ${f}`);
      }
    });
  });

  describe('scopes (RFC 6749 §3.3)', () => {
    it('a requested subset is granted as asked', async () => {
      const body = await issue('svc', { scope: 'orders:write inventory:read' });
      assert.equal(body.scope, 'orders:write inventory:read');
      const state = await json(await introspect(body.access_token as string));
      assert.equal(state.scope, 'orders:write inventory:read');
    });

    it('no scope → the client’s default scopes', async () => {
      const body = await issue('svc');
      assert.equal(body.scope, 'orders:read');
      assert.equal((await json(await introspect(body.access_token as string))).scope, 'orders:read');
    });

    it('repeated scope values collapse; spaces other than one between tokens are invalid_scope (peer-review.test.ts)', async () => {
      const body = await issue('svc', { scope: 'orders:read orders:read orders:write' });
      assert.equal(body.scope, 'orders:read orders:write');
      const spaced = await postForm(tokenUrl, { grant_type: 'client_credentials', scope: ' orders:read  orders:read orders:write ' }, { authorization: basic('svc', SECRET) });
      assert.equal((await json(spaced, 400)).error, 'invalid_scope');
    });

    it('a client without scopes gets a token without a scope member', async () => {
      const body = await issue('svc-noscope');
      assert.equal(body.scope, undefined);
      const state = await json(await introspect(body.access_token as string));
      assert.equal(state.active, true);
      assert.equal(state.scope, '');
    });
  });

  describe('resource indicators (RFC 8707)', () => {
    it('no resource → aud is the issuer', async () => {
      const body = await issue('svc');
      assert.equal((await json(await introspect(body.access_token as string))).aud, server.issuer);
    });

    it('one resource → aud', async () => {
      const body = await issue('svc', { resource: 'https://orders.example' });
      assert.equal((await json(await introspect(body.access_token as string))).aud, 'https://orders.example');
    });

    it('repeated resources → aud lists each', async () => {
      const body = await issue('svc', { resource: ['https://orders.example', 'https://inventory.example/api'] });
      assert.deepEqual((await json(await introspect(body.access_token as string))).aud, [
        'https://orders.example',
        'https://inventory.example/api',
      ]);
    });

    it('a JWT access token carries the resource as aud', async () => {
      const body = await issue('svc-jwt', { resource: 'https://orders.example' });
      const payload = jose.decodeJwt(body.access_token as string);
      assert.equal(payload.aud, 'https://orders.example');
    });

    it('a client limited to audiences may ask only for those', async () => {
      const ok = await issue('svc-aud', { resource: 'https://inventory.example' });
      assert.equal((await json(await introspect(ok.access_token as string))).aud, 'https://inventory.example');
      const res = await postForm(
        tokenUrl,
        { grant_type: 'client_credentials', resource: 'https://elsewhere.example' },
        { authorization: basic('svc-aud', SECRET) },
      );
      assert.equal((await json(res, 400)).error, 'invalid_target');
    });

    it('a client limited to audiences that names none gets its audiences as aud, not the issuer', async () => {
      const body = await issue('svc-aud');
      assert.deepEqual((await json(await introspect(body.access_token as string))).aud, ['https://orders.example', 'https://inventory.example']);
      const jwt = await issue('svc-aud-jwt');
      assert.equal(jose.decodeJwt(jwt.access_token as string).aud, 'orders');
    });

    it('audience (RFC 8693 §2.1 service names, repeatable) at client_credentials: within audiences, the token\'s aud', async () => {
      const one = await issue('svc-aud-jwt', { audience: 'orders' });
      assert.equal(jose.decodeJwt(one.access_token as string).aud, 'orders');
      const both = await issue('svc-aud', { audience: ['https://orders.example'], resource: 'https://inventory.example' });
      assert.deepEqual((await json(await introspect(both.access_token as string))).aud, ['https://orders.example', 'https://inventory.example']);
      // a client without audiences may name any service
      const any = await issue('svc', { audience: ['billing', 'orders'] });
      assert.deepEqual((await json(await introspect(any.access_token as string))).aud, ['billing', 'orders']);
      const refused = async (clientId: string, form: Record<string, string | string[]>) =>
        (await json(await postForm(tokenUrl, { grant_type: 'client_credentials', ...form }, { authorization: basic(clientId, SECRET) }), 400)).error;
      assert.equal(await refused('svc-aud-jwt', { audience: 'billing' }), 'invalid_target');
      assert.equal(await refused('svc-aud-jwt', { audience: ['orders', 'billing'] }), 'invalid_target');
      assert.equal(await refused('svc', { audience: 'bad audience' }), 'invalid_target');
      assert.equal(await refused('svc', { audience: ['orders', 'orders'] }), 'invalid_request');
    });

    it('the same resource twice → invalid_request', async () => {
      const res = await postForm(
        tokenUrl,
        { grant_type: 'client_credentials', resource: ['https://orders.example', 'https://orders.example'] },
        { authorization: basic('svc', SECRET) },
      );
      assert.equal((await json(res, 400)).error, 'invalid_request');
    });
  });

  describe('JWT access tokens and revocation', () => {
    it('a revoked JWT access token is inactive at introspection while its signature stays valid', async () => {
      const t = (await issue('svc-jwt')).access_token as string;
      const jwks = jose.createLocalJWKSet((await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
      await jose.jwtVerify(t, jwks, { issuer: server.issuer, typ: 'at+jwt' });
      const active = await json(await introspect(t));
      assert.equal(active.active, true);
      assert.equal(active.client_id, 'svc-jwt');
      assert.equal(active.jti, jose.decodeJwt(t).jti);

      const res = await postForm(`${server.issuer}/oauth2/revoke`, { token: t, token_type_hint: 'access_token' }, { authorization: basic('svc-jwt', SECRET) });
      assert.equal(res.status, 200);
      assert.deepEqual(await json(await introspect(t)), { active: false });
      // still a correctly signed, unexpired JWT: only the deny-list knows
      const { payload } = await jose.jwtVerify(t, jwks, { issuer: server.issuer, typ: 'at+jwt' });
      assert.ok(payload.exp! > Date.now() / 1000);
      // revoking twice is fine
      assert.equal((await postForm(`${server.issuer}/oauth2/revoke`, { token: t }, { authorization: basic('svc-jwt', SECRET) })).status, 200);
    });

    it('a JWT signed by someone else is unknown to introspection', async () => {
      const { privateKey } = await jose.generateKeyPair('ES256');
      const real = jose.decodeProtectedHeader((await issue('svc-jwt')).access_token as string);
      const forged = await new jose.SignJWT({ client_id: 'svc-jwt', scope: 'orders:read', jti: 'forged' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: real.kid! })
        .setIssuer(server.issuer)
        .setSubject('svc-jwt')
        .setAudience(server.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      assert.deepEqual(await json(await introspect(forged)), { active: false });
    });
  });

  describe('JWT introspection response (RFC 9701)', () => {
    it('is a signed JWT with typ token-introspection+jwt, iss, aud = the caller, iat and token_introspection', async () => {
      const t = (await issue('svc', { scope: 'orders:read' })).access_token as string;
      const res = await introspect(t, JWT_INTROSPECTION);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), JWT_INTROSPECTION);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const jwt = await res.text();
      const jwks = jose.createRemoteJWKSet(new URL(`${server.issuer}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jose.jwtVerify(jwt, jwks, {
        issuer: server.issuer,
        audience: 'gateway',
        typ: 'token-introspection+jwt',
        requiredClaims: ['iat', 'token_introspection'],
      });
      assert.equal(protectedHeader.typ, 'token-introspection+jwt');
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(protectedHeader.kid, server.running.keyring.current.kid);
      assert.equal(payload.aud, 'gateway');
      assert.ok(Math.abs((payload.iat as number) - Date.now() / 1000) < 120);
      // auth.introspection_jwt_ttl (default 60s) bounds how long the response may be used
      assert.equal(payload.exp, (payload.iat as number) + 60);
      const ti = payload.token_introspection as Record<string, unknown>;
      assert.equal(ti.active, true);
      assert.equal(ti.client_id, 'svc');
      assert.equal(ti.scope, 'orders:read');
      assert.equal(ti.sub, 'svc');
      assert.equal(ti.iss, server.issuer);
      assert.equal(typeof ti.exp, 'number');
      // the same facts as the JSON answer
      assert.deepEqual(ti, await json(await introspect(t)));
    });

    it('reports an unknown token as token_introspection { active: false }', async () => {
      const res = await introspect('no-such-token', `${JWT_INTROSPECTION}, application/json;q=0.5`);
      assert.equal(res.headers.get('content-type'), JWT_INTROSPECTION);
      const { payload } = await jose.jwtVerify(await res.text(), jose.createRemoteJWKSet(new URL(`${server.issuer}/.well-known/jwks.json`)), {
        issuer: server.issuer,
        audience: 'gateway',
        typ: 'token-introspection+jwt',
      });
      assert.deepEqual(payload.token_introspection, { active: false });
    });

    // RFC 9110 §12.5.1: the highest q wins, the most specific range sets a type's q, q=0 is
    // "not acceptable"; a tie goes to the JWT only when it is named by its own type
    const NEGOTIATED: Array<[string, 'jwt' | 'json']> = [
      [JWT_INTROSPECTION, 'jwt'],
      [`${JWT_INTROSPECTION}, application/json`, 'jwt'],
      [`application/json, ${JWT_INTROSPECTION}`, 'jwt'],
      [`${JWT_INTROSPECTION}, */*`, 'jwt'],
      [`application/json;q=0.5, ${JWT_INTROSPECTION};q=0.6`, 'jwt'],
      [`application/json;q=1, ${JWT_INTROSPECTION};q=0.1`, 'json'],
      [`${JWT_INTROSPECTION};q=0.1, application/json`, 'json'],
      [`${JWT_INTROSPECTION};q=0.9, */*`, 'json'],
      [`${JWT_INTROSPECTION};q=0.1, application/*;q=0.5`, 'json'],
      [`${JWT_INTROSPECTION};q=0`, 'json'],
      [`${JWT_INTROSPECTION}; q=0.000, application/json;q=0.001`, 'json'],
      [`${JWT_INTROSPECTION};q=0.5, application/json;q=0`, 'jwt'],
      [`APPLICATION/Token-Introspection+JWT ; Q=0.3 , application/json;q=0.2`, 'jwt'],
      ['application/*', 'json'],
      ['*/*', 'json'],
      ['text/html', 'json'],
    ];
    for (const [accept, want] of NEGOTIATED) {
      it(`Accept: ${accept} → ${want === 'jwt' ? 'the JWT' : 'JSON'}`, async () => {
        const res = await introspect('no-such-token', accept);
        const type = res.headers.get('content-type') ?? '';
        if (want === 'jwt') assert.equal(type, JWT_INTROSPECTION);
        else {
          assert.match(type, /^application\/json/);
          assert.deepEqual(await res.json(), { active: false });
        }
      });
    }

    it('without the Accept header the answer is JSON', async () => {
      const res = await introspect('no-such-token', 'application/json');
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await res.json(), { active: false });
    });
  });

  describe('discovery and health', () => {
    it('both well-known documents are equal and advertise exactly what is supported', async () => {
      const a = await fetch(`${server.issuer}/.well-known/openid-configuration`);
      const b = await fetch(`${server.issuer}/.well-known/oauth-authorization-server`);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.match(a.headers.get('content-type') ?? '', /^application\/json/);
      const oidc = (await a.json()) as Record<string, unknown>;
      const rfc8414 = (await b.json()) as Record<string, unknown>;
      assert.deepEqual(oidc, rfc8414);
      const i = server.issuer;
      assert.equal(oidc.issuer, i);
      assert.equal(oidc.token_endpoint, `${i}/oauth2/token`);
      assert.equal(oidc.introspection_endpoint, `${i}/oauth2/introspect`);
      assert.equal(oidc.revocation_endpoint, `${i}/oauth2/revoke`);
      assert.equal(oidc.jwks_uri, `${i}/.well-known/jwks.json`);
      assert.deepEqual([...(oidc.grant_types_supported as string[])].sort(), ['authorization_code', 'client_credentials', 'implicit', 'password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange']);
      const confidential = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
      assert.deepEqual([...(oidc.token_endpoint_auth_methods_supported as string[])].sort(), [...confidential, 'none'].sort());
      assert.deepEqual([...(oidc.introspection_endpoint_auth_methods_supported as string[])].sort(), confidential);
      assert.deepEqual([...(oidc.revocation_endpoint_auth_methods_supported as string[])].sort(), [...confidential, 'none'].sort());
      assert.deepEqual(oidc.introspection_signing_alg_values_supported, ['ES256']);
      const algs = oidc.token_endpoint_auth_signing_alg_values_supported as string[];
      assert.ok(algs.includes('ES256') && algs.includes('RS256') && algs.includes('EdDSA'));
      assert.ok(!algs.some((x) => x === 'none' || x.startsWith('HS')), 'only asymmetric assertion algorithms');
      // the authorization code flow (issue #3); the OIDC scopes are always supported
      assert.equal(oidc.authorization_endpoint, `${i}/oauth2/authorize`);
      assert.equal(oidc.userinfo_endpoint, `${i}/oauth2/userinfo`);
      assert.deepEqual(oidc.response_types_supported, ['code', 'id_token', 'id_token token', 'token']);
      assert.deepEqual(oidc.response_modes_supported, ['query', 'fragment', 'form_post']);
      assert.deepEqual(oidc.code_challenge_methods_supported, ['S256']);
      assert.equal(oidc.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(oidc.scopes_supported, ['email', 'groups', 'introspect', 'inventory:read', 'offline_access', 'openid', 'orders:read', 'orders:write', 'profile']);
    });

    it('JWKS publishes public keys only', async () => {
      const res = await fetch(`${server.issuer}/.well-known/jwks.json`);
      assert.equal(res.status, 200);
      const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.kid, server.running.keyring.current.kid);
      assert.equal(keys[0]!.kty, 'EC');
      assert.equal(keys[0]!.use, 'sig');
      assert.equal(keys[0]!.d, undefined);
    });

    it('/healthz → 200; /readyz → 200 with storage ok', async () => {
      const h = await fetch(`${server.issuer}/healthz`);
      assert.equal(h.status, 200);
      assert.deepEqual(await h.json(), { status: 'ok' });
      const r = await fetch(`${server.issuer}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await r.json(), { status: 'ready', checks: { storage: 'ok' } });
    });

    it('/readyz → 503 once storage is gone', async () => {
      // a server of its own: closing storage is not undoable
      const other = await startAuth({ clients: CLIENTS });
      try {
        await other.running.storage.close();
        const r = await fetch(`${other.issuer}/readyz`);
        assert.equal(r.status, 503);
        assert.deepEqual(await r.json(), { status: 'unavailable', checks: { storage: 'unavailable' } });
      } finally {
        await other.close();
      }
    });
  });
});

describe('expiry on a fixed clock', () => {
  const start = Math.floor(Date.now() / 1000);
  const clock = fixedClock(start);
  let server: TestServer;
  before(async () => {
    server = await startAuth({ access_token_ttl: '60s', clients: CLIENTS }, {}, { clock });
  });
  after(() => server?.close());

  it('tokens are active until their ttl has passed, then inactive', async () => {
    const issue = async (clientId: string) => {
      const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, SECRET) });
      return json(res);
    };
    const introspect = async (token: string) =>
      json(await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('gateway', SECRET) }));
    const opaque = await issue('svc');
    const jwt = await issue('svc-jwt');
    assert.equal(opaque.expires_in, 60);
    assert.equal(jwt.expires_in, 60);
    const o = await introspect(opaque.access_token as string);
    assert.equal(o.active, true);
    assert.equal(o.iat, start);
    assert.equal(o.exp, start + 60);
    assert.equal(jose.decodeJwt(jwt.access_token as string).exp, start + 60);

    clock.advance(59);
    assert.equal((await introspect(opaque.access_token as string)).active, true);
    assert.equal((await introspect(jwt.access_token as string)).active, true);

    clock.advance(1); // now = exp: expired (exp is the first second it is no longer valid)
    assert.deepEqual(await introspect(opaque.access_token as string), { active: false });
    assert.deepEqual(await introspect(jwt.access_token as string), { active: false });
  });
});
