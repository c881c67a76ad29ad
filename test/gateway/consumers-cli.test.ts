// `drawbridge consumer …` as a user runs it (spawned), against a SQLite file: consumers and
// credentials land in storage with secrets digested, generated ones are printed once, the
// config file's consumers are refused, and running gateways are told over Redis.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { verify as argon2Verify } from '@node-rs/argon2';
import { createConsumerStore } from '../../src/gateway/consumers.js';
import { EVENTS_CHANNEL } from '../../src/gateway/events.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage } from '../../src/storage/open.js';
import { runCli, type CliResult } from '../cli/spawn.js';
import { redisUrl } from '../helpers/services.js';

const SECRET = 'test-master-secret-0123456789abcdef-0123456789';
const redis = await redisUrl();

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

function usage(r: CliResult, message: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}`);
  assert.match(r.stderr, message);
}

describe('drawbridge consumer', () => {
  let dir: string;
  let file: string;
  let db: string;
  const cli = (...args: string[]) => runCli([...args, '--config', file]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-consumer-cli-'));
    db = join(dir, 'data', 'd.db');
    file = join(dir, 'drawbridge.yaml');
    await writeFile(
      file,
      [
        'issuer: http://127.0.0.1:9',
        `storage: sqlite:${db}`,
        `secret: ${SECRET}`,
        ...(redis ? [`redis: ${redis}`] : []),
        'gateway:',
        '  consumers:',
        '    - username: from-file',
        '      credentials: { key-auth: [ { key: file-key-0123456789abcdef } ] }',
        '',
      ].join('\n'),
    );
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('create, list, delete a consumer', async () => {
    assert.equal(ok(await cli('consumer', 'create', 'acme', '--group', 'partners', '--group', 'beta')).split(' (id ')[0], 'created consumer acme');
    usage(await cli('consumer', 'create', 'acme'), /consumer "acme" already exists/);
    const list = JSON.parse(ok(await cli('consumer', 'list', '--json'))) as Array<Record<string, unknown>>;
    assert.deepEqual(
      list.map((c) => [c.username, c.groups, c.source]),
      [['acme', ['partners', 'beta'], 'cli']],
    );
    const table = ok(await cli('consumer', 'list'));
    assert.match(table, /^USERNAME\s+CUSTOM_ID\s+GROUPS\s+TAGS\s+CREDENTIALS\s+SOURCE\s+ID\n/);
    assert.match(table, /^acme\s+partners,beta\s+0\s+cli\s+[0-9a-f-]{36}$/m);
    ok(await cli('consumer', 'create', 'temp'));
    assert.equal(ok(await cli('consumer', 'delete', 'temp')), 'deleted consumer temp\n');
    usage(await cli('consumer', 'delete', 'from-file'), /defined in the config file/);
  });

  it('credential add prints generated secrets once; storage keeps digests; the gateway store finds them', async () => {
    const keyOut = ok(await cli('consumer', 'credential', 'add', 'acme', '--plugin', 'key-auth'));
    const key = /^key: (\S+)$/m.exec(keyOut)?.[1];
    assert.match(key ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(keyOut, /shown only now/);

    const basic = JSON.parse(ok(await cli('consumer', 'credential', 'add', 'acme', '--plugin', 'basic-auth', '--username', 'alice', '--json')));
    assert.equal(basic.username, 'alice');
    assert.match(basic.password, /^[A-Za-z0-9_-]{24}$/);

    const hmacOut = ok(await cli('consumer', 'credential', 'add', 'acme', '--plugin', 'hmac-auth', '--key-id', 'acme-k1', '--secret', 'typed-secret'));
    assert.ok(!hmacOut.includes('typed-secret'), 'a secret the user typed is not echoed');

    usage(await cli('consumer', 'credential', 'add', 'acme', '--plugin', 'key-auth', '--key', key!), /already in use/);
    usage(await cli('consumer', 'credential', 'add', 'acme', '--plugin', 'basic-auth'), /--username is required/);

    const listed = ok(await cli('consumer', 'credential', 'list', 'acme', '--json'));
    for (const secret of [key!, basic.password as string, 'typed-secret']) assert.ok(!listed.includes(secret));
    assert.deepEqual(
      (JSON.parse(listed) as Array<Record<string, unknown>>).map((c) => [c.plugin, c.username ?? c.key_id ?? null, c.source]),
      [
        ['key-auth', null, 'cli'],
        ['basic-auth', 'alice', 'cli'],
        ['hmac-auth', 'acme-k1', 'cli'],
      ],
    );

    const storage = await openStorage(`sqlite:${db}`);
    const store = createConsumerStore(storage, { secret: SECRET, logger: silentLogger() });
    try {
      assert.equal((await store.byKey(key!))?.consumer.username, 'acme');
      const b = await store.basicCredential('alice');
      assert.equal(await argon2Verify(b!.password_hash, basic.password as string), true);
      assert.equal((await store.hmacCredential('acme-k1'))?.secret, 'typed-secret');
    } finally {
      store.close();
      await storage.close();
    }
  });

  it('credential delete removes one credential of that plugin', async () => {
    const listed = JSON.parse(ok(await cli('consumer', 'credential', 'list', 'acme', '--plugin', 'hmac-auth', '--json'))) as Array<{ id: string }>;
    assert.equal(listed.length, 1);
    usage(await cli('consumer', 'credential', 'delete', 'acme', listed[0]!.id, '--plugin', 'key-auth'), /has no key-auth credential/);
    assert.match(ok(await cli('consumer', 'credential', 'delete', 'acme', listed[0]!.id, '--plugin', 'hmac-auth')), /^deleted hmac-auth credential /);
    const storage = await openStorage(`sqlite:${db}`);
    try {
      assert.equal(await storage.credentials.get(listed[0]!.id), undefined);
      assert.equal(await storage.credentials.find('hmac-auth', 'acme-k1'), undefined);
    } finally {
      await storage.close();
    }
  });

  it('tells running gateways over Redis (credentials.changed)', { skip: redis === undefined && 'Redis not reachable' }, async () => {
    const sub = new Redis(redis!);
    try {
      const heard = new Promise<unknown>((resolve) => sub.on('message', (_channel: string, message: string) => resolve(JSON.parse(message))));
      await sub.subscribe(EVENTS_CHANNEL);
      ok(await cli('consumer', 'create', 'announced'));
      assert.deepEqual(await heard, { type: 'credentials.changed', consumer: 'announced' });
    } finally {
      sub.disconnect();
    }
  });
});
