// Shaping what the admin API stores: a PATCH merged over the stored body, form values typed
// as the schema reads them, and copies that take keys as own properties only.
import { isPlainObject } from '../../config/schema.js';
import type { EntityKind } from '../../storage/types.js';
import { PLUGIN_DOCS } from '../plugin-doc.js';

/**
 * `patch` over `body`, objects merged key by key at any depth (Kong merges records so). Lists
 * and values replace; a nested null removes the key (a top-level one is removed by prepare).
 * A route's `headers` is a map of header → values, replaced whole like Kong's map fields.
 */
export function mergePatch(body: Record<string, unknown>, patch: Record<string, unknown>, kind: EntityKind, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(patch)) {
    const prev = out[key];
    const replaceWhole = depth === 0 && (REF_FIELDS.has(key) || (kind === 'route' && key === 'headers'));
    if (value === null && depth > 0) delete out[key];
    else if (!replaceWhole && isPlainObject(value) && isPlainObject(prev)) defineOwn(out, key, mergePatch(prev, value, kind, depth + 1));
    else defineOwn(out, key, value);
  }
  return out;
}

/**
 * A form body's values are all strings (`-d config.minute=5`, `-F strip_path=true`): where the
 * schema reads a string as a number or a boolean, the stored entity gets that number or
 * boolean, as Kong stores it, rather than "5". Only plain numerals and true/false are changed
 * (a "60s" duration stays as written); a plugin config its schema refuses is left for the
 * compile to name.
 */
export function typedFormValues(plugin: string, config: Record<string, unknown>): Record<string, unknown> {
  const schema = PLUGIN_DOCS.find((p) => p.name === plugin)?.schema;
  if (schema === undefined) return config;
  let parsed: unknown;
  try {
    parsed = schema.parse(config, 'config');
  } catch {
    return config;
  }
  return retyped(config, parsed) as Record<string, unknown>;
}

/** `raw` with each plain numeral or true/false string that `parsed` (the schema's reading) has as a number or boolean, typed. */
export function retyped(raw: unknown, parsed: unknown): unknown {
  if (typeof raw === 'string') {
    if (typeof parsed === 'number' && /^-?\d+(?:\.\d+)?$/.test(raw) && Number(raw) === parsed) return parsed;
    if (typeof parsed === 'boolean' && raw === String(parsed)) return parsed;
    return raw;
  }
  if (Array.isArray(raw)) return Array.isArray(parsed) && parsed.length === raw.length ? raw.map((item, i) => retyped(item, parsed[i])) : raw;
  if (isPlainObject(raw) && isPlainObject(parsed)) {
    return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, Object.hasOwn(parsed, key) ? retyped(value, parsed[key]) : value]));
  }
  return raw;
}

/** References are replaced, never merged: `{ service: { name } }` over a stored id must not keep both. */
const REF_FIELDS = new Set(['service', 'route']);

/**
 * Copies of bodies take keys as own properties, never by assignment (`o["__proto__"] = v`
 * sets the prototype). readObject refuses such keys already; this keeps a copy honest anyway.
 */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function setOwn(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) defineOwn(target, key, value);
}
