// The second pass of revoking a grant's or a user's tokens (SqlTokenRepo, #secondPass) is for
// PostgreSQL, where an UPDATE misses rows committed after it started. SQLite has one writer
// at a time (nothing is stored while the first pass runs), so there it is not run: one UPDATE
// per revocation, not two. Counted with a Kysely plugin on the repo's own handle; what is
// revoked is the same on both.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import { SqlTokenRepo } from '../../src/storage/repos/tokens.js';
import type { TokenRecord } from '../../src/storage/types.js';
import { persistentTargets } from '../helpers/storage-targets.js';

function token(digest: string, grantId: string, sub: string): TokenRecord {
  const now = Math.floor(Date.now() / 1000);
  return {
    digest, kind: 'access_token', format: 'opaque', jti: digest, client_id: 'app', sub, scope: '', audience: [], grant_id: grantId,
    issued_at: now, expires_at: now + 600, revoked_at: null, extra: null,
  };
}

for (const target of persistentTargets('drawbridge-second-pass-')) {
  const twoPasses = target.name === 'PostgreSQL';
  describe(`revoking a grant's or a user's tokens on ${target.name}`, () => {
    it(`takes ${twoPasses ? 'two UPDATEs (the second pass)' : 'one UPDATE (no second pass)'} and revokes every token`, async (t) => {
      const url = await target.storage(t);
      if (url === undefined) return t.skip('PostgreSQL not reachable');
      const storage = await openStorage(url);
      t.after(() => storage.close());
      const handle = sqlHandleOf(storage)!;
      let updates = 0;
      const counting: KyselyPlugin = {
        transformQuery(args) {
          if (args.node.kind === 'UpdateQueryNode') updates++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const tokens = new SqlTokenRepo({ ...handle, db: handle.db.withPlugin(counting) });
      for (const [digest, grant, sub] of [['a1', 'g1', 'u1'], ['a2', 'g1', 'u1'], ['b1', 'g2', 'u2'], ['c1', 'g3', 'u3'], ['c2', 'g4', 'u3']] as const) {
        await tokens.insert(token(digest, grant, sub));
      }
      const passes = twoPasses ? 2 : 1;

      updates = 0;
      assert.deepEqual((await tokens.revokeGrant('g1', 1)).map((r) => r.digest).sort(), ['a1', 'a2']);
      assert.equal(updates, passes, 'revokeGrant');

      updates = 0;
      assert.equal(await tokens.revokeByGrant('g2', 1), 1);
      assert.equal(updates, passes, 'revokeByGrant');

      updates = 0;
      assert.equal(await tokens.revokeBySubject('u3', 1), 2);
      assert.equal(updates, passes, 'revokeBySubject');

      for (const d of ['a1', 'a2', 'b1', 'c1', 'c2']) assert.equal((await tokens.findByDigest(d))?.revoked_at, 1, d);
    });
  });
}
