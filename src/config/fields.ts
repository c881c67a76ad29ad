// A small validation DSL for configuration: fields that parse raw YAML/JSON values into
// typed ones, carry a doc string and a default, and report errors as ConfigError naming the
// key path and what was expected. `schema.ts` builds the Config schema with it; plugins
// build their own config schemas with it too.

// ─── Errors ────────────────────────────────────────────────────────────────────────────

export interface SourceLocation {
  source: string; // file name
  line: number; // 1-based
  column: number; // 1-based
}

export interface ConfigErrorOptions {
  expected?: string;
  location?: SourceLocation;
}

/** A config problem. `message` starts with the key path (`auth.clients[0].foo: …`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly path: string; // '' for the file as a whole
  readonly problem: string; // the message without path and location
  readonly expected?: string;
  readonly location?: SourceLocation;

  constructor(path: string, problem: string, options: ConfigErrorOptions = {}) {
    super(formatConfigError(path, problem, options.location));
    this.path = path;
    this.problem = problem;
    if (options.expected !== undefined) this.expected = options.expected;
    if (options.location !== undefined) this.location = options.location;
  }
}

/**
 * A config problem that is a clash with another entry that must be unique (a plugin
 * configured twice at one level): the admin API answers it with 409, as Kong does.
 */
export class ConflictingConfigError extends ConfigError {}

function formatConfigError(path: string, problem: string, location?: SourceLocation): string {
  const where = location && `${location.source}:${location.line}:${location.column}`;
  if (path === '') return where ? `${where}: ${problem}` : problem;
  return where ? `${path}: ${problem} (at ${where})` : `${path}: ${problem}`;
}

/** `keyPath('auth.clients', 0)` → `auth.clients[0]`; odd keys are quoted: `headers["a.b"]`. */
export function keyPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a rejected value is quoted in an error message. */
export function show(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'an object';
  if (typeof raw === 'string') return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 77)}...` : raw);
  return String(raw);
}

/** Secrets and URLs with credentials must not end up in logs through an error message. */
function hide(raw: unknown): string {
  if (typeof raw === 'string') return `a ${raw.length}-character string (not shown)`;
  if (typeof raw === 'number' || typeof raw === 'boolean') return `a ${typeof raw} (not shown)`;
  return show(raw);
}

export function mismatch(path: string, expected: string, raw: unknown, sensitive: boolean): ConfigError {
  return new ConfigError(path, `expected ${expected}, got ${sensitive ? hide(raw) : show(raw)}`, { expected });
}

// ─── The DSL ───────────────────────────────────────────────────────────────────────────

/** Parses a present (not undefined/null) raw value; `sensitive` redacts it in errors. */
type Parser<T> = (raw: unknown, path: string, sensitive: boolean) => T;

/** Nested fields for the reference, as path suffixes: `.listen`, `[].client_id`. */
type FieldChildren = ReadonlyArray<readonly [suffix: string, field: Field<unknown>]>;

interface Fallback<T> {
  label: string; // markdown for the reference: `10m` or "same as `scopes`"
  derived: boolean; // computed from sibling fields, so resolved after them
  value: (parent: Record<string, unknown>, path: string) => T;
}

interface FieldSpec<T> {
  type: string; // for the reference: `duration`, `list of string`, …
  expected: string; // for errors: "a duration like 30s, …"
  doc: string;
  required: boolean;
  sensitive: boolean;
  fallback?: Fallback<T>;
  children: FieldChildren;
  parse: Parser<T>;
}

/** One config value: how to parse it, its doc and its default. Immutable builder. */
export class Field<T> {
  constructor(readonly spec: FieldSpec<T>) {}

  doc(text: string): Field<T> {
    return new Field({ ...this.spec, doc: text });
  }

  optional(): Field<T | undefined> {
    return new Field<T | undefined>({ ...this.spec, required: false });
  }

  sensitive(): Field<T> {
    return new Field({ ...this.spec, sensitive: true });
  }

  /**
   * The default is written as a raw config value and parsed on use: the reference shows
   * what a user would write (`10m`), and every config gets its own arrays and objects.
   */
  default(raw: unknown): Field<T> {
    const label = `\`${typeof raw === 'string' ? raw : JSON.stringify(raw)}\``;
    const value = (_parent: Record<string, unknown>, path: string): T => this.spec.parse(raw, path, false);
    return new Field({ ...this.spec, required: false, fallback: { label, derived: false, value } });
  }

  /** A default computed from the sibling fields (all non-derived ones are already parsed). */
  derive<P>(label: string, compute: (parent: P) => T): Field<T> {
    const value = (parent: Record<string, unknown>): T => compute(parent as P);
    return new Field({ ...this.spec, required: false, fallback: { label, derived: true, value } });
  }

  parse(raw: unknown, path: string, sensitive = false): T {
    return this.spec.parse(raw, path, sensitive || this.spec.sensitive);
  }

  /** The value of an absent key: its default, undefined, or a "required" error. */
  missing(parent: Record<string, unknown>, path: string): T | undefined {
    if (this.spec.fallback) return this.spec.fallback.value(parent, path);
    if (this.spec.required) {
      // say what to write, unless that is only "a list" / "an object" (their items say more)
      const hint = /^an? (list|object)$/.test(this.spec.expected) ? '' : `: expected ${this.spec.expected}`;
      throw new ConfigError(path, `required${hint}`, { expected: this.spec.expected });
    }
    return undefined;
  }
}

