// Shared by the admin*.test.ts suites: an admin client with the token, and the admin
// API URL of a Stack.
import type { Stack } from '../helpers/gateway.js';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdefghijklmnop';

export interface AdminReply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, any>;
}

/** One admin API call; `token: null` sends none. */
export async function admin(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; contentType?: string } = {},
): Promise<AdminReply> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body: payload });
  const text = await res.text();
  let json: Record<string, any> = {};
  try {
    json = JSON.parse(text) as Record<string, any>;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The stack's admin API URL (the gateway runs it when `gateway.admin_listen` is set). */
export function adminUrlOf(stack: Stack): string {
  if (!stack.adminUrl) throw new Error('adminUrlOf: gateway.admin_listen is not set');
  return stack.adminUrl;
}
