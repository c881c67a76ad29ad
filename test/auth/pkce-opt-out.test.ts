// PKCE opt-out for confidential clients (`require_pkce: false`, RFC 9700 §2.1.1) and
// redirect_uri REQUIRED for OpenID requests (OIDC Core §3.1.2.1). Every case runs the real
// flow over HTTP: the authorization request (signing in through the login form once), then the
// code at the token endpoint. Also: the config refuses the opt-out for public clients, and the
// setting survives storage (SQLite and PostgreSQL, migration 0011).
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { clientRecordFromConfig } from '../../src/auth/clients.js';
import { ConfigError, validateConfig } from '../../src/config/index.js';
import { openStorage } from '../../src/storage/open.js';
import { basic, startAuth, TEST_SECRET, tokenAnswer, type JsonAnswer, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { allTargets } from '../storage/targets.js';
import { runCli } from '../cli/spawn.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://rp.example/cb';
const SECRET = 'server-rp-secret-0123456789abcdef-0123';

const CLIENTS = [
  // a server-side RP that does code flow without PKCE (Keycloak's default, mod_auth_openidc …)
  { client_id: 'server-rp', client_secret: SECRET, redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid', 'api'], consent: 'skip', require_pkce: false },
  // the same, but with the secure default
  { client_id: 'strict-rp', client_secret: SECRET, redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid', 'api'], consent: 'skip' },
  { client_id: 'public', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid', 'api'], consent: 'skip' },
];

function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

describe('PKCE opt-out for confidential clients (require_pkce: false)', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, users: [{ username: 'alice', password: PASSWORD }], clients: CLIENTS });
    // one sign-in; every later request rides the SSO session
    browser = new Browser();
    const login = await browser.fetch(authorizeUrl('strict-rp', { code_challenge: challengeOf('v'.repeat(43)), code_challenge_method: 'S256' }));
    assert.equal(login.status, 200, 'the login page');
    const form = parseForm(await login.text());
    const done = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
    assert.equal(done.status, 303);
  });

  after(() => server?.close());

  function authorizeUrl(clientId: string, extra: Record<string, string | undefined> = {}): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params: Record<string, string | undefined> = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', nonce: 'n-1', ...extra };
    for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
    return u.href;
  }

  /** The answer at the redirect URI (the session is there: no login page). */
  async function authorize(clientId: string, extra: Record<string, string | undefined> = {}): Promise<URLSearchParams> {
    const res = await browser.fetch(authorizeUrl(clientId, extra));
    assert.equal(res.status, 302, `a redirect to the client, got ${res.status}`);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.origin + cb.pathname, CB);
    return cb.searchParams;
  }

  async function codeFor(clientId: string, extra: Record<string, string | undefined> = {}): Promise<string> {
    const p = await authorize(clientId, extra);
    assert.ok(p.get('code'), `a code: ${p}`);
    return p.get('code')!;
  }

  function redeem(clientId: string, code: string, extra: Record<string, string> = {}): Promise<JsonAnswer> {
    return tokenAnswer(server.issuer, { grant_type: 'authorization_code', code, redirect_uri: CB, ...extra }, { authorization: basic(clientId, SECRET) });
  }

  function assertInvalidGrant(r: JsonAnswer, description: RegExp): void {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_grant');
    assert.match(String(r.body.error_description), description);
  }

  it('no code_challenge: a code, redeemed without code_verifier; the ID token carries the nonce', async () => {
    const code = await codeFor('server-rp', { nonce: 'nonce-42' });
    const r = await redeem('server-rp', code);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(typeof r.body.access_token, 'string');
    assert.equal(decodeJwt(String(r.body.id_token)).nonce, 'nonce-42');
  });

  it('a strict client (oauth4webapi, nopkce) runs the whole flow: iss and state checked, the ID token validated with the nonce', async () => {
    const insecure = { [oauth.allowInsecureRequests]: true } as const;
    const as = await oauth.processDiscoveryResponse(new URL(server.issuer), await oauth.discoveryRequest(new URL(server.issuer), insecure));
    const client: oauth.Client = { client_id: 'server-rp' };
    const nonce = oauth.generateRandomNonce();
    const state = oauth.generateRandomState();
    const res = await browser.fetch(authorizeUrl('server-rp', { nonce, state }));
    const params = oauth.validateAuthResponse(as, client, new URL(res.headers.get('location')!), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), params, CB, oauth.nopkce, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
    const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer: server.issuer, audience: 'server-rp' });
    assert.equal(payload.nonce, nonce);
  });

  it('no code_challenge and an OpenID request without nonce → invalid_request at the redirect URI; plain OAuth needs no nonce', async () => {
    for (const nonce of [undefined, '']) {
      const p = await authorize('server-rp', { nonce });
      assert.equal(p.get('error'), 'invalid_request');
      assert.match(p.get('error_description') ?? '', /nonce is required/);
      assert.equal(p.get('state'), 'st');
      assert.equal(p.get('code'), null);
    }
    const code = await codeFor('server-rp', { scope: 'api', nonce: undefined });
    const r = await redeem('server-rp', code);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id_token, undefined);
  });

  it('a code issued without a challenge refuses a code_verifier (PKCE downgrade, RFC 9700 §4.8.2), and is spent by the try', async () => {
    const code = await codeFor('server-rp');
    assertInvalidGrant(await redeem('server-rp', code, { code_verifier: 'x'.repeat(43) }), /no code_challenge/);
    assertInvalidGrant(await redeem('server-rp', code), /already used/);
  });

  it('a challenge it does send is still S256-only and verified at the token endpoint', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const withChallenge = { code_challenge: challengeOf(verifier), code_challenge_method: 'S256' };
    // the verifier is required once a challenge was recorded
    assertInvalidGrant(await redeem('server-rp', await codeFor('server-rp', withChallenge)), /code_verifier is required/);
    assertInvalidGrant(await redeem('server-rp', await codeFor('server-rp', withChallenge), { code_verifier: 'y'.repeat(43) }), /does not match/);
    const ok = await redeem('server-rp', await codeFor('server-rp', withChallenge), { code_verifier: verifier });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    for (const bad of [
      { code_challenge: verifier, code_challenge_method: 'plain' },
      { code_challenge: challengeOf(verifier), code_challenge_method: undefined },
      { code_challenge: undefined, code_challenge_method: 'S256' },
      { code_challenge: 'short', code_challenge_method: 'S256' },
    ]) {
      const p = await authorize('server-rp', bad);
      assert.equal(p.get('error'), 'invalid_request', JSON.stringify(bad));
    }
  });

  it('the secure default: a confidential client without the setting, and a public client, still need code_challenge', async () => {
    for (const clientId of ['strict-rp', 'public']) {
      const p = await authorize(clientId);
      assert.equal(p.get('error'), 'invalid_request', clientId);
      assert.match(p.get('error_description') ?? '', /code_challenge is required/);
    }
  });

  it('a code issued without a challenge is refused once the client requires PKCE again', async () => {
    const code = await codeFor('server-rp');
    const storage = server.running.storage;
    const rec = (await storage.clients.get('server-rp'))!;
    try {
      await storage.clients.upsert({ ...rec, require_pkce: true });
      server.running.auth!.ctx.clients.clear();
      assertInvalidGrant(await redeem('server-rp', code), /code_verifier is required/);
      // and no new code without a challenge is issued for it
      const p = await authorize('server-rp');
      assert.equal(p.get('error'), 'invalid_request');
    } finally {
      await storage.clients.upsert(rec);
      server.running.auth!.ctx.clients.clear();
    }
  });
});

