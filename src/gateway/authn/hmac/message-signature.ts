// Finding and checking an `hmac-sha256` HTTP Message Signature (RFC 9421 §3.2): pick the
// Signature-Input member that names a `keyid` and either no `alg` or `hmac-sha256`, check
// its parameters' types, rebuild the signature base and compare HMACs in constant time.
import { HmacSha256 } from '../../../crypto/hmac-sha256.js';
import { signatureBase, type SignedMessage } from './signature-base.js';
import { isInnerList, parseDictionary, StructuredFieldError, type InnerList } from './structured-fields.js';

export const HMAC_ALG = 'hmac-sha256';

export interface HmacSignature {
  label: string;
  input: InnerList;
  signature: Buffer;
  keyid: string;
  created?: number;
  expires?: number;
  nonce?: string;
  /** serialized component identifiers, e.g. `"@method"`, `"content-digest"` */
  covered: Set<string>;
}

export type FindResult =
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
    const found: HmacSignature = { label, input: member, signature, keyid, covered };
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
  const base = signatureBase(found.input, msg);
  // the length of an HMAC is public; only the content is compared in constant time
  return (key instanceof HmacSha256 ? key : new HmacSha256(key)).verify(base, found.signature);
}
