// The login-state cookie of the gateway's browser logins (the session cookie itself is
// src/sessions/cookie.ts): one per login attempt, named after its `state` so parallel tabs
// do not overwrite each other; sealed (AES-256-GCM, AAD = state) state, nonce, PKCE
// verifier and return URL; Path=/_drawbridge/callback, HttpOnly, SameSite=Lax, 10 minutes.
import { randomToken } from '../../core/crypto-util.js';
import { deriveKey, seal, unseal } from '../../crypto/seal.js';

export const CALLBACK_PATH = '/_drawbridge/callback';
export const LOGOUT_PATH = '/_drawbridge/logout';
export const BACKCHANNEL_LOGOUT_PATH = '/_drawbridge/backchannel-logout';
export const LOGIN_STATE_TTL = 600;
const LOGIN_COOKIE_PREFIX = 'drawbridge_login_';
const MAX_COOKIE_HEADER = 16 * 1024;

/** The values of cookie `name` in a Cookie header (RFC 6265 §5.4 syntax; bounded). */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > MAX_COOKIE_HEADER) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value !== '') return value;
  }
  return undefined;
}

// ─── login-state cookie ─────────────────────────────────────────────────────────────────

export interface LoginState {
  state: string;
  nonce: string;
  code_verifier: string;
  /** same-origin path (+ query) to return to */
  return_to: string;
  /** which oidc-login configuration started it (RelyingParty.key) */
  rp: string;
  redirect_uri: string;
  /** epoch seconds */
  created_at: number;
}

export function loginCookieName(state: string): string {
  // the state is random base64url: a prefix of it is a fine cookie name and finds the cookie
  return LOGIN_COOKIE_PREFIX + state.slice(0, 16);
}

export class LoginStateSealer {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = deriveKey(secret, 'gateway-login-state');
  }

  setCookie(login: LoginState, secure: boolean): string {
    const value = seal(this.#key, JSON.stringify(login), login.state);
    return `${loginCookieName(login.state)}=${value}; Path=${CALLBACK_PATH}; Max-Age=${LOGIN_STATE_TTL}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  clearCookie(state: string, secure: boolean): string {
    return `${loginCookieName(state)}=; Path=${CALLBACK_PATH}; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  /** The login started with `state` (from its cookie), or undefined: missing, forged, other state, expired. */
  open(header: string | string[] | undefined, state: string, now: number): LoginState | undefined {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(state)) return undefined;
    const value = readCookie(header, loginCookieName(state));
    if (value === undefined || value.length > 4096) return undefined;
    let login: LoginState;
    try {
      login = JSON.parse(unseal(this.#key, value, state)) as LoginState;
    } catch {
      return undefined;
    }
    if (login.state !== state || typeof login.created_at !== 'number' || now - login.created_at > LOGIN_STATE_TTL) return undefined;
    return login;
  }
}

export function newLoginSecrets(): { state: string; nonce: string; code_verifier: string } {
  return { state: randomToken(32), nonce: randomToken(32), code_verifier: randomToken(32) };
}
