// The process logger as a user sees it on stdout: JSON lines by default off a terminal,
// human-readable lines with `log.pretty: true`, known secrets redacted in both. Run in a
// child process, because both write to the real stdout.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const LOGGER = new URL('../../src/observability/logger.js', import.meta.url).href;

/** What one log line prints, and whether the process loaded the pretty printer (on stderr). */
async function logOnce(cfg: object): Promise<{ out: string; prettyLoaded: boolean }> {
  const script = [
    `const { createLogger } = await import(${JSON.stringify(LOGGER)});`,
    `const log = createLogger(${JSON.stringify(cfg)});`,
    `log.info({ client_secret: 'do-not-print-me', route: 'orders' }, 'route ready');`,
    `const { createRequire } = await import('node:module');`,
    `const cache = createRequire(process.cwd() + '/').cache;`,
    `process.stderr.write(String(Object.keys(cache).some((file) => file.includes('/node_modules/pino-pretty/'))));`,
  ].join('\n');
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  // the pretty printer colours its output (colorize: true) even into a pipe
  return { out: stdout.replace(/\x1b\[[0-9;]*m/g, ''), prettyLoaded: stderr === 'true' };
}

describe('process logger', () => {
  it('pretty: true prints a readable line, secrets redacted', async () => {
    const { out, prettyLoaded } = await logOnce({ level: 'info', pretty: true });
    assert.equal(prettyLoaded, true);
    assert.throws(() => JSON.parse(out.trim()), 'a readable line, not JSON');
    assert.match(out, /INFO.*route ready/);
    assert.match(out, /route: "orders"/);
    assert.match(out, /client_secret: "\[redacted\]"/);
    assert.doesNotMatch(out, /do-not-print-me/);
  });

  it('pretty: false prints one JSON line, secrets redacted, without loading the pretty printer', async () => {
    const { out, prettyLoaded } = await logOnce({ level: 'info', pretty: false });
    assert.equal(prettyLoaded, false, 'pino-pretty is loaded only for pretty logs');
    const line = JSON.parse(out.trim()) as Record<string, unknown>;
    assert.equal(line.msg, 'route ready');
    assert.equal(line.route, 'orders');
    assert.equal(line.client_secret, '[redacted]');
    assert.doesNotMatch(out, /do-not-print-me/);
  });
});
