// Rewrites the config reference block in README.md from the schema (`npm run docs:config`).
// `--check` only compares, exiting 1 when README.md is out of date (for CI).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  newReadmeWithReference,
  renderConfigReference,
  replaceConfigReference,
} from '../src/config/doc.js';
import { PLUGIN_REFERENCE_END, PLUGIN_REFERENCE_START, renderPluginReference } from '../src/gateway/plugin-doc.js';

// Runs as dist/scripts/gen-config-doc.js, two levels below the repository root.
const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const reference = renderConfigReference();
  const current = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : undefined;
  const withConfig = current === undefined ? newReadmeWithReference(reference) : replaceConfigReference(current, reference);
  const next = withConfig === undefined ? undefined : replaceBlock(withConfig, PLUGIN_REFERENCE_START, PLUGIN_REFERENCE_END, renderPluginReference());
  if (next === undefined) {
    console.error(`${readmePath}: no <!-- config-reference:start --> … <!-- config-reference:end --> block to replace`);
    return 1;
  }
  if (next === current) {
    console.log(`${readmePath}: config reference is up to date`);
    return 0;
  }
  if (check) {
    console.error(`${readmePath}: config reference is out of date; run npm run docs:config`);
    return 1;
  }
  writeFileSync(readmePath, next);
  console.log(`${readmePath}: config reference ${current === undefined ? 'written (new file)' : 'updated'}`);
  return 0;
}

/** The plugin reference block, replaced when the markers are there (left alone otherwise). */
function replaceBlock(text: string, start: string, end: string, body: string): string {
  const a = text.indexOf(start);
  const b = text.indexOf(end, a);
  if (a < 0 || b < 0) return text;
  return text.slice(0, a + start.length) + '\n' + body + '\n' + text.slice(b);
}

process.exitCode = main(process.argv.slice(2));
