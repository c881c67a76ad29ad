// ARCHITECTURE §2: `sdk` stands apart and imports only jose (and node built-ins), so a
// service can depend on it without the server. This keeps it that way.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

// dist/test/sdk → the repository root
const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const sdkDir = join(root, 'src', 'sdk');

describe('sdk: layering', () => {
  it('src/sdk imports only jose, node built-ins and its own modules', () => {
    const files = readdirSync(sdkDir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('index.ts'), `no src/sdk/index.ts under ${sdkDir}`);
    for (const file of files) {
      const text = readFileSync(join(sdkDir, file), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        const own = /^\.\/[\w-]+\.js$/.test(spec);
        assert.ok(own || spec === 'jose' || spec.startsWith('node:'), `${file} imports ${spec}`);
      }
      assert.doesNotMatch(text, /\bimport\(/, `${file}: no dynamic imports`);
    }
  });
});
