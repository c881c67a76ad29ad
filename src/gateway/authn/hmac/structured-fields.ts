// Structured Field Values for HTTP (RFC 8941): the parsing (§4.2) and serialization
// (§4.1) that HTTP Message Signatures (RFC 9421) and Content-Digest (RFC 9530) need —
// dictionaries, inner lists, items and parameters. Strict: anything off-grammar throws
// StructuredFieldError, which callers turn into a 401, never a 500.

export class StructuredFieldError extends Error {
  override readonly name = 'StructuredFieldError';
}

export class Token {
  constructor(readonly value: string) {}
}

export class Decimal {
  constructor(readonly value: number) {}
}

/** integer: number; decimal: Decimal; string: string; token: Token; byte sequence: Buffer; boolean */
export type BareItem = number | Decimal | string | Token | Buffer | boolean;
/** Read-only: items without parameters share one empty map (see parseParameters). */
export type Parameters = ReadonlyMap<string, BareItem>;

export interface Item {
  value: BareItem;
  params: Parameters;
}

export interface InnerList {
  items: Item[];
  params: Parameters;
}

type Member = Item | InnerList;
type Dictionary = Map<string, Member>;

export function isInnerList(member: Member): member is InnerList {
  return 'items' in member;
}

// ─── Parsing ───────────────────────────────────────────────────────────────────────────

class Input {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  skipSP(): void {
    while (this.text.charCodeAt(this.pos) === 0x20) this.pos++;
  }

  skipOWS(): void {
    let code = this.text.charCodeAt(this.pos);
    while (code === 0x20 || code === 0x09) code = this.text.charCodeAt(++this.pos);
  }

  fail(what: string): never {
    throw new StructuredFieldError(`${what} at position ${this.pos}`);
  }
}

/** RFC 8941 §4.2.2. Later duplicates of a key overwrite earlier ones, as the RFC says. */
export function parseDictionary(text: string): Dictionary {
  const input = new Input(text);
  input.skipSP();
  const dict: Dictionary = new Map();
  while (!input.done) {
    const key = parseKey(input);
    let member: Member;
    if (input.peek() === '=') {
      input.pos++;
      member = parseItemOrInnerList(input);
    } else {
      member = { value: true, params: parseParameters(input) };
    }
    dict.set(key, member);
    input.skipOWS();
    if (input.done) break;
    if (input.peek() !== ',') input.fail('expected ","');
    input.pos++;
    input.skipOWS();
    if (input.done) input.fail('trailing comma');
  }
  input.skipSP();
  if (!input.done) input.fail('unexpected characters');
  return dict;
}

/** RFC 8941 §4.2.3, for a whole field that is one Item. */
export function parseItem(text: string): Item {
  const input = new Input(text);
  input.skipSP();
  const item = parseItemAt(input);
  input.skipSP();
  if (!input.done) input.fail('unexpected characters');
  return item;
}

function parseItemOrInnerList(input: Input): Member {
  return input.peek() === '(' ? parseInnerList(input) : parseItemAt(input);
}

function parseInnerList(input: Input): InnerList {
  input.pos++; // '('
  const items: Item[] = [];
  while (!input.done) {
    input.skipSP();
    if (input.peek() === ')') {
      input.pos++;
      return { items, params: parseParameters(input) };
    }
    items.push(parseItemAt(input));
    const next = input.peek();
    if (next !== ' ' && next !== ')') input.fail('expected " " or ")" in inner list');
  }
  return input.fail('unterminated inner list');
}

function parseItemAt(input: Input): Item {
  const value = parseBareItem(input);
  return { value, params: parseParameters(input) };
}

// Most items have no parameters (every component id of a Signature-Input): they share
// this one instead of a new Map each, which is a good part of a signature's parse.
export const NO_PARAMETERS: Parameters = new Map();

function parseParameters(input: Input): Parameters {
  if (input.peek() !== ';') return NO_PARAMETERS;
  const params = new Map<string, BareItem>();
  while (input.peek() === ';') {
    input.pos++;
    input.skipSP();
    const key = parseKey(input);
    let value: BareItem = true;
    if (input.peek() === '=') {
      input.pos++;
      value = parseBareItem(input);
    }
    params.set(key, value);
  }
  return params;
}

// Character classes as code-unit tables: a signature is parsed on every request, and a
// regular expression per character costs more than the rest of the parse.
function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALPHA = LOWER + LOWER.toUpperCase();
const DIGIT = '0123456789';
const DIGIT_CHAR = charTable(DIGIT);
const KEY_FIRST = charTable(LOWER + '*');
const KEY_CHAR = charTable(LOWER + DIGIT + '_.*-');
/** RFC 8941 tchar, plus ':' and '/' */
const TOKEN_FIRST = charTable(ALPHA + '*');
const TOKEN_CHAR = charTable(ALPHA + DIGIT + "!#$%&'*+-.^_`|~:/");

/** Whether the code unit at `pos` is in `table` (false past the end). */
function isIn(table: Uint8Array, text: string, pos: number): boolean {
  const code = text.charCodeAt(pos); // NaN past the end: table[NaN] is undefined
  return table[code] === 1;
}

