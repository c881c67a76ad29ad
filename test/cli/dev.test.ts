// `drawbridge dev` (what `npm start` runs): auth server, gateway and the demo service on
// embedded defaults; the printed edge credentials work through the gateway.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { spawnCli, waitForReady, type CliProcess } from './spawn.js';

describe('drawbridge dev', () => {
  let dir: string;
  let proc: CliProcess;
  let auth: string;
  let gateway: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-dev-'));
    const [p1, p2, p3, p4] = (await freePorts(4)) as [number, number, number, number];
    auth = `http://127.0.0.1:${p1}`;
    gateway = `http://127.0.0.1:${p2}`;
    proc = spawnCli(['dev', '--dir', join(dir, 'state'), '--port', String(p1), '--gateway-port', String(p2), '--admin-port', String(p3), '--service-port', String(p4)]);
    await waitForReady(`${gateway}/readyz`, proc);
    await waitForReady(`${auth}/readyz`, proc);
  });

  after(async () => {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the URLs, the demo credentials and curl lines', async () => {
    for (let i = 0; i < 50 && !proc.stdout.includes('Audit events'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(proc.stdout, new RegExp(`gateway +${gateway}`));
    assert.match(proc.stdout, /curl -s -H 'apikey: demo-api-key-change-me'/);
    assert.match(proc.stdout, /curl -s -u partner:partner-password-change-me/);
    assert.match(proc.stdout, /Signature-Input: sig1=/);
  });

  it('names the state directory it was given (--dir), not the default one', async () => {
    for (let i = 0; i < 50 && !proc.stdout.includes('Audit events'); i++) await new Promise((r) => setTimeout(r, 100));
    const state = join(dir, 'state');
    assert.ok(proc.stdout.includes(`keys and secrets under ${state}/`), proc.stdout);
    assert.ok(proc.stdout.includes(`Bearer token in ${state}/admin-token`), proc.stdout);
    assert.ok(proc.stdout.includes(`Audit events (logins, tokens, logouts): ${state}/audit.log`), proc.stdout);
    assert.doesNotMatch(proc.stdout, /\.\/\.drawbridge/);
  });

  it('names every route the gateway sends to the demo service', async () => {
    for (let i = 0; i < 50 && !proc.stdout.includes('Audit events'); i++) await new Promise((r) => setTimeout(r, 100));
    const line = proc.stdout.split('\n').find((l) => l.trimStart().startsWith('gateway ')) ?? '';
    assert.match(line, /\/app, \/api, \/orders → the demo service at http:\/\/127\.0\.0\.1:\d+$/, line);
  });

  it('the demo API key reaches the demo service, which verifies the internal JWT', async () => {
    const res = await fetch(`${gateway}/orders`, { headers: { apikey: 'demo-api-key-change-me' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { caller: { auth_method: string; consumer: string }; internal_token: { claims: { iss: string; aud: string } } };
    assert.equal(body.caller.auth_method, 'key-auth');
    assert.equal(body.caller.consumer, 'demo-partner');
    assert.equal(body.internal_token.claims.iss, auth);
    assert.equal(body.internal_token.claims.aud, 'orders');
  });

  it('a JWT from the demo client works at the gateway; no credential is 401 with every challenge', async () => {
    const tokenRes = await fetch(`${auth}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=demo-jwt&client_secret=demo-jwt-secret-change-me',
    });
    assert.equal(tokenRes.status, 200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const ok = await fetch(`${gateway}/orders`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { caller: { auth_method: string } }).caller.auth_method, 'jwt');
    const denied = await fetch(`${gateway}/orders`);
    assert.equal(denied.status, 401);
    const challenges = denied.headers.get('www-authenticate') ?? '';
    for (const scheme of ['Key', 'Basic', 'Signature', 'Bearer']) assert.match(challenges, new RegExp(`(^|, )${scheme} realm=`));
    await denied.arrayBuffer();
  });

  it('the demo user signs in through the gateway route /app (oidc-login), which then sends a session JWT', async () => {
    const browser = new Browser();
    const html = { accept: 'text/html' };
    const start = await browser.fetch(`${gateway}/app/home`, { headers: html });
    assert.equal(start.status, 302);
    const authorize = start.headers.get('location')!;
    assert.ok(authorize.startsWith(`${auth}/oauth2/authorize?`), authorize);
    const login = parseForm(await (await browser.fetch(authorize, { headers: html })).text());
    const signedIn = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', 'alice-demo-password-change-me']] });
    assert.equal(signedIn.status, 303, 'the demo client skips consent');
    const callback = await browser.fetch(signedIn.headers.get('location')!, { headers: html });
    assert.equal(callback.status, 303);
    assert.equal(new URL(callback.headers.get('location')!, gateway).pathname, '/app/home');
    const page = await browser.fetch(`${gateway}/app/home`, { headers: html });
    assert.equal(page.status, 200);
    const body = (await page.json()) as { caller: { auth_method: string }; internal_token: { claims: { aud: string; sid?: string } } };
    assert.equal(body.caller.auth_method, 'session');
    assert.equal(body.internal_token.claims.aud, 'app');
    assert.ok(body.internal_token.claims.sid);
  });

  it('an opaque token works on /api (phantom token) and stops working once revoked', async () => {
    const form = {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('demo-service:demo-service-secret-change-me').toString('base64')}`,
    };
    const tokenRes = await fetch(`${auth}/oauth2/token`, { method: 'POST', headers: form, body: 'grant_type=client_credentials' });
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const ok = await fetch(`${gateway}/api/x`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { caller: { auth_method: string } }).caller.auth_method, 'oauth2');
    const revoked = await fetch(`${auth}/oauth2/revoke`, { method: 'POST', headers: form, body: `token=${access_token}` });
    assert.equal(revoked.status, 200);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      const res = await fetch(`${gateway}/api/x`, { headers: { authorization: `Bearer ${access_token}` } });
      status = res.status;
      await res.arrayBuffer();
      if (status === 200) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(status, 401, 'refused within a second of the revocation');
  });

  it('SIGTERM drains and exits 0', async () => {
    const result = await proc.stop('SIGTERM');
    assert.equal(result.code, 0, result.stderr);
  });
});

describe('drawbridge dev with a port taken', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-dev-taken-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const taken of ['--port', '--gateway-port'] as const) {
    it(`${taken} in use: closes what it started (the demo service) and exits 1 naming the address`, async () => {
      const [p1, p2, p3, p4] = (await freePorts(4)) as [number, number, number, number];
      const ports = { '--port': p1, '--gateway-port': p2, '--admin-port': p3, '--service-port': p4 };
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(ports[taken], '127.0.0.1', resolve));
      try {
        const args = Object.entries(ports).flatMap(([flag, port]) => [flag, String(port)]);
        // a dev that hangs is killed after 20 s, which fails the exit code below
        const r = await spawnCli(['dev', '--dir', join(dir, taken), ...args], { timeoutMs: 20_000 }).exited;
        assert.equal(r.code, 1, `exit ${r.code} (signal ${r.signal})\n${r.stderr}`);
        assert.match(r.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${ports[taken]}`));
        // the demo service it had started no longer listens: its port is free again
        const probe = createServer();
        await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(ports['--service-port'], '127.0.0.1', resolve));
        await new Promise((resolve) => probe.close(resolve));
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
    });
  }
});
