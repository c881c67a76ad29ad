// The response class of every listener (core/listener.ts).
//
// Headers every response carries (X-Request-Id; Connection: close while draining; a
// handler's own, e.g. the gateway's HSTS) are not set with setHeader up front: that would
// put every response on Node's slow header path (each header of writeHead re-set one by
// one into a header map). ListenerResponse adds them when the headers are written — into a
// flat [name, value, …] array handed to writeHead when nothing was set before (the fast
// path the gateway's proxy uses), with setHeader otherwise. A value the handler set itself
// wins, as before.
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';

/** What a handler watching its response is told: see ListenerResponse.closeWatcher. */
export interface CloseWatcher {
  /** the response closed, finished or not */
  responseClosed(): void;
  /** the request's body broke off (a bad chunk): the listener answers it; stop what reads the body */
  requestBroken(): void;
}

/** Shared by responses that have no default headers (yet): frozen, so nothing can add to it by mistake. */
const NO_DEFAULTS = Object.freeze([]) as unknown as string[];

/** The response class of every listener: see the header comment. */
export class ListenerResponse extends ServerResponse {
  // Declared and set in the constructor: plain stores, not a class-field define each per
  // response (ES2022 fields are defined, property by property, after super()).
  /**
   * flat [lower-case name, value, …]: sent unless the handler sets the same field. The
   * listener gives every request its own list, made with the X-Request-Id already in it
   * (one exact-size array, rather than an empty one grown per request); add with
   * defaultHeader().
   */
  declare defaultHeaders: string[];
  /**
   * Told when the response closes (finished or not), by the listener's own 'close'
   * listener: a handler watching for a client that hangs up sets this instead of adding a
   * listener of its own per request (and clears it when done).
   */
  declare closeWatcher: CloseWatcher | null;
  /** setHeader/appendHeader was used: Node keeps a header map, writeHead merges into it */
  private declare _progressive: boolean;

  constructor(req: IncomingMessage, options?: object) {
    // @ts-expect-error Node's server passes its options (highWaterMark …) too; the typings name only req
    super(req, options);
    this.defaultHeaders = NO_DEFAULTS;
    this.closeWatcher = null;
    this._progressive = false;
  }

  /** Nothing was set with setHeader yet: writeHead(status, flatArray) takes Node's fast path. */
  get pristine(): boolean {
    return !this._progressive;
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    this._progressive = true;
    return super.setHeader(name, value);
  }

  override appendHeader(name: string, value: string | readonly string[]): this {
    this._progressive = true;
    return super.appendHeader(name, value);
  }

  override writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    const given = typeof reason === 'string' ? headers : reason;
    const defaults = this.defaultHeaders;
    if (!this._progressive && Array.isArray(given) && (given.length === 0 || !Array.isArray(given[0]))) {
      // the fast path: writeHead takes the flat array as is; ours go along (it is the caller's, made for this call)
      const flat = given as OutgoingHttpHeader[];
      for (let i = 0; i < defaults.length; i += 2) if (!hasField(flat, defaults[i]!)) flat.push(defaults[i]!, defaults[i + 1]!);
    } else {
      for (let i = 0; i < defaults.length; i += 2) if (!super.hasHeader(defaults[i]!)) super.setHeader(defaults[i]!, defaults[i + 1]!);
    }
    return typeof reason === 'string' ? super.writeHead(statusCode, reason, headers) : super.writeHead(statusCode, reason);
  }
}

/** Whether a flat [name, value, …] list has the field `lower` (any case). */
function hasField(flat: OutgoingHttpHeader[], lower: string): boolean {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i];
    if (typeof name !== 'string' || name.length !== lower.length) continue;
    if (name === lower) return true;
    // toLowerCase() makes a string: only when the first letter already matches in any case
    if ((name.charCodeAt(0) | 32) === lower.charCodeAt(0) && name.toLowerCase() === lower) return true;
  }
  return false;
}

/**
 * A header for the whole response, however the handler writes it (HSTS …); on a response
 * that is not a ListenerResponse (an upgrade's) it is simply set.
 */
export function defaultHeader(res: ServerResponse, lowerName: string, value: string): void {
  if (!(res instanceof ListenerResponse)) res.setHeader(lowerName, value);
  else if (res.defaultHeaders === NO_DEFAULTS) res.defaultHeaders = [lowerName, value];
  else res.defaultHeaders.push(lowerName, value);
}
