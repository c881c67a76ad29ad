// The implicit grant racing the lock of its user, as auth/user-lock-race does for the token
// endpoint's grants: `drawbridge user lock` stores the lock, then revokes every token of the
// user; an implicit answer that had read the user before the lock stored its access token
// after that revocation, and it stayed active (and the ID token went out too). It now reads
// the user again once its tokens are stored and the grant recorded, and answers access_denied
// at the redirect URI, its tokens revoked, when the user is locked or gone by then.
//
// Deterministic: the lock is done by a hook on storage, at the moment the grant stores its
// access token (token types) or records its grant with the SSO session (id_token alone), so
// after the grant read the user and before it is done.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://spa.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';

describe('an implicit grant racing the lock of its user', () => {
  let server: TestServer;
  /** runs once, at the next hooked storage call for this user */
  let lockAt: { hook: 'token' | 'grant'; username: string } | undefined;

  before(async () => {
    server = await startAuth({
      users: ['bob', 'carol', 'dave'].map((username) => ({ username, password: PASSWORD, claims: {} })),
      clients: [
        { client_id: 'spa', redirect_uris: [CB], grant_types: ['implicit'], scopes: ['openid', 'orders:read'], consent: 'skip' },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    const storage = server.running.storage;
    // locks as the CLI does: the lock stored, then every token of the user revoked
    const lockNow = async () => {
      const { username } = lockAt!;
      lockAt = undefined;
      const user = (await storage.users.getByUsername(username))!;
      const now = Math.floor(Date.now() / 1000);
      await storage.users.setLocked(username, true, now);
      await storage.tokens.revokeBySubject(user.id, now);
    };
    const idOf = async (username: string) => (await storage.users.getByUsername(username))!.id;
    const tokens = storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      if (lockAt?.hook === 'token' && rec.sub === (await idOf(lockAt.username))) await lockNow();
      return insert(rec);
    };
    const sessions = storage.ssoSessions;
    const addGrant = sessions.addGrant.bind(sessions);
    sessions.addGrant = async (id, clientId, grantId, at) => {
      if (lockAt?.hook === 'grant' && (await sessions.get(id))?.user_id === (await idOf(lockAt.username))) await lockNow();
      return addGrant(id, clientId, grantId, at);
    };
  });
  after(() => server?.close());

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  /** Signs in for an implicit response and returns the fragment's parameters. */
  async function implicit(username: string, responseType: string): Promise<URLSearchParams> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'spa', redirect_uri: CB, response_type: responseType, scope: 'openid orders:read', state: 'st', nonce: 'n-1' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const browser = new Browser();
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', PASSWORD]] });
    const location = res.headers.get('location');
    assert.ok(location, `a redirect (${res.status})`);
    return new URLSearchParams(new URL(location).hash.slice(1));
  }

  it('id_token token: the user locked while the access token is stored → access_denied, nothing active', async () => {
    lockAt = { hook: 'token', username: 'bob' };
    const p = await implicit('bob', 'id_token token');
    assert.equal(lockAt, undefined, 'the lock happened during the request');
    if (p.has('access_token')) assert.equal(await active(p.get('access_token')!), false, 'the access token of a locked user');
    assert.equal(p.get('error'), 'access_denied', p.toString());
    assert.equal(p.get('id_token'), null, 'no ID token for a locked user');
    assert.equal(p.get('state'), 'st');
  });

  it('id_token alone: the user locked while the grant is recorded → access_denied, no ID token', async () => {
    lockAt = { hook: 'grant', username: 'carol' };
    const p = await implicit('carol', 'id_token');
    assert.equal(lockAt, undefined, 'the lock happened during the request');
    assert.equal(p.get('error'), 'access_denied', p.toString());
    assert.equal(p.get('id_token'), null);
  });

  it('without a lock the tokens are issued and active', async () => {
    const p = await implicit('dave', 'id_token token');
    assert.ok(p.get('id_token'), p.toString());
    assert.equal(await active(p.get('access_token')!), true);
  });
});
