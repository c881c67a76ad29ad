// Exact string match against the registered redirect URIs: no prefixes, no wildcards, no
// normalisation (RFC 9700 §4.1.3). The one exception is the port of a loopback IP literal
// (`http://127.0.0.1/cb`, `http://[::1]/cb`) for a native app, i.e. a public client
// (token_endpoint_auth_method none): it listens on whatever port the OS gives it, so any port
// matches there (RFC 8252 §7.3: MUST; RFC 9700 §4.1.3 allows it for native apps only), the
// rest of the URI still exactly. A confidential client (a server, whose port is its own
// to choose) is matched exactly there too. Omitted: allowed only for a plain OAuth request from a
// client with exactly one registered URI (RFC 6749 §3.1.2.3); an OpenID request must always
// name it (OIDC Core §3.1.2.1: REQUIRED), however many the client has.
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import { UntrustedRequestError } from './request.js';

export function checkRedirectUri(client: Client, params: FormParams): string {
  const given = params.get('redirect_uri');
  if (given === undefined) {
    if (isOpenIdRequest(client, params)) {
      throw new UntrustedRequestError('The request names no redirect URI (redirect_uri is required for OpenID Connect requests).');
    }
    if (client.redirect_uris.length === 1) return client.redirect_uris[0]!;
    throw new UntrustedRequestError('The request names no redirect URI (redirect_uri is missing).');
  }
  if (!isRegistered(client.redirect_uris, given, client.token_endpoint_auth_method === 'none')) {
    throw new UntrustedRequestError('The redirect URI is not registered for this application.');
  }
  return given;
}

/** `http://` + a loopback IP literal, an optional port, and the rest (path, query) as written. */
const LOOPBACK_IP_URI = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::\d{1,5})?([/?][^#]*)?$/;

/** Exactly one of `registered`, or, for a native app, one of its loopback IP URIs with another port (RFC 8252 §7.3). */
function isRegistered(registered: readonly string[], given: string, nativeApp: boolean): boolean {
  if (registered.includes(given)) return true;
  if (!nativeApp) return false;
  const asked = LOOPBACK_IP_URI.exec(given);
  if (asked === null) return false;
  for (const uri of registered) {
    const known = LOOPBACK_IP_URI.exec(uri);
    if (known !== null && known[1] === asked[1] && (known[2] ?? '') === (asked[2] ?? '')) return true;
  }
  return false;
}

/**
 * Whether an ID token would come of it: `openid` among the requested scopes, or among the
 * client's default scopes when none are requested (what check-scope.ts then grants). Decided
 * on the raw value: scope is validated later, once errors may be redirected.
 */
function isOpenIdRequest(client: Client, params: FormParams): boolean {
  const scope = params.get('scope');
  if (scope === undefined) return client.default_scopes.includes('openid');
  return scope.split(' ').includes('openid');
}

/**
 * Whether the front channel may carry tokens to `uri` (the implicit types): not over plain
 * http, except to a loopback host (a native app's local listener). OIDC Core §3.2.2.1 says
 * MUST NOT for the implicit flow; RFC 6749 §3.1.2.1 asks for TLS for `token` as well. Registered
 * URIs are not refused at load time, since the same client may use them for the code flow.
 */
export function mayReceiveTokens(uri: string): boolean {
  const url = new URL(uri);
  if (url.protocol !== 'http:') return true;
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}
