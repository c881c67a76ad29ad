// RS256 ID tokens next to the ES256 main key (OIDC Discovery §3: RS256 MUST be in
// id_token_signing_alg_values_supported). A server on the real defaults (no
// keys.id_token_algorithms: the test helpers' main-alg-only shortcut is not used here), on a
// SQLite file so a restart can be checked: discovery and JWKS list both algorithms, a client
// with id_token_signed_response_alg RS256 gets RS256 ID tokens (code flow and refresh) that
// openid-client and jose accept, the default client still gets ES256, logout tokens follow
// the client's alg, id_token_hint accepts either, rotation and restart keep both keys.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as client from 'openid-client';
import { logoutToken } from '../../src/auth/logout/backchannel.js';
import { ConfigError, validateConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { run, type Running } from '../../src/cli/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import { freePort, TEST_SECRET } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const SECRET = 'rs-client-secret-0123456789abcdef';
const RS_CB = 'https://rs.example/cb';
const ES_CB = 'https://es.example/cb';
const BYE = 'https://rs.example/bye';

interface Jwk {
  kid: string;
  alg: string;
  kty: string;
  d?: string;
}

function header(jwt: string): { alg: string; kid: string; typ: string } {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8'));
}

/** OIDC Core §3.1.3.6 for RS256 and ES256: left half of the SHA-256 of the token. */
function sha256Half(token: string): string {
  const digest = createHash('sha256').update(token, 'ascii').digest();
  return digest.subarray(0, 16).toString('base64url');
}

describe('ID token algorithms on the default config (ES256 main key; ID tokens RS256 by default, ES256 on request)', () => {
  let dir: string;
  let config: Config;
  let running: Running;
  let issuer: string;
  let rsClient: client.Configuration;
  let esClient: client.Configuration;

  async function jwks(): Promise<Jwk[]> {
    const res = await fetch(`${issuer}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { keys: Jwk[] }).keys;
  }

  /** login (consent skipped) → code → tokens, validated by openid-client (signature, iss, aud, nonce). */
  async function codeFlow(rp: client.Configuration, redirectUri: string) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri,
      scope: 'openid email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const browser = new Browser();
    const page = await browser.fetch(url.href);
    assert.equal(page.status, 200);
    const login = parseForm(await page.text());
    const done = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
    assert.equal(done.status, 303);
    const callback = new URL(done.headers.get('location')!);
    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { tokens, browser };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-idalgs-'));
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    config = validateConfig({
      issuer,
      storage: `sqlite:${join(dir, 'drawbridge.db')}`,
      secret: TEST_SECRET,
      log: { level: 'silent' },
      auth: {
        listen: `127.0.0.1:${port}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }],
        clients: [
          {
            client_id: 'rs-app',
            client_secret: SECRET,
            redirect_uris: [RS_CB],
            grant_types: ['authorization_code', 'refresh_token'],
            scopes: ['openid', 'email', 'offline_access'],
            consent: 'skip',
            post_logout_redirect_uris: [BYE],
            // names no algorithm: RS256, the OIDC default
          },
          {
            client_id: 'es-app',
            redirect_uris: [ES_CB],
            grant_types: ['authorization_code', 'refresh_token'],
            scopes: ['openid', 'email', 'offline_access'],
            consent: 'skip',
            id_token_signed_response_alg: 'ES256',
          },
        ],
      },
    });
    running = await run(config, { logger: silentLogger() });
    const opts = { execute: [client.allowInsecureRequests] };
    // the RP states the alg it expects, as an RS256-only RP registers it
    rsClient = await client.discovery(
      new URL(issuer), 'rs-app', { redirect_uris: [RS_CB], id_token_signed_response_alg: 'RS256' }, client.ClientSecretBasic(SECRET), opts,
    );
    esClient = await client.discovery(new URL(issuer), 'es-app', { redirect_uris: [ES_CB], id_token_signed_response_alg: 'ES256' }, client.None(), opts);
  });

  after(async () => {
    await running?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the default config lists RS256 then ES256; discovery says so, other signing algs stay the main one', () => {
    assert.deepEqual(config.keys.id_token_algorithms, ['RS256', 'ES256']);
    const m = rsClient.serverMetadata();
    assert.deepEqual(m.id_token_signing_alg_values_supported, ['RS256', 'ES256']);
    // access tokens and introspection answers are still signed with the main key only
    assert.deepEqual(m.introspection_signing_alg_values_supported, ['ES256']);
  });

  it('the JWKS publishes a current key of each algorithm, main key first, public parts only', async () => {
    const keys = await jwks();
    assert.deepEqual(keys.map((k) => [k.alg, k.kty]), [['ES256', 'EC'], ['RS256', 'RSA']]);
    for (const k of keys) assert.equal(k.d, undefined);
    assert.equal(keys[0]!.kid, running.keyring.current.kid);
    assert.equal(keys[1]!.kid, running.keyring.currentFor('RS256').kid);
  });

  it('a client that names no algorithm gets RS256 ID tokens that openid-client (expecting RS256) and jose accept', async () => {
    const { tokens } = await codeFlow(rsClient, RS_CB);
    const idToken = tokens.id_token!;
    const h = header(idToken);
    assert.equal(h.alg, 'RS256');
    assert.equal(h.kid, running.keyring.currentFor('RS256').kid);
    // openid-client verified the signature already; jose checks it again against the JWKS, RS256 only
    const jwksSet = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), { cacheMaxAge: 0, cooldownDuration: 0 });
    const { payload } = await jose.jwtVerify(idToken, jwksSet, { issuer, audience: 'rs-app', algorithms: ['RS256'] });
    assert.equal(payload.email, 'alice@example.com');
    // at_hash with the hash of RS256 (SHA-256)
    assert.equal(payload.at_hash, sha256Half(tokens.access_token));
    // access tokens are not affected: the gateway and resource servers see the main key

    // refresh: a new ID token, again RS256, accepted by openid-client
    const refreshed = await client.refreshTokenGrant(rsClient, tokens.refresh_token!);
    assert.equal(header(refreshed.id_token!).alg, 'RS256');
    const again = await jose.jwtVerify(refreshed.id_token!, jwksSet, { issuer, audience: 'rs-app', algorithms: ['RS256'] });
    assert.equal(again.payload.at_hash, sha256Half(refreshed.access_token));
  });

  it('a client with id_token_signed_response_alg ES256 gets ES256 ID tokens, signed with the main key', async () => {
    const { tokens } = await codeFlow(esClient, ES_CB);
    const h = header(tokens.id_token!);
    assert.equal(h.alg, 'ES256');
    assert.equal(h.kid, running.keyring.current.kid);
    const refreshed = await client.refreshTokenGrant(esClient, tokens.refresh_token!);
    assert.equal(header(refreshed.id_token!).alg, 'ES256');
  });

  it('an RS256 ID token is a valid id_token_hint at the logout endpoint', async () => {
    const { tokens, browser } = await codeFlow(rsClient, RS_CB);
    const end = client.buildEndSessionUrl(rsClient, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: BYE, state: 'rs' });
    const res = await browser.fetch(end.href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${BYE}?state=rs`);
  });

  it('back-channel logout tokens are signed like the client\'s ID tokens', () => {
    const deps = { issuer, clock: systemClock, signingKey: (alg: Parameters<typeof running.keyring.idTokenKey>[0]) => running.keyring.idTokenKey(alg) };
    const target = (alg?: 'ES256') => ({
      client: { client_id: 'x', backchannel_logout_uri: 'https://x.example/bc', backchannel_logout_session_required: false, ...(alg ? { id_token_signed_response_alg: alg } : {}) },
      sub: 'u',
      sid: null,
    });
    assert.equal(header(logoutToken(deps, target('ES256'))).alg, 'ES256');
    assert.equal(header(logoutToken(deps, target())).alg, 'RS256');
  });

  it('rotating RS256 keeps the ES256 key; the old RS256 key stays published and new ID tokens use the new one', async () => {
    const es = running.keyring.current.kid;
    const oldRs = running.keyring.currentFor('RS256').kid;
    const rec = await running.keyring.rotate(600, 'RS256');
    assert.equal(running.keyring.current.kid, es);
    assert.equal(running.keyring.currentFor('RS256').kid, rec.kid);
    assert.notEqual(rec.kid, oldRs);
    assert.deepEqual((await jwks()).map((k) => k.kid), [es, rec.kid, oldRs]);
    const { tokens } = await codeFlow(rsClient, RS_CB);
    assert.equal(header(tokens.id_token!).kid, rec.kid);
    // the main key rotates on its own too, and leaves RS256 alone
    const es2 = await running.keyring.rotate(600);
    assert.equal(es2.alg, 'ES256');
    assert.equal(running.keyring.currentFor('RS256').kid, rec.kid);
    assert.deepEqual((await jwks()).map((k) => k.kid).slice(0, 2), [es2.kid, rec.kid]);
  });

  it('a restart on the same SQLite file keeps the same keys (no new ones generated)', async () => {
    const before = (await jwks()).map((k) => k.kid);
    const currentEs = running.keyring.current.kid;
    const currentRs = running.keyring.currentFor('RS256').kid;
    await running.close();
    running = await run(config, { logger: silentLogger() });
    assert.equal(running.keyring.current.kid, currentEs);
    assert.equal(running.keyring.currentFor('RS256').kid, currentRs);
    assert.deepEqual((await jwks()).map((k) => k.kid), before);
  });

  it('RS256 taken out of keys.id_token_algorithms: still published until demoted, then published as a previous key', async () => {
    const rsKid = running.keyring.currentFor('RS256').kid;
    await running.close();
    const esOnly = validateConfig({
      issuer,
      storage: config.storage,
      secret: TEST_SECRET,
      log: { level: 'silent' },
      keys: { id_token_algorithms: ['ES256'] },
      auth: { listen: new URL(issuer).host, users: [{ username: 'alice', password: PASSWORD }] },
    });
    running = await run(esOnly, { logger: silentLogger() });
    assert.deepEqual(rsClient.serverMetadata().id_token_signing_alg_values_supported, ['RS256', 'ES256'], 'the old discovery document');
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.deepEqual(meta.id_token_signing_alg_values_supported, ['ES256']);
    // not demoted at start (an instance on the old config may still sign with it)
    assert.equal(running.keyring.verificationKeys.has(rsKid), true);
    const demoted = await running.keyring.demoteUnused(600);
    assert.deepEqual(demoted.map((k) => k.kid), [rsKid]);
    assert.throws(() => running.keyring.currentFor('RS256'), /no current RS256 signing key/);
    const keys = await jwks();
    assert.equal(keys[0]!.kid, running.keyring.current.kid);
    assert.ok(keys.some((k) => k.kid === rsKid), 'still published while its tokens may live');
    assert.equal((await running.keyring.demoteUnused(600)).length, 0, 'nothing left to demote');
  });
});

describe('keys.id_token_algorithms and id_token_signed_response_alg: config', () => {
  const base = { issuer: 'https://id.example', storage: 'memory:' };
  const withClient = (keys: Record<string, unknown>, alg: unknown) => ({
    ...base,
    keys,
    auth: { clients: [{ client_id: 'c', client_secret: SECRET, grant_types: ['client_credentials'] }, { client_id: 'web', redirect_uris: [RS_CB], id_token_signed_response_alg: alg }] },
  });

  function configError(raw: unknown, message: string): void {
    assert.throws(() => validateConfig(raw), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.message, message);
      return true;
    });
  }

  it('defaults to RS256 and the main algorithm, without duplicates', () => {
    assert.deepEqual(validateConfig(base).keys.id_token_algorithms, ['RS256', 'ES256']);
    assert.deepEqual(validateConfig({ ...base, keys: { algorithm: 'RS256' } }).keys.id_token_algorithms, ['RS256']);
    assert.deepEqual(validateConfig({ ...base, keys: { algorithm: 'EdDSA' } }).keys.id_token_algorithms, ['RS256', 'EdDSA']);
    // given: kept as given, in its order (the first is the default)
    assert.deepEqual(validateConfig({ ...base, keys: { id_token_algorithms: ['ES256', 'RS256'] } }).keys.id_token_algorithms, ['ES256', 'RS256']);
  });

  it('rejects an empty list, an unknown algorithm and a duplicate, naming the key', () => {
    configError({ ...base, keys: { id_token_algorithms: [] } }, 'keys.id_token_algorithms: expected at least 1 item(s), got 0');
    assert.throws(() => validateConfig({ ...base, keys: { id_token_algorithms: ['RS256', 'HS256'] } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^keys\.id_token_algorithms\[1\]: .*ES256.*RS256.*EdDSA/);
      return true;
    });
    configError({ ...base, keys: { id_token_algorithms: ['RS256', 'ES256', 'RS256'] } }, 'keys.id_token_algorithms[2]: RS256 is listed twice (already keys.id_token_algorithms[0])');
  });

  it('a client\'s id_token_signed_response_alg must be one of keys.id_token_algorithms', () => {
    const ok = validateConfig(withClient({}, 'RS256'));
    assert.equal(ok.auth!.clients[1]!.id_token_signed_response_alg, 'RS256');
    assert.equal(ok.auth!.clients[0]!.id_token_signed_response_alg, undefined);
    configError(
      withClient({}, 'EdDSA'),
      'auth.clients[1].id_token_signed_response_alg: expected one of keys.id_token_algorithms (RS256, ES256), got EdDSA',
    );
    configError(
      withClient({ id_token_algorithms: ['ES256'] }, 'RS256'),
      'auth.clients[1].id_token_signed_response_alg: expected one of keys.id_token_algorithms (ES256), got RS256',
    );
    assert.throws(() => validateConfig(withClient({}, 'none')), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^auth\.clients\[1\]\.id_token_signed_response_alg: /);
      return true;
    });
  });
});
