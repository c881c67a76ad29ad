// openStorage's URL handling and its error messages (no running PostgreSQL needed).

import * as assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStorage, pendingMigrations } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';

/** A port nothing listens on: bind one, then free it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('openStorage', () => {
  it('memory: is SQLite, migrated on open, and private to each call', async () => {
    const a = await openStorage('memory:');
    const b = await openStorage('memory:');
    try {
      assert.equal(a.kind, 'sqlite');
      assert.deepEqual(await pendingMigrations(a), []);
      assert.equal(await a.jtis.remember('ns', 'j', 2_000_000_000, 1), true);
      assert.equal(await b.jtis.has('ns', 'j', 1), false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects an unknown scheme without echoing the URL (it may hold a password)', async () => {
    await assert.rejects(openStorage('mysql://root:hunter2@db/app'), (err: Error) => {
      assert.match(err.message, /^storage: unsupported URL scheme mysql:/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    await assert.rejects(openStorage('sqlite:'), /sqlite:PATH/);
  });

  it('reports a SQLite file it cannot open, naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-open-'));
    try {
      const notADir = join(dir, 'file');
      await writeFile(notADir, 'x');
      await assert.rejects(openStorage(`sqlite:${join(notADir, 'db.sqlite')}`), (err: Error) => {
        assert.match(err.message, /^storage: cannot open sqlite database .*file[\\/]db\.sqlite: /);
        return true;
      });
      await writeFile(join(dir, 'garbage.db'), 'this is not an SQLite database, only some text '.repeat(100));
      await assert.rejects(openStorage(`sqlite:${join(dir, 'garbage.db')}`), /storage: cannot open sqlite database/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('creates a SQLite file readable by its owner only (with its -wal and -shm); an existing file keeps its mode', { skip: process.platform === 'win32' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-open-'));
    try {
      const file = join(dir, 'new', 'drawbridge.db');
      const storage = await openStorage(`sqlite:${file}`);
      try {
        await storage.jtis.remember('ns', 'j', 2_000_000_000, 1); // a write: the -wal and -shm exist now
        for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
      } finally {
        await storage.close();
      }
      const own = join(dir, 'own.db');
      await writeFile(own, '');
      await chmod(own, 0o640);
      await (await openStorage(`sqlite:${own}`)).close();
      assert.equal((await stat(own)).mode & 0o777, 0o640);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports an unreachable PostgreSQL with host:port and without the password', async () => {
    const port = await closedPort();
    await assert.rejects(openStorage(`postgres://drawbridge:s3cr%40t-pw@127.0.0.1:${port}/db`), (err: Error) => {
      assert.match(err.message, new RegExp(`^storage: cannot connect to postgres at 127\\.0\\.0\\.1:${port}: .+`));
      assert.doesNotMatch(err.message, /s3cr/);
      return true;
    });
    await assert.rejects(openStorage(`postgresql://u:pw-in-query@localhost:${port}/db?password=pw-in-query`), (err: Error) => {
      assert.match(err.message, new RegExp(`^storage: cannot connect to postgres at localhost:${port}: .+`));
      assert.doesNotMatch(err.message, /pw-in-query/);
      return true;
    });
  });

  it('pendingMigrations only accepts storages from openStorage', async () => {
    await assert.rejects(pendingMigrations({} as Storage), /openStorage/);
  });
});
