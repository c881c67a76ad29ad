// Admin API responses: JSON in and out, Kong-style lists (`{ data, next }`), and one error
// shape — `{ error, error_description, fields? }` — where `fields` names what was wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../../core/http.js';
import { AppError } from '../../core/errors.js';
import type { Refused } from '../../core/refused.js';

export type AdminErrorCode = 'invalid_request' | 'unauthorized' | 'invalid_token' | 'not_found' | 'conflict' | 'method_not_allowed' | 'server_error' | 'service_unavailable';

export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly code: AdminErrorCode;
  readonly status: number;
  readonly fields: Record<string, string> | undefined;
  readonly headers: Record<string, string>;

  constructor(code: AdminErrorCode, status: number, description: string, opts: { fields?: Record<string, string>; headers?: Record<string, string> } = {}) {
    super(description);
    this.code = code;
    this.status = status;
    this.fields = opts.fields;
    this.headers = opts.headers ?? {};
  }
}

/** 400 naming the field: `{ fields: { url: "expected …" } }`. */
export function invalidField(field: string, problem: string): AdminError {
  return new AdminError('invalid_request', 400, field === '' ? problem : `${field}: ${problem}`, { fields: { [field === '' ? '@entity' : field]: problem } });
}

export function notFound(what: string): AdminError {
  return new AdminError('not_found', 404, `${what} not found`);
}

export function conflict(description: string): AdminError {
  return new AdminError('conflict', 409, description);
}

/**
 * A refusal of the domain's rules (core's Refused, which any handler may throw) in the admin
 * API's words: 400 naming the field, 404, or 409 (naming the field when it has one).
 */
export function refusedAsAdminError(err: Refused): AdminError {
  if (err.kind === 'invalid') return invalidField(err.field ?? '', err.problem);
  if (err.kind === 'not_found') return new AdminError('not_found', 404, err.message);
  return err.field === undefined ? conflict(err.message) : new AdminError('conflict', 409, err.message, { fields: { [err.field]: err.problem } });
}

const JSON_HEADERS = { 'cache-control': 'no-store' };

export function sendData(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204, JSON_HEADERS);
    res.end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...JSON_HEADERS });
  res.end(payload);
}

const MAX_PAGE = 1000;

/** Where an item sits in a list: compared element by element (numbers as numbers, strings by code unit). */
export type SortKey = ReadonlyArray<string | number>;

export interface ListOrder<T> {
  /** the item's place in the list; unique per item */
  key(item: T): SortKey;
  /** newest first and the like: the keys in descending order */
  descending?: boolean;
}

export function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * A list as Kong sends one: `{ data, next }`. Without `?size=` everything comes at once and
 * `next` is null; with it (1–1000, as Kong) one page, and while more follow, `offset` and a
 * `next` path that asks for the following page (`?size=N&offset=…`, the offset opaque).
 * The offset is a cursor, as Kong's: the sort key of the page's last item (base64url JSON),
 * and the next page is what sorts after it. It used to be an index, so deleting an item of
 * page 1 made page 2 skip one.
 */
export function sendList<T>(res: ServerResponse, items: readonly T[], req: IncomingMessage | undefined, order: ListOrder<T>, view: (item: T) => unknown): void {
  const url = new URL(req?.url ?? '/', 'http://admin');
  const sizeParam = url.searchParams.get('size');
  const offsetParam = url.searchParams.get('offset');
  if (sizeParam === null && offsetParam === null) return sendData(res, 200, { data: items.map(view), next: null });
  const size = sizeParam === null ? 100 : /^\d{1,4}$/.test(sizeParam) ? Number(sizeParam) : NaN;
  if (!(size >= 1 && size <= MAX_PAGE)) throw invalidField('size', `expected an integer from 1 to ${MAX_PAGE}`);
  const compare = (a: SortKey, b: SortKey): number => (order.descending ? compareKeys(b, a) : compareKeys(a, b));
  const sorted = items.map((item) => ({ item, key: order.key(item) })).sort((a, b) => compare(a.key, b.key));
  const after = offsetParam === null ? undefined : decodeCursor(offsetParam);
  const rest = after === undefined ? sorted : sorted.filter((s) => compare(s.key, after) > 0);
  const page = rest.slice(0, size);
  const data = page.map((s) => view(s.item));
  if (rest.length <= size) return sendData(res, 200, { data, next: null });
  const offset = encodeCursor(page[page.length - 1]!.key);
  url.searchParams.set('size', String(size));
  url.searchParams.set('offset', offset);
  sendData(res, 200, { data, next: `${url.pathname}?${url.searchParams.toString()}`, offset });
}

