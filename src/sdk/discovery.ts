// Authorization server metadata (OpenID Connect Discovery 1.0 / RFC 8414), fetched once per
// issuer and shared by the verifier and the token clients. A failed fetch is not cached, so
// the next caller tries again (the auth server may simply have started after the service).
export interface IssuerMetadata {
  issuer: string;
  jwks_uri: string;
  token_endpoint?: string;
  readonly [field: string]: unknown;
}

const cache = new Map<string, Promise<IssuerMetadata>>();

/** Thrown when the metadata cannot be had; callers turn it into their own error class. */
export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
}

const MAX_BYTES = 256 * 1024;

export function discover(issuer: string, timeoutMs = 5000): Promise<IssuerMetadata> {
  const known = cache.get(issuer);
  if (known !== undefined) return known;
  const pending = fetchMetadata(issuer, timeoutMs).catch((err: unknown) => {
    if (cache.get(issuer) === pending) cache.delete(issuer);
    throw err;
  });
  cache.set(issuer, pending);
  return pending;
}

/** For tests and long-lived processes that know the issuer changed its metadata. */
export function forgetDiscovery(issuer?: string): void {
  if (issuer === undefined) cache.clear();
  else cache.delete(issuer);
}

async function fetchMetadata(issuer: string, timeoutMs: number): Promise<IssuerMetadata> {
  // OIDC Discovery §4: the issuer without its trailing slash, then the well-known path
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new DiscoveryError(`discovery at ${url} failed: ${describe(err)}`, { cause: err });
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new DiscoveryError(`discovery at ${url} answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? 0);
  const text = declared > MAX_BYTES ? '' : await res.text();
  let doc: unknown;
  try {
    doc = text.length > MAX_BYTES ? undefined : JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new DiscoveryError(`discovery at ${url}: not a JSON object`);
  const meta = doc as Record<string, unknown>;
  // OIDC Discovery §4.3: the document must name the issuer we asked for, exactly — otherwise
  // a misconfigured proxy could hand us another issuer's keys
  if (meta.issuer !== issuer) throw new DiscoveryError(`discovery at ${url} names issuer ${JSON.stringify(meta.issuer)}, not ${issuer}`);
  if (typeof meta.jwks_uri !== 'string' || !isHttpUrl(meta.jwks_uri)) throw new DiscoveryError(`discovery at ${url}: no usable jwks_uri`);
  if (meta.token_endpoint !== undefined && (typeof meta.token_endpoint !== 'string' || !isHttpUrl(meta.token_endpoint))) {
    throw new DiscoveryError(`discovery at ${url}: token_endpoint is not a URL`);
  }
  return meta as IssuerMetadata;
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** A network error's reason without anything of the request (fetch puts the cause in `cause`). */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
    return err.message;
  }
  return String(err);
}
