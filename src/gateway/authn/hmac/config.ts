// hmac-auth's configuration: its schema (what `config validate`, the admin API and the
// plugin itself parse a config with) and the type it parses to.
import { bool, ConfigError, duration, format, keyPath, list, object, oneOf, size, str } from '../../../config/schema.js';
import { DEFAULT_REALM, realmField } from '../common.js';
import type { LegacyAlgorithm } from './kong-legacy.js';

export interface HmacAuthConfig {
  realm: string;
  clock_skew: number;
  enforce_nonce: boolean;
  max_body: number;
  enforce_headers: string[];
  hide_credentials: boolean;
  cache_ttl: number;
  legacy: boolean;
  algorithms: LegacyAlgorithm[];
  allow_sha1: boolean;
  validate_request_body: boolean;
  anonymous?: string;
}

const LEGACY_ALGORITHMS: LegacyAlgorithm[] = ['hmac-sha1', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'];

/** RFC 9421 §2.2 derived components a signature can cover as they are (`@query-param` needs a name parameter). */
const DERIVED_COMPONENTS = ['@method', '@authority', '@scheme', '@target-uri', '@request-target', '@path', '@query'];

/**
 * An `enforce_headers` entry: a lower-case header field name (an RFC 9110 §5.6.2 token, the
 * form RFC 9421 §2.1 identifies fields by) or a derived component. It is written into the
 * quoted component names of every 401's Accept-Signature (an RFC 8941 string: a `"` or `\`
 * would end or break it, a space or a non-ASCII character is no field name either).
 */
const componentName = format(
  'string',
  `a lower-case header field name (an RFC 9110 token: letters, digits and !#$%&'*+-.^_\`|~) or a derived component (${DERIVED_COMPONENTS.join(', ')})`,
  (name) => (/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name) || DERIVED_COMPONENTS.includes(name) ? name : undefined),
);

export const hmacAuthConfigSchema = object<HmacAuthConfig>(
  {
    realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Signature` challenge.'),
    clock_skew: duration(1).default('300s').doc('Largest accepted distance between `created` (or `Date`) and now.'),
    enforce_nonce: bool().default(false).doc('Require a `nonce` parameter (each nonce is accepted once either way).'),
    max_body: size(0).default('1mb').doc('Largest body buffered to check its `Content-Digest`; larger bodies get 413.'),
    enforce_headers: list(componentName)
      .default([])
      .doc('Further components the signature must cover: lower-case header field names (like `content-type`; in the legacy scheme, the header names it signs) or RFC 9421 derived components (`@method`, `@authority`, `@scheme`, `@target-uri`, `@request-target`, `@path`, `@query`).'),
    hide_credentials: bool().default(true).doc('Remove `Signature`/`Signature-Input` (or the legacy `Authorization`) before proxying.'),
    cache_ttl: duration().default('60s').doc('How long a looked-up HMAC credential is remembered.'),
    legacy: bool()
      .default(false)
      .doc("Also accept Kong's `Authorization: hmac username=…` scheme; its `headers` must include `request-line` and `date` (or `x-date`)."),
    algorithms: list(oneOf(LEGACY_ALGORITHMS), { min: 1 })
      .default(['hmac-sha256', 'hmac-sha384', 'hmac-sha512'])
      .doc('Algorithms accepted in the legacy scheme (`hmac-sha1` only with `allow_sha1`).'),
    allow_sha1: bool().default(false).doc('Accept `hmac-sha1` in the legacy scheme (adds it to `algorithms`).'),
    validate_request_body: bool()
      .default(false)
      .doc('Legacy scheme: check `Digest: SHA-256=…` against the body; `digest` must then be signed.'),
    anonymous: str().optional().doc('Consumer to proceed as when no credential is presented.'),
  },
  function checkHmacAuth(value, path) {
    const sha1 = value.algorithms.indexOf('hmac-sha1');
    if (sha1 >= 0 && !value.allow_sha1) {
      throw new ConfigError(keyPath(keyPath(path, 'algorithms'), sha1), 'hmac-sha1 needs allow_sha1: true');
    }
  },
);