function encodeCursor(key: SortKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(offset: string): SortKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(offset, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid = Array.isArray(key) && key.length <= 8 && key.every((k) => typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)));
  if (!valid || encodeCursor(key as SortKey) !== offset) throw invalidField('offset', 'not an offset this API gave');
  return key as SortKey;
}

export function sendAdminError(res: ServerResponse, err: AdminError, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: Record<string, unknown> = { error: err.code, error_description: err.message };
  if (err.fields) body.fields = err.fields;
  body.request_id = requestId;
  const payload = JSON.stringify(body);
  res.writeHead(err.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...JSON_HEADERS,
    ...err.headers,
  });
  res.end(payload);
}

const BODY_LIMIT = 1024 * 1024;

/**
 * How deep a body may nest objects and lists (a form's `a.b.c` counts as JSON would). No
 * entity needs more than a handful of levels; thousands overflowed the stack of the walks
 * below (a 500 for bad input).
 */
export const MAX_BODY_DEPTH = 64;

/**
 * Keys that reach an object's prototype when copied by assignment (`out[k] = v`): a top-level
 * `__proto__` skipped the unknown-key check and its contents took effect. No field has
 * these names.
 */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The request body as an object: JSON, or a form as Kong takes it (`curl -d name=x` or
 * `curl -F name=x`; `config.minute=5` nests, `paths[]=/a` or a repeated field is a list). An
 * empty body is `{}`. No string in it may hold NUL: PostgreSQL refuses NUL in text (a 500
 * before this check), and no field has a use for it; nor a lone surrogate (`\ud800` in JSON),
 * which would be stored as U+FFFD, not as given. Nesting deeper than MAX_BODY_DEPTH and
 * the keys `__proto__`, `constructor` and `prototype` are refused (400) before anything walks
 * or copies the body.
 */
