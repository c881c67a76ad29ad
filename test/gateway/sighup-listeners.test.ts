// SIGHUP and the listener settings of the real `drawbridge start`: a changed admin_token
// applies at once (the old one is refused), every listener serves the certificate and key
// read again from their files (a renewal), a file that cannot be read keeps the certificate
// in use and names its key, and a setting that needs a restart (listen, admin_listen) is
// named in a warning. With workers, the primary forwards the signal, and a worker restarted
// afterwards runs what the others run.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { spawnCli, type CliProcess } from '../cli/spawn.js';
import { freePorts } from '../helpers/auth-server.js';
import { startUpstream, TEST_SECRET, type Upstream } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { listeningPids, logLines, until, writeStartConfig, killGroup } from './workers-support.js';
import { selfSigned } from '../helpers/tls.js';

const OLD_TOKEN = 'admin-token-before-0123456789abcdefghij';
const NEW_TOKEN = 'admin-token-after-0123456789abcdefghijk';


/** The subject CN of the certificate a new TLS handshake with 127.0.0.1:port sees. */
function servedCN(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no handshake within 5 s')));
    socket.on('error', reject);
  });
}

/** An admin API GET over https (a new connection each: with workers, any of them answers). */
function adminStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/services', headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

interface Settings {
  port: number;
  adminPort: number;
  token: string;
  key?: string;
  workers?: number;
}

function writeConfig(file: string, dir: string, upstream: string, s: Settings): void {
  writeStartConfig(
    dir,
    {
      listen: `127.0.0.1:${s.port}`,
      admin_listen: `127.0.0.1:${s.adminPort}`,
      admin_token: s.token,
      tls: { cert: join(dir, 'cert.pem'), key: s.key ?? join(dir, 'key.pem') },
      ...(s.workers ? { workers: s.workers } : {}),
      services: [{ name: 'up', url: upstream, routes: [{ paths: ['/'] }] }],
    },
    file,
  );
}

function install(dir: string, pair: { cert: string; key: string }): void {
  copyFileSync(pair.cert, join(dir, 'cert.pem'));
  copyFileSync(pair.key, join(dir, 'key.pem'));
}

describe('SIGHUP: admin_token, TLS certificates and restart-only settings', () => {
  let dir: string;
  let up: Upstream;
  let proc: CliProcess;
  let file: string;
  let port: number;
  let adminPort: number;
  let second: { cert: string; key: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-sighup-listeners-'));
    install(dir, selfSigned(dir, 'first'));
    second = selfSigned(dir, 'second');
    up = await startUpstream({ name: 'up' });
    [port, adminPort] = await freePorts(2);
    file = join(dir, 'drawbridge.json');
    writeConfig(file, dir, up.url, { port, adminPort, token: OLD_TOKEN });
    proc = spawnCli(['start', '--config', file], { timeoutMs: 120_000 });
    await until('the admin listener', proc, () => (listeningPids(proc, 'admin').length > 0 ? true : undefined));
  });

  after(async () => {
    await proc?.stop('SIGTERM');
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a new admin_token replaces the old one; every listener serves the renewed certificate', async () => {
    assert.equal(await servedCN(port), 'first');
    assert.equal(await servedCN(adminPort), 'first');
    assert.equal(await adminStatus(adminPort, OLD_TOKEN), 200);
    assert.equal(await adminStatus(adminPort, NEW_TOKEN), 401);

    install(dir, second);
    writeConfig(file, dir, up.url, { port, adminPort, token: NEW_TOKEN });
    proc.child.kill('SIGHUP');
    await within(5000, async () => (await adminStatus(adminPort, NEW_TOKEN)) === 200, 'the new admin token');
    assert.equal(await adminStatus(adminPort, OLD_TOKEN), 401, 'the old admin token is refused');
    assert.equal(await servedCN(port), 'second', 'the gateway listener serves the new certificate');
    assert.equal(await servedCN(adminPort), 'second', 'the admin listener serves the new certificate');
    const warnings = logLines(proc).filter((l) => l.msg?.startsWith('reload: these'));
    assert.deepEqual(warnings, [], 'nothing waits for a restart');
  });

  it('a key file that cannot be read keeps the certificate in use and names gateway.tls.key', async () => {
    writeConfig(file, dir, up.url, { port, adminPort, token: NEW_TOKEN, key: join(dir, 'missing-key.pem') });
    proc.child.kill('SIGHUP');
    const failed = await until('an error naming the key', proc, () => logLines(proc).find((l) => l.key === 'gateway.tls.key'));
    assert.match(String(failed.msg), /TLS certificate not replaced/);
    assert.equal(await servedCN(port), 'second');
    assert.equal(await servedCN(adminPort), 'second');
    assert.equal(await adminStatus(adminPort, NEW_TOKEN), 200);
  });

  it('a moved listen or admin_listen is named in a warning; the listeners stay where they are', async () => {
    const [otherPort, otherAdminPort] = await freePorts(2);
    writeConfig(file, dir, up.url, { port: otherPort, adminPort: otherAdminPort, token: NEW_TOKEN });
    proc.child.kill('SIGHUP');
    const warning = await until('a warning naming the keys', proc, () => logLines(proc).find((l) => l.msg === 'reload: these gateway settings changed and apply at the next start'));
    assert.deepEqual(warning.keys, ['gateway.listen', 'gateway.admin_listen']);
    assert.equal(await servedCN(port), 'second');
    assert.equal(await adminStatus(adminPort, NEW_TOKEN), 200);
    assert.equal(proc.child.exitCode, null);
  });
});

