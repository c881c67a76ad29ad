// Exact string match against the registered redirect URIs: no prefixes, no wildcards, no
// normalisation (RFC 9700 §4.1.3). Omitted: only when exactly one is registered.
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import { UntrustedRequestError } from './request.js';

export function checkRedirectUri(client: Client, params: FormParams): string {
  const given = params.get('redirect_uri');
  if (given === undefined) {
    if (client.redirect_uris.length === 1) return client.redirect_uris[0]!;
    throw new UntrustedRequestError('The request names no redirect URI (redirect_uri is missing).');
  }
  if (!client.redirect_uris.includes(given)) {
    throw new UntrustedRequestError('The redirect URI is not registered for this application.');
  }
  return given;
}
