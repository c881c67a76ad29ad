// The README's plugin reference is generated from the plugins' schemas and kept in step.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PLUGIN_REFERENCE_END, PLUGIN_REFERENCE_START, renderPluginReference, undocumentedPlugins } from '../../src/gateway/plugin-doc.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

describe('plugin reference', () => {
  it('documents every plugin in the plugin table', () => {
    assert.deepEqual(undocumentedPlugins(), []);
  });

  it('README.md holds the generated reference (run `npm run docs:config` after changing a schema)', () => {
    const a = readme.indexOf(PLUGIN_REFERENCE_START);
    const b = readme.indexOf(PLUGIN_REFERENCE_END);
    assert.ok(a >= 0 && b > a, 'README.md has no plugin-reference block');
    assert.equal(readme.slice(a + PLUGIN_REFERENCE_START.length, b), '\n' + renderPluginReference() + '\n');
  });

  it('lists the main Kong-compatible keys', () => {
    const ref = renderPluginReference();
    for (const row of ['| `config.key_names` |', '| `config.realm` |', '| `config.issuers` |', '| `config.minute` |', '| `config.limit_by` |', '| `config.allowed_payload_size` |', '| `config.origins` |']) {
      assert.ok(ref.includes(row), `missing ${row}`);
    }
  });
});
