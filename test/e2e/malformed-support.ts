// The malformed-input sweeps' tools (malformed-auth, -gateway, -admin .test.ts): raw HTTP exchanges over a
// socket (so nothing normalises the bytes on the way: fetch would re-encode a bad
// percent-escape, refuse a lower-case method, join duplicate headers or fix a Content-Length),
// a log capture, and the checks every answer must pass.
import * as assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from '../../src/observability/logger.js';
import { createLogger } from '../../src/observability/logger.js';

export interface RawReply {
  status: number;
  /** lower-case names; a repeated field's values in order */
  headers: Map<string, string[]>;
  body: string;
}

/** One header's value (the first), or undefined. */
export function header(reply: RawReply, name: string): string | undefined {
  return reply.headers.get(name)?.[0];
}

/**
 * Writes `request` (bytes as given) to host:port and reads the first response. `halfClose`
 * ends the sending side after the request (a body that breaks off, a Content-Length that
 * promises more than comes). Resolves with undefined when the connection closes without any
 * response; rejects after `timeoutMs` without one.
 */
export function exchange(url: string, request: string | Buffer, opts: { halfClose?: boolean; timeoutMs?: number } = {}): Promise<RawReply | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      resolve(parseReply(Buffer.concat(chunks)));
    };
    const timer = setTimeout(() => finish(new Error(`no complete response within ${opts.timeoutMs ?? 5000} ms; got: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`)), opts.timeoutMs ?? 5000);
    socket.on('connect', () => {
      socket.write(request);
      if (opts.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // one complete response is all we read (a refused pipeline may hold more)
      if (completeLength(Buffer.concat(chunks)) !== undefined) finish();
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // a reset after the answer was written still leaves the answer readable
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return finish();
      finish(err);
    });
  });
}

/** The length of the first response in `data` once it has all arrived (Content-Length framing only), else undefined. */
function completeLength(data: Buffer): number | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = data.subarray(0, end).toString('latin1');
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (m === null) return /^HTTP\/1\.1 (1\d\d|204|304)/.test(head) ? end + 4 : undefined;
  const total = end + 4 + Number(m[1]);
  return data.length >= total ? total : undefined;
}

function parseReply(data: Buffer): RawReply | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (status === null) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const length = headers.get('content-length')?.[0];
  let body = data.subarray(end + 4);
  if (length !== undefined) body = body.subarray(0, Number(length));
  return { status: Number(status[1]), headers, body: body.toString('utf8') };
}

/** A request head + body as bytes; `head` is the request line and fields, without the blank line. */
export function rawRequest(head: string, body: string | Buffer = ''): Buffer {
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]);
}

