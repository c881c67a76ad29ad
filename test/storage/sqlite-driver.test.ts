// Which SQLite driver storage uses, and node:sqlite's errors under better-sqlite3's names.
// The node:sqlite driver itself runs the storage suites on Node 24 (test/compat/node24.test.ts).
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sqliteDriver } from '../../src/storage/sqlite.js';
import { nodeSqliteAvailable, nodeSqliteStatement, openNodeSqlite, renamed } from '../../src/storage/sqlite-node.js';
import { isUniqueViolation } from '../../src/storage/repos/unique.js';

describe('sqliteDriver', () => {
  it('better-sqlite3 before Node 24, node:sqlite from Node 24 on', () => {
    assert.equal(sqliteDriver({}, '20.20.2'), 'better-sqlite3');
    assert.equal(sqliteDriver({}, '22.23.3'), 'better-sqlite3');
    assert.equal(sqliteDriver({}, '24.0.0'), 'node:sqlite');
    assert.equal(sqliteDriver({}, '26.1.0'), 'node:sqlite');
  });

  it('DRAWBRIDGE_SQLITE_DRIVER chooses explicitly; an unknown value is an error naming the variable and the choices', () => {
    assert.equal(sqliteDriver({ DRAWBRIDGE_SQLITE_DRIVER: 'better-sqlite3' }, '24.21.0'), 'better-sqlite3');
    assert.equal(sqliteDriver({ DRAWBRIDGE_SQLITE_DRIVER: '' }, '20.20.2'), 'better-sqlite3');
    assert.throws(
      () => sqliteDriver({ DRAWBRIDGE_SQLITE_DRIVER: 'sqlite3' }, '20.20.2'),
      /DRAWBRIDGE_SQLITE_DRIVER must be one of better-sqlite3, node:sqlite, got "sqlite3"/,
    );
  });

  it('node:sqlite where this Node has it, else an error that says which Node it needs', () => {
    if (nodeSqliteAvailable()) {
      assert.equal(sqliteDriver({ DRAWBRIDGE_SQLITE_DRIVER: 'node:sqlite' }), 'node:sqlite');
    } else {
      assert.throws(() => sqliteDriver({ DRAWBRIDGE_SQLITE_DRIVER: 'node:sqlite' }), /needs Node 22\.13 or later/);
    }
  });
});

describe("node:sqlite errors get better-sqlite3's codes", () => {
  const nodeError = (errcode: number) => Object.assign(new Error('constraint failed'), { code: 'ERR_SQLITE_ERROR', errcode, errstr: 'x' });

  it('extended result codes by name, others by their primary code; errcode stays', () => {
    const unique = renamed(nodeError(2067)) as { code: string; errcode: number };
    assert.equal(unique.code, 'SQLITE_CONSTRAINT_UNIQUE');
    assert.equal(unique.errcode, 2067);
    assert.equal((renamed(nodeError(1555)) as { code: string }).code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
    assert.equal((renamed(nodeError(5)) as { code: string }).code, 'SQLITE_BUSY');
    assert.equal((renamed(nodeError(14)) as { code: string }).code, 'SQLITE_CANTOPEN');
    // an extended code not in the table: its primary code (low byte), here IOERR
    assert.equal((renamed(nodeError(10 | (99 << 8))) as { code: string }).code, 'SQLITE_IOERR');
  });

  it('other errors pass unchanged', () => {
    const other = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(renamed(other), other);
    assert.equal(other.code, 'ERR_INVALID_ARG_TYPE');
    assert.equal(renamed('text'), 'text');
    assert.equal(renamed(null), null);
  });

  // registered only where node:sqlite exists: on Node 20 there is nothing to run, and
  // test/compat/node24.test.ts runs this file on Node 24
  if (nodeSqliteAvailable()) {
    it('a real unique violation through the kysely adapter is a unique violation to storage', () => {
      const db = openNodeSqlite(':memory:');
      try {
        db.exec('create table t (a text primary key, b text unique)');
        const insert = nodeSqliteStatement(db, 'insert into t values (?, ?)');
        assert.equal(insert.reader, false);
        assert.deepEqual(insert.run(['x', 'y']), { changes: 1, lastInsertRowid: 1 });
        assert.throws(
          () => insert.run(['z', 'y']),
          (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' && isUniqueViolation(err),
        );
        const select = nodeSqliteStatement(db, 'select a, b from t');
        assert.equal(select.reader, true);
        // plain objects, as better-sqlite3 gives them
        assert.deepStrictEqual(select.all([]), [{ a: 'x', b: 'y' }]);
        assert.deepStrictEqual([...select.iterate([])], [{ a: 'x', b: 'y' }]);
      } finally {
        db.close();
      }
    });
  }
});
