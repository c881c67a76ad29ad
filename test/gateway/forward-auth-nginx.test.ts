// Real nginx (Debian package `nginx`) in front of a recording upstream, asking the gateway's
// decision endpoint with `auth_request` and copying the internal token onto the proxied
// request. Skipped loudly when nginx is not installed, except with
// DRAWBRIDGE_REQUIRE_SERVICES=1 (CI), where that fails.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from './core-http.js';

const KEY_PARTNER = 'nginx-partner-0123456789abcdefg';
const KEY_ADMIN = 'nginx-admin-0123456789abcdefghi';

function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : undefined;
}

const nginxBin = findNginx();
if (nginxBin === undefined) {
  if (process.env.DRAWBRIDGE_REQUIRE_SERVICES === '1') {
    throw new Error('nginx is not installed and DRAWBRIDGE_REQUIRE_SERVICES=1 (apt-get install nginx)');
  }
  process.stderr.write('\n*** SKIPPED: nginx is not installed — the forward-auth nginx suite is skipped (apt-get install nginx) ***\n\n');
}

function waitForPort(port: number, child: ChildProcess, errorLog: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) {
        const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
        return reject(new Error(`nginx exited with ${child.exitCode}: ${log}`));
      }
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error('nginx did not start listening'));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

describe('forward-auth with real nginx auth_request', { skip: nginxBin === undefined ? 'nginx is not installed' : false }, () => {
  let up: Upstream;
  let stack: Stack;
  let dir: string;
  let nginx: ChildProcess | undefined;
  let nginxUrl: string;

  before(async () => {
    up = await startUpstream({ name: 'orders' });
    stack = await startStack({
      gateway: {
        consumers: [
          { username: 'partner', groups: ['partners'], credentials: { 'key-auth': [{ key: KEY_PARTNER }] } },
          { username: 'boss', groups: ['admins'], credentials: { 'key-auth': [{ key: KEY_ADMIN }] } },
        ],
        services: [
          {
            // the gateway only decides here; nginx does the proxying to `up`
            name: 'orders',
            url: 'http://127.0.0.1:9',
            plugins: [{ name: 'key-auth' }],
            routes: [
              { name: 'orders', hosts: ['shop.test'], paths: ['/orders'] },
              { name: 'admin', hosts: ['shop.test'], paths: ['/admin'], plugins: [{ name: 'acl', config: { allow: ['admins'] } }] },
              {
                name: 'office',
                hosts: ['shop.test'],
                paths: ['/office'],
                plugins: [{ name: 'ip-restriction', config: { allow: ['203.0.113.0/24'] } }],
              },
            ],
          },
        ],
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-nginx-'));
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
    const port = await freePort();
    nginxUrl = `http://127.0.0.1:${port}`;
    const gateway = new URL(stack.gatewayUrl).host;
    const errorLog = join(dir, 'error.log');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    location / {
      auth_request /_drawbridge_auth;
      auth_request_set $auth $upstream_http_authorization;
      auth_request_set $consumer $upstream_http_x_consumer_username;
      proxy_set_header Authorization $auth;
      proxy_set_header X-Consumer-Username $consumer;
      proxy_set_header apikey "";
      proxy_pass ${up.url};
    }
    location = /_drawbridge_auth {
      internal;
      proxy_pass ${`http://${gateway}`}/_drawbridge/authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $host;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
    );
    nginx = spawn(nginxBin!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog], { stdio: 'ignore' });
    await waitForPort(port, nginx, errorLog);
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await stack?.close();
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('no credential: nginx answers 401 with the gateway challenge and proxies nothing', async () => {
    const res = await send(`${nginxUrl}/orders/1`, { headers: { host: 'shop.test' } });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Key realm="drawbridge"/);
    assert.equal(up.requests.length, 0);
  });

  it('a valid key: upstream gets the internal JWT instead of the key', async () => {
    const res = await send(`${nginxUrl}/orders/1?x=2`, { method: 'POST', headers: { host: 'shop.test', apikey: KEY_PARTNER }, body: 'order' });
    assert.equal(res.status, 200);
    const rec = up.last();
    assert.equal(rec.url, '/orders/1?x=2');
    assert.equal(rec.body.toString(), 'order');
    assert.equal(rec.headers.apikey, undefined);
    assert.equal(rec.headers['x-consumer-username'], 'partner');
    const auth = String(rec.headers.authorization);
    assert.match(auth, /^Bearer /);
    const jwks = createRemoteJWKSet(new URL(stack.jwksUri!));
    const { payload } = await jwtVerify(auth.slice(7), jwks, { issuer: stack.issuer, audience: 'orders', typ: 'at+jwt' });
    assert.equal(payload.sub, 'consumer:partner');
    assert.equal(payload.auth_method, 'key-auth');
  });

  it('a refused group: nginx answers 403', async () => {
    up.reset();
    const refused = await send(`${nginxUrl}/admin/x`, { headers: { host: 'shop.test', apikey: KEY_PARTNER } });
    assert.equal(refused.status, 403);
    assert.equal(up.requests.length, 0);
    const allowed = await send(`${nginxUrl}/admin/x`, { headers: { host: 'shop.test', apikey: KEY_ADMIN } });
    assert.equal(allowed.status, 200);
    assert.equal(up.last().headers['x-consumer-username'], 'boss');
  });

  it('client-sent X-Forwarded-Uri/-Method/-Host cannot make the gateway decide for another request', async () => {
    up.reset();
    const spoofs: Array<Record<string, string>> = [
      { 'x-forwarded-uri': '/orders/1' },
      { 'x-forwarded-uri': '/orders/1', 'x-forwarded-method': 'GET' },
      { 'x-forwarded-host': 'other.test' },
    ];
    for (const spoof of spoofs) {
      const res = await send(`${nginxUrl}/admin/x`, { method: 'DELETE', headers: { host: 'shop.test', apikey: KEY_PARTNER, ...spoof } });
      assert.equal(res.status, 403, JSON.stringify(spoof));
    }
    assert.equal(up.requests.length, 0);
  });

  it('a client-sent X-Forwarded-For does not pass ip-restriction', async () => {
    up.reset();
    const res = await send(`${nginxUrl}/office/plan`, { headers: { host: 'shop.test', apikey: KEY_PARTNER, 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(res.status, 403);
    assert.equal(up.requests.length, 0);
  });
});
