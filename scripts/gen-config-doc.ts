// Rewrites the config reference block in README.md from the schema (`npm run docs:config`).
// `--check` only compares, exiting 1 when README.md is out of date (for CI).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  newReadmeWithReference,
  renderConfigReference,
  replaceConfigReference,
} from '../src/config/doc.js';

// Runs as dist/scripts/gen-config-doc.js, two levels below the repository root.
const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const reference = renderConfigReference();
  const current = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : undefined;
  const next = current === undefined ? newReadmeWithReference(reference) : replaceConfigReference(current, reference);
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

process.exitCode = main(process.argv.slice(2));