function parseKey(input: Input): string {
  const start = input.pos;
  const text = input.text;
  if (!isIn(KEY_FIRST, text, start)) input.fail('expected a key');
  let pos = start + 1;
  while (isIn(KEY_CHAR, text, pos)) pos++;
  input.pos = pos;
  return text.slice(start, pos);
}

function parseBareItem(input: Input): BareItem {
  const c = input.peek();
  if (c === '-' || (c >= '0' && c <= '9')) return parseNumber(input);
  if (c === '"') return parseString(input);
  if (c === ':') return parseByteSequence(input);
  if (c === '?') return parseBoolean(input);
  if (isIn(TOKEN_FIRST, input.text, input.pos)) return parseToken(input);
  return input.fail('expected an item');
}

/** RFC 8941 §4.2.4: integers of at most 15 digits, decimals of at most 12.3 digits. */
function parseNumber(input: Input): number | Decimal {
  const text = input.text;
  const start = input.pos;
  let pos = text[start] === '-' ? start + 1 : start;
  const wholeStart = pos;
  while (isIn(DIGIT_CHAR, text, pos)) pos++;
  const whole = pos - wholeStart;
  if (whole === 0) return input.fail('expected a number');
  if (text[pos] !== '.') {
    if (whole > 15) input.fail('integer too long');
    input.pos = pos;
    return Number(text.slice(start, pos));
  }
  const fractionStart = ++pos;
  while (isIn(DIGIT_CHAR, text, pos)) pos++;
  const fraction = pos - fractionStart;
  if (whole > 12 || fraction === 0 || fraction > 3) input.fail('malformed decimal');
  input.pos = pos;
  return new Decimal(Number(text.slice(start, pos)));
}

function parseString(input: Input): string {
  input.pos++; // '"'
  const text = input.text;
  // the usual string has no escapes: check it in place and slice it once
  for (let pos = input.pos; pos < text.length; pos++) {
    const code = text.charCodeAt(pos);
    if (code === 0x22) {
      const value = text.slice(input.pos, pos);
      input.pos = pos + 1;
      return value;
    }
    if (code === 0x5c) break; // an escape: the careful way below
    if (code < 0x20 || code > 0x7e) {
      input.pos = pos;
      input.fail('bad character in string');
    }
  }
  let out = '';
  while (!input.done) {
    const c = input.text[input.pos++]!;
    if (c === '\\') {
      const next = input.text[input.pos++];
      if (next !== '"' && next !== '\\') input.fail('bad escape in string');
      out += next;
    } else if (c === '"') {
      return out;
    } else {
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) input.fail('bad character in string');
      out += c;
    }
  }
  return input.fail('unterminated string');
}

function parseToken(input: Input): Token {
  const start = input.pos;
  input.pos++;
  while (isIn(TOKEN_CHAR, input.text, input.pos)) input.pos++;
  return new Token(input.text.slice(start, input.pos));
}

function parseByteSequence(input: Input): Buffer {
  const end = input.text.indexOf(':', input.pos + 1);
  if (end === -1) input.fail('unterminated byte sequence');
  const b64 = input.text.slice(input.pos + 1, end);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) input.fail('bad base64 in byte sequence');
  input.pos = end + 1;
  return Buffer.from(b64, 'base64');
}

function parseBoolean(input: Input): boolean {
  const value = input.text[input.pos + 1];
  if (value !== '0' && value !== '1') input.fail('expected ?0 or ?1');
  input.pos += 2;
  return value === '1';
}

// ─── Serialization ─────────────────────────────────────────────────────────────────────

function serializeBareItem(value: BareItem): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) > 999_999_999_999_999) {
      throw new StructuredFieldError('integer out of range');
    }
    return String(value);
  }
  if (typeof value === 'string') {
    let escapes = false;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code < 0x20 || code > 0x7e) throw new StructuredFieldError('string with non-printable characters');
      if (code === 0x22 || code === 0x5c) escapes = true;
    }
    return escapes ? `"${value.replace(/[\\"]/g, '\\$&')}"` : `"${value}"`;
  }
  if (typeof value === 'boolean') return value ? '?1' : '?0';
  if (value instanceof Token) return value.value;
  if (value instanceof Decimal) {
    const rounded = Math.round(value.value * 1000) / 1000;
    const text = String(rounded);
    return text.includes('.') ? text : `${text}.0`;
  }
  return `:${value.toString('base64')}:`;
}

export function serializeParameters(params: Parameters): string {
  let out = '';
  for (const [key, value] of params) out += value === true ? `;${key}` : `;${key}=${serializeBareItem(value)}`;
  return out;
}

export function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParameters(item.params);
}

export function serializeInnerList(list: InnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParameters(list.params)}`;
}

/** A member on its own (RFC 9421 `;key=`): an Item or an Inner List. */
export function serializeMember(member: Member): string {
  return isInnerList(member) ? serializeInnerList(member) : serializeItem(member);
}

export function serializeDictionary(dict: Dictionary): string {
  const parts: string[] = [];
  for (const [key, member] of dict) {
    // a member whose value is true is written as its key (and parameters) alone
    if (!isInnerList(member) && member.value === true) parts.push(key + serializeParameters(member.params));
    else parts.push(`${key}=${serializeMember(member)}`);
  }
  return parts.join(', ');
}
