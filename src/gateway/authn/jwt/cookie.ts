// A bearer token carried in a cookie (`cookie_names`). Hiding it removes only that cookie:
// the request's other cookies still reach upstream.
import type { GatewayRequest } from '../../types.js';
import { stripCookie } from '../common.js';

/** A token found in the request, and how to keep it from reaching upstream. */
export interface FoundToken {
  token: string;
  hide: (gr: GatewayRequest) => void;
}

/** The token in the first of `names` present in a Cookie header. */
export function fromCookie(header: string, names: readonly string[]): FoundToken | undefined {
  const pairs = header.split(';').map((pair) => pair.trim());
  for (const name of names) {
    const index = pairs.findIndex((pair) => pair.startsWith(`${name}=`));
    if (index === -1) continue;
    let token = pairs[index]!.slice(name.length + 1);
    if (token.length >= 2 && token.startsWith('"') && token.endsWith('"')) token = token.slice(1, -1);
    // the other cookies still go upstream; only the token's cookie is removed
    return { token, hide: (gr) => stripCookie(gr, name) };
  }
  return undefined;
}
