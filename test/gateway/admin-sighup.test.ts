// SIGHUP on `drawbridge start` re-reads the config file: new routes and consumers apply,
// removed consumers' keys stop working, without a restart (the process and its port stay).
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnCli, waitForReady, type CliProcess } from '../cli/spawn.js';
import { freePort, startUpstream, TEST_SECRET, type Upstream } from '../helpers/gateway.js';
import { ADMIN_TOKEN, admin } from './admin-support.js';
import { send } from './authn-support.js';
import { within } from '../helpers/poll.js';

const KEY_A = 'key-of-a-0123456789abcdefghijkl';
const KEY_B = 'key-of-b-0123456789abcdefghijkl';

function config(port: number, adminPort: number, upstream: string, dir: string, second: boolean): string {
  const consumer = second ? `{ username: b, credentials: { key-auth: [ { key: ${KEY_B} } ] } }` : `{ username: a, credentials: { key-auth: [ { key: ${KEY_A} } ] } }`;
  return [
    'issuer: http://127.0.0.1:9',
    `storage: sqlite:${join(dir, 'd.db')}`,
    `secret: ${TEST_SECRET}`,
    'log: { level: warn }',
    'gateway:',
    `  listen: 127.0.0.1:${port}`,
    `  admin_listen: 127.0.0.1:${adminPort}`,
    `  admin_token: ${ADMIN_TOKEN}`,
    `  consumers: [ ${consumer} ]`,
    '  services:',
    `    - name: orders`,
    `      url: ${upstream}`,
    `      plugins: [ { name: key-auth } ]`,
    '      routes:',
    '        - { paths: [/orders] }',
    ...(second ? ['        - { paths: [/added] }'] : []),
    '',
  ].join('\n');
}

describe('SIGHUP reloads the config file', () => {
  let dir: string;
  let upstream: Upstream;
  let proc: CliProcess;
  let gateway: string;
  let file: string;
  let port: number;
  let adminPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-sighup-'));
    upstream = await startUpstream();
    port = await freePort();
    adminPort = await freePort();
    gateway = `http://127.0.0.1:${port}`;
    file = join(dir, 'drawbridge.yaml');
    await writeFile(file, config(port, adminPort, upstream.url, dir, false));
    proc = spawnCli(['start', '--config', file]);
    await waitForReady(`${gateway}/readyz`, proc);
  });

  after(async () => {
    await proc?.stop('SIGTERM');
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies new routes and consumers, drops removed ones, keeps admin-made entities, and keeps running', async () => {
    assert.equal((await send(gateway, '/orders', { headers: { apikey: KEY_A } })).status, 200);
    assert.equal((await send(gateway, '/added', { headers: { apikey: KEY_A } })).status, 404);
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    assert.equal((await admin(adminUrl, 'GET', '/services', undefined, { token: null })).status, 401);
    assert.equal((await admin(adminUrl, 'POST', '/services', { name: 'via-admin', url: upstream.url })).status, 201);
    assert.equal((await admin(adminUrl, 'POST', '/services/via-admin/routes', { paths: ['/via-admin'] })).status, 201);
    assert.equal((await send(gateway, '/via-admin')).status, 200);

    await writeFile(file, config(port, adminPort, upstream.url, dir, true));
    proc.child.kill('SIGHUP');
    await within(2000, async () => (await send(gateway, '/added', { headers: { apikey: KEY_B } })).status === 200, 'the reloaded config');
    assert.equal((await send(gateway, '/orders', { headers: { apikey: KEY_B } })).status, 200);
    assert.equal((await send(gateway, '/orders', { headers: { apikey: KEY_A } })).status, 401, 'a consumer removed from the file loses access');
    assert.equal((await send(gateway, '/via-admin')).status, 200, 'admin-made services and routes survive a reload of the file');
    assert.equal(proc.child.exitCode, null, 'still the same process');
  });

  it('a broken config file is refused and the running configuration stays', async () => {
    await writeFile(file, 'issuer: [not valid\n');
    proc.child.kill('SIGHUP');
    assert.equal((await send(gateway, '/added', { headers: { apikey: KEY_B } })).status, 200);
    // a valid file and a second signal afterwards: the process survived the broken one
    await writeFile(file, config(port, adminPort, upstream.url, dir, false));
    proc.child.kill('SIGHUP');
    await within(2000, async () => (await send(gateway, '/added', { headers: { apikey: KEY_A } })).status === 404, 'the second reload');
    assert.equal((await send(gateway, '/orders', { headers: { apikey: KEY_A } })).status, 200);
    assert.equal(proc.child.exitCode, null);
  });
});
