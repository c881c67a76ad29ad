// Clients removed from `auth.clients`: the next start deletes them (src/auth/config-clients.ts)
// as `drawbridge client delete` does: their tokens introspect inactive, and so do the tokens
// another client exchanged from them (RFC 8693), `client.revoked` and `token.revoked` reach
// the gateways, and the client can no longer authenticate. The other clients keep theirs.
// Each restart is a new auth server on the same storage (a SQLite file, PostgreSQL).
import * as assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { basic, freePort, postForm, tokenAnswer, type JsonAnswer } from '../helpers/auth-server.js';
import { startRestartableAuth, waitFor, type Body, type RestartableAuth } from '../helpers/restartable-auth.js';
import { persistentTargets } from '../helpers/storage-targets.js';

const SECRET = 'config-client-prune-secret-0123456789abcdef';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const client = (client_id: string) => ({ client_id, client_secret: SECRET, grant_types: ['client_credentials', EXCHANGE], scopes: ['orders:read'] });

function start(t: TestContext, storage: string, issuer: string, clientIds: string[]): Promise<RestartableAuth> {
  return startRestartableAuth(t, { storage, issuer, auth: { clients: clientIds.map(client) } });
}

function token(s: RestartableAuth, clientId: string, form: Record<string, string>): Promise<JsonAnswer> {
  return tokenAnswer(s.base, form, { authorization: basic(clientId, SECRET) });
}

async function issued(s: RestartableAuth, clientId: string, form: Record<string, string>): Promise<string> {
  const r = await token(s, clientId, form);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token as string;
}

async function introspect(s: RestartableAuth, value: string): Promise<Body> {
  const res = await postForm(`${s.base}/oauth2/introspect`, { token: value }, { authorization: basic('keep', SECRET) });
  assert.equal(res.status, 200);
  return (await res.json()) as Body;
}

const removedLine = (line: Body) => line.msg === 'auth.clients: client removed from the config file deleted and its tokens revoked';

for (const target of persistentTargets('drawbridge-client-prune-')) {
  describe(`clients removed from auth.clients (${target.name})`, () => {
    it('lose their tokens, and what others exchanged from them, at the next start; the others keep theirs', async (t) => {
      const storageUrl = await target.storage(t);
      if (storageUrl === undefined) return t.skip('PostgreSQL not reachable');
      const issuer = `http://127.0.0.1:${await freePort()}`;

      const first = await start(t, storageUrl, issuer, ['keep', 'gone']);
      const gone = await issued(first, 'gone', { grant_type: 'client_credentials' });
      // gone hands its token on to keep (aud), which exchanges it to act for gone
      const handed = await issued(first, 'gone', { grant_type: EXCHANGE, subject_token: gone, subject_token_type: ACCESS, audience: 'keep' });
      const held = await issued(first, 'keep', { grant_type: EXCHANGE, subject_token: handed, subject_token_type: ACCESS });
      const kept = await issued(first, 'keep', { grant_type: 'client_credentials' });
      assert.equal((await introspect(first, held)).client_id, 'keep');
      await first.close();

      const second = await start(t, storageUrl, issuer, ['keep']);
      for (const value of [gone, handed, held]) assert.deepEqual(await introspect(second, value), { active: false });
      assert.equal((await introspect(second, kept)).active, true, "the remaining client's own token");
      const refused = await token(second, 'gone', { grant_type: 'client_credentials' });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_client');
      await waitFor(second.events, (e) => e.type === 'client.revoked' && e.client_id === 'gone');
      await waitFor(second.events, (e) => e.type === 'token.revoked' && e.digest === sha256Base64url(held));
      assert.ok(!second.events.some((e) => e.type === 'client.revoked' && e.client_id === 'keep'), JSON.stringify(second.events));
      const logged = second.lines.filter(removedLine);
      assert.equal(logged.length, 1, JSON.stringify(second.lines));
      assert.equal(logged[0]!.client_id, 'gone');
      assert.equal(logged[0]!.tokens_revoked, 2, "gone's own two tokens");
      assert.equal(logged[0]!.exchanged_revoked, 1, 'the token keep exchanged from them');
      const everything = JSON.stringify(second.lines);
      for (const secret of [SECRET, gone, handed, held]) assert.ok(!everything.includes(secret));
      await second.close();

      // nothing left to remove: the next start revokes nothing and says nothing
      const third = await start(t, storageUrl, issuer, ['keep']);
      assert.equal((await introspect(third, kept)).active, true);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(third.events, []);
      assert.equal(third.lines.filter(removedLine).length, 0);
    });
  });
}
