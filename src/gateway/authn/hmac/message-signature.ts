// Finding and checking an `hmac-sha256` HTTP Message Signature (RFC 9421 §3.2): pick the
// Signature-Input member that names a `keyid` and either no `alg` or `hmac-sha256`, check
// its parameters' types, rebuild the signature base and compare HMACs in constant time.
import { HmacSha256 } from '../../../crypto/hmac-sha256.js';
import { signatureBase, type SignedMessage } from './signature-base.js';
import {
  isInnerList,
  NO_PARAMETERS,
  parseDictionary,
  serializeInnerList,
  StructuredFieldError,
  type BareItem,
  type InnerList,
  type Item,
} from './structured-fields.js';

const HMAC_ALG = 'hmac-sha256';

export interface HmacSignature {
  label: string;
  input: InnerList;
  signature: Buffer;
  keyid: string;
  created?: number;
  expires?: number;
  nonce?: string;
  /** serialized component identifiers, e.g. `"@method"`, `"content-digest"` (shared between requests: never changed) */
  covered: ReadonlySet<string>;
  /** `input` serialized: the value of the signature base's `@signature-params` line */
  signatureParams: string;
}

type FindResult =
  | { kind: 'absent' }
  | { kind: 'malformed'; problem: string }
  | { kind: 'found'; signature: HmacSignature };

const PARAM_TYPES: Readonly<Record<string, 'integer' | 'string'>> = {
  created: 'integer',
  expires: 'integer',
  nonce: 'string',
  alg: 'string',
  keyid: 'string',
  tag: 'string',
};

/**
 * The first HMAC signature of the request. Members with another `alg`, or without a
 * `keyid`, belong to someone else: when there is no HMAC member at all the result is
 * `absent` (not our credential).
 */
export function findHmacSignature(signatureInput: string, signatureField: string | undefined): FindResult {
  return findUsualHmacSignature(signatureInput, signatureField) ?? findHmacSignatureParsed(signatureInput, signatureField);
}

/** findHmacSignature through the general RFC 8941 parser, whatever the fields look like. */
export function findHmacSignatureParsed(signatureInput: string, signatureField: string | undefined): FindResult {
  let inputs;
  try {
    inputs = parseDictionary(signatureInput);
  } catch (err) {
    if (err instanceof StructuredFieldError) return { kind: 'malformed', problem: 'Signature-Input is not a valid dictionary' };
    throw err;
  }
  for (const [label, member] of inputs) {
    if (!isInnerList(member)) continue;
    const keyid = member.params.get('keyid');
    const alg = member.params.get('alg');
    if (typeof keyid !== 'string' || (alg !== undefined && alg !== HMAC_ALG)) continue;
    for (const [name, value] of member.params) {
      const type = PARAM_TYPES[name];
      if (type === 'integer' && !Number.isInteger(value)) return { kind: 'malformed', problem: `signature parameter ${name} must be an integer` };
      if (type === 'string' && typeof value !== 'string') return { kind: 'malformed', problem: `signature parameter ${name} must be a string` };
    }
    const covered = new Set<string>();
    for (const item of member.items) {
      if (typeof item.value !== 'string') return { kind: 'malformed', problem: 'covered components must be strings' };
      covered.add(serializeId(item.value, item.params.size));
    }
    const signature = signatureBytes(signatureField, label);
    if (signature === undefined) return { kind: 'malformed', problem: `no signature "${label}" in the Signature field` };
    // cannot throw: every parsed value serializes, and the components are strings
    const found: HmacSignature = { label, input: member, signature, keyid, covered, signatureParams: serializeInnerList(member) };
    const created = member.params.get('created');
    const expires = member.params.get('expires');
    const nonce = member.params.get('nonce');
    if (typeof created === 'number') found.created = created;
    if (typeof expires === 'number') found.expires = expires;
    if (typeof nonce === 'string') found.nonce = nonce;
    return { kind: 'found', signature: found };
  }
  return { kind: 'absent' };
}

/** Identifiers without parameters are compared as `"name"`; parameterised ones never satisfy a requirement. */
function serializeId(name: string, paramCount: number): string {
  return paramCount === 0 ? `"${name}"` : `"${name}";…`;
}

function signatureBytes(field: string | undefined, label: string): Buffer | undefined {
  if (field === undefined) return undefined;
  try {
    const member = parseDictionary(field).get(label);
    if (member === undefined || isInnerList(member) || !Buffer.isBuffer(member.value)) return undefined;
    return member.value;
  } catch (err) {
    if (err instanceof StructuredFieldError) return undefined;
    throw err;
  }
}

