// drawbridge/sdk: calling another service on the user's behalf (RFC 8693 token exchange)
// end to end. A partner calls `orders` through the gateway (key-auth); `orders`, protected
// by the SDK, exchanges the internal JWT it received for a token meant for `billing` and
// calls it — directly with a JWT, or through the gateway with an opaque token. `billing`
// (SDK too) sees the partner as `sub` and `orders` in `act`.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  authenticate,
  bearerToken,
  clientCredentials,
  createVerifier,
  DrawbridgeOAuthError,
  exchangeToken,
  TokenType,
  type Verifier,
} from '../../src/sdk/index.js';
import { freePort, type Stack } from '../helpers/gateway.js';
import { send } from '../gateway/authn-support.js';
import { introspectionPlugin, readJson, sendJson, startSdkStack, startService, type Service } from './support.js';

const PARTNER_KEY = 'k3y-partner-a-0123456789abcdefghij';
const ORDERS_SECRET = 'orders-secret-0123456789-abcdefghij';
const BILLING_SECRET = 'billing-secret-0123456789-abcdefghi';
const INTRUDER_SECRET = 'intruder-secret-0123456789-abcdefgh';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** What billing saw, after checking that it answered 200 to a call for the partner. */
function billingSawPartner(json: Record<string, unknown>): Record<string, unknown> {
  assert.equal(json.billing_status, 200, JSON.stringify(json.billing));
  const claims = (json.billing as Record<string, Record<string, unknown>>).billing_saw!;
  assert.equal(claims.sub, 'consumer:partner-a');
  assert.equal(claims.aud, 'billing');
  return claims;
}

