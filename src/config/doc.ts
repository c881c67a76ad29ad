// The config reference in README.md, generated from the schema so the two cannot disagree.

import { configSchema, type Field } from './schema.js';

const REFERENCE_START = '<!-- config-reference:start -->';
const REFERENCE_END = '<!-- config-reference:end -->';

interface Row {
  path: string;
  field: Field<unknown>;
}

/** Every key path under `field`, parents before children, in declaration order. */
function collectRows(field: Field<unknown>, path: string): Row[] {
  return field.spec.children.flatMap(([suffix, child]) => {
    const childPath = `${path}${suffix}`.replace(/^\./, '');
    return [{ path: childPath, field: child }, ...collectRows(child, childPath)];
  });
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(field: Field<unknown>): string {
  if (field.spec.fallback) return field.spec.fallback.label;
  return field.spec.required ? '**required**' : '—';
}

/** One markdown table row per key path under `field` (used for plugin references too). */
export function renderFieldRows(field: Field<unknown>, prefix = ''): string[] {
  return collectRows(field, prefix).map(
    ({ path, field: f }) => `| \`${path}\` | ${cell(f.spec.type)} | ${cell(defaultCell(f))} | ${cell(f.spec.doc)} |`,
  );
}

/** Markdown: a short guide to the value formats, then one table row per key path. */
export function renderConfigReference(): string {
  const rows = renderFieldRows(configSchema);
  return [
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; edit the schema, not this block. -->',
    '',
    'The config file is YAML or JSON (`.json`). Unknown keys, and a key given twice in one object, are an',
    'error. Durations are `30s`, `10m`, `12h`, `30d` or a number of seconds; sizes are `64kb`, `1mb` or a',
    'number of bytes. String values may use `${VAR}` or `${VAR:-default}` (environment variables,',
    'substituted after parsing); write `$${` for a literal `${`. `[]` in a key path means "each item of the',
    'list"; `—` marks optional keys.',
    '',
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** The text between the markers (without the newlines next to them), or undefined without markers. */
export function extractConfigReference(readme: string): string | undefined {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END, start);
  if (start < 0 || end < 0) return undefined;
  return readme.slice(start + REFERENCE_START.length, end).replace(/^\n/, '').replace(/\n$/, '');
}

/** README text with the block between the markers replaced, or undefined without markers. */
export function replaceConfigReference(readme: string, reference: string): string | undefined {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END, start);
  if (start < 0 || end < 0) return undefined;
  return `${readme.slice(0, start)}${REFERENCE_START}\n${reference}\n${readme.slice(end)}`;
}

/** A new README holding only the reference section. */
export function newReadmeWithReference(reference: string): string {
  return `## Configuration reference\n\n${REFERENCE_START}\n${reference}\n${REFERENCE_END}\n`;
}