export function leaf<T>(type: string, expected: string, parse: Parser<T>): Field<T> {
  return new Field({ type, expected, parse, doc: '', required: true, sensitive: false, children: [] });
}

/** A string checked and normalized by `convert`, which returns undefined to reject it. */
export function format<T = string>(type: string, expected: string, convert: (text: string) => T | undefined): Field<T> {
  return leaf(type, expected, function parseFormat(raw, path, sensitive) {
    const value = typeof raw === 'string' ? convert(raw) : undefined;
    if (value === undefined) throw mismatch(path, expected, raw, sensitive);
    return value;
  });
}

export function str(): Field<string> {
  return format('string', 'a non-empty string', (text) => (text === '' ? undefined : text));
}

export function oneOf<V extends string>(values: readonly V[]): Field<V> {
  const expected = `one of ${values.map((value) => JSON.stringify(value)).join(', ')}`;
  const type = values.map((value) => `\`${value}\``).join(' | ');
  return format(type, expected, (text) => values.find((value) => value === text));
}

// Numbers and booleans also accept their string forms, because `${VAR}` yields strings.

export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Field<number> {
  const expected = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
  return leaf('integer', expected, function parseInteger(raw, path, sensitive) {
    const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw mismatch(path, expected, raw, sensitive);
    }
    return value;
  });
}