describe('redirect_uri is REQUIRED for OpenID requests (OIDC Core §3.1.2.1)', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [
        { client_id: 'one', redirect_uris: [CB], scopes: ['openid', 'api'], default_scopes: ['api'], consent: 'skip' },
        { client_id: 'oidc-default', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
      ],
    });
  });

  after(() => server?.close());

  async function get(params: Record<string, string>): Promise<Response> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const all = { response_type: 'code', state: 'st', code_challenge: challengeOf('v'.repeat(43)), code_challenge_method: 'S256', ...params };
    for (const [k, v] of Object.entries(all)) u.searchParams.set(k, v);
    return new Browser().fetch(u.href);
  }

  async function assertErrorPage(res: Response, text: RegExp): Promise<void> {
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null, 'never a redirect');
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), text);
  }

  it('scope with openid and no redirect_uri → the error page, even with a single registered URI', async () => {
    await assertErrorPage(await get({ client_id: 'one', scope: 'openid' }), /redirect_uri is required for OpenID Connect requests/);
    await assertErrorPage(await get({ client_id: 'one', scope: 'api openid' }), /redirect_uri is required/);
    // no scope: the client's defaults, which here include openid, make it an OpenID request
    await assertErrorPage(await get({ client_id: 'oidc-default' }), /redirect_uri is required/);
  });

  it('plain OAuth keeps RFC 6749 §3.1.2.3: omitted with one registered URI → that URI (the login page first)', async () => {
    for (const params of [{ client_id: 'one', scope: 'api' }, { client_id: 'one' }] as Array<Record<string, string>>) {
      const res = await get(params);
      assert.equal(res.status, 200, 'the login page');
      await res.text();
    }
  });

  it('with redirect_uri, an OpenID request goes on as before', async () => {
    const res = await get({ client_id: 'one', scope: 'openid', redirect_uri: CB });
    assert.equal(res.status, 200, 'the login page');
    await res.text();
  });
});

