// `drawbridge user lock` (and user delete) while a token request of that user is under way:
// the lock is stored, then every token of the user revoked; a password, code or refresh grant
// that had read the user before the lock stored its tokens after that revocation, and they
// stayed active (over two instances, 6 of the ~30 tokens issued around each lock). The grants
// read the user again once their tokens are stored and take them back when the user is locked
// or gone.
//
// Deterministic: the user is locked (as the CLI locks: setLocked, then revokeBySubject) by a
// hook on storage at the moment the grant stores its access token, so after it read the user.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const APP_SECRET = 'app-secret-0123456789-abcdefghijklmnop';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const CB = 'https://app.example/cb';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

describe('a grant racing the lock of its user', () => {
  let server: TestServer;
  /** armed: the next access token stored for this user locks them first */
  let lockAt: string | undefined;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: ['pat', 'cody', 'rita'].map((username) => ({ username, password: PASSWORD, claims: {} })),
      clients: [
        { client_id: 'app', client_secret: APP_SECRET, grant_types: ['password', 'refresh_token'], scopes: ['openid'] },
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid'], consent: 'skip' },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    const storage = server.running.storage;
    const tokens = storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const username = lockAt;
      const user = username === undefined ? undefined : await storage.users.getByUsername(username);
      if (user && rec.sub === user.id && rec.kind === 'access_token') {
        lockAt = undefined;
        const now = Math.floor(Date.now() / 1000);
        await storage.users.setLocked(username!, true, now);
        await storage.tokens.revokeBySubject(user.id, now);
      }
      return insert(rec);
    };
  });
  after(() => server?.close());

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  /** The grant's answer: invalid_grant, or tokens that are no longer active. */
  async function nothingActive(res: Response): Promise<void> {
    const body = (await res.json()) as { access_token?: string; refresh_token?: string; error?: string };
    assert.equal(lockAt, undefined, 'the lock happened during the request');
    if (body.access_token !== undefined) assert.equal(await active(body.access_token), false, 'the access token of a locked user');
    if (body.refresh_token !== undefined) assert.equal(await active(body.refresh_token), false, 'the refresh token of a locked user');
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_grant');
  }

  const password = (username: string) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: 'password', username, password: PASSWORD, scope: 'openid' }, { authorization: basic('app', APP_SECRET) });

  it('password grant', async () => {
    lockAt = 'pat';
    await nothingActive(await password('pat'));
  });

  it('authorization code grant', async () => {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const browser = new Browser();
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', 'cody'], ['password', PASSWORD]] });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    lockAt = 'cody';
    await nothingActive(await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: CB, code_verifier: VERIFIER }));
  });

  // (the lock also revokes the refresh token being used, so the rotation fails as well)
  it('refresh token grant', async () => {
    const first = (await (await password('rita')).json()) as { refresh_token: string };
    lockAt = 'rita';
    await nothingActive(
      await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token }, { authorization: basic('app', APP_SECRET) }),
    );
  });
});
