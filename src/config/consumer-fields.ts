// The rules for a consumer's custom_id and tags (Kong's fields) and its credentials' fields,
// shared by the config schema, the admin API and the CLI (src/gateway/credentials.ts
// re-exports them). No imports: the config schema loads this without anything of the gateway.

/** The fields a credential of each type may have (src/gateway/credentials.ts checks their values). */
export const CREDENTIAL_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'key-auth': ['key'],
  'basic-auth': ['username', 'password', 'password_hash'],
  'hmac-auth': ['key_id', 'secret'],
};

/**
 * Consumer custom_ids (Kong's: the operator's own id for the consumer): 1–256 printable ASCII
 * characters, not starting or ending with a space. The value reaches upstream as-is in
 * `X-Consumer-Custom-ID`: a control character cannot travel in a header (and PostgreSQL
 * refuses NUL), a non-ASCII one would arrive as different bytes, and a leading or trailing
 * space would be trimmed away by the upstream's HTTP parser.
 */
export const CONSUMER_CUSTOM_ID_RULE = 'printable ASCII, 1–256 characters, no leading or trailing space';

const CONTROL = /[\x00-\x1f\x7f]/;

/** Why a custom_id cannot be stored, or undefined when it can. */
export function customIdProblem(customId: unknown): string | undefined {
  if (typeof customId !== 'string') return 'expected a string';
  if (CONTROL.test(customId)) return 'must not contain control characters';
  if (!/^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/.test(customId)) return CONSUMER_CUSTOM_ID_RULE;
  return undefined;
}

/** Kong's tag rule: printable ASCII without `,` or `/` (they separate tags in `?tags=a,b` / `a/b`). */
export const CONSUMER_TAG_RULE = 'printable ASCII without "," or "/", 1–128 characters';
const TAG = /^[\x20-\x2b\x2d\x2e\x30-\x7e]{1,128}$/;
const MAX_TAGS = 64;

export function isTag(value: string): boolean {
  return TAG.test(value);
}

/** Why a consumer's tags cannot be stored, or undefined when they can. */
export function tagsProblem(tags: unknown): string | undefined {
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return 'expected a list of strings';
  if (tags.length > MAX_TAGS) return `at most ${MAX_TAGS} tags`;
  for (const t of tags as string[]) {
    if (CONTROL.test(t)) return `${JSON.stringify(t)}: a tag must not contain control characters`;
    if (!TAG.test(t)) return `${JSON.stringify(t)}: a tag is ${CONSUMER_TAG_RULE}`;
  }
  return undefined;
}

/** Tags as stored: a tag given twice once (Kong's tags are a set), the first order kept. */
export function uniqueTags(tags: readonly string[]): string[] {
  return [...new Set(tags)];
}
