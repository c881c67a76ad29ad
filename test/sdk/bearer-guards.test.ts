// The pure parts of drawbridge/sdk: reading `Authorization: Bearer` (RFC 6750 §2.1 syntax),
// the guards' all-of / any-of rules and their 403s, and the challenge text.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerCredential, readAuthorization } from '../../src/sdk/bearer.js';
import { bearerToken, challengeFor, DrawbridgeAuthError, hasScopes, inAnyGroup, requireGroups, requireScopes } from '../../src/sdk/index.js';

describe('sdk: bearerToken', () => {
  it('reads b64token values with any case of the scheme, from node headers, fetch Headers or a plain record', () => {
    const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_~+/==';
    assert.equal(bearerToken({ authorization: `Bearer ${token}` }), token);
    assert.equal(bearerToken({ authorization: `bearer ${token}` }), token);
    assert.equal(bearerToken({ authorization: `BEARER   ${token}` }), token);
    assert.equal(bearerToken(new Headers({ Authorization: `Bearer ${token}` })), token);
    assert.equal(bearerToken({ Authorization: `Bearer ${token}` }), token);
  });

  it('returns undefined for no header, other schemes, and anything not a b64token', () => {
    for (const authorization of [undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearer "abc"', 'Bearer a=b', 'Bearer a,b', 'Bearerabc', 'Token abc', 'Bearer ä']) {
      assert.equal(bearerToken(authorization === undefined ? {} : { authorization }), undefined, String(authorization));
    }
    assert.equal(bearerToken({ authorization: ['Bearer a', 'Bearer b'] }), undefined, 'two Authorization fields are ambiguous');
  });
});

describe('sdk: what an Authorization field carries (RFC 6750 §3.1), for the middleware and the auth server\'s userinfo', () => {
  it('no Bearer credential (none: a bare 401), a broken one (malformed: 400 invalid_request), or a token', () => {
    for (const value of [undefined, '', 'Basic dXNlcjpwYXNz', 'Bearerabc', 'Token abc']) {
      assert.deepEqual(bearerCredential(value), { kind: 'none' }, String(value));
    }
    // the Bearer scheme followed by any whitespace, a tab too, is an attempt at a Bearer credential
    for (const value of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer "abc"', 'Bearer ä', 'Bearer\tabc', 'bearer\u00a0abc', 'Bearer abc\u00a0']) {
      assert.deepEqual(bearerCredential(value), { kind: 'malformed' }, JSON.stringify(value));
    }
    assert.deepEqual(bearerCredential('bearer  abc.def=='), { kind: 'bearer', token: 'abc.def==' });
  });

  it('readAuthorization: the same, from a value trimmed; two fields are malformed', () => {
    assert.deepEqual(readAuthorization({ authorization: ' Bearer abc ' }), { kind: 'bearer', token: 'abc' });
    assert.deepEqual(readAuthorization({ authorization: 'Bearer\tabc' }), { kind: 'malformed' });
    assert.deepEqual(readAuthorization({ authorization: 'Basic dXNlcjpwYXNz' }), { kind: 'none' });
    assert.deepEqual(readAuthorization({}), { kind: 'none' });
    assert.deepEqual(readAuthorization({ authorization: ['Bearer a', 'Bearer b'] }), { kind: 'malformed' });
  });
});

describe('sdk: guards', () => {
  const claims = { scopes: ['orders:read', 'orders:write'], groups: ['partners', 'beta'] };

  it('requireScopes is all-of and answers 403 insufficient_scope naming what the operation needs', () => {
    assert.equal(requireScopes(claims, 'orders:read', 'orders:write'), claims);
    assert.equal(requireScopes(claims), claims);
    assert.equal(hasScopes(claims, 'orders:read', 'billing:read'), false);
    assert.throws(
      () => requireScopes(claims, 'orders:read', 'billing:read'),
      (err: unknown) => {
        assert.ok(err instanceof DrawbridgeAuthError);
        assert.equal(err.status, 403);
        assert.equal(err.code, 'insufficient_scope');
        assert.equal(err.message, 'missing scope: billing:read');
        assert.deepEqual(err.scope, ['orders:read', 'billing:read']);
        assert.equal(challengeFor(err, 'orders'), 'Bearer realm="orders", error="insufficient_scope", error_description="missing scope: billing:read", scope="orders:read billing:read"');
        return true;
      },
    );
  });

  it('requireGroups is any-of; call it once per group for all-of', () => {
    assert.equal(requireGroups(claims, 'admins', 'beta'), claims);
    assert.equal(inAnyGroup(claims), true);
    assert.throws(() => requireGroups(claims, 'admins', 'ops'), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 403 && err.code === 'insufficient_scope');
    assert.throws(() => requireGroups({ groups: [] }, 'partners'), DrawbridgeAuthError);
  });

  it('challenges: no error code without credentials, quoted realm, no quotes leaking from descriptions, none for 503', () => {
    assert.equal(challengeFor(new DrawbridgeAuthError('invalid_token', 'no bearer token', { noCredentials: true }), 'a "b"'), 'Bearer realm="a \\"b\\""');
    assert.equal(
      challengeFor(new DrawbridgeAuthError('invalid_token', 'bad "quote" \\ here'), 'svc'),
      'Bearer realm="svc", error="invalid_token", error_description="bad \'quote\' \' here"',
    );
    assert.equal(challengeFor(new DrawbridgeAuthError('temporarily_unavailable', 'keys down'), 'svc'), undefined);
    assert.equal(new DrawbridgeAuthError('invalid_request', 'x').status, 400);
    assert.equal(new DrawbridgeAuthError('invalid_token', 'x').status, 401);
  });
});
