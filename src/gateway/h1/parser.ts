// Node's llhttp binding (lib/_http_common.js's HTTPParser, the parser node:http's own client
// uses) set up for responses in strict mode, and what a response's fields say about reusing
// its connection. The binding is not a documented API: this file is the one place that
// knows it (checked on Node 20, 22 and 24).
import { createRequire } from 'node:module';

export interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  [key: number]: unknown;
}

interface ParserClass {
  new (): Parser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };

/** What the parser reports while it reads one connection's responses. */
interface ResponseEvents {
  /** header fields flushed before the head is complete (a long head) */
  headers(fields: string[]): void;
  /** the head is complete (fields undefined when all were flushed by headers()); returns 1 for "no body", else 0 */
  headersComplete(fields: string[] | undefined, statusCode: number, statusText: string, upgrade: boolean, keepAlive: boolean): number;
  body(chunk: Buffer): void;
  messageComplete(): void;
}

/** A response parser (default header size limit, strict) that reports to `events`. */
export function newResponseParser(events: ResponseEvents): Parser {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  parser[HTTPParser.kOnHeaders] = (fields: string[]) => events.headers(fields);
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    fields: string[] | undefined,
    _method: unknown,
    _url: unknown,
    statusCode: number,
    statusText: string,
    upgrade: boolean,
    keepAlive: boolean,
  ) => events.headersComplete(fields, statusCode, statusText, upgrade, keepAlive);
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => events.body(chunk);
  parser[HTTPParser.kOnMessageComplete] = () => events.messageComplete();
  return parser;
}

/**
 * How long a connection may idle before reuse after a response with these fields: `max`,
 * or the upstream's `Keep-Alive: timeout=N` less a second when that is shorter (0: never).
 */
export function keptFor(fields: string[], max: number): number {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[\s,;])timeout\s*=\s*"?(\d+)/i.exec(fields[i + 1]!);
    if (m !== null) return Math.max(0, Math.min(max, Number(m[1]) * 1000 - 1000));
  }
  return max;
}
