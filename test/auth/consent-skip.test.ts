// `consent: skip` (and `mfa: required`) for clients made by the CLI (issue #3): stored on the
// client record (migration 0008), not only in the config file. A client created with
// `--consent skip` signs users in without the consent page; one created with the default
// (`ask`) shows it. Real CLI process, real SQLite file shared with an in-process server.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAuth, TEST_SECRET, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { runCli } from '../cli/spawn.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';

describe('consent: skip and mfa: required from `drawbridge client create`', () => {
  let dir: string;
  let server: TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-consent-'));
    const db = join(dir, 'drawbridge.db');
    const configFile = join(dir, 'drawbridge.yaml');
    await writeFile(configFile, ['issuer: http://127.0.0.1:1', `storage: "sqlite:${db}"`, 'secret: ${DRAWBRIDGE_SECRET}', 'auth: {}', ''].join('\n'));
    const common = ['--config', configFile, '--public', '--grant-type', 'authorization_code', '--redirect-uri', CB, '--scope', 'openid'];
    for (const args of [
      ['--id', 'first-party', '--consent', 'skip'],
      ['--id', 'third-party'],
      ['--id', 'strict', '--consent', 'skip', '--mfa', 'required'],
    ]) {
      const r = await runCli(['client', 'create', ...args, ...common], { env: { DRAWBRIDGE_SECRET: TEST_SECRET } });
      assert.equal(r.code, 0, r.stderr);
    }
    const bad = await runCli(['client', 'create', '--id', 'x', '--consent', 'never', ...common], { env: { DRAWBRIDGE_SECRET: TEST_SECRET } });
    assert.equal(bad.code, 2, 'an unknown --consent value is a usage error');
    server = await startAuth({ users: [{ username: 'alice', password: PASSWORD }] }, { storage: `sqlite:${db}` });
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function signIn(clientId: string): Promise<Response> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: 'c'.repeat(43), code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const browser = new Browser();
    const form = parseForm(await (await browser.fetch(u.href)).text());
    return browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
  }

  it('stored on the record', async () => {
    const clients = server.running.auth!.ctx.storage.clients;
    assert.equal((await clients.get('first-party'))?.consent, 'skip');
    assert.equal((await clients.get('third-party'))?.consent, 'ask');
    assert.equal((await clients.get('strict'))?.mfa, 'required');
  });

  it('--consent skip: straight back to the client, no consent page', async () => {
    const res = await signIn('first-party');
    assert.equal(res.status, 303);
    assert.ok(new URL(res.headers.get('location')!).searchParams.get('code'));
  });

  it('default (ask): the consent page', async () => {
    const res = await signIn('third-party');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<h1>Allow access\?<\/h1>/);
  });

  it('--mfa required: the enrolment page after the password', async () => {
    const res = await signIn('strict');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<h1>Set up two-step verification<\/h1>/);
  });
});
