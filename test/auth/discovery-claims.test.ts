// Discovery advertises nothing that is not supported: every protocol claim named in
// claims_supported (those that are not user claims released by a scope) is one an ID token
// of a plain code flow actually carries. `acr` was listed though no flow ever set one.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SCOPE_CLAIMS } from '../../src/auth/tokens/id-token.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, signInIfAsked } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const VERIFIER = 'v'.repeat(43);

describe('discovery: claims_supported', () => {
  let server: TestServer;
  before(async () => {
    server = await startAuth({
      users: [{ username: 'alice', password: PASSWORD, claims: { name: 'Alice' } }],
      clients: [{ client_id: 'app', redirect_uris: [CB], scopes: ['openid', 'profile'], consent: 'skip' }],
    });
  });
  after(() => server.close());

  it('names only protocol claims that ID tokens carry', async () => {
    const meta = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = {
      client_id: 'app', redirect_uri: CB, response_type: 'code', scope: 'openid profile', state: 's', nonce: 'n',
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'), code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const browser = new Browser();
    const done = await signInIfAsked(browser, await browser.fetch(u.href), 'alice', PASSWORD);
    const code = new URL(done.headers.get('location')!).searchParams.get('code')!;
    const token = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', client_id: 'app', code, redirect_uri: CB, code_verifier: VERIFIER });
    const { id_token } = (await token.json()) as { id_token: string };
    const claims = JSON.parse(Buffer.from(id_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const userClaims = new Set(Object.values(SCOPE_CLAIMS).flat());
    const protocol = meta.claims_supported.filter((c) => !userClaims.has(c));
    assert.deepEqual(protocol.filter((c) => !(c in claims)), [], 'advertised but never issued');
  });
});
