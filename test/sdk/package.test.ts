// The package as a user's service consumes it: installed under node_modules/drawbridge (a
// symlink to this repository, as `npm link` or a workspace makes it) and loaded by name, so
// package.json's "exports" and "engines" are what is tested, not our relative imports.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

// dist/test/sdk → the repository root
const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  engines: { node: string };
  exports: Record<string, string>;
};

/** Runs node in `cwd` and returns its stdout; a failure shows stderr. */
function node(cwd: string, args: string[]): string {
  const run = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, `node ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

/** [major, minor, patch] of a version string. */
function version(text: string): number[] {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(text.trim());
  assert.ok(m, `not a version: ${text}`);
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

const atLeast = (a: number[], b: number[]) => a[0]! !== b[0]! ? a[0]! > b[0]! : a[1]! !== b[1]! ? a[1]! > b[1]! : a[2]! >= b[2]!;

// Node 20.19.0 is the first Node 20 where require() loads ES modules without a flag
const REQUIRE_ESM = [20, 19, 0];

describe('package: drawbridge as a dependency', () => {
  let app: string;

  before(() => {
    app = mkdtempSync(join(tmpdir(), 'drawbridge-consumer-'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    mkdirSync(join(app, 'node_modules'));
    symlinkSync(root, join(app, 'node_modules', 'drawbridge'), 'dir');
    // for the TypeScript check: node's types, as the consumer would have them
    symlinkSync(join(root, 'node_modules', '@types'), join(app, 'node_modules', '@types'), 'dir');
  });

  after(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('every "exports" target is in the build', () => {
    assert.equal(pkg.name, 'drawbridge');
    assert.ok(Object.keys(pkg.exports).includes('.') && Object.keys(pkg.exports).includes('./sdk'));
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      assert.ok(existsSync(join(root, target)), `exports["${subpath}"] → ${target}, which the build does not make`);
    }
  });

  it("import 'drawbridge' and import 'drawbridge/sdk' load the SDK: the same module, the same classes", () => {
    const out = node(app, [
      '--input-type=module',
      '-e',
      `const main = await import('drawbridge');
       const sdk = await import('drawbridge/sdk');
       console.log(JSON.stringify({
         main: Object.keys(main).sort(),
         sdk: Object.keys(sdk).sort(),
         same: main.createVerifier === sdk.createVerifier && main.DrawbridgeAuthError === sdk.DrawbridgeAuthError,
         from: import.meta.resolve('drawbridge/sdk'),
       }));`,
    ]);
    const seen = JSON.parse(out) as { main: string[]; sdk: string[]; same: boolean; from: string };
    for (const name of ['createVerifier', 'authenticate', 'requireScopes', 'clientCredentials', 'exchangeToken', 'DrawbridgeAuthError']) {
      assert.ok(seen.sdk.includes(name), `drawbridge/sdk lacks ${name}`);
    }
    assert.deepEqual(seen.main, seen.sdk);
    assert.equal(seen.same, true, "'drawbridge' and 'drawbridge/sdk' are one module (instanceof works across both)");
    assert.match(seen.from, /\/dist\/src\/sdk\/index\.js$/);
  });

  it(`engines.node admits no Node on which require('drawbridge/sdk') fails (require(esm) is unflagged from ${REQUIRE_ESM.join('.')})`, () => {
    const floor = /^>=\s*(\S+)$/.exec(pkg.engines.node);
    assert.ok(floor, `engines.node is "${pkg.engines.node}": expected ">=X.Y.Z"`);
    assert.ok(atLeast(version(floor[1]!), REQUIRE_ESM), `engines.node ${pkg.engines.node} admits Node 20 releases where require(esm) throws ERR_REQUIRE_ESM`);
  });

  it("a CommonJS service: require('drawbridge/sdk') and require('drawbridge') from a .cjs file", (t) => {
    if (!atLeast(version(process.version), REQUIRE_ESM)) return t.skip(`Node ${process.version} has no unflagged require(esm)`);
    writeFileSync(
      join(app, 'service.cjs'),
      `'use strict';
const sdk = require('drawbridge/sdk');
const main = require('drawbridge');
const verifier = sdk.createVerifier({ issuer: 'https://auth.example.com', audience: 'orders' });
const err = new main.DrawbridgeAuthError('insufficient_scope', 'missing scope: x');
console.log(JSON.stringify({ verify: typeof verifier.verify, authenticate: typeof sdk.authenticate, sameClass: err instanceof sdk.DrawbridgeAuthError, status: err.status }));
`,
    );
    const run = spawnSync(process.execPath, ['service.cjs'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { verify: 'function', authenticate: 'function', sameClass: true, status: 403 });
  });

  it('TypeScript: a CommonJS service compiled with module nodenext type-checks against both entry points', () => {
    writeFileSync(
      join(app, 'service.cts'),
      `import sdk = require('drawbridge/sdk');
import main = require('drawbridge');
const verifier: sdk.Verifier = main.createVerifier({ issuer: 'https://auth.example.com', audience: 'orders' });
export const check = (claims: sdk.InternalClaims) => sdk.requireScopes(claims, 'orders:read') && verifier;
`,
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--types', 'node', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'service.cts'], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
      });
    } catch (err) {
      assert.fail(`tsc: ${(err as { stdout?: string }).stdout ?? String(err)}`);
    }
  });
});