describe('require_pkce: config and storage', () => {
  const base = { issuer: 'https://as.example', storage: 'memory:', secret: TEST_SECRET };

  function configWith(client: Record<string, unknown>) {
    return validateConfig({ ...base, auth: { clients: [{ client_id: 'c', redirect_uris: [CB], grant_types: ['authorization_code'], ...client }] } });
  }

  it('false is refused for a public client, with an error naming the key; allowed for confidential ones', () => {
    assert.throws(
      () => configWith({ require_pkce: false }),
      (err: unknown) => err instanceof ConfigError && /auth\.clients\[0\]\.require_pkce/.test(err.message) && /confidential/.test(err.message),
    );
    assert.throws(() => configWith({ require_pkce: 'no' }), (err: unknown) => err instanceof ConfigError && /require_pkce/.test(err.message));
    assert.equal(configWith({ client_secret: SECRET, require_pkce: false }).auth!.clients[0]!.require_pkce, false);
    assert.equal(configWith({ require_pkce: true }).auth!.clients[0]!.require_pkce, true);
    assert.equal(configWith({}).auth!.clients[0]!.require_pkce, undefined);
  });

  it('stored and read back on every storage (migration 0011); absent reads as required', async (t) => {
    const cfg = configWith({ client_secret: SECRET, require_pkce: false }).auth!.clients[0]!;
    for (const target of await allTargets()) {
      await t.test(target.name, { skip: target.skip }, async () => {
        const place = await target.prepare();
        const storage = await openStorage(place.url, { autoMigrate: true });
        try {
          await storage.clients.upsert(clientRecordFromConfig(cfg, 'config', 1_700_000_000));
          assert.equal((await storage.clients.get('c'))!.require_pkce, false);
          await storage.clients.upsert(clientRecordFromConfig({ ...cfg, require_pkce: undefined }, 'config', 1_700_000_000));
          assert.equal((await storage.clients.get('c'))!.require_pkce, true);
          const { require_pkce: _r, ...older } = clientRecordFromConfig(cfg, 'config', 1_700_000_000);
          await storage.clients.upsert({ ...older, client_id: 'older' });
          assert.equal((await storage.clients.get('older'))!.require_pkce, undefined, 'NULL: written without the setting');
        } finally {
          await storage.close();
          await place.cleanup();
        }
      });
    }
  });

  it('`drawbridge client create --no-require-pkce`: stored for a confidential client, a usage error for a public one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-pkce-'));
    try {
      const configFile = join(dir, 'drawbridge.yaml');
      await writeFile(configFile, ['issuer: http://127.0.0.1:1', `storage: "sqlite:${join(dir, 'drawbridge.db')}"`, 'secret: ${DRAWBRIDGE_SECRET}', 'auth: {}', ''].join('\n'));
      const env = { env: { DRAWBRIDGE_SECRET: TEST_SECRET } };
      const common = ['--config', configFile, '--grant-type', 'authorization_code', '--redirect-uri', CB, '--scope', 'openid'];
      const [off, on, pub] = await Promise.all([
        runCli(['client', 'create', '--id', 'rp', '--no-require-pkce', ...common], env),
        runCli(['client', 'create', '--id', 'default', ...common], env),
        runCli(['client', 'create', '--id', 'spa', '--public', '--no-require-pkce', ...common], env),
      ]);
      assert.equal(off.code, 0, off.stderr);
      assert.equal(on.code, 0, on.stderr);
      assert.equal(pub.code, 2, 'a public client without PKCE is a usage error');
      assert.match(pub.stderr, /require_pkce/);
      const list = await runCli(['client', 'list', '--config', configFile, '--json'], env);
      assert.equal(list.code, 0, list.stderr);
      const rows = JSON.parse(list.stdout) as Array<{ client_id: string; require_pkce?: boolean }>;
      assert.deepEqual(rows.map((r) => [r.client_id, r.require_pkce]), [['default', true], ['rp', false]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
