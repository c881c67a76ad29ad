// Error descriptions that must say what actually went wrong: userinfo with a client's own
// token (client_credentials, `openid` scope: no user behind it), a repeated `access_token` in
// a userinfo form body, and a malformed query string at the authorization endpoint.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'error-descriptions-secret-0123456789';

describe('error descriptions', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({
      clients: [
        { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['openid', 'orders:read'] },
        { client_id: 'web', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'] },
      ],
    });
  });

  after(() => server?.close());

  async function clientToken(scope: string): Promise<string> {
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', scope }, { authorization: basic('svc', SECRET) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  it('userinfo with a client_credentials token (scope openid): 401 invalid_token, "not issued to a user"', async () => {
    const token = await clientToken('openid');
    const res = await fetch(`${server.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_token');
    assert.equal(body.error_description, 'the access token was not issued to a user');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="invalid_token", error_description="the access token was not issued to a user"');
    // an unknown token keeps its own description
    const bad = await fetch(`${server.issuer}/oauth2/userinfo`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(((await bad.json()) as { error_description: string }).error_description, 'the access token is invalid or expired');
  });

  it('userinfo with access_token twice in the form: 400 invalid_request naming the parameter', async () => {
    const token = await clientToken('openid');
    const res = await postForm(`${server.issuer}/oauth2/userinfo`, { access_token: [token, token] });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request');
    assert.equal(body.error_description, "parameter 'access_token' is repeated");
    // the challenge header may not hold a double quote (RFC 6750 §3)
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="drawbridge", error="invalid_request", error_description="parameter 'access_token' is repeated"`);
  });

  it('GET /oauth2/authorize with bad percent-encoding in the query: the page says the query string is malformed', async () => {
    const res = await fetch(`${server.issuer}/oauth2/authorize?client_id=web&response_type=code&state=%ZZ`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    const html = await res.text();
    assert.match(html, /the query string is malformed/);
    assert.doesNotMatch(html, /request body/);
  });

  it('POST /oauth2/authorize with a bad body still speaks of the body', async () => {
    const res = await fetch(`${server.issuer}/oauth2/authorize`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=web&state=%ZZ',
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /request body is not valid application\/x-www-form-urlencoded/);
  });
});
