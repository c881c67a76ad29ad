// `drawbridge token --key FILE`: the client authenticates with private_key_jwt (RFC 7523
// §2.2, OIDC Core §9), a client_assertion JWT signed with its own private key. The key comes
// from a file (a private JWK, or a PEM private key) and is never echoed: a fault in the file is
// named after the flag and the file, with at most a position or a key type, never its text.
import { createPrivateKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { isPlainObject } from '../../config/fields.js';
import { CLIENT_ASSERTION_ALGS } from '../../crypto/algorithms.js';
import { UsageError } from '../errors.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** seconds an assertion lives: it is sent at once, and the server refuses it afterwards */
const ASSERTION_LIFETIME = 60;

export interface AssertionKey {
  key: KeyObject;
  /** the JWS algorithm: the JWK's own `alg`, else the one the key's type and curve fix */
  alg: string;
  /** the JWK's `kid`, so the server picks the key without trying each */
  kid?: string;
}

/** The algorithms each key type can sign a client assertion with (CLIENT_ASSERTION_ALGS). */
const ALGS_BY_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  ed25519: ['EdDSA', 'Ed25519'],
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
};

const NOT_A_KEY = 'not a private key: expected a private JWK (JSON with "d") or a PEM private key (PKCS#8, or PKCS#1 RSA / SEC1 EC), unencrypted';

/** Reads and checks `--key FILE`; exit 2 (UsageError) for anything it cannot sign with. */
export function readAssertionKey(file: string): AssertionKey {
  const where = `--key ${file}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${where}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const { key, jwkAlg, kid } = text.trimStart().startsWith('{') ? fromJwk(where, text) : { key: fromPem(where, text), jwkAlg: undefined, kid: undefined };
  const type = key.asymmetricKeyType === 'ec' ? `ec:${key.asymmetricKeyDetails?.namedCurve ?? '?'}` : String(key.asymmetricKeyType);
  const fits = ALGS_BY_KEY_TYPE[type];
  if (fits === undefined) {
    throw new UsageError(`${where}: ${keyName(type)} cannot sign a client assertion; use an RSA (2048 bits or more), EC P-256/P-384/P-521 or Ed25519 key`);
  }
  if ((key.asymmetricKeyDetails?.modulusLength ?? 2048) < 2048) {
    throw new UsageError(`${where}: an RSA key of ${key.asymmetricKeyDetails?.modulusLength} bits; private_key_jwt needs 2048 or more (RFC 7518 §3.3)`);
  }
  if (jwkAlg !== undefined && !fits.includes(jwkAlg)) {
    const known = (CLIENT_ASSERTION_ALGS as readonly string[]).includes(jwkAlg);
    throw new UsageError(`${where}: alg ${jwkAlg} ${known ? `does not fit ${keyName(type)}` : 'cannot sign a client assertion'} (this key: ${fits.join(', ')})`);
  }
  return { key, alg: jwkAlg ?? fits[0]!, ...(kid === undefined ? {} : { kid }) };
}

/** openssl's curve names as JOSE spells them (RFC 7518 §6.2.1.1) */
const CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** `an EC P-256 key`, `an rsa-pss key`, `an ed448 key` */
function keyName(type: string): string {
  const named = type.startsWith('ec:') ? `EC ${CURVES[type.slice(3)] ?? type.slice(3)}` : type === 'rsa' ? 'RSA' : type;
  return `${/^([aeiou]|rsa|x)/i.test(named) ? 'an' : 'a'} ${named} key`;
}

function fromJwk(where: string, text: string): { key: KeyObject; jwkAlg: string | undefined; kid: string | undefined } {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch (err) {
    // V8's message may quote the text around the fault (the key): only its position is kept
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new UsageError(`${where}: not valid JSON${at === undefined ? '' : ` (at position ${at})`}; expected a private JWK`);
  }
  if (!isPlainObject(jwk)) throw new UsageError(`${where}: expected a private JWK (a JSON object)`);
  if (Object.hasOwn(jwk, 'keys')) throw new UsageError(`${where}: a JWK Set; give the one private JWK the client signs with`);
  if (jwk.kty === 'oct') throw new UsageError(`${where}: a symmetric key (kty oct); private_key_jwt signs with an asymmetric private key (EC, RSA or OKP)`);
  if (jwk.d === undefined) throw new UsageError(`${where}: ${NOT_A_KEY} (a public JWK has no "d")`);
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') throw new UsageError(`${where}: "alg" must be a string`);
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) throw new UsageError(`${where}: "kid" must be a non-empty string`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    // node's message is fixed text, but nothing of the key is worth the risk
    throw new UsageError(`${where}: not a usable private JWK (kty ${typeof jwk.kty === 'string' ? jwk.kty : 'missing'}): check its members`);
  }
  return { key, jwkAlg: jwk.alg as string | undefined, kid: jwk.kid as string | undefined };
}

function fromPem(where: string, text: string): KeyObject {
  if (!text.includes('-----BEGIN')) throw new UsageError(`${where}: ${NOT_A_KEY}`);
  // PKCS#8 (BEGIN ENCRYPTED PRIVATE KEY) or legacy OpenSSL (Proc-Type: 4,ENCRYPTED)
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(text)) throw new UsageError(`${where}: an encrypted PEM key; give it unencrypted`);
  try {
    return createPrivateKey(text);
  } catch {
    throw new UsageError(`${where}: ${NOT_A_KEY}`);
  }
}

/**
 * A client assertion for `clientId` at `tokenEndpoint`: iss = sub = client_id, aud = the token
 * endpoint, a random jti (used once), iat now and a 60 s exp.
 */
export function signClientAssertion(k: AssertionKey, clientId: string, tokenEndpoint: string): Promise<string> {
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader(k.kid === undefined ? { alg: k.alg } : { alg: k.alg, kid: k.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenEndpoint)
    .setIssuedAt()
    .setExpirationTime(`${ASSERTION_LIFETIME}s`)
    .sign(k.key);
}
