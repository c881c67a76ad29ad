// `drawbridge user …` as a user runs it: the real command in a child process against a
// SQLite file, passwords from standard input or generated, the policy, config users, lock,
// MFA reset, exit codes 0/1/2 — and a CLI-made user logging in on a server started after.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyLogin } from '../../src/auth/users/verify-login.js';
import { verifyPassword } from '../../src/auth/users/password.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { startAuth, TEST_SECRET } from '../helpers/auth-server.js';
import { CLI, REPO_ROOT } from '../cli/spawn.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `drawbridge …args`; `input` is written to standard input (else stdin is closed: not a TTY). */
function drawbridge(args: string[], input?: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.DRAWBRIDGE_CONFIG;
  delete env.DRAWBRIDGE_SECRET;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('drawbridge user', () => {
  let dir: string;
  let config: string;
  let db: string;
  const run = (args: string[], input?: string) => drawbridge([...args, '--config', config], input);

  /** Opens the database between CLI runs (one Storage per file per process, closed again). */
  async function withDb<T>(fn: (s: Storage) => Promise<T>): Promise<T> {
    const storage = await openStorage(db);
    try {
      return await fn(storage);
    } finally {
      await storage.close();
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-user-cli-'));
    db = `sqlite:${join(dir, 'drawbridge.db')}`;
    config = join(dir, 'drawbridge.json');
    await writeFile(
      config,
      JSON.stringify({
        issuer: 'http://127.0.0.1:9',
        storage: db,
        secret: TEST_SECRET,
        log: { level: 'silent' },
        auth: {
          listen: '127.0.0.1:0',
          password_policy: { min_length: 14 },
          audit: { file: join(dir, 'audit.log') },
          users: [
            { username: 'from-config', password: 'config-long-password' },
            { username: 'config-no-password' },
            { username: 'config-mfa', mfa_required: true },
          ],
        },
      }),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('create reads the password from --password-stdin and stores only its argon2id hash', async () => {
    const r = await run(['user', 'create', 'alice', '--password-stdin', '--claim', 'email=alice@example.com', '--claim', 'groups=["admin"]'], 'alice-long-password\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created user alice \(id [0-9a-f-]{36}\)\n$/);
    const alice = await withDb((s) => s.users.getByUsername('alice'));
    assert.equal(alice?.source, 'cli');
    assert.deepEqual(alice?.claims, { email: 'alice@example.com', groups: ['admin'] });
    assert.match(alice!.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(alice!.password_hash!, 'alice-long-password'), true, 'the trailing newline is not part of it');
  });

  it('create without a password on a non-terminal generates one and prints it once', async () => {
    const r = await run(['user', 'create', 'bob', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { id: string; username: string; password: string };
    assert.equal(out.username, 'bob');
    assert.match(out.password, /^[A-Za-z2-9]{20}$/);
    const bob = await withDb((s) => s.users.getByUsername('bob'));
    assert.equal(bob?.id, out.id);
    assert.equal(await verifyPassword(bob!.password_hash!, out.password), true);
    const text = await run(['user', 'create', 'bob2']);
    assert.match(text.stdout, /^password: [A-Za-z2-9]{20}$/m);
    assert.match(text.stdout, /shown only now/);
  });

  it('applies the password policy from the config (exit 2, nothing stored)', async () => {
    for (const [pw, message] of [
      ['short-one-13c', /at least 14 characters/],
      ['Password12345678', /too common/],
      ['carol-the-user!!', /not be the username/],
    ] as const) {
      const r = await run(['user', 'create', 'carol-the-user', '--password-stdin'], `${pw}\n`);
      assert.equal(r.code, 2, pw);
      assert.match(r.stderr, message);
    }
    assert.equal(await withDb((s) => s.users.getByUsername('carol-the-user')), undefined);
    assert.equal((await run(['user', 'create', 'carol-the-user', '--password-stdin'], '')).code, 2, 'empty stdin');
  });

  it('refuses duplicates, config users, bad usernames and bad claims with exit 2', async () => {
    const dup = await run(['user', 'create', 'alice', '--password-stdin'], 'another-long-password\n');
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /user "alice" already exists/);
    const cfg = await run(['user', 'create', 'from-config']);
    assert.equal(cfg.code, 2);
    assert.match(cfg.stderr, /defined in the config file/);
    assert.equal((await run(['user', 'create', ' spaced '])).code, 2);
    assert.equal((await run(['user', 'create', 'dora', '--claim', 'sub=x'])).code, 2);
    assert.equal((await run(['user', 'create', 'dora', '--claim', 'novalue'])).code, 2);
  });

  it('set-password replaces the hash; refused for a password that lives in the config file', async () => {
    const r = await run(['user', 'set-password', 'alice', '--password-stdin'], 'alice-second-password\n');
    assert.equal(r.code, 0, r.stderr);
    const alice = await withDb((s) => s.users.getByUsername('alice'));
    assert.equal(await verifyPassword(alice!.password_hash!, 'alice-second-password'), true);
    assert.equal(await verifyPassword(alice!.password_hash!, 'alice-long-password'), false);
    const cfg = await run(['user', 'set-password', 'from-config', '--password-stdin'], 'whatever-long-password\n');
    assert.equal(cfg.code, 2);
    assert.match(cfg.stderr, /in the config file; change it there/);
    const none = await run(['user', 'set-password', 'nobody', '--password-stdin'], 'whatever-long-password\n');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no user "nobody"/);
  });

  it('lock revokes the user\'s tokens; unlock; list shows it all', async () => {
    const alice = (await withDb((s) => s.users.getByUsername('alice')))!;
    const now = Math.floor(Date.now() / 1000);
    await withDb((s) =>
      s.tokens.insert({
        digest: 'alice-token',
        kind: 'refresh_token',
        format: 'opaque',
        jti: 'j1',
        client_id: 'web',
        sub: alice.id,
        scope: 'openid',
        audience: [],
        grant_id: null,
        issued_at: now,
        expires_at: now + 3600,
        revoked_at: null,
        extra: null,
      }),
    );
    const locked = await run(['user', 'lock', 'alice']);
    assert.equal(locked.code, 0, locked.stderr);
    assert.equal(locked.stdout, 'locked alice; revoked 1 token(s), ended 0 session(s)\n');
    assert.ok((await withDb((s) => s.tokens.findByDigest('alice-token')))?.revoked_at);
    const list = await run(['user', 'list']);
    assert.match(list.stdout, /^USERNAME\s+ID\s+SOURCE\s+LOCKED\s+MFA_REQUIRED\s+TOTP$/m);
    assert.match(list.stdout, /^alice\s+\S+\s+cli\s+yes\s+no\s+no$/m);
    assert.equal((await run(['user', 'unlock', 'alice'])).code, 0);
    const json = JSON.parse((await run(['user', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    const row = json.find((u) => u.username === 'alice')!;
    assert.equal(row.locked, false);
    assert.equal(row.has_password, true);
    assert.equal('password_hash' in row, false, 'never printed');
  });

  it('require-mfa and reset-mfa', async () => {
    assert.equal((await run(['user', 'require-mfa', 'alice'])).code, 0);
    const alice = (await withDb((s) => s.users.getByUsername('alice')))!;
    await withDb(async (s) => {
      await s.users.setTotpSecret(alice.id, 'v1.sealed', 1);
      await s.users.confirmTotp(alice.id, 1);
      await s.users.setRecoveryCodes(alice.id, ['a'.repeat(64), 'b'.repeat(64)], 1);
    });
    const reset = await run(['user', 'reset-mfa', 'alice']);
    assert.equal(reset.stdout, 'MFA of alice reset\n');
    const mfa = await withDb((s) => s.users.getMfa(alice.id));
    assert.deepEqual(
      { required: mfa?.required, secret: mfa?.totp_secret, confirmed: mfa?.totp_confirmed_at, codes: mfa?.recovery_codes_left },
      { required: true, secret: null, confirmed: null, codes: 0 },
    );
    assert.match((await run(['user', 'reset-mfa', 'alice'])).stdout, /nothing to reset/);
    assert.equal((await run(['user', 'require-mfa', 'alice', '--off'])).code, 0);
    assert.equal((await withDb((s) => s.users.getMfa(alice.id)))?.required, false);
  });

  it('a CLI user logs in on a server started afterwards; config users are synced; a locked user cannot', async () => {
    const server = await startAuth({ users: [{ username: 'from-config', password: 'config-long-password' }] }, { storage: db });
    try {
      const ctx = server.running.auth!.ctx;
      assert.equal((await verifyLogin(ctx, 'alice', 'alice-second-password', '127.0.0.1')).user?.username, 'alice');
      assert.equal((await verifyLogin(ctx, 'from-config', 'config-long-password', '127.0.0.1')).user?.source, 'config');
      await ctx.storage.users.setLocked('alice', true, 1);
      assert.equal((await verifyLogin(ctx, 'alice', 'alice-second-password', '127.0.0.1')).user, undefined);
    } finally {
      await server.close();
    }
    assert.equal((await run(['user', 'unlock', 'alice'])).code, 0);
  });

  it('delete removes a CLI user, refuses config users', async () => {
    const r = await run(['user', 'delete', 'bob2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^deleted user bob2; revoked 0 token\(s\), ended 0 session\(s\)$/m);
    assert.equal((await run(['user', 'delete', 'bob2'])).code, 2);
    const cfg = await run(['user', 'delete', 'from-config']);
    assert.equal(cfg.code, 2);
    assert.match(cfg.stderr, /remove it there/);
  });

  it('a lock whose SSO sessions cannot be reached (Redis down) still locks and revokes the tokens, fails with exit 1, and is audited', async () => {
    const down = join(dir, 'redis-down.json');
    // the SSO sessions live in Redis when `redis:` is set; nothing listens on this port
    await writeFile(down, JSON.stringify({ ...(JSON.parse(await readFile(config, 'utf8')) as object), redis: 'redis://127.0.0.1:25999' }));
    const bob = (await withDb((s) => s.users.getByUsername('bob')))!;
    const now = Math.floor(Date.now() / 1000);
    await withDb((s) =>
      s.tokens.insert({ digest: 'bob-token', kind: 'refresh_token', format: 'opaque', jti: 'jb', client_id: 'web', sub: bob.id, scope: 'openid', audience: [], grant_id: null, issued_at: now, expires_at: now + 3600, revoked_at: null, extra: null }),
    );
    const r = await drawbridge(['user', 'lock', 'bob', '--config', down]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /redis: cannot connect/);
    assert.equal((await withDb((s) => s.users.getByUsername('bob')))?.locked, true, 'the lock stands');
    assert.ok((await withDb((s) => s.tokens.findByDigest('bob-token')))?.revoked_at, 'the tokens are revoked');
    const lines = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.event === 'user.locked' && l.username === 'bob');
    assert.deepEqual([line?.revoked, line?.signed_out], [1, false]);
    assert.equal((await run(['user', 'unlock', 'bob'])).code, 0);
  });

  it('every change is a line in the audit file (source cli), never a password or hash', async () => {
    const text = await readFile(join(dir, 'audit.log'), 'utf8');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const seen = new Set(lines.filter((l) => l.source === 'cli').map((l) => `${l.event}:${l.username}`));
    for (const e of ['user.created:alice', 'user.password_set:alice', 'user.locked:alice', 'user.unlocked:alice', 'user.mfa_required:alice', 'user.mfa_reset:alice', 'user.deleted:bob2']) {
      assert.ok(seen.has(e), `${e} in ${[...seen].join(' ')}`);
    }
    assert.equal(lines.find((l) => l.event === 'user.locked' && l.username === 'alice')?.revoked, 1);
    assert.doesNotMatch(text, /alice-long-password|alice-second-password|\$argon2|alice@example\.com/);
  });

  it('hash-password prints a PHC string for password_hash in the config file', async () => {
    const r = await drawbridge(['user', 'hash-password', '--password-stdin'], 'for-the-config-file\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await verifyPassword(r.stdout.trim(), 'for-the-config-file'), true);
    assert.equal((await drawbridge(['user', 'hash-password', '--password-stdin'], 'short\n')).code, 2);
    assert.equal((await drawbridge(['user', 'hash-password'])).code, 2, 'no terminal and no --password-stdin');
  });

  it('exit codes: usage errors 2, --help 0, a broken database 1', async () => {
    assert.equal((await drawbridge(['user', 'list'])).code, 2, 'no --config');
    assert.equal((await drawbridge(['user', 'lock'])).code, 2, 'missing argument');
    const help = await drawbridge(['user', 'create', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--password-stdin/);
    const broken = join(dir, 'broken.json');
    // the database path is a directory: the config is fine, opening it fails at run time
    await writeFile(broken, JSON.stringify({ issuer: 'http://127.0.0.1:9', storage: `sqlite:${dir}`, auth: {} }));
    const r = await drawbridge(['user', 'list', '--config', broken]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot open sqlite database/);
  });
});
