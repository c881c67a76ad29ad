// Plugin settings the schemas mark sensitive (an introspection or OIDC client_secret) are
// left out of what the admin API shows: they were listed by GET /plugins to anyone with the
// admin token, the config file's ones (often from ${ENV}) included. Left out rather than
// masked, so a GET body sent back with PUT cannot store a mask as the secret (it is refused as
// missing), and PATCH keeps the stored value.
import type { Field } from '../../config/schema.js';
import { PLUGIN_DOCS } from '../plugin-doc.js';

type Step = { key: string } | { each: true } | { anyKey: true };

/** Paths of the sensitive fields under `field`, as steps: `.issuers[].secret` → key, each, key. */
function sensitivePaths(field: Field<unknown>, prefix: Step[] = []): Step[][] {
  const out: Step[][] = [];
  for (const [suffix, child] of field.spec.children) {
    const path = [...prefix, ...steps(suffix)];
    if (child.spec.sensitive) out.push(path);
    else out.push(...sensitivePaths(child, path));
  }
  return out;
}

function steps(suffix: string): Step[] {
  const out: Step[] = [];
  for (const m of suffix.matchAll(/\.<[^>]*>|\.([^.[<]+)|\[\]/g)) {
    if (m[0] === '[]') out.push({ each: true });
    else if (m[1] === undefined) out.push({ anyKey: true });
    else out.push({ key: m[1] });
  }
  return out;
}

let byPlugin: Map<string, Step[][]> | undefined;

function pathsOf(plugin: string): Step[][] {
  byPlugin ??= new Map(PLUGIN_DOCS.map((p) => [p.name, sensitivePaths(p.schema)]));
  return byPlugin.get(plugin) ?? [];
}

/** A copy of a plugin's `config` without its sensitive settings (the input is not changed). */
export function redactPluginConfig(plugin: unknown, config: unknown): unknown {
  const paths = typeof plugin === 'string' ? pathsOf(plugin) : [];
  let out = config;
  for (const path of paths) out = omit(out, path);
  return out;
}

function omit(value: unknown, path: Step[]): unknown {
  const [step, ...rest] = path;
  if (step === undefined) return value;
  if ('each' in step) return Array.isArray(value) ? value.map((item) => omit(item, rest)) : value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  const keys = 'key' in step ? (Object.hasOwn(obj, step.key) ? [step.key] : []) : Object.keys(obj);
  if (keys.length === 0) return value;
  const copy: Record<string, unknown> = { ...obj };
  for (const key of keys) {
    if (rest.length === 0) delete copy[key];
    else copy[key] = omit(copy[key], rest);
  }
  return copy;
}