describe('SIGHUP with workers: every worker applies it, and a restarted one agrees', () => {
  let dir: string;
  let up: Upstream;
  let proc: CliProcess;
  let file: string;
  let port: number;
  let adminPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-sighup-workers-'));
    install(dir, selfSigned(dir, 'first'));
    up = await startUpstream({ name: 'up' });
    [port, adminPort] = await freePorts(2);
    file = join(dir, 'drawbridge.json');
    writeConfig(file, dir, up.url, { port, adminPort, token: OLD_TOKEN, workers: 2 });
    proc = spawnCli(['start', '--config', file], { timeoutMs: 120_000 });
    await until('two workers', proc, () => (listeningPids(proc, 'admin').length >= 2 ? true : undefined));
  });

  after(async () => {
    await killGroup(proc, 'admin');
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Enough new connections that each worker answers several (round-robin). */
  async function everyWorker(check: () => Promise<void>): Promise<void> {
    for (let i = 0; i < 8; i++) await check();
  }

  it('after SIGHUP and a worker crash, all workers take the new token and serve the new certificate, on the ports they started with', async () => {
    install(dir, selfSigned(dir, 'second'));
    // a moved listen waits for a restart: also in the worker started after the crash
    const [movedPort] = await freePorts(1);
    writeConfig(file, dir, up.url, { port: movedPort, adminPort, token: NEW_TOKEN, workers: 2 });
    proc.child.kill('SIGHUP');
    const workers = listeningPids(proc, 'admin');
    await until('both workers reloaded', proc, () => {
      const applied = new Set(logLines(proc).filter((l) => l.msg === 'gateway configuration applied').map((l) => l.pid));
      return workers.every((pid) => applied.has(pid)) ? true : undefined;
    });
    const check = async () => {
      assert.equal(await adminStatus(adminPort, NEW_TOKEN), 200);
      assert.equal(await adminStatus(adminPort, OLD_TOKEN), 401);
      assert.equal(await servedCN(port), 'second');
      assert.equal(await servedCN(adminPort), 'second');
    };
    await everyWorker(check);

    const victim = workers[0]!;
    process.kill(victim, 'SIGKILL');
    const replacement = await until('a replacement worker', proc, () => listeningPids(proc, 'admin').find((pid) => !workers.includes(pid)));
    const listening = logLines(proc).find((l) => l.pid === replacement && l.msg === 'listening' && l.listener === 'gateway');
    assert.equal(listening?.url, `https://127.0.0.1:${port}`, 'the new worker listens where the others do');
    const pinned = logLines(proc).find((l) => l.pid === replacement && l.msg?.startsWith('these settings changed in the config file'));
    assert.deepEqual(pinned?.keys, ['gateway.listen']);
    await everyWorker(check);
  });
});

describe('SIGHUP and the auth server\'s certificate', () => {
  let dir: string;
  let proc: CliProcess;
  let file: string;
  let port: number;

  function writeAuthConfig(key = join(dir, 'key.pem')): void {
    writeFileSync(
      file,
      JSON.stringify({
        issuer: `https://127.0.0.1:${port}`,
        storage: `sqlite:${join(dir, 'drawbridge.db')}`,
        secret: TEST_SECRET,
        log: { level: 'info', pretty: false },
        auth: { listen: `127.0.0.1:${port}`, tls: { cert: join(dir, 'cert.pem'), key } },
      }),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-sighup-auth-'));
    install(dir, selfSigned(dir, 'first'));
    [port] = await freePorts(1);
    file = join(dir, 'drawbridge.json');
    writeAuthConfig();
    proc = spawnCli(['start', '--config', file], { timeoutMs: 120_000 });
    await until('the auth listener', proc, () => (listeningPids(proc, 'auth').length > 0 ? true : undefined));
  });

  after(async () => {
    await proc?.stop('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the renewed certificate; a key that cannot be read keeps it and names auth.tls.key', async () => {
    assert.equal(await servedCN(port), 'first');
    install(dir, selfSigned(dir, 'second'));
    proc.child.kill('SIGHUP');
    await within(5000, async () => (await servedCN(port)) === 'second', 'the renewed certificate');
    writeAuthConfig(join(dir, 'missing-key.pem'));
    proc.child.kill('SIGHUP');
    await until('an error naming the key', proc, () => logLines(proc).find((l) => l.key === 'auth.tls.key'));
    assert.equal(await servedCN(port), 'second');
    const warnings = logLines(proc).filter((l) => l.msg?.startsWith('reload: these'));
    assert.deepEqual(warnings, [], 'nothing waits for a restart');
  });
});