describe('sdk: token exchange end to end (gateway → orders → billing)', () => {
  let stack: Stack;
  let issuer: string;
  let orders: Service;
  let billing: Service;
  let billingVerifier: Verifier;
  /** what orders last received, for the negative cases */
  let lastInternalToken: string | undefined;

  before(async () => {
    const authPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    billingVerifier = createVerifier({ issuer, audience: 'billing' });
    billing = await startService(authenticate(billingVerifier)((req, res) => sendJson(res, 200, { billing_saw: req.auth })));

    let gatewayUrl = '';
    const ordersVerifier = createVerifier({ issuer, audience: 'orders' });
    orders = await startService(
      authenticate(ordersVerifier)(async function ordersHandler(req, res) {
        // the token this request came with: the gateway's internal JWT, meant for `orders`
        const subjectToken = bearerToken(req.headers)!;
        lastInternalToken = subjectToken;
        const direct = req.url?.startsWith('/orders/direct') === true;
        const exchanged = await exchangeToken({
          issuer,
          clientId: 'orders',
          clientSecret: ORDERS_SECRET,
          subjectToken,
          audience: 'billing',
          // a JWT billing verifies itself, or the default (opaque) for the gateway to swap
          requestedTokenType: direct ? TokenType.jwt : undefined,
        });
        const target = direct ? `${billing.url}/invoices` : `${gatewayUrl}/billing/invoices`;
        const reply = await fetch(target, { headers: { authorization: `Bearer ${exchanged.access_token}` } });
        sendJson(res, 200, {
          orders_saw: { sub: req.auth.sub, act: req.auth.act ?? null },
          issued_token_type: exchanged.issued_token_type,
          billing_status: reply.status,
          billing: await readJson(reply),
        });
      }),
    );
    ({ stack } = await startSdkStack(
      [
        { client_id: 'orders', client_secret: ORDERS_SECRET, grant_types: [TE], scopes: [], audiences: ['billing'] },
        { client_id: 'billing', client_secret: BILLING_SECRET, grant_types: [TE, 'client_credentials'], scopes: [], audiences: ['ledger'] },
        { client_id: 'intruder', client_secret: INTRUDER_SECRET, grant_types: [TE], scopes: [] },
      ],
      (iss) => ({
        consumers: [{ username: 'partner-a', groups: ['partners'], credentials: { 'key-auth': [{ key: PARTNER_KEY }] } }],
        services: [
          { name: 'orders', url: orders.url, routes: [{ paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] },
          { name: 'billing', url: billing.url, routes: [{ paths: ['/billing'], strip_path: false }], plugins: [introspectionPlugin(iss)] },
        ],
      }),
      authPort,
    ));
    gatewayUrl = stack.gatewayUrl;
  });

  after(async () => {
    await stack?.close();
    await orders?.close();
    await billing?.close();
  });

  it('discovery advertises the grant', async () => {
    const meta = await readJson(await fetch(`${issuer}/.well-known/openid-configuration`));
    assert.ok((meta.grant_types_supported as string[]).includes(TE));
  });

  it('orders exchanges the internal JWT for a JWT meant for billing: billing verifies it and sees sub = the partner, act = orders', async () => {
    const reply = await send(stack.gatewayUrl, '/orders/direct', { headers: { apikey: PARTNER_KEY } });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json.orders_saw, { sub: 'consumer:partner-a', act: null });
    assert.equal(reply.json.issued_token_type, TokenType.jwt);
    const claims = billingSawPartner(reply.json);
    assert.equal(claims.client_id, 'orders');
    assert.deepEqual(claims.act, { sub: 'orders' });
    assert.equal(claims.iss, issuer);
  });

  it('…or for an opaque token billing is called with through the gateway: the internal JWT there carries act', async () => {
    const reply = await send(stack.gatewayUrl, '/orders/via-gateway', { headers: { apikey: PARTNER_KEY } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.issued_token_type, TokenType.accessToken);
    const claims = billingSawPartner(reply.json);
    assert.equal(claims.auth_method, 'oauth2');
    assert.deepEqual(claims.act, { sub: 'orders' });
  });

  it('a second hop nests the prior actor: billing exchanges its token for ledger → act { sub: billing, act: { sub: orders } }', async () => {
    assert.equal((await send(stack.gatewayUrl, '/orders/direct', { headers: { apikey: PARTNER_KEY } })).status, 200);
    const forBilling = await exchangeToken({
      issuer,
      clientId: 'orders',
      clientSecret: ORDERS_SECRET,
      subjectToken: lastInternalToken!,
      audience: 'billing',
      requestedTokenType: TokenType.jwt,
    });
    const forLedger = await exchangeToken({
      issuer,
      clientId: 'billing',
      clientSecret: BILLING_SECRET,
      subjectToken: forBilling.access_token,
      audience: 'ledger',
      requestedTokenType: TokenType.jwt,
    });
    const ledger = createVerifier({ issuer, audience: 'ledger' });
    const claims = await ledger.verify(forLedger.access_token);
    assert.equal(claims.sub, 'consumer:partner-a');
    assert.deepEqual(claims.act, { sub: 'billing', act: { sub: 'orders' } });
    assert.equal(typeof forLedger.expires_in, 'number');
  });

  it('an actor token names the actor: act.sub is the actor token\'s subject', async () => {
    assert.equal((await send(stack.gatewayUrl, '/orders/direct', { headers: { apikey: PARTNER_KEY } })).status, 200);
    const actor = await clientCredentials({ issuer, clientId: 'billing', clientSecret: BILLING_SECRET }).token();
    const res = await exchangeToken({
      issuer,
      clientId: 'orders',
      clientSecret: ORDERS_SECRET,
      subjectToken: lastInternalToken!,
      audience: 'billing',
      requestedTokenType: TokenType.jwt,
      actorToken: actor,
      actorTokenType: TokenType.accessToken,
    });
    assert.deepEqual((await billingVerifier.verify(res.access_token)).act, { sub: 'billing' });
  });

  it('refusals surface as DrawbridgeOAuthError: a token not meant for the client, garbage, a forbidden audience, a bad secret', async () => {
    assert.equal((await send(stack.gatewayUrl, '/orders/direct', { headers: { apikey: PARTNER_KEY } })).status, 200);
    const subjectToken = lastInternalToken!;
    const refused = async (opts: Partial<Parameters<typeof exchangeToken>[0]>, errors: string[], status: number) => {
      await assert.rejects(
        exchangeToken({ issuer, clientId: 'orders', clientSecret: ORDERS_SECRET, subjectToken, audience: 'billing', ...opts }),
        (err: unknown) => {
          assert.ok(err instanceof DrawbridgeOAuthError, String(err));
          assert.ok(errors.includes(err.error), `${err.error}: ${err.error_description}`);
          assert.equal(err.status, status);
          assert.ok(!err.message.includes(subjectToken) && !err.message.includes(String(opts.clientSecret ?? ORDERS_SECRET)));
          return true;
        },
      );
    };
    // the internal token's aud is `orders`: another client cannot use it (RFC 8693 §2.2.2 names invalid_request)
    await refused({ clientId: 'intruder', clientSecret: INTRUDER_SECRET }, ['invalid_request', 'invalid_grant'], 400);
    await refused({ subjectToken: 'not-a-token' }, ['invalid_request', 'invalid_grant'], 400);
    await refused({ audience: 'payroll' }, ['invalid_target'], 400);
    await refused({ clientSecret: 'wrong-secret-0123456789-abcdefghij' }, ['invalid_client'], 401);
    await refused({ subjectTokenType: 'urn:example:unknown' }, ['invalid_request'], 400);
  });
});
