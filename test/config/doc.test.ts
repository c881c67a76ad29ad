import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  extractConfigReference,
  newReadmeWithReference,
  renderConfigReference,
  replaceConfigReference,
} from '../../src/config/doc.js';
import { configSchema, type Field } from '../../src/config/schema.js';

/** Every [path, field] in the schema, as the reference lists them. */
function allFields(field: Field<unknown>, path = ''): Array<[string, Field<unknown>]> {
  return field.spec.children.flatMap(([suffix, child]): Array<[string, Field<unknown>]> => {
    const childPath = `${path}${suffix}`.replace(/^\./, '');
    return [[childPath, child], ...allFields(child, childPath)];
  });
}

describe('config reference', () => {
  it('documents every field', () => {
    const undocumented = allFields(configSchema).filter(([, field]) => field.spec.doc.trim() === '').map(([path]) => path);
    assert.deepEqual(undocumented, []);
  });

  it('has one row per key path, with type and default', () => {
    const reference = renderConfigReference();
    for (const [path] of allFields(configSchema)) assert.ok(reference.includes(`| \`${path}\` |`), `no row for ${path}`);
    assert.ok(reference.includes('| `auth.access_token_ttl` | duration | `10m` | '));
    assert.ok(reference.includes('| `issuer` | URL | **required** | '));
    assert.ok(reference.includes('| `auth.clients[].default_scopes` | list of scope | same as `scopes` | '));
    assert.ok(reference.includes('| `keys.algorithm` | `ES256` \\| `RS256` \\| `EdDSA` | `ES256` | '));
    assert.ok(reference.includes('| `gateway.consumers[].credentials` | map of plugin → list of object | `{}` | '));
  });

  it('replaces only the marked block', () => {
    const readme = '# Drawbridge\n\nintro\n\n<!-- config-reference:start -->\nold\n<!-- config-reference:end -->\n\n## After\n';
    const updated = replaceConfigReference(readme, 'NEW');
    assert.equal(updated, '# Drawbridge\n\nintro\n\n<!-- config-reference:start -->\nNEW\n<!-- config-reference:end -->\n\n## After\n');
    assert.equal(extractConfigReference(updated!), 'NEW');
    assert.equal(replaceConfigReference('# no markers\n', 'NEW'), undefined);
    assert.equal(extractConfigReference(newReadmeWithReference('NEW')), 'NEW');
  });

  it('matches the block in README.md', (t) => {
    // Compiled to dist/test/config/, three levels below the repository root.
    const readmePath = fileURLToPath(new URL('../../../README.md', import.meta.url));
    const block = existsSync(readmePath) ? extractConfigReference(readFileSync(readmePath, 'utf8')) : undefined;
    if (block === undefined) {
      t.skip('README.md has no <!-- config-reference:start/end --> block; run npm run docs:config');
      return;
    }
    assert.equal(block, renderConfigReference(), 'README.md is out of date; run npm run docs:config');
  });
});
