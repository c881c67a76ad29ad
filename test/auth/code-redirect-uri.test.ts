// RFC 6749 §4.1.3 at the token endpoint: redirect_uri is REQUIRED when the authorization
// request included it, and must be identical; when that request omitted it (the client's one
// registered URI was used), the token request may omit it or name that URI. Each case runs
// the real flow: the authorization request (through the login form for a fresh browser, so
// the form's hidden fields are covered too), then the code exchanged over HTTP.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startAuth, tokenAnswer, type JsonAnswer, type TestServer } from '../helpers/auth-server.js';
import { Browser, signInIfAsked } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const ONE_CB = 'https://one.example/cb';
const TWO_CB = ['https://two.example/cb', 'https://two.example/cb2'] as const;

interface Code {
  code: string;
  verifier: string;
}

describe('authorization code: redirect_uri at the token endpoint (RFC 6749 §4.1.3)', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [
        // public clients (PKCE), first-party so no consent page interrupts the flow; plain OAuth
        // scopes: an OpenID request may not omit redirect_uri at all (OIDC Core §3.1.2.1)
        { client_id: 'one', redirect_uris: [ONE_CB], grant_types: ['authorization_code'], scopes: ['api'], consent: 'skip' },
        { client_id: 'two', redirect_uris: [...TWO_CB], grant_types: ['authorization_code'], scopes: ['api'], consent: 'skip' },
      ],
    });
  });

  after(() => server?.close());

  /**
   * A code for `clientId`, the authorization request naming `redirectUri` or none (undefined).
   * A browser without a session signs in through the login form on the way.
   */
  async function authorize(browser: Browser, clientId: string, redirectUri: string | undefined): Promise<Code> {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${server.issuer}/oauth2/authorize`);
    url.searchParams.set('client_id', clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', 'api');
    url.searchParams.set('state', randomBytes(8).toString('hex'));
    url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
    if (redirectUri !== undefined) url.searchParams.set('redirect_uri', redirectUri);
    const res = await signInIfAsked(browser, await browser.fetch(url.href), 'alice', PASSWORD, (login) => {
      assert.equal(login.fields.some(([k]) => k === 'redirect_uri'), redirectUri !== undefined, 'the login form carries redirect_uri only when it was given');
    });
    assert.ok(res.status === 302 || res.status === 303, `a redirect to the client, got ${res.status}`);
    const cb = new URL(res.headers.get('location')!);
    // omitted: only 'one' is asked that way, and its single registered URI is used
    assert.equal(cb.origin + cb.pathname, redirectUri ?? ONE_CB);
    const code = cb.searchParams.get('code');
    assert.ok(code, `a code: ${cb.href}`);
    return { code, verifier };
  }

  function redeem(clientId: string, c: Code, redirectUri: string | undefined): Promise<JsonAnswer> {
    const form: Record<string, string> = { grant_type: 'authorization_code', client_id: clientId, code: c.code, code_verifier: c.verifier };
    if (redirectUri !== undefined) form.redirect_uri = redirectUri;
    return tokenAnswer(server.issuer, form);
  }

  function assertOk(r: JsonAnswer): void {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(typeof r.body.access_token, 'string');
  }

  function assertInvalidGrant(r: JsonAnswer, description: RegExp): void {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_grant');
    assert.match(String(r.body.error_description), description);
  }

  it('given at authorization, the same at the token endpoint → tokens (through the login form)', async () => {
    const browser = new Browser();
    assertOk(await redeem('one', await authorize(browser, 'one', ONE_CB), ONE_CB));
    // and again with the SSO session (no login form in between)
    assertOk(await redeem('one', await authorize(browser, 'one', ONE_CB), ONE_CB));
  });

  it('given at authorization, omitted at the token endpoint → invalid_grant, even with one registered URI', async () => {
    const browser = new Browser();
    assertInvalidGrant(await redeem('one', await authorize(browser, 'one', ONE_CB), undefined), /redirect_uri is required/);
    assertInvalidGrant(await redeem('one', await authorize(browser, 'one', ONE_CB), undefined), /redirect_uri is required/);
    assertInvalidGrant(await redeem('two', await authorize(browser, 'two', TWO_CB[1]), undefined), /redirect_uri is required/);
  });

  it('omitted at authorization (one registered URI), omitted at the token endpoint → tokens', async () => {
    const browser = new Browser();
    // the first through the login form: its hidden fields must not add redirect_uri
    assertOk(await redeem('one', await authorize(browser, 'one', undefined), undefined));
    assertOk(await redeem('one', await authorize(browser, 'one', undefined), undefined));
  });

  it('omitted at authorization, the registered URI named at the token endpoint → tokens', async () => {
    const browser = new Browser();
    assertOk(await redeem('one', await authorize(browser, 'one', undefined), ONE_CB));
  });

  it('a different redirect_uri at the token endpoint → invalid_grant', async () => {
    const browser = new Browser();
    assertInvalidGrant(await redeem('one', await authorize(browser, 'one', ONE_CB), `${ONE_CB}x`), /does not match/);
    assertInvalidGrant(await redeem('one', await authorize(browser, 'one', undefined), 'https://one.example/other'), /does not match/);
    // another of the client's own registered URIs is still not the one the code was issued for
    assertInvalidGrant(await redeem('two', await authorize(browser, 'two', TWO_CB[0]), TWO_CB[1]), /does not match/);
    assertOk(await redeem('two', await authorize(browser, 'two', TWO_CB[1]), TWO_CB[1]));
  });

  it('a refused exchange spends the code: the right redirect_uri afterwards is a replay', async () => {
    const c = await authorize(new Browser(), 'one', ONE_CB);
    assertInvalidGrant(await redeem('one', c, undefined), /redirect_uri is required/);
    assertInvalidGrant(await redeem('one', c, ONE_CB), /already used/);
  });
});
