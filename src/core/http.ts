// HTTP helpers shared by every listener: bounded body reading, strict form parsing,
// JSON responses and the one error renderer.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AppError, invalidRequest, payloadTooLarge } from './errors.js';

/**
 * Reads a whole response body from an upstream or provider (an undici body), giving up at
 * more than `limit` bytes: the stream is destroyed and the error says `what` was too large.
 */
export async function readLimitedResponse(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`${what} larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The JSON object in `text`, or undefined (not JSON, or not an object). */
export function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** HTTP Basic client credentials (RFC 6749 §2.3.1: id and secret form-urlencoded before Base64). */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
}

/** Reads the whole body, refusing more than `limit` bytes (413) before buffering it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(payloadTooLarge(limit));
  }
  return new Promise(function collect(resolve, reject) {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(invalidRequest('could not read the request body', { cause: err }));
    });
  });
}

/** Parsed application/x-www-form-urlencoded parameters, keeping repeats. */
export class FormParams {
  readonly #values: Map<string, string[]>;

  constructor(values: Map<string, string[]>) {
    this.#values = values;
  }

  /**
   * One value or undefined. RFC 6749 §3.1/§3.2: parameters MUST NOT be included more
   * than once, so a repeat is invalid_request; an empty value counts as absent.
   */
  get(name: string): string | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    if (v.length > 1) throw invalidRequest(`parameter "${name}" is repeated`);
    return v[0] === '' ? undefined : v[0];
  }

  require(name: string): string {
    const v = this.get(name);
    if (v === undefined) throw invalidRequest(`missing required parameter "${name}"`);
    return v;
  }

  /** For parameters that may legitimately repeat (RFC 8707 `resource`). */
  all(name: string): string[] {
    return (this.#values.get(name) ?? []).filter((v) => v !== '');
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  names(): IterableIterator<string> {
    return this.#values.keys();
  }
}

export function parseForm(body: string): FormParams {
  const values = new Map<string, string[]>();
  if (body.length > 0) {
    for (const pair of body.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const name = decodeFormComponent(eq === -1 ? pair : pair.slice(0, eq));
      const value = eq === -1 ? '' : decodeFormComponent(pair.slice(eq + 1));
      const list = values.get(name);
      if (list) list.push(value);
      else values.set(name, [value]);
    }
  }
  return new FormParams(values);
}

/**
 * One form name or value, decoded. NUL, sent raw or as %00, is refused: no OAuth parameter may
 * hold it (RFC 6749 Appendix A: every value is VSCHAR, NQCHAR or UNICODECHARNOCRLF), and
 * PostgreSQL refuses NUL in text, so a client_id or username holding one was a 500 there.
 */
export function decodeFormComponent(s: string): string {
  // Most names and values need no decoding (grant_type, scopes, tokens): without '%' and
  // '+', decoding changes nothing and cannot fail, so skip the regex and decodeURIComponent.
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) {
    if (s.indexOf('\0') !== -1) throw nulRefused();
    return s;
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw invalidRequest('the request body is not valid application/x-www-form-urlencoded');
  }
  if (decoded.indexOf('\0') !== -1) throw nulRefused();
  return decoded;
}

function nulRefused(): AppError {
  return invalidRequest('a parameter holds a NUL character (%00)');
}

/** Reads and parses a form POST body, insisting on the media type (RFC 6749 §3.2). */
export async function readForm(req: IncomingMessage, limit: number): Promise<FormParams> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw invalidRequest('content type must be application/x-www-form-urlencoded');
  }
  const body = await readBody(req, limit);
  return parseForm(body.toString('utf8'));
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** A redirect that is never cached and never tells the next site where the browser came from. */
export function sendRedirect(res: ServerResponse, status: 302 | 303, location: string): void {
  res.writeHead(status, { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 });
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** Token-endpoint style response: never cached (RFC 6749 §5.1). */
export function sendNoStoreJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendJson(res, status, body, headers ? { ...NO_STORE, ...headers } : NO_STORE);
}

export function sendText(res: ServerResponse, status: number, contentType: string, body: string, headers?: Record<string, string>): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * An OPTIONS answer without content (RFC 9110 §9.3.7): `status` (200, or 204) with `Allow`.
 * A body sent with the request is not read (nothing bounds it here): the connection then
 * closes after the answer, as after any answer that leaves a body unread.
 */
export function answerOptions(req: IncomingMessage, res: ServerResponse, status: 200 | 204, allow: string): void {
  const headers: Record<string, string> = { allow };
  if (status === 200) headers['content-length'] = '0'; // a 204 has none (RFC 9110 §8.6)
  if (!req.complete && hasRequestBody(req.headers)) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end();
}

/** The one error renderer: RFC 6749 §5.2 JSON, no-store, never a stack trace. */
export function sendError(res: ServerResponse, err: AppError): void {
  if (res.headersSent) {
    // a response under way is cut so the client sees it failed; one already answered in
    // full (the listener refused a request whose body broke off) is left to finish
    if (!res.writableEnded) res.destroy();
    return;
  }
  // a request body we refused may still be arriving: close the connection after answering
  if (err.status === 413) res.setHeader('connection', 'close');
  sendNoStoreJson(res, err.status, err.toJSON(), err.headers);
}

/** Remote address for throttling and logs (proxy headers are not trusted here). */
export function remoteAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Whether a request announces a body (a non-zero Content-Length, or Transfer-Encoding). */
export function hasRequestBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}
