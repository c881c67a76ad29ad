#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Node 20's runner takes explicit files, so we list them here. Extra arguments are
// passed through (e.g. a file filter: `npm test -- storage`).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const testDir = join(root, 'dist', 'test');

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

// The suites that take longest start first: the runner starts files in the order given, two
// at a time, so a long suite started last would run alone at the end while the other slot
// idles. A rough list (the longest ones measured on 2 cores, 10–25 s each); the rest follow in
// name order.
const SLOW_FIRST = [
  'cli/cli-start.test.js',
  'cli/cli.test.js',
  'cli/session.test.js',
  'users/cli.test.js',
  'e2e/browser-signin.test.js',
  'e2e/browser-mfa.test.js',
  'storage/contract.test.js',
  'gateway/workers-metrics.test.js',
  'e2e/contract.test.js',
  'e2e/multi-process-sessions.test.js',
  'gateway/consumers-cli.test.js',
  'auth/backchannel-durable.test.js',
];
const rank = (file) => {
  const i = SLOW_FIRST.indexOf(relative(testDir, file));
  return i === -1 ? SLOW_FIRST.length : i;
};

const filters = process.argv.slice(2);
const files = findTests(testDir)
  .filter((f) => filters.length === 0 || filters.some((x) => relative(testDir, f).includes(x)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=240000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root, env: process.env },
);
process.exit(result.status ?? 1);
