// SIGHUP on `drawbridge start --only auth` re-reads the config file's clients and users as a
// start would: a new client can get tokens at once, a removed client's and a removed user's
// tokens introspect inactive (src/auth/config-clients.ts, src/auth/users/removed.ts), a
// changed client's new settings apply, and an auth setting that needs a restart is named in
// a warning. The process and its port stay.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnCli, waitForReady, type CliProcess } from '../cli/spawn.js';
import { basic, freePort, postForm, TEST_SECRET, tokenAnswer } from '../helpers/auth-server.js';
import { within } from '../helpers/poll.js';

const SECRET = 'auth-sighup-client-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';

interface Version {
  clients: Array<{ id: string; scopes: string[] }>;
  users: string[];
  ttl: string;
}

function config(port: number, dir: string, v: Version): string {
  return [
    `issuer: http://127.0.0.1:${port}`,
    `storage: sqlite:${join(dir, 'd.db')}`,
    `secret: ${TEST_SECRET}`,
    'log: { level: info }',
    'auth:',
    `  listen: 127.0.0.1:${port}`,
    `  access_token_ttl: ${v.ttl}`,
    '  brute_force: { enabled: false }',
    '  clients:',
    ...v.clients.map(
      (c) => `    - { client_id: ${c.id}, client_secret: ${SECRET}, grant_types: [client_credentials, password], scopes: [${c.scopes.join(', ')}] }`,
    ),
    '  users:',
    ...v.users.map((u) => `    - { username: ${u}, password: ${PASSWORD} }`),
    '',
  ].join('\n');
}

describe('SIGHUP applies the auth server’s clients and users from the file', () => {
  let dir: string;
  let proc: CliProcess;
  let issuer: string;
  let file: string;
  let port: number;

  const token = (clientId: string, form: Record<string, string>) => tokenAnswer(issuer, form, { authorization: basic(clientId, SECRET) });
  const active = async (value: string) => {
    const res = await postForm(`${issuer}/oauth2/introspect`, { token: value }, { authorization: basic('app', SECRET) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { active: boolean }).active;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-auth-sighup-'));
    port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    file = join(dir, 'drawbridge.yaml');
    const first = { clients: [{ id: 'app', scopes: ['orders:read'] }, { id: 'old', scopes: ['orders:read'] }], users: ['alice', 'bob'], ttl: '10m' };
    await writeFile(file, config(port, dir, first));
    proc = spawnCli(['start', '--only', 'auth', '--config', file]);
    await waitForReady(`${issuer}/readyz`, proc);
  });

  after(async () => {
    await proc?.stop('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('adds, changes and removes clients and users, revoking what the removed ones held', async () => {
    const old = await token('old', { grant_type: 'client_credentials' });
    assert.equal(old.status, 200);
    const bob = await token('app', { grant_type: 'password', username: 'bob', password: PASSWORD });
    assert.equal(bob.status, 200, JSON.stringify(bob.body));
    const alice = await token('app', { grant_type: 'password', username: 'alice', password: PASSWORD });
    assert.equal((await token('new', { grant_type: 'client_credentials' })).status, 401);
    assert.equal((await token('app', { grant_type: 'client_credentials', scope: 'orders:write' })).status, 400);

    const second = { clients: [{ id: 'app', scopes: ['orders:read', 'orders:write'] }, { id: 'new', scopes: ['orders:read'] }], users: ['alice'], ttl: '5m' };
    await writeFile(file, config(port, dir, second));
    proc.child.kill('SIGHUP');
    // the reload is done when it says so (the removed user's tokens go before the user does)
    await within(5000, async () => proc.stdout.includes('reload: auth clients and users applied'), 'the reload');
    assert.equal((await token('new', { grant_type: 'client_credentials' })).status, 200, 'the new client');
    assert.equal(await active(bob.body.access_token as string), false, "the removed user's token");
    assert.equal(await active(old.body.access_token as string), false, "the removed client's token");
    assert.equal((await token('old', { grant_type: 'client_credentials' })).status, 401);
    assert.equal((await token('app', { grant_type: 'password', username: 'bob', password: PASSWORD })).status, 400, 'the removed user cannot sign in');
    assert.equal(await active(alice.body.access_token as string), true, 'the remaining user keeps hers');
    const widened = await token('app', { grant_type: 'client_credentials', scope: 'orders:write' });
    assert.equal(widened.status, 200, JSON.stringify(widened.body));
    assert.equal(widened.body.expires_in, 600, 'access_token_ttl applies at the next start');
    await within(2000, async () => proc.stdout.includes('auth.access_token_ttl'), 'the warning naming the setting that waits for a restart');
    assert.equal(proc.child.exitCode, null, 'still the same process');
    for (const secret of [SECRET, PASSWORD, old.body.access_token as string]) assert.ok(!proc.stdout.includes(secret) && !proc.stderr.includes(secret));
  });
});