/**
 * HMAC-SHA256 over the signature base, compared in constant time. `key` is best prepared once
 * (HmacSha256: the cached credential's); a raw key is prepared for this call. Throws
 * SignatureBaseError.
 */
export function verifyHmacSignature(found: HmacSignature, msg: SignedMessage, key: HmacSha256 | Buffer | string): boolean {
  const base = signatureBase(found.input, msg, found.signatureParams);
  // the length of an HMAC is public; only the content is compared in constant time
  return (key instanceof HmacSha256 ? key : new HmacSha256(key)).verify(base, found.signature);
}

// ─── The usual shape, without the general parser ──────────────────────────────────────
//
// Nearly every request carries one Signature-Input member such as
//   sig1=("@method" "@authority" "@path");created=1795437392;keyid="k";alg="hmac-sha256";nonce="…"
// and one Signature member `sig1=:…:`. findUsualHmacSignature reads exactly that shape in one
// pass and builds what findHmacSignatureParsed would; anything else — whitespace, several
// members, parameters on components, escapes, tokens, decimals, booleans, leading zeros,
// negative numbers, a repeated or mistyped parameter, a member that is not ours, any doubt
// at all — makes it answer undefined, and the general parser decides (errors included).
// test/gateway/authn-hmac-usual-shape.test.ts runs both over valid, malformed and randomly
// mutated fields and requires identical results.
//
// What it accepts is canonical (RFC 8941 §4.1 would serialize it to the same text), so the
// inner list's text is its serialization, the `@signature-params` value.

function isLcAlpha(code: number): boolean {
  return code >= 0x61 && code <= 0x7a;
}

/** RFC 8941 key characters after the first: lcalpha, DIGIT, `_`, `-`, `.`, `*` */
function isKeyChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x2d || code === 0x2e || code === 0x2a;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** The end of a key starting at `pos` with a lower-case letter, or -1. */
function keyEnd(text: string, pos: number): number {
  if (!isLcAlpha(text.charCodeAt(pos))) return -1;
  pos++;
  while (isKeyChar(text.charCodeAt(pos))) pos++;
  return pos;
}

/** The position of the closing quote of a string starting after `pos` without escapes, or -1. */
function stringEnd(text: string, pos: number): number {
  for (;;) {
    const code = text.charCodeAt(pos);
    if (code === 0x22) return pos;
    // NaN (the end of the text) fails the range test too
    if (!(code >= 0x20 && code <= 0x7e) || code === 0x5c) return -1;
    pos++;
  }
}

/** The value of a base64 character (RFC 4648 §4), -1 for any other code unit. */
const SEXTETS = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => (SEXTETS[c.charCodeAt(0)] = i));

function sextet(code: number): number {
  return code < 128 ? SEXTETS[code]! : -1;
}

/**
 * The bytes of `text[start..end)` as base64 (a whole number of 4-character groups, at most
 * two `=` at the end, bits past the last byte ignored: what parseDictionary accepts and
 * Buffer.from decodes), or undefined for anything else. Decoded here: checking the text,
 * then Buffer.from, took about as long as the rest of the usual path.
 */
function base64Bytes(text: string, start: number, end: number): Buffer | undefined {
  const length = end - start;
  if (length % 4 !== 0) return undefined;
  let pad = 0;
  if (length > 0 && text.charCodeAt(end - 1) === 0x3d) pad = text.charCodeAt(end - 2) === 0x3d ? 2 : 1;
  const size = (length / 4) * 3 - pad;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let p = start; p < end; p += 4) {
    const a = sextet(text.charCodeAt(p));
    const b = sextet(text.charCodeAt(p + 1));
    // the padding, only in the last group: read as zero bits, its bytes not written
    const c = p + 2 >= end - pad ? 0 : sextet(text.charCodeAt(p + 2));
    const d = p + 3 >= end - pad ? 0 : sextet(text.charCodeAt(p + 3));
    if ((a | b | c | d) < 0) return undefined;
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = bits >>> 16;
    if (o < size) out[o++] = (bits >>> 8) & 0xff;
    if (o < size) out[o++] = bits & 0xff;
  }
  return out;
}

/**
 * The `label=("…" …)` start of the last usual Signature-Input read, and what it parsed to.
 * A client signs every request over the same components, so the next request's field
 * nearly always starts with the same text: its label, items and covered set are then
 * taken as they are (never changed by anyone: HmacSignature's are read-only) instead of
 * being parsed and built again. The text up to the `)` decides all three alone. The items
 * are frozen; the covered set is only ever read (HmacSignature's is a ReadonlySet).
 */
