// Real clients refresh against the auth server: openid-client v6 (refreshTokenGrant) and
// oauth4webapi (refreshTokenGrantRequest + processRefreshTokenResponse), a confidential and
// a public client; both see rotation, and reuse detection as an invalid_grant error.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'refresh-clients-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';

describe('refresh with real clients', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({
      clients: [
        { client_id: 'app', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write'], default_scopes: ['orders:read', 'orders:write'] },
        { client_id: 'spa', token_endpoint_auth_method: 'none', grant_types: ['password', 'refresh_token'], scopes: ['orders:read'], default_scopes: ['orders:read'] },
        { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
      users: [{ username: 'alice', password: PASSWORD }],
      refresh_grace_period: '0s',
    });
  });

  after(async () => {
    await server?.close();
  });

  async function active(token: string): Promise<boolean> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('gateway', SECRET) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { active: boolean }).active;
  }

  it('openid-client v6: refreshTokenGrant rotates; reusing the old token fails with invalid_grant', async () => {
    const config = await client.discovery(new URL(server.issuer), 'app', {}, client.ClientSecretBasic(SECRET), {
      execute: [client.allowInsecureRequests],
    });
    const start = await client.genericGrantRequest(config, 'password', { username: 'alice', password: PASSWORD });
    assert.equal(typeof start.refresh_token, 'string');
    const next = await client.refreshTokenGrant(config, start.refresh_token!, { scope: 'orders:read' });
    assert.equal(next.token_type, 'bearer');
    assert.equal(next.scope, 'orders:read');
    assert.equal(typeof next.access_token, 'string');
    assert.notEqual(next.refresh_token, start.refresh_token);
    assert.equal(await active(next.access_token), true);
    await assert.rejects(client.refreshTokenGrant(config, start.refresh_token!), (err: unknown) => {
      assert.ok(err instanceof client.ResponseBodyError);
      assert.equal(err.error, 'invalid_grant');
      assert.equal(err.status, 400);
      return true;
    });
    // reuse revoked the family
    assert.equal(await active(next.access_token), false);
    await assert.rejects(client.refreshTokenGrant(config, next.refresh_token!), client.ResponseBodyError);
  });

  it('oauth4webapi: a public client refreshes twice in a row', async () => {
    const issuer = new URL(server.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
    const spa: oauth.Client = { client_id: 'spa' };
    const start = await oauth.processGenericTokenEndpointResponse(
      as,
      spa,
      await oauth.genericTokenEndpointRequest(as, spa, oauth.None(), 'password', new URLSearchParams({ username: 'alice', password: PASSWORD }), {
        [oauth.allowInsecureRequests]: true,
      }),
    );
    let refreshToken = start.refresh_token!;
    for (let i = 0; i < 2; i++) {
      const res = await oauth.refreshTokenGrantRequest(as, spa, oauth.None(), refreshToken, { [oauth.allowInsecureRequests]: true });
      const tokens = await oauth.processRefreshTokenResponse(as, spa, res);
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.scope, 'orders:read');
      assert.ok(tokens.refresh_token && tokens.refresh_token !== refreshToken);
      assert.equal(await active(tokens.access_token), true);
      refreshToken = tokens.refresh_token;
    }
  });
});
