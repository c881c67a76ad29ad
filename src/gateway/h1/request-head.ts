// The request head the pool writes for an exchange: request line, fields, framing, blank
// line, in one string. Everything that could split the request (CR, LF or NUL in a field,
// a target that is not origin-form) is refused here, before a byte is sent.
import { UpstreamError, type UpstreamRequest, type UpstreamRequestHeaders } from './types.js';

/** RFC 9110 §5.6.2 token (method, field name) */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** what a field value may hold: HTAB, SP, VCHAR, obs-text (no CR, LF or NUL: no request splitting) */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** an origin-form target: no whitespace or control characters */
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/;
/** methods whose request without a body still says Content-Length: 0 (RFC 9110 §8.6) */
const EXPECTS_BODY: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/** The request head for `request`; `hostHeader` when it has no Host field. Throws UPSTREAM_INVALID_REQUEST. */
export function requestHead(request: UpstreamRequest, hostHeader: string): string {
  const { method, path, headers, body } = request;
  if (!TOKEN.test(method)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid request method');
  // origin-form (RFC 9112 §3.2.1), or asterisk-form for OPTIONS: never an absolute URL that would name another host
  const form = path.charCodeAt(0) === 47 || (path === '*' && method === 'OPTIONS');
  if (!form || BAD_TARGET.test(path)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid request target');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  let length: string | undefined;
  const flat = Array.isArray(headers) ? headers : flatten(headers);
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1];
    if (name === 'host') host = true;
    else if (name === 'content-length') {
      length = String(value);
      continue;
    } else if (name === 'transfer-encoding') continue;
    head += field(name, value);
  }
  if (!host) head += `host: ${hostHeader}\r\n`;
  if (body === null) {
    if (length !== undefined && length !== '0') throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'Content-Length without a body');
    if (length !== undefined || EXPECTS_BODY.has(method)) head += 'content-length: 0\r\n';
  } else if (Buffer.isBuffer(body)) {
    head += `content-length: ${body.length}\r\n`;
  } else if (length !== undefined) {
    head += `content-length: ${checkedLength(length)}\r\n`;
  } else {
    head += 'transfer-encoding: chunked\r\n';
  }
  return head + '\r\n';
}

/** An object of fields as the flat list the gateway passes: names lower case, unset ones left out. */
function flatten(headers: Record<string, string | string[] | undefined>): Array<string | string[]> {
  const flat: Array<string | string[]> = [];
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) flat.push(name.toLowerCase(), value);
  }
  return flat;
}

function field(name: string, value: string | string[] | undefined): string {
  if (!TOKEN.test(name)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid header field name');
  if (typeof value === 'string') {
    if (BAD_VALUE.test(value)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', `invalid value of header field ${name}`);
    return `${name}: ${value}\r\n`;
  }
  let lines = '';
  for (const v of value ?? []) {
    if (BAD_VALUE.test(v)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', `invalid value of header field ${name}`);
    lines += `${name}: ${v}\r\n`;
  }
  return lines;
}

function checkedLength(value: string): string {
  if (!/^\d{1,15}$/.test(value)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid Content-Length');
  return value;
}

/** The Content-Length a Readable body was declared with, or -1 (chunked). */
export function declaredLength(headers: UpstreamRequestHeaders): number {
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return Number(headers[i + 1]);
    return -1;
  }
  for (const name in headers) if (name.toLowerCase() === 'content-length') return Number(headers[name]);
  return -1;
}
