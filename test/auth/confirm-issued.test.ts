// The checks a grant makes once its tokens are stored (src/auth/grants/confirm-issued.ts): a
// replay's mark, the user still active, the SSO session still alive. They used to run one
// after the other (up to three round trips per code exchange before answering); they go at
// once now, and when more than one refuses, the grant says what it said before: a replay
// before a locked user, a locked user before an ended session. The races themselves are
// tested in auth/user-lock-race, session-end-race, implicit-lock-race and authorize-gaps.
//
// Deterministic: a hook on storage, at the moment the grant stores its access token, does
// what the race would (marks a replay, locks the user, deletes the session); the reads after
// it are each held a moment, and counted while in flight.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

type Meanwhile = 'replay' | 'lock' | 'logout';

describe('the checks after a grant stores its tokens', () => {
  let server: TestServer;
  /** armed: what happens when the next access token is stored for this user */
  let armed: { username: string; meanwhile: Meanwhile[] } | undefined;
  /** counting: the reads after the access token was stored, and how many were in flight at once */
  let reads: { started: number; inFlight: number; most: number } | undefined;
  /** the digest of the access token stored when the hook ran */
  let stored: string | undefined;
  /** the counted read of the user fails (its store down) */
  let userReadFails = false;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((username) => ({ username, password: PASSWORD, claims: {} })),
      clients: [
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid'], consent: 'skip' },
        { client_id: 'spa', redirect_uris: [CB], grant_types: ['implicit'], scopes: ['openid'], consent: 'skip' },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    const storage = server.running.storage;
    const tokens = storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const a = armed;
      const user = a === undefined ? undefined : await storage.users.getByUsername(a.username);
      if (a && user && rec.sub === user.id && rec.kind === 'access_token') {
        armed = undefined;
        stored = rec.digest;
        const now = Math.floor(Date.now() / 1000);
        if (a.meanwhile.includes('replay')) await storage.jtis.remember('code-replay', rec.grant_id!, now + 300, now);
        if (a.meanwhile.includes('lock')) await storage.users.setLocked(a.username, true, now);
        if (a.meanwhile.includes('logout')) for (const s of await storage.ssoSessions.listByUser(user.id)) await storage.ssoSessions.delete(s.id);
        await insert(rec);
        reads = { started: 0, inFlight: 0, most: 0 };
        return;
      }
      return insert(rec);
    };
    // each read held 20 ms: one after the other, never two in flight
    const held = <T extends object, K extends keyof T>(repo: T, name: K) => {
      const original = (repo[name] as (...args: unknown[]) => Promise<unknown>).bind(repo);
      (repo as Record<K, unknown>)[name] = async (...args: unknown[]) => {
        const r = reads;
        if (r === undefined) return original(...args);
        r.started++;
        r.most = Math.max(r.most, ++r.inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (userReadFails && repo === (storage.users as unknown)) throw new Error('the users store did not answer');
          return await original(...args);
        } finally {
          r.inFlight--;
        }
      };
    };
    held(storage.jtis, 'has');
    held(storage.users, 'get');
    held(storage.ssoSessions, 'get');
  });
  after(() => server?.close());

  const counted = () => reads;

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  async function authorize(username: string, params: Record<string, string>): Promise<URL> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ redirect_uri: CB, scope: 'openid', state: 'st', ...params })) u.searchParams.set(k, v);
    const browser = new Browser();
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', PASSWORD]] });
    const location = res.headers.get('location');
    assert.ok(location, `a redirect (${res.status})`);
    return new URL(location);
  }

  /** A code exchange of `username` with `meanwhile` happening as its access token is stored. */
  async function exchange(username: string, meanwhile: Meanwhile[]): Promise<{ status: number; body: Record<string, unknown> }> {
    const at = await authorize(username, { client_id: 'web', response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    reads = undefined;
    armed = { username, meanwhile };
    const form = { grant_type: 'authorization_code', client_id: 'web', code: at.searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER };
    const res = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(armed, undefined, 'the hook ran during the exchange');
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('a code exchange makes its three checks at once, and stands when none refuses', async () => {
    const { status, body } = await exchange('u1', []);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(reads?.started, 3, 'the replay mark, the user and the session read once each');
    assert.equal(reads?.most, 3, 'all three in flight together');
    assert.equal(await active(String(body.access_token)), true);
  });

  const refusals: Array<[Meanwhile[], RegExp]> = [
    [['replay', 'lock', 'logout'], /already used/],
    [['lock', 'logout'], /user is no longer active/],
    [['logout'], /session .* has ended/],
  ];
  refusals.forEach(([meanwhile, said], i) => {
    it(`a code exchange with ${meanwhile.join(' + ')} meanwhile → invalid_grant (${said.source})`, async () => {
      const { status, body } = await exchange(`u${i + 2}`, meanwhile);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_grant');
      assert.match(String(body.error_description), said);
      assert.equal(reads?.most, 3, 'all three in flight together');
      const token = await server.running.storage.tokens.findByDigest(stored!);
      assert.ok(token?.revoked_at, 'the access token the grant stored is revoked');
    });
  });

  it('a replay meanwhile while the user read fails: the tokens are revoked all the same', async () => {
    reads = undefined; // counted (and failed) only once the hook has run
    userReadFails = true;
    try {
      const { status, body } = await exchange('u6', ['replay']);
      assert.ok(status >= 400, JSON.stringify(body));
    } finally {
      userReadFails = false;
    }
    assert.ok((await server.running.storage.tokens.findByDigest(stored!))?.revoked_at, 'the access token the grant stored is revoked');
  });

  it('implicit with the user locked and the session ended meanwhile → access_denied for the user, checks at once', async () => {
    reads = undefined;
    armed = { username: 'u5', meanwhile: ['lock', 'logout'] };
    const at = await authorize('u5', { client_id: 'spa', response_type: 'id_token token', nonce: 'n-1' });
    assert.equal(armed, undefined, 'the hook ran during the answer');
    const p = new URLSearchParams(at.hash.slice(1));
    assert.equal(p.get('error'), 'access_denied', p.toString());
    assert.match(p.get('error_description') ?? '', /user is no longer active/);
    assert.equal(counted()?.most, 2, 'the user and the session read together');
    assert.ok((await server.running.storage.tokens.findByDigest(stored!))?.revoked_at, 'the access token the grant stored is revoked');
  });
});
