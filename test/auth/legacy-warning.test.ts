// Starting with a legacy grant (password, implicit) enabled for a client logs a warning that
// cites RFC 9700; without one, no such warning.
import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { run } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import { freePort, TEST_SECRET } from '../helpers/auth-server.js';

async function startupLog(clients: Record<string, unknown>[]): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const port = await freePort();
  const config = validateConfig({
    issuer: `http://127.0.0.1:${port}`,
    storage: 'memory:',
    secret: TEST_SECRET,
    auth: { listen: `127.0.0.1:${port}`, clients },
  });
  const running = await run(config, { logger: pino({ level: 'info' }, sink) });
  await running.close();
  return lines;
}

describe('legacy grant warning at start', () => {
  it('names the client and RFC 9700 when a client enables the password grant', async () => {
    const lines = await startupLog([
      { client_id: 'legacy', client_secret: 'legacy-warning-secret-0123456789', grant_types: ['password'] },
      { client_id: 'modern', client_secret: 'legacy-warning-secret-0123456789', grant_types: ['client_credentials'] },
    ]);
    const warnings = lines.filter((l) => l.level === 40 && /RFC 9700/.test(String(l.msg)));
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.equal(warnings[0]!.client_id, 'legacy');
  });

  it('names the implicit grant too', async () => {
    const lines = await startupLog([{ client_id: 'spa', redirect_uris: ['https://spa.example/cb'], grant_types: ['implicit'], scopes: ['openid'] }]);
    const warnings = lines.filter((l) => l.level === 40 && /RFC 9700/.test(String(l.msg)));
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.equal(warnings[0]!.client_id, 'spa');
    assert.deepEqual(warnings[0]!.grant_types, ['implicit']);
  });

  it('is silent without legacy grants', async () => {
    const lines = await startupLog([{ client_id: 'modern', client_secret: 'legacy-warning-secret-0123456789', grant_types: ['client_credentials'] }]);
    assert.equal(lines.filter((l) => /RFC 9700/.test(String(l.msg))).length, 0);
  });
});