interface ListStart {
  text: string;
  label: string;
  items: Item[];
  covered: ReadonlySet<string>;
}
let lastListStart: ListStart | undefined;

/** The label and inner list's items at the start of `input` (through its `)`), or undefined for anything but the usual shape. */
function readListStart(input: string): ListStart | undefined {
  const last = lastListStart;
  if (last !== undefined && input.startsWith(last.text)) return last;
  // label=(
  let pos = keyEnd(input, 0);
  if (pos === -1 || input.charCodeAt(pos) !== 0x3d || input.charCodeAt(pos + 1) !== 0x28) return undefined;
  const label = input.slice(0, pos);
  pos += 2;
  // "component" items, one space apart, without parameters
  const items: Item[] = [];
  const covered = new Set<string>();
  if (input.charCodeAt(pos) !== 0x29) {
    for (;;) {
      if (input.charCodeAt(pos) !== 0x22) return undefined;
      const end = stringEnd(input, pos + 1);
      if (end === -1) return undefined;
      items.push({ value: input.slice(pos + 1, end), params: NO_PARAMETERS });
      covered.add(input.slice(pos, end + 1));
      pos = end + 1;
      const next = input.charCodeAt(pos);
      if (next === 0x29) break;
      if (next !== 0x20) return undefined;
      pos++;
    }
  }
  // frozen: shared by every later request that starts the same way (signature-base.ts
  // remembers the checked ids of frozen lists only)
  for (const item of items) Object.freeze(item);
  const start: ListStart = { text: input.slice(0, pos + 1), label, items: Object.freeze(items) as Item[], covered };
  lastListStart = start;
  return start;
}

/** findHmacSignature for the usual shape, or undefined when the fields are anything else. */
export function findUsualHmacSignature(input: string, field: string | undefined): FindResult | undefined {
  if (field === undefined) return undefined;
  const length = input.length;
  const start = readListStart(input);
  if (start === undefined) return undefined;
  const { label, items, covered } = start;
  const listStart = label.length + 1;
  let pos = start.text.length; // past ')'
  // ;name=value parameters: integers without sign or leading zeros, strings without escapes
  const params = new Map<string, BareItem>();
  while (pos < length) {
    if (input.charCodeAt(pos) !== 0x3b) return undefined;
    const keyStart = pos + 1;
    pos = keyEnd(input, keyStart);
    if (pos === -1 || input.charCodeAt(pos) !== 0x3d) return undefined;
    const key = input.slice(keyStart, pos);
    if (params.has(key)) return undefined;
    pos++;
    const first = input.charCodeAt(pos);
    let value: BareItem;
    if (first === 0x22) {
      const end = stringEnd(input, pos + 1);
      if (end === -1) return undefined;
      value = input.slice(pos + 1, end);
      pos = end + 1;
    } else if (isDigit(first)) {
      const start = pos;
      pos++;
      while (isDigit(input.charCodeAt(pos))) pos++;
      if (pos - start > 15 || (first === 0x30 && pos - start > 1) || input.charCodeAt(pos) === 0x2e) return undefined;
      value = Number(input.slice(start, pos));
    } else {
      return undefined;
    }
    // PARAM_TYPES without a property lookup by a fresh string
    switch (key) {
      case 'created':
      case 'expires':
        if (typeof value !== 'number') return undefined;
        break;
      case 'nonce':
      case 'alg':
      case 'keyid':
      case 'tag':
        if (typeof value !== 'string') return undefined;
        break;
    }
    params.set(key, value);
  }
  const keyid = params.get('keyid');
  const alg = params.get('alg');
  if (typeof keyid !== 'string' || (alg !== undefined && alg !== HMAC_ALG)) return undefined;

  // Signature: label=:base64:, alone
  const fieldLength = field.length;
  if (
    fieldLength < label.length + 3 ||
    !field.startsWith(label) ||
    field.charCodeAt(label.length) !== 0x3d ||
    field.charCodeAt(label.length + 1) !== 0x3a ||
    field.charCodeAt(fieldLength - 1) !== 0x3a
  ) {
    return undefined;
  }
  const signature = base64Bytes(field, label.length + 2, fieldLength - 1);
  if (signature === undefined) return undefined;

  const found: HmacSignature = { label, input: { items, params }, signature, keyid, covered, signatureParams: input.slice(listStart) };
  const created = params.get('created');
  const expires = params.get('expires');
  const nonce = params.get('nonce');
  if (typeof created === 'number') found.created = created;
  if (typeof expires === 'number') found.expires = expires;
  if (typeof nonce === 'string') found.nonce = nonce;
  return { kind: 'found', signature: found };
}
