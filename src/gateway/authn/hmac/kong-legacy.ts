// Kong's hmac-auth scheme (draft-cavage style), for teams migrating from Kong:
//   Authorization: hmac username="…", algorithm="hmac-sha256", headers="date request-line", signature="…"
// The signing string is one line per listed header, `name: value`, with the pseudo-header
// `request-line` as `METHOD /path?query HTTP/1.1`, joined by "\n"; the signature is the
// base64 HMAC of it under the credential's secret.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type LegacyAlgorithm = 'hmac-sha1' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

const LEGACY_HASHES: Readonly<Record<LegacyAlgorithm, string>> = {
  'hmac-sha1': 'sha1',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

export interface LegacyParams {
  username: string;
  algorithm: string;
  headers: string[];
  signature: Buffer;
}

const PARAM = /^\s*([A-Za-z]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/;

/** The parameters after `hmac `, or undefined when malformed or incomplete. */
export function parseLegacyParams(text: string): LegacyParams | undefined {
  const params = new Map<string, string>();
  let rest = text;
  while (rest.trim() !== '') {
    const match = PARAM.exec(rest);
    if (!match) return undefined;
    const name = match[1]!.toLowerCase();
    if (params.has(name)) return undefined;
    params.set(name, match[2]!.replace(/\\(.)/g, '$1'));
    rest = rest.slice(match[0].length);
  }
  const username = params.get('username');
  const algorithm = params.get('algorithm');
  const headers = params.get('headers');
  const signature = params.get('signature');
  if (!username || !algorithm || !headers || !signature) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature) || signature.length % 4 !== 0) return undefined;
  const names = headers.trim().toLowerCase().split(/ +/);
  return { username, algorithm: algorithm.toLowerCase(), headers: names, signature: Buffer.from(signature, 'base64') };
}

interface LegacyRequest {
  method: string;
  /** path and query as received (`/a?b=c`) */
  target: string;
  httpVersion: string;
  field(name: string): string | undefined;
}

export function legacySigningString(headers: readonly string[], req: LegacyRequest): string {
  return headers
    .map(function line(name) {
      if (name === 'request-line') return `${req.method} ${req.target} HTTP/${req.httpVersion}`;
      const value = req.field(name);
      // Kong signs an absent header as `name:`; we do the same so Kong clients keep working
      return value === undefined ? `${name}:` : `${name}: ${value}`;
    })
    .join('\n');
}

export function verifyLegacySignature(params: LegacyParams, req: LegacyRequest, secret: Buffer | string): boolean {
  const hash = LEGACY_HASHES[params.algorithm as LegacyAlgorithm];
  if (hash === undefined) return false;
  const expected = createHmac(hash, secret).update(legacySigningString(params.headers, req)).digest();
  return params.signature.length === expected.length && timingSafeEqual(params.signature, expected);
}

/** Kong's `validate_request_body`: `Digest: SHA-256=<base64>` of the body; no Digest only for an empty body. */
export function checkLegacyDigest(digest: string | undefined, body: Buffer): boolean {
  if (digest === undefined) return body.length === 0;
  const expected = `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
  const a = Buffer.from(digest.trim());
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
