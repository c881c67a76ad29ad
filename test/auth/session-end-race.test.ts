// A logout (RP-initiated, `drawbridge session revoke`, sign-out everywhere: endSsoSession)
// while a code exchange or an implicit answer of that session is under way. Ending a session
// reads the grants recorded with it, deletes it, then revokes those grants' tokens; a grant
// recorded after that read, or whose tokens were stored after that revocation, escaped: its
// access token stayed active for its whole lifetime after the logout. A code redeemed after
// its session had ended got live tokens too. These grants now look at the session again once
// their tokens are stored and refuse, their tokens revoked, when it has ended.
// A whole code exchange run between the logout's reading of the session's grants and its
// delete still escaped (its look found the session alive, its grant was not in what had been
// read): a logout now deletes the session before it reads the grants (SsoSessionRepo.end).
//
// Deterministic: the logout is run by a hook on storage at the moment the grant records its
// grant with the session, or stores its access token; or a whole code exchange is run by a
// hook at the moment the logout reads the session's grants.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { endSsoSession, logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

describe('a grant racing the end of its SSO session', () => {
  let server: TestServer;
  /** the hook that logs out, armed for the next grant recorded (`grant`) or access token stored (`token`) */
  let logoutAt: 'grant' | 'token' | undefined;
  /** what RP-initiated logout and `drawbridge session revoke` do to every session of alice */
  let logout: () => Promise<void>;
  /** run once by the hook when a logout next reads the session's grants */
  let whenGrantsRead: (() => Promise<void>) | undefined;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD, claims: {} }],
      clients: [
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'offline_access'], consent: 'skip' },
        { client_id: 'spa', redirect_uris: [CB], grant_types: ['implicit'], scopes: ['openid'], consent: 'skip' },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    const ctx = server.running.auth!.ctx;
    const storage = server.running.storage;
    const alice = (await storage.users.getByUsername('alice'))!;
    logout = async () => {
      logoutAt = undefined;
      for (const s of await storage.ssoSessions.listByUser(alice.id)) await endSsoSession(logoutDeps(ctx), s);
    };
    const sessions = storage.ssoSessions;
    const grants = sessions.grants.bind(sessions);
    sessions.grants = async (...args) => {
      const read = await grants(...args);
      const run = whenGrantsRead;
      whenGrantsRead = undefined;
      if (run) await run();
      return read;
    };
    const addGrant = sessions.addGrant.bind(sessions);
    sessions.addGrant = async (...args) => {
      if (logoutAt === 'grant') await logout();
      return addGrant(...args);
    };
    const tokens = storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      if (logoutAt === 'token' && rec.sub === alice.id && rec.kind === 'access_token') await logout();
      return insert(rec);
    };
  });
  after(() => server?.close());

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  /** Signs in and returns where the authorization server sent the browser. */
  async function authorize(params: Record<string, string>): Promise<URL> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ redirect_uri: CB, state: 'st', ...params })) u.searchParams.set(k, v);
    const browser = new Browser();
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
    const location = res.headers.get('location');
    assert.ok(location, `a redirect (${res.status})`);
    return new URL(location);
  }

  async function code(scope: string): Promise<string> {
    const at = await authorize({ client_id: 'web', response_type: 'code', scope, code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    return at.searchParams.get('code')!;
  }

  const redeem = (c: string) => postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', client_id: 'web', code: c, redirect_uri: CB, code_verifier: VERIFIER });

  /** The exchange is refused and nothing it stored is active (checked through what the session had). */
  async function refusedWithNothingActive(res: Response): Promise<void> {
    const body = (await res.json()) as { access_token?: string; refresh_token?: string; error?: string; error_description?: string };
    if (body.access_token !== undefined) assert.equal(await active(body.access_token), false, 'the access token of an ended session');
    if (body.refresh_token !== undefined) assert.equal(await active(body.refresh_token), false, 'the refresh token of an ended session');
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_grant');
    assert.match(body.error_description!, /session/);
  }

  for (const scope of ['openid', 'openid offline_access']) {
    it(`code exchange (${scope}), logout while the grant is recorded with the session → refused, nothing active`, async () => {
      const c = await code(scope);
      logoutAt = 'grant';
      const res = await redeem(c);
      assert.equal(logoutAt, undefined, 'the logout happened during the exchange');
      await refusedWithNothingActive(res);
    });

    it(`code exchange (${scope}), logout while the access token is stored → refused, nothing active`, async () => {
      const c = await code(scope);
      logoutAt = 'token';
      const res = await redeem(c);
      assert.equal(logoutAt, undefined, 'the logout happened during the exchange');
      await refusedWithNothingActive(res);
    });
  }

  it('a whole code exchange between the logout reading the grants and ending the session → refused, nothing active', async () => {
    const c = await code('openid offline_access');
    let res: Response | undefined;
    whenGrantsRead = async () => {
      res = await redeem(c);
    };
    await logout();
    assert.ok(res, 'the exchange ran during the logout');
    await refusedWithNothingActive(res);
  });

  it('a code whose session ended before the exchange → refused', async () => {
    const c = await code('openid');
    const storage = server.running.storage;
    const alice = (await storage.users.getByUsername('alice'))!;
    for (const s of await storage.ssoSessions.listByUser(alice.id)) await endSsoSession(logoutDeps(server.running.auth!.ctx), s);
    await refusedWithNothingActive(await redeem(c));
  });

  it('implicit (id_token token), logout while the access token is stored → access_denied, nothing active', async () => {
    logoutAt = 'token';
    const at = await authorize({ client_id: 'spa', response_type: 'id_token token', scope: 'openid', nonce: 'n-1' });
    assert.equal(logoutAt, undefined, 'the logout happened during the answer');
    const p = new URLSearchParams(at.hash.slice(1));
    if (p.has('access_token')) assert.equal(await active(p.get('access_token')!), false, 'the access token of an ended session');
    assert.equal(p.get('error'), 'access_denied', p.toString());
    assert.equal(p.get('id_token'), null);
  });

  it('without a logout the code exchange works and its tokens are active', async () => {
    const res = await redeem(await code('openid'));
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(await active(body.access_token), true);
    assert.equal(await active(body.refresh_token), true);
  });
});
