// Admin API responses: JSON in and out, Kong-style lists (`{ data, next }`), and one error
// shape — `{ error, error_description, fields? }` — where `fields` names what was wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../../core/http.js';
import { AppError } from '../../core/errors.js';

export type AdminErrorCode = 'invalid_request' | 'unauthorized' | 'not_found' | 'conflict' | 'method_not_allowed' | 'server_error' | 'service_unavailable';

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

export function sendList(res: ServerResponse, data: unknown[]): void {
  sendData(res, 200, { data, next: null });
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
 * The request body as an object: JSON, or a form (`curl -d name=x`, as Kong accepts; a
 * repeated field becomes a list). An empty body is `{}`.
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
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  const text = raw.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') return fromForm(text);
  if (type !== '' && type !== 'application/json' && !type.endsWith('+json')) {
    throw new AdminError('invalid_request', 415, 'content type must be application/json or application/x-www-form-urlencoded');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidField('', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidField('', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

function fromForm(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawName, value] of new URLSearchParams(text)) {
    // Kong's form style: `groups[]=a&groups[]=b` or `groups=a&groups=b`
    const name = rawName.endsWith('[]') ? rawName.slice(0, -2) : rawName;
    const prev = out[name];
    if (prev === undefined) out[name] = rawName.endsWith('[]') ? [value] : value;
    else out[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