export async function readObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw: Buffer;
  try {
    raw = await readBody(req, BODY_LIMIT);
  } catch (err) {
    if (err instanceof AppError) throw new AdminError('invalid_request', err.status, err.message);
    throw err;
  }
  if (raw.length === 0) return {};
  const contentType = req.headers['content-type'] ?? '';
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  const text = raw.toString('utf8');
  let value: unknown;
  if (type === 'application/x-www-form-urlencoded') value = fromForm(new URLSearchParams(text));
  else if (type === 'multipart/form-data') value = fromForm(multipartFields(raw, contentType));
  else if (type !== '' && type !== 'application/json' && !type.endsWith('+json')) {
    throw new AdminError('invalid_request', 415, 'content type must be application/json, application/x-www-form-urlencoded or multipart/form-data');
  } else {
    if (jsonDepth(text) > MAX_BODY_DEPTH) throw tooDeep();
    try {
      value = JSON.parse(text);
    } catch {
      throw invalidField('', 'the body is not valid JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField('', 'the body must be a JSON object');
  const bad = badPath(value, '');
  if (bad !== undefined) throw invalidField(bad.path, bad.problem);
  return value as Record<string, unknown>;
}

function tooDeep(): AdminError {
  return invalidField('', `the body nests objects or lists more than ${MAX_BODY_DEPTH} levels deep`);
}

/** The deepest nesting of `{` and `[` in JSON text (outside strings), in one pass without recursion. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

const LONE_SURROGATE = 'must be valid Unicode (a lone surrogate such as \\ud800 is not)';
/** In a u-mode regex a surrogate pair is one code point: only an unpaired half is of category Cs. */
const LONE = /\p{Cs}/u;

/**
 * The first key or string value that is refused, with its path (e.g. `config.key_names[1]`):
 * one holding U+0000 or a lone surrogate, or a key named `__proto__`, `constructor` or `prototype`.
 */
function badPath(value: unknown, path: string): { path: string; problem: string } | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { path, problem: 'must not contain NUL characters' };
    // JSON may escape half a surrogate pair (\ud800), which no store can keep: UTF-8 has no
    // such character, so the value stored (U+FFFD) would not be the one given
    if (LONE.test(value)) return { path, problem: LONE_SURROGATE };
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = badPath(v, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const here = path === '' ? k : `${path}.${k}`;
      if (k.includes('\u0000')) return { path: path === '' ? '@entity' : path, problem: 'must not contain NUL characters' };
      if (LONE.test(k)) return { path: path === '' ? '@entity' : path, problem: LONE_SURROGATE };
      if (FORBIDDEN_NAMES.has(k)) return { path: here, problem: `${JSON.stringify(k)} is not a field name` };
      const found = badPath(v, here);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * Kong's form fields as an object: `config.minute=5` → `{ config: { minute: "5" } }`,
 * `paths[]=/a&paths[]=/b` (or `paths[1]=…`, or a repeated `paths=`) → a list. Values stay
 * strings; the config schema reads "5" and "true" where it expects a number or a boolean.
 */
function fromForm(fields: Iterable<[string, string]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawName, value] of fields) {
    const index = /\[\d*\]$/.exec(rawName);
    const name = index ? rawName.slice(0, index.index) : rawName;
    const path = name.split('.');
    if (path.length + (index ? 1 : 0) > MAX_BODY_DEPTH) throw tooDeep();
    if (path.some((part) => part === '' || FORBIDDEN_NAMES.has(part))) throw invalidField(name === '' ? '' : name, 'not a field name');
    let target = out;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      if (next === undefined) target[part] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) throw invalidField(name, 'given both as a value and as an object');
      target = target[part] as Record<string, unknown>;
    }
    const leaf = path[path.length - 1]!;
    const prev = target[leaf];
    if (prev === undefined) target[leaf] = index ? [value] : value;
    else if (typeof prev === 'object' && !Array.isArray(prev)) throw invalidField(name, 'given both as a value and as an object');
    else target[leaf] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** The fields of a multipart/form-data body (RFC 7578), files included as text (Kong takes certificates so). */
function multipartFields(raw: Buffer, contentType: string): Array<[string, string]> {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) throw invalidField('', 'multipart/form-data without a boundary');
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  const text = raw.toString('utf8');
  const fields: Array<[string, string]> = [];
  const parts = text.split(delimiter);
  // parts[0] is the preamble; the part after the last delimiter starts with "--"
  for (const part of parts.slice(1)) {
    if (part.startsWith('--')) break;
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd === -1) throw invalidField('', 'malformed multipart/form-data body');
    const headers = part.slice(0, headerEnd);
    const name = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(headers);
    if (!name) throw invalidField('', 'a multipart/form-data part without a name');
    fields.push([name[1]!, part.slice(headerEnd + 4).replace(/\r\n$/, '')]);
  }
  if (parts.length < 2) throw invalidField('', 'malformed multipart/form-data body');
  return fields;
}

/** 405 with the Allow header listing what the path does take. */
export function methodNotAllowed(allowed: string[]): AdminError {
  return new AdminError('method_not_allowed', 405, `method not allowed; use ${allowed.join(', ')}`, { headers: { allow: allowed.join(', ') } });
}
