// A user's MFA through the API the login pages use: enrolment (sealed secret, URI, QR code,
// confirmation, recovery codes), login codes (each step once, each recovery code once),
// wrong codes feeding the brute-force lockout, and reset.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import type { AuthContext } from '../../src/auth/context.js';
import {
  confirmTotpEnrolment,
  MfaEnrolledError,
  mfaStatus,
  startTotpEnrolment,
  verifyMfaCode,
} from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { bruteForceGuard } from '../../src/auth/users/brute-force.js';
import type { UserRecord } from '../../src/storage/types.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';

describe('user MFA', () => {
  const clock = fixedClock(1_700_000_010);
  let server: TestServer;
  let ctx: AuthContext;
  let alice: UserRecord;
  let bob: UserRecord;

  before(async () => {
    server = await startAuth(
      {
        users: [
          { username: 'alice', password: 'alice-long-password', mfa_required: true },
          { username: 'bob', password: 'bob-long-password' },
        ],
        brute_force: { max_failures: 3, delay: 0 },
      },
      {},
      { clock },
    );
    ctx = server.running.auth!.ctx;
    alice = (await ctx.storage.users.getByUsername('alice'))!;
    bob = (await ctx.storage.users.getByUsername('bob'))!;
  });
  after(async () => {
    await server?.close();
  });

  let secret: string;
  let recoveryCodes: string[];

  it('status: required from the config (or the client), not enrolled', async () => {
    assert.deepEqual(await mfaStatus(ctx, alice), { required: true, enrolled: false, recoveryCodesLeft: 0 });
    assert.deepEqual(await mfaStatus(ctx, bob), { required: false, enrolled: false, recoveryCodesLeft: 0 });
    assert.equal((await mfaStatus(ctx, bob, true)).required, true);
  });

  it('enrolment gives a secret, an otpauth:// URI and a QR code; storage holds the secret sealed', async () => {
    const enrolment = await startTotpEnrolment(ctx, alice, 'Acme');
    secret = enrolment.secret;
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.ok(enrolment.uri.startsWith(`otpauth://totp/Acme:alice?secret=${secret}&issuer=Acme`));
    assert.ok(enrolment.qrSvg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    const stored = (await ctx.storage.users.getMfa(alice.id))!;
    assert.ok(stored.totp_secret!.startsWith('v1.'));
    assert.ok(!stored.totp_secret!.includes(secret));
    assert.equal(stored.totp_confirmed_at, null);
    assert.equal((await mfaStatus(ctx, alice)).enrolled, false, 'not before confirmation');
  });

  it('confirmation needs a valid code, then returns ten recovery codes once', async () => {
    assert.equal(await confirmTotpEnrolment(ctx, alice, '000000'), undefined);
    const codes = await confirmTotpEnrolment(ctx, alice, totp(secret, clock.now()));
    assert.equal(codes?.length, 10);
    recoveryCodes = codes!;
    assert.deepEqual(await mfaStatus(ctx, alice), { required: true, enrolled: true, recoveryCodesLeft: 10 });
    await assert.rejects(startTotpEnrolment(ctx, alice), MfaEnrolledError);
  });

  it('a TOTP code works once: the confirmation code cannot be replayed, the next step can be used once', async () => {
    assert.equal((await verifyMfaCode(ctx, alice, totp(secret, clock.now()), '10.0.0.1')).ok, false, 'same step as the confirmation');
    clock.advance(30);
    const code = totp(secret, clock.now());
    const first = await verifyMfaCode(ctx, alice, code, '10.0.0.1');
    assert.deepEqual(first, { ok: true, method: 'totp', allowed: true, retryAfter: 0, delayMs: 0 });
    assert.equal((await verifyMfaCode(ctx, alice, code, '10.0.0.1')).ok, false, 'replay');
    clock.advance(30);
    // two logins racing with the same fresh code: exactly one wins
    const fresh = totp(secret, clock.now());
    const raced = await Promise.all([1, 2, 3].map(() => verifyMfaCode(ctx, alice, fresh, '10.0.0.1')));
    assert.equal(raced.filter((r) => r.ok).length, 1);
  });

  it('a recovery code works once', async () => {
    // the race above spends alice's budget of failures (each code is counted before it is
    // checked: one earlier failure + three at once > max_failures) and locks her out; this
    // test is about the recovery code, from a clean slate
    await bruteForceGuard(ctx).recordSuccess(alice.username, '10.0.0.1');
    const used = await verifyMfaCode(ctx, alice, recoveryCodes[0]!.toUpperCase(), '10.0.0.2');
    assert.equal(used.ok, true);
    assert.equal(used.method, 'recovery_code');
    assert.equal((await verifyMfaCode(ctx, alice, recoveryCodes[0]!, '10.0.0.2')).ok, false);
    assert.equal((await mfaStatus(ctx, alice)).recoveryCodesLeft, 9);
  });

  it('wrong codes count as login failures: lockout after max_failures, even for the right code', async () => {
    clock.advance(30);
    await bruteForceGuard(ctx).recordSuccess('alice', '10.0.0.3'); // a clean slate after the tests above
    for (let i = 0; i < 2; i++) assert.equal((await verifyMfaCode(ctx, alice, '000000', '10.0.0.3')).allowed, true);
    const third = await verifyMfaCode(ctx, alice, '000000', '10.0.0.3');
    assert.equal(third.allowed, false);
    const refused = await verifyMfaCode(ctx, alice, totp(secret, clock.now()), '10.0.0.4');
    assert.deepEqual({ ok: refused.ok, allowed: refused.allowed }, { ok: false, allowed: false });
    await bruteForceGuard(ctx).recordSuccess('alice', '10.0.0.3');
  });

  it('a sealed secret does not open for another user', async () => {
    const sealed = (await ctx.storage.users.getMfa(alice.id))!.totp_secret!;
    await ctx.storage.users.setTotpSecret(bob.id, sealed, clock.now());
    await ctx.storage.users.confirmTotp(bob.id, clock.now());
    await assert.rejects(verifyMfaCode(ctx, bob, totp(secret, clock.now()), '10.0.0.5'), /cannot decrypt/);
    await ctx.storage.users.resetMfa(bob.id, clock.now());
  });

  it('reset forgets the authenticator and recovery codes but keeps `required`', async () => {
    assert.equal(await ctx.storage.users.resetMfa(alice.id, clock.now()), true);
    assert.deepEqual(await mfaStatus(ctx, alice), { required: true, enrolled: false, recoveryCodesLeft: 0 });
    assert.equal((await verifyMfaCode(ctx, alice, recoveryCodes[1]!, '10.0.0.6')).ok, false);
    assert.equal(await ctx.storage.users.resetMfa(alice.id, clock.now()), false, 'nothing left to reset');
    const again = await startTotpEnrolment(ctx, alice);
    assert.notEqual(again.secret, secret);
  });
});
