// The signature base of HTTP Message Signatures (RFC 9421 §2.5): one line per covered
// component, `"<identifier>": <value>`, then `"@signature-params": <inner list>`.
// Derived components (§2.2) come from the request as the gateway received it; fields
// (§2.1) are every value of the field, trimmed and joined with ", ".
import {
  isInnerList,
  parseDictionary,
  serializeDictionary,
  serializeItem,
  serializeMember,
  serializeParameters,
  StructuredFieldError,
  type BareItem,
  type InnerList,
  type Item,
} from './structured-fields.js';

/** The request as a signer saw it. */
export interface SignedMessage {
  method: string;
  /** `http` | `https` */
  scheme: string;
  /** Host header (or :authority) as received */
  authority: string;
  /** path as received, percent-encoding untouched, without the query */
  path: string;
  /** raw query without `?` ('' when none) */
  query: string;
  /** every value of a field (lower-case name), or undefined when absent */
  field(name: string): string[] | undefined;
}

export class SignatureBaseError extends Error {
  override readonly name = 'SignatureBaseError';
}

/**
 * Fields whose structured type we know, for the `sf` and `key` parameters (RFC 9421
 * §2.1.1, §2.1.2). `sf` on other fields is refused: we cannot know their type.
 */
const DICTIONARY_FIELDS = new Set([
  'content-digest', 'repr-digest', 'want-content-digest', 'want-repr-digest',
  'signature', 'signature-input', 'accept-signature', 'priority',
]);

/** RFC 9421 §2.2.3: lower-case host; the scheme's default port omitted. */
export function normalizeAuthority(authority: string, scheme: string): string {
  const lower = authority.toLowerCase();
  if (scheme === 'http' && lower.endsWith(':80')) return lower.slice(0, -3);
  if (scheme === 'https' && lower.endsWith(':443')) return lower.slice(0, -4);
  return lower;
}

/** The component identifier as it appears in the base: the serialized sf-string with its parameters. */
function componentId(item: Item): string {
  return serializeItem(item);
}

/** The values of one covered component (several lines for a repeated `@query-param`). */
function componentValues(item: Item, msg: SignedMessage): string[] {
  if (typeof item.value !== 'string') throw new SignatureBaseError('component identifiers must be strings');
  const name = item.value;
  if (name !== name.toLowerCase()) throw new SignatureBaseError(`component "${name}" must be lower case`);
  for (const param of item.params.keys()) {
    if (param === 'req' || param === 'tr') throw new SignatureBaseError(`component parameter "${param}" is not supported on requests`);
  }
  return name.startsWith('@') ? derivedValues(name, item, msg) : fieldValues(name, item, msg);
}

function derivedValues(name: string, item: Item, msg: SignedMessage): string[] {
  const params = item.params;
  if (params.size > 0 && !(name === '@query-param' && params.size === 1 && params.has('name'))) {
    throw new SignatureBaseError(`unexpected parameters on ${name}`);
  }
  switch (name) {
    case '@method':
      return [msg.method];
    case '@authority':
      return [normalizeAuthority(msg.authority, msg.scheme)];
    case '@scheme':
      return [msg.scheme.toLowerCase()];
    case '@target-uri':
      return [`${msg.scheme}://${msg.authority}${msg.path || '/'}${msg.query === '' ? '' : `?${msg.query}`}`];
    case '@request-target':
      return [`${msg.path || '/'}${msg.query === '' ? '' : `?${msg.query}`}`];
    case '@path':
      return [msg.path || '/'];
    case '@query':
      return [`?${msg.query}`];
    case '@query-param':
      return queryParamValues(item, msg);
    default:
      throw new SignatureBaseError(`unsupported derived component ${name}`);
  }
}

/**
 * RFC 9421 §2.2.8: parameters are parsed as application/x-www-form-urlencoded, and names
 * and values re-encoded with percent-encoding (so `+` and `%20` both read as `%20`).
 */
