// RFC 6749 §4.1.2: a code used more than once is refused and the tokens issued from it SHOULD
// be revoked. That held only while the code was still within its 60 s lifetime: the expiry
// was checked before the second use was noticed, so a code replayed after it had expired
// (it is kept, as used, for another minute) was answered "invalid or expired" and the
// tokens the first use got stayed valid. A replay is a replay, expired or not.
//
// Then the code is deleted (the housekeeping, a minute after its expiry), while its tokens
// live on (a refresh family up to auth.refresh_token_ttl): a replay after that was only
// "invalid or expired" again. A redeemed code now leaves a small record (used_codes) for as
// long as its tokens may live. The housekeeping is run here by hand, on the fixed clock.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

describe('authorization code replayed after it expired', () => {
  let server: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }],
        clients: [
          { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid'], consent: 'skip' },
          { client_id: 'plain', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid'], consent: 'skip' },
          { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ],
      },
      {},
      { clock },
    );
  });
  after(() => server.close());

  async function code(clientId = 'web'): Promise<string> {
    const browser = new Browser();
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(new URL(login.action, server.issuer).href, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
    const location = res.headers.get('location');
    assert.ok(location, `a redirect with the code (${res.status})`);
    return new URL(location).searchParams.get('code')!;
  }

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  it('revokes what the first use got, and says the code was used', async () => {
    const form = { grant_type: 'authorization_code', client_id: 'web', code: await code(), redirect_uri: CB, code_verifier: VERIFIER };
    const first = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(first.status, 200);
    const { access_token, refresh_token } = (await first.json()) as { access_token: string; refresh_token: string };
    assert.equal(await active(access_token), true);

    clock.advance(90); // the code (60 s) has expired; its tokens (10 min, 30 d) have not
    assert.equal(await active(access_token), true);
    const again = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { error: 'invalid_grant', error_description: 'the authorization code was already used' });
    assert.equal(await active(access_token), false, 'the access token from the first use');
    assert.equal(await active(refresh_token), false, 'the refresh token from the first use');
  });

  it('an expired code never used is only expired', async () => {
    const form = { grant_type: 'authorization_code', client_id: 'web', code: await code(), redirect_uri: CB, code_verifier: VERIFIER };
    clock.advance(61);
    const res = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'the authorization code is invalid or expired' });
  });

  /** What the auth server's housekeeping does every minute (src/auth/start.ts). */
  async function housekeeping(): Promise<number> {
    const now = clock.now();
    await server.running.storage.tokens.deleteExpired(now - 60);
    return server.running.storage.authCodes.deleteExpired(now - 60);
  }

  const redeem = async (clientId: string) => {
    const form = { grant_type: 'authorization_code', client_id: clientId, code: await code(clientId), redirect_uri: CB, code_verifier: VERIFIER };
    const res = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(res.status, 200);
    return { form, tokens: (await res.json()) as { access_token: string; refresh_token?: string } };
  };

  it('a replay after the code was deleted still revokes what the first use got', async () => {
    const { form, tokens } = await redeem('web');
    clock.advance(3600);
    assert.ok((await housekeeping()) >= 1, 'the code is deleted');
    assert.equal(await active(tokens.refresh_token!), true, 'the refresh token lives on');
    const again = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.deepEqual(await again.json(), { error: 'invalid_grant', error_description: 'the authorization code was already used' });
    assert.equal(again.status, 400);
    assert.equal(await active(tokens.refresh_token!), false, 'the refresh token from the first use');
  });

  it('the record lasts as long as the refresh family and its last access token may', async () => {
    const { form, tokens } = await redeem('web');
    // auth.refresh_token_ttl (30 d) and an access token (10 min) minted just before it ends, less a minute
    clock.advance(30 * 86400 + 600 - 60);
    await housekeeping();
    const again = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(((await again.json()) as { error_description: string }).error_description, 'the authorization code was already used');
    assert.equal(await active(tokens.access_token), false);
  });

  it('without a refresh token, the record goes when the access token has expired', async () => {
    const kept = await redeem('plain');
    const gone = await redeem('plain');
    clock.advance(600 - 60);
    await housekeeping();
    const within = await postForm(`${server.issuer}/oauth2/token`, kept.form);
    assert.equal(((await within.json()) as { error_description: string }).error_description, 'the authorization code was already used');
    assert.equal(await active(kept.tokens.access_token), false);
    clock.advance(120);
    await housekeeping();
    const after = await postForm(`${server.issuer}/oauth2/token`, gone.form);
    assert.deepEqual(await after.json(), { error: 'invalid_grant', error_description: 'the authorization code is invalid or expired' });
  });
});