/** The production logger (JSON lines, redaction and all) writing into `lines`. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: level as 'debug', pretty: false }, 'drawbridge', sink), lines };
}

/** What a stack trace or an internal path looks like in a body. */
const INTERNALS = /\n\s+at |\bat [\w$.<>]+ \(|node:internal|node_modules|\/dist\/|\/src\/|\.[cm]?[jt]s:\d+|\b(Type|Reference|Syntax|Range|URI)Error\b/;

/** What each endpoint answers errors with. */
export type ErrorShape =
  /** the auth server's back channel: RFC 6749 §5.2 JSON, no-store */
  | 'oauth'
  /** the auth server's browser pages: an HTML page (no-store), or a redirect to the client */
  | 'page'
  /** the gateway and the admin API: JSON { error, error_description, request_id } */
  | 'gateway'
  /**
   * a request refused before any endpoint saw it (bad framing, Host, method, target) or by
   * the router (405, 404, 413): the listener's JSON error whatever the endpoint, or the
   * endpoint's own page
   */
  | 'listener'
  /** a CORS preflight: 204 with the allow headers, or 403 without them; no body either way (only the browser reads it) */
  | 'preflight';

export interface Expectation {
  shape: ErrorShape;
  /** the auth server: every error is no-store (set for 'oauth' and 'page') */
  noStore?: boolean;
  /** the endpoint answers with HTML pages (so may its refusals) */
  pages?: boolean;
}

/**
 * The problems with one answer, as text ([] when it is fine): a status below 500, no
 * stack or internal path, the endpoint's error shape and content type, no-store on the auth
 * server's errors. Listener-level refusals (the request could not be read as HTTP: bad
 * framing, Host, method) come before any endpoint and are JSON everywhere.
 */
export function problemsOf(reply: RawReply | undefined, expect: Expectation): string[] {
  if (reply === undefined) return ['no response (the connection closed without one)'];
  const out: string[] = [];
  const type = header(reply, 'content-type') ?? '';
  // 501 is what RFC 9110 §9.1 asks for a method no listener implements (CONNECT): an answer, not a failure
  if (reply.status >= 500 && reply.status !== 501) out.push(`status ${reply.status}`);
  if (INTERNALS.test(reply.body)) out.push(`internals in the body: ${JSON.stringify(reply.body.slice(0, 300))}`);
  // the browser pages answer errors after the client is known at its redirect URI: a failure
  // of ours there is server_error (query, fragment or form_post), as good as a 500
  const location = header(reply, 'location') ?? '';
  if (/[?&#]error=server_error\b/.test(location) || /name="error" value="server_error"/.test(reply.body)) out.push(`server_error sent to the client: ${location.slice(0, 300)}`);
  if (expect.shape === 'preflight' && (reply.status === 204 || reply.status === 403)) {
    if (reply.body !== '') out.push(`a preflight answer with a body: ${JSON.stringify(reply.body.slice(0, 100))}`);
    return out;
  }
  if (reply.status < 400) return out;
  const html = type.startsWith('text/html');
  const json = type.startsWith('application/json');
  // RFC 9110 §15.5.2; the login page's 401 for a wrong password is a page, not an HTTP challenge
  if (reply.status === 401 && json && header(reply, 'www-authenticate') === undefined) out.push('401 without WWW-Authenticate');
  if (!json && !(html && expect.pages === true)) out.push(`content type ${JSON.stringify(type)} for a ${expect.shape} error`);
  if (json) {
    let body: unknown;
    try {
      body = JSON.parse(reply.body);
    } catch {
      out.push(`JSON content type but no JSON body: ${JSON.stringify(reply.body.slice(0, 200))}`);
    }
    const o = body as Record<string, unknown> | undefined;
    if (o !== undefined) {
      if (typeof o.error !== 'string' || !/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(o.error)) out.push(`error code ${JSON.stringify(o.error)}`);
      if (o.error_description !== undefined && typeof o.error_description !== 'string') out.push('error_description not a string');
      if (expect.shape === 'gateway' && typeof o.request_id !== 'string') out.push('no request_id');
    }
  }
  if (expect.noStore === true && header(reply, 'cache-control') !== 'no-store') out.push(`Cache-Control ${JSON.stringify(header(reply, 'cache-control'))} on an auth server error`);
  return out;
}

/** One case of the corpus: a name for the report and the bytes to send. */
export interface Case {
  name: string;
  request: Buffer;
  halfClose?: boolean;
  /** the endpoint's JSON error where a page would do (listener refusals, 405, 413) */
  shape?: ErrorShape;
  /** what else the answer must satisfy (e.g. status 400), as a problem text or undefined */
  also?: (reply: RawReply) => string | undefined;
}

/**
 * Sends every case (a few at a time, each on its own connection) and fails with all the
 * problems found, each named by its case; `healthy` is called between batches so a case
 * that breaks the server is caught next to it.
 */
export async function sweep(url: string, cases: Case[], expect: { shape: ErrorShape }, healthy: () => Promise<void>, parallel = 8): Promise<void> {
  const problems: string[] = [];
  for (let i = 0; i < cases.length; i += parallel) {
    await Promise.all(
      cases.slice(i, i + parallel).map(async (c) => {
        let reply: RawReply | undefined;
        try {
          reply = await exchange(url, c.request, { halfClose: c.halfClose });
        } catch (err) {
          problems.push(`${c.name}: ${(err as Error).message}`);
          return;
        }
        const found = problemsOf(reply, { shape: c.shape ?? expect.shape, noStore: expect.shape === 'oauth' || expect.shape === 'page', pages: expect.shape === 'page' || c.shape === 'page' });
        const extra = reply === undefined ? undefined : c.also?.(reply);
        if (extra !== undefined) found.push(extra);
        for (const p of found) problems.push(`${c.name}: ${p} (status ${reply?.status})`);
      }),
    );
    await healthy();
  }
  assert.deepEqual(problems, [], `${problems.length} of ${cases.length} cases answered badly:\n${problems.join('\n')}`);
}
