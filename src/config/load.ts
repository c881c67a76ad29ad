// Reading a config file: parse YAML or JSON, interpolate `${VAR}`, validate with the schema.
// Interpolation runs on the parsed values, never on the text, so an environment variable
// holding YAML syntax (`a: b`, `- x`) stays one string and cannot add keys.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { ConfigError, isPlainObject, keyPath, validateConfig, type SourceLocation } from './schema.js';
import type { Config, PluginConfig } from './types.js';
import { sameIssuer } from './formats.js';
import { INTROSPECT_SCOPE } from './schema-auth.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads, interpolates and validates a config file (`.json` as JSON, anything else as YAML). */
export function loadConfig(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read config file: ${(error as Error).message}`);
  }
  return parseConfigText(text, env, file);
}

/** Like `loadConfig` for text in hand; `sourceName` picks the format and names the source in errors. */
export function parseConfigText(text: string, env: Env = process.env, sourceName = 'config.yaml'): Config {
  const source = text.replace(/^\uFEFF/, ''); // editors on Windows like to add a BOM
  const raw = extname(sourceName).toLowerCase() === '.json' ? parseJson(source, sourceName) : parseYaml(source, sourceName);
  try {
    return validateConfig(interpolateEnv(raw, env));
  } catch (error) {
    if (error instanceof ConfigError && error.path !== '' && !error.location) {
      const location = locate(source, sourceName, error.path);
      if (location) throw new ConfigError(error.path, error.problem, { expected: error.expected, location });
    }
    throw error;
  }
}

function parseYaml(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  // Warnings (e.g. an unknown `!tag`) are errors too: the value would silently change meaning.
  const [problem] = [...doc.errors, ...doc.warnings];
  if (problem) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    throw new ConfigError('', `invalid YAML: ${problem.message}`, { location: { source, line, column: col } });
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError('', `invalid YAML: ${(error as Error).message}`, { location: { source, line: 1, column: 1 } });
  }
}

function parseJson(text: string, source: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    // V8 reports an offset ("… in JSON at position 42"); no offset means the text ended early.
    const offset = Number(/at position (\d+)/.exec(message)?.[1] ?? text.length);
    const before = text.slice(0, offset).split('\n');
    const location = { source, line: before.length, column: before[before.length - 1]!.length + 1 };
    throw new ConfigError('', `invalid JSON: ${message.replace(/ in JSON at position.*$/s, '')}`, { location });
  }
  rejectDuplicateKeys(text, source);
  return value;
}

/**
 * JSON.parse keeps the last of two equal keys; a YAML file with them is refused, and so is a
 * JSON one. JSON is YAML too, so the YAML parser finds them, at the second key's quote.
 */
function rejectDuplicateKeys(text: string, source: string): void {
  const lineCounter = new LineCounter();
  const duplicate = parseDocument(text, { lineCounter, prettyErrors: false }).errors.find((error) => error.code === 'DUPLICATE_KEY');
  if (!duplicate) return;
  const { line, col } = lineCounter.linePos(duplicate.pos[0]);
  const literal = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(duplicate.pos[0]))?.[0];
  const key = literal === undefined ? '' : ` ${JSON.stringify(JSON.parse(literal))}`;
  throw new ConfigError('', `invalid JSON: duplicate key${key}`, { location: { source, line, column: col } });
}

/** Where a key path is in the text, or its nearest ancestor that is there (a missing key). */
function locate(text: string, source: string, path: string): SourceLocation | undefined {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter }); // JSON is YAML too, so this serves both
    for (let segments = pathSegments(path); ; segments = segments.slice(0, -1)) {
      const node = segments.length === 0 ? doc.contents : doc.getIn(segments, true);
      if (isNode(node) && node.range) {
        const { line, col } = lineCounter.linePos(node.range[0]);
        return { source, line, column: col };
      }
      if (segments.length === 0) break;
    }
  } catch {
    // A location is a nicety; the error names the key path anyway.
  }
  return undefined;
}

/** The inverse of `keyPath`: `a.b[0]["c.d"]` → ['a', 'b', 0, 'c.d']. */
function pathSegments(path: string): Array<string | number> {
  const segments: Array<string | number> = [];
  for (const match of path.matchAll(/\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[]+)/g)) {
    if (match[1] !== undefined) segments.push(Number(match[1]));
    else if (match[2] !== undefined) segments.push(JSON.parse(match[2]) as string);
    else segments.push(match[3]!);
  }
  return segments;
}

// `$${` first, so an escaped placeholder is never read as one; a bare `${` is unterminated.
const PLACEHOLDER = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value (not in keys); `$${` is a
 * literal `${`. As in the shell, `:-` also applies when VAR is set but empty.
 */
export function interpolateEnv(value: unknown, env: Env, path = ''): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path);
  if (Array.isArray(value)) return value.map((item: unknown, index) => interpolateEnv(item, env, keyPath(path, index)));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, keyPath(path, key))]));
  }
  return value;
}

function interpolateString(text: string, env: Env, path: string): string {
  return text.replace(PLACEHOLDER, function substitute(match: string, inner: string | undefined) {
    if (match === '$${') return '${';
    if (inner === undefined) throw new ConfigError(path, 'unterminated ${ (write $${ for a literal ${)');
    const reference = REFERENCE.exec(inner);
    if (!reference) {
      throw new ConfigError(path, `invalid placeholder \${${inner}}; expected \${NAME} or \${NAME:-default}`);
    }
    const name = reference[1]!;
    const fallback: string | undefined = reference[2];
    const value = env[name];
    if (value !== undefined && !(value === '' && fallback !== undefined)) return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(path, `environment variable ${name} is not set`);
  });
}

const MIN_SECRET_LENGTH = 32;

export type Role = 'auth' | 'gateway';

/** The roles `drawbridge start` runs from this config (`only`: that one), at least one. */
export function rolesToStart(config: Config, only?: Role): Role[] {
  if (only !== undefined && config[only] === undefined) throw new ConfigError(only, `required by --only ${only}`);
  const roles = only !== undefined ? [only] : (['auth', 'gateway'] as const).filter((role) => config[role] !== undefined);
  if (roles.length === 0) throw new ConfigError('', 'the config configures neither auth nor gateway; nothing to start');
  return roles;
}

/**
 * What `drawbridge start` refuses before it opens anything; `drawbridge config validate`
 * checks the same, so that a file it calls valid also starts.
 */
export function assertStartable(config: Config, only?: Role): void {
  assertProductionSecret(config);
  rolesToStart(config, only);
  assertIntrospectionClients(config);
}


/**
 * A gateway `oauth2-introspection` plugin asking this file's own auth server (its `issuer` is
 * the top-level one) as a client of this file must find that client allowed to introspect
 * others' tokens: without the `introspect` scope every token would come back inactive, and
 * every request 401. A client_id the file does not configure may come from the CLI: not judged.
 */
function assertIntrospectionClients(config: Config): void {
  const clients = config.auth?.clients;
  const gateway = config.gateway;
  if (clients === undefined || gateway === undefined) return;
  const check = (plugins: readonly PluginConfig[], path: string) =>
    plugins.forEach((plugin, index) => {
      if (plugin.name !== 'oauth2-introspection' || !plugin.enabled) return;
      const { issuer, client_id: clientId } = plugin.config;
      if (typeof issuer !== 'string' || !sameIssuer(issuer, config.issuer) || typeof clientId !== 'string') return;
      const at = clients.findIndex((c) => c.client_id === clientId);
      if (at === -1 || clients[at]!.scopes.includes(INTROSPECT_SCOPE)) return;
      const scopesPath = keyPath(keyPath('auth.clients', at), 'scopes');
      throw new ConfigError(
        keyPath(keyPath(keyPath(path, index), 'config'), 'client_id'),
        `names auth client "${clientId}", which may not introspect other clients' tokens; expected "${INTROSPECT_SCOPE}" in ${scopesPath}`,
        { expected: `"${INTROSPECT_SCOPE}" in ${scopesPath}` },
      );
    });
  check(gateway.plugins, 'gateway.plugins');
  gateway.services.forEach((service, s) => {
    const servicePath = keyPath(keyPath('gateway.services', s), 'plugins');
    check(service.plugins, servicePath);
    service.routes.forEach((route, r) => check(route.plugins, keyPath(keyPath(keyPath(keyPath('gateway.services', s), 'routes'), r), 'plugins')));
  });
}

/**
 * Production roles need a real master secret; `drawbridge dev` generates its own. The CLI
 * commands that seal or digest under it (`key rotate`, `consumer credential`) check it too.
 */
export function assertProductionSecret(config: Config): void {
  const length = config.secret?.length ?? 0;
  if (length >= MIN_SECRET_LENGTH) return;
  const got = length === 0 ? '' : `, got ${length}`;
  throw new ConfigError('secret', `required outside "drawbridge dev"; expected at least ${MIN_SECRET_LENGTH} characters${got}`, {
    expected: `at least ${MIN_SECRET_LENGTH} characters`,
  });
}
