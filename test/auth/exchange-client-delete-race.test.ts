// A token exchange (RFC 8693) under way while the subject token's client is deleted. Deleting
// a client revokes its tokens and what was exchanged from them, but a subject token stored a
// moment after that revocation escapes it, and an instance whose client cache has not heard
// of the deletion yet validates it. The exchange reads its subject token again once the new
// token is stored (a revocation meanwhile takes the new one back); it now also reads the
// subject's client from storage then, so a client gone meanwhile takes the new token back as
// well. Before, the exchanged token stayed active until the subject token expired.
//
// Deterministic: a hook on storage.tokens.insert deletes the client record directly in
// storage (no cache eviction, no token revoked: the subject token escaped) just as the
// exchanged token is stored.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import type { TokenRecord } from '../../src/storage/types.js';
import { basic, issued, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'exchange-client-delete-secret-0123456789abcdef';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

type Body = Record<string, unknown>;

describe('a token exchange racing the deletion of its subject token\'s client', () => {
  let server: TestServer;
  /** armed: deletes this client when a token exchanged from `parent` is stored; gets that record */
  let hook: { parent: string; clientId: string; stored?: TokenRecord } | undefined;

  before(async () => {
    server = await startAuth({
      clients: [
        // its tokens name `svc` as audience: svc may exchange them
        { client_id: 'caller', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'], audiences: ['svc'] },
        { client_id: 'caller-jwt', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'], audiences: ['svc'], access_token_format: 'jwt' },
        { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['a'] },
      ],
    });
    const storage = server.running.storage;
    const insert = storage.tokens.insert.bind(storage.tokens);
    storage.tokens.insert = async (rec) => {
      const armed = hook;
      if (armed && rec.exchanged_from === armed.parent) {
        hook = undefined;
        armed.stored = rec;
        await insert(rec);
        assert.equal(await storage.clients.delete(armed.clientId), true);
        return;
      }
      return insert(rec);
    };
  });
  after(async () => {
    hook = undefined;
    await server?.close();
  });

  async function callerToken(caller: string): Promise<string> {
    const body = await issued(await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'a', audience: 'svc' }, { authorization: basic(caller, SECRET) }));
    return String(body.access_token);
  }

  /** the digest the subject token is stored under (a JWT's is found by its jti) */
  async function storedDigest(token: string): Promise<string> {
    if (token.split('.').length !== 3) return sha256Base64url(token);
    const jti = String((JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Body).jti);
    return (await server.running.storage.tokens.findByJti(jti))!.digest;
  }

  const exchange = (subject: string) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS }, { authorization: basic('svc', SECRET) });

  for (const [caller, kind] of [
    ['caller', 'opaque'],
    ['caller-jwt', 'stored JWT'],
  ] as const) {
    it(`subject's client deleted while the exchanged token is stored (${kind} subject token) → refused, the new token revoked`, async () => {
      const subject = await callerToken(caller);
      // the exchange works while the client exists (and loads it into the client cache)
      const first = await exchange(subject);
      assert.equal(first.status, 200, await first.text());

      const armed: NonNullable<typeof hook> = { parent: await storedDigest(subject), clientId: caller };
      hook = armed;
      const res = await exchange(subject);
      const body = (await res.json()) as Body;
      assert.ok(armed.stored, 'the hook saw the exchanged token stored');
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_request');
      assert.equal(body.access_token, undefined);
      const rec = await server.running.storage.tokens.findByDigest(armed.stored.digest);
      assert.notEqual(rec?.revoked_at ?? null, null, 'the token exchanged meanwhile is revoked');
    });
  }
});