export function bool(): Field<boolean> {
  return leaf('boolean', 'true or false', function parseBoolean(raw, path, sensitive) {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw mismatch(path, 'true or false', raw, sensitive);
  });
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `30s`, `10m`, `12h`, `30d` or a whole number of seconds → seconds. */
export function duration(min = 0): Field<number> {
  const expected = 'a duration like 30s, 10m, 12h or 30d';
  return leaf('duration', expected, function parseDuration(raw, path, sensitive) {
    const match = typeof raw === 'string' ? /^(\d+)([smhd]?)$/.exec(raw) : null;
    const seconds = typeof raw === 'number' ? raw : match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : NaN;
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw mismatch(path, expected, raw, sensitive);
    if (seconds < min) throw mismatch(path, `a duration of at least ${min}s`, raw, sensitive);
    return seconds;
  });
}

const MILLIS_UNITS: Record<string, number> = { ms: 1, '': 1000, s: 1000, m: 60_000, h: 3_600_000 };

/** Like `duration`, but `250ms` is allowed too → milliseconds (a bare number is seconds). */
export function millis(min = 0): Field<number> {
  const expected = 'a duration like 250ms, 5s or 1m';
  return leaf('duration (ms allowed)', expected, function parseMillis(raw, path, sensitive) {
    const match = typeof raw === 'string' ? /^(\d+)(ms|[smh]?)$/.exec(raw) : null;
    const ms = typeof raw === 'number' ? raw * 1000 : match ? Number(match[1]) * MILLIS_UNITS[match[2]!]! : NaN;
    if (!Number.isSafeInteger(ms) || ms < 0) throw mismatch(path, expected, raw, sensitive);
    if (ms < min) throw mismatch(path, `a duration of at least ${min}ms`, raw, sensitive);
    return ms;
  });
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `64kb`, `1mb` or a number of bytes → bytes (binary units: 1kb = 1024 bytes). */
export function size(min = 0): Field<number> {
  const expected = 'a size like 64kb or 1mb';
  return leaf('size', expected, function parseSize(raw, path, sensitive) {
    const match = typeof raw === 'string' ? /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(raw) : null;
    const unit = (match?.[2] ?? '').toLowerCase();
    const bytes = typeof raw === 'number' ? raw : match ? Number(match[1]) * SIZE_UNITS[unit]! : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw mismatch(path, expected, raw, sensitive);
    if (bytes < min) throw mismatch(path, `a size of at least ${min} bytes`, raw, sensitive);
    return bytes;
  });
}

/** A free-form object, validated by whoever consumes it (plugin config, user claims). */
export function record(): Field<Record<string, unknown>> {
  return leaf('object', 'an object', function parseRecord(raw, path, sensitive) {
    if (!isPlainObject(raw)) throw mismatch(path, 'an object', raw, sensitive);
    return raw;
  });
}

interface ListOptions<T> {
  min?: number; // fewest items
  uniqueBy?: keyof T & string; // key that must differ between items
}

export function list<T>(item: Field<T>, options: ListOptions<T> = {}): Field<T[]> {
  const { min = 0, uniqueBy } = options;
  return new Field<T[]>({
    type: `list of ${item.spec.type}`,
    expected: 'a list',
    doc: '',
    required: true,
    sensitive: false,
    children: item.spec.children.map(([suffix, field]) => [`[]${suffix}`, field] as const),
    parse: function parseList(raw, path, sensitive) {
      if (!Array.isArray(raw)) throw mismatch(path, 'a list', raw, sensitive);
      if (raw.length < min) throw new ConfigError(path, `expected at least ${min} item(s), got ${raw.length}`);
      const items = raw.map((value: unknown, index) => item.parse(value, keyPath(path, index), sensitive));
      if (uniqueBy !== undefined) assertUnique(items, uniqueBy, path);
      return items;
    },
  });
}

function assertUnique<T>(items: T[], key: keyof T & string, path: string): void {
  const firstIndex = new Map<unknown, number>();
  items.forEach((item, index) => {
    const first = firstIndex.get(item[key]);
    if (first !== undefined) {
      const problem = `duplicate ${key} ${show(item[key])} (already used by ${keyPath(path, first)})`;
      throw new ConfigError(keyPath(keyPath(path, index), key), problem);
    }
    firstIndex.set(item[key], index);
  });
}

/** An object with user-chosen keys, all holding the same kind of value. */
export function mapOf<T>(value: Field<T>, keyName = 'name'): Field<Record<string, T>> {
  return new Field<Record<string, T>>({
    type: `map of ${keyName} → ${value.spec.type}`,
    expected: 'an object',
    doc: '',
    required: true,
    sensitive: false,
    children: value.spec.children.map(([suffix, field]) => [`.<${keyName}>${suffix}`, field] as const),
    parse: function parseMap(raw, path, sensitive) {
      if (!isPlainObject(raw)) throw mismatch(path, 'an object', raw, sensitive);
      const entries = Object.entries(raw).map(([key, item]) => [key, value.parse(item, keyPath(path, key), sensitive)]);
      return Object.fromEntries(entries) as Record<string, T>;
    },
  });
}

/** One field per key of T, so the schema cannot drift from types.ts. */
type Shape<T> = { [K in keyof T]-?: Field<T[K]> };

/** An object with known keys; unknown keys are an error. `check` sees the parsed value. */
export function object<T>(shape: Shape<T>, check?: (value: T, path: string) => void): Field<T> {
  const fields = Object.entries(shape) as Array<[string, Field<unknown>]>;
  const keys = fields.map(([key]) => key);
  const expectedKeys = `one of: ${keys.join(', ')}`;
  return new Field<T>({
    type: 'object',
    expected: 'an object',
    doc: '',
    required: true,
    sensitive: false,
    children: fields.map(([key, field]) => [`.${key}`, field] as const),
    parse: function parseObject(raw, path, sensitive) {
      if (!isPlainObject(raw)) throw mismatch(path, 'an object', raw, sensitive);
      for (const key of Object.keys(raw)) {
        if (!keys.includes(key)) {
          throw new ConfigError(keyPath(path, key), `unknown key (expected ${expectedKeys})`, { expected: expectedKeys });
        }
      }
      const parsed: Record<string, unknown> = {};
      // Derived defaults (default_scopes = scopes) read their siblings, so they go last.
      for (const derivedPass of [false, true]) {
        for (const [key, field] of fields) {
          if ((field.spec.fallback?.derived ?? false) !== derivedPass) continue;
          const at = keyPath(path, key);
          // YAML `key:` with nothing after it is null: treat it as absent.
          const value = raw[key] == null ? field.missing(parsed, at) : field.parse(raw[key], at, sensitive);
          if (value !== undefined) parsed[key] = value;
        }
      }
      // Declaration order, so printed configs read like the reference.
      const result = Object.fromEntries(keys.filter((key) => key in parsed).map((key) => [key, parsed[key]])) as T;
      check?.(result, path);
      return result;
    },
  });
}
