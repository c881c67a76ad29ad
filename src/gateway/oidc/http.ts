// The relying party's HTTP calls to its OpenID provider (discovery, token, revocation):
// bounded in time and size, JSON only, so a slow or hostile provider cannot hold a request
// or fill memory. Failures are values (`problem`), never exceptions the request path must catch.
import { request } from 'undici';
import { jsonObjectOf, readLimitedResponse } from '../../core/http.js';

const MAX_RESPONSE_BYTES = 256 * 1024;

type ProviderAnswer =
  | { ok: true; status: number; json: Record<string, unknown> | undefined; text: string }
  | { ok: false; problem: string };

interface ProviderRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** application/x-www-form-urlencoded body */
  form?: URLSearchParams;
  timeoutMs: number;
}

export async function callProvider(url: string, init: ProviderRequest): Promise<ProviderAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  try {
    const res = await request(url, {
      method: init.method,
      headers,
      body: init.form?.toString(),
      headersTimeout: init.timeoutMs,
      bodyTimeout: init.timeoutMs,
    });
    const text = (await readLimitedResponse(res.body, MAX_RESPONSE_BYTES, 'the answer')).toString('utf8');
    return { ok: true, status: res.statusCode, json: jsonObjectOf(text), text };
  } catch (err) {
    return { ok: false, problem: `${url}: ${(err as Error).message}` };
  }
}