function queryParamValues(item: Item, msg: SignedMessage): string[] {
  const wanted = item.params.get('name');
  if (typeof wanted !== 'string') throw new SignatureBaseError('@query-param needs a name parameter');
  const values: string[] = [];
  for (const [name, value] of new URLSearchParams(msg.query)) {
    if (encodeURIComponent(name) === wanted) values.push(encodeURIComponent(value));
  }
  if (values.length === 0) throw new SignatureBaseError(`query parameter "${wanted}" is not in the request`);
  return values;
}

function fieldValues(name: string, item: Item, msg: SignedMessage): string[] {
  const raw = msg.field(name);
  if (raw === undefined) throw new SignatureBaseError(`covered field "${name}" is not in the request`);
  const params = item.params;
  const combined = raw.map((value) => value.trim().replace(/\r?\n[ \t]*/g, ' ')).join(', ');
  if (params.size === 0) return [combined];
  if (params.size === 1 && params.get('bs') === true) {
    return [raw.map((value) => `:${Buffer.from(value.trim(), 'utf8').toString('base64')}:`).join(', ')];
  }
  const key = params.get('key');
  const sf = params.get('sf');
  const known = params.size === (key !== undefined ? 1 : 0) + (sf !== undefined ? 1 : 0);
  if (!known) throw new SignatureBaseError(`unsupported parameters on field "${name}"`);
  if (!DICTIONARY_FIELDS.has(name)) throw new SignatureBaseError(`field "${name}" is not a known structured field`);
  try {
    const dict = parseDictionary(combined);
    if (key === undefined) return [serializeDictionary(dict)];
    if (typeof key !== 'string') throw new SignatureBaseError('the key parameter must be a string');
    const member = dict.get(key);
    if (member === undefined) throw new SignatureBaseError(`field "${name}" has no member "${key}"`);
    return [serializeMember(member)];
  } catch (err) {
    if (err instanceof StructuredFieldError) throw new SignatureBaseError(`field "${name}" is not a valid dictionary`);
    throw err;
  }
}

/**
 * The signature base for the covered components and parameters of one Signature-Input
 * member. Throws SignatureBaseError when a component is missing, repeated or unsupported.
 * `serialized`, when the caller has it, is `input` serialized (serializeInnerList), for the
 * `@signature-params` line.
 */
export function signatureBase(input: InnerList, msg: SignedMessage, serialized?: string): string {
  const items = input.items;
  const ids = componentIds(items);
  let base = '';
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Item;
    const id = ids[i]!;
    const single = item.params.size === 0 ? plainDerivedValue(item.value, msg) : undefined;
    if (single !== undefined) base += `${id}: ${single}\n`;
    else for (const value of componentValues(item, msg)) base += `${id}: ${value}\n`;
  }
  // the @signature-params value is the inner list serialized: its items are the component
  // ids (serializeInnerList(input) would serialize them again)
  return `${base}"@signature-params": ${serialized ?? `(${ids.join(' ')})${serializeParameters(input.params)}`}`;
}

/**
 * The serialized ids of the covered components, checked to be items and each covered once
 * (RFC 9421 §2.5). Remembered for a frozen list: the usual-shape reader (message-signature.ts)
 * hands every request of a client the same frozen list; the general parser's lists are new
 * on every request and not worth remembering.
 */
const checkedIds = new WeakMap<InnerList['items'], string[]>();

function componentIds(items: InnerList['items']): string[] {
  let ids = checkedIds.get(items);
  if (ids !== undefined) return ids;
  ids = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (isInnerList(item)) throw new SignatureBaseError('covered components must be items');
    const id = componentId(item);
    if (seen.has(id)) throw new SignatureBaseError(`component ${id} is covered twice`);
    seen.add(id);
    ids.push(id);
  }
  if (Object.isFrozen(items)) checkedIds.set(items, ids);
  return ids;
}

/** The value of the derived components nearly every signature covers, without parameters; undefined for any other. */
function plainDerivedValue(name: BareItem, msg: SignedMessage): string | undefined {
  switch (name) {
    case '@method':
      return msg.method;
    case '@authority':
      return normalizeAuthority(msg.authority, msg.scheme);
    case '@path':
      return msg.path || '/';
    case '@query':
      return `?${msg.query}`;
    default:
      return undefined;
  }
}
