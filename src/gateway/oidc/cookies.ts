// The login-state cookie of the gateway's browser logins (the session cookie itself is
// src/sessions/cookie.ts): one per login attempt, named after its `state` so parallel tabs
// do not overwrite each other; sealed (AES-256-GCM, AAD = state) state, nonce, PKCE
// verifier and return URL; HttpOnly, SameSite=Lax, 10 minutes. On http:
// `drawbridge_login_<state prefix>`, Path=/_drawbridge/callback. On https:
// `__Host-drawbridge_login_<state prefix>`, Secure, Path=/ (the prefix requires it), and
// only that name is read back: a sibling subdomain cannot plant one (cookie tossing, a
// login CSRF: RFC 9700 §4.7), as it cannot plant the `__Host-` session cookie. Being sent on
// every path then, it is stripped from what goes upstream (stripLoginCookies).
import { randomToken } from '../../core/crypto-util.js';
import { deriveKey, seal, unseal } from '../../crypto/seal.js';

export const CALLBACK_PATH = '/_drawbridge/callback';
export const LOGOUT_PATH = '/_drawbridge/logout';
export const BACKCHANNEL_LOGOUT_PATH = '/_drawbridge/backchannel-logout';
const LOGIN_STATE_TTL = 600;
const LOGIN_COOKIE_PREFIX = 'drawbridge_login_';
/** The name prefix of login-state cookies on https (`__Host-`: Secure, Path=/, no Domain). */
export const SECURE_LOGIN_COOKIE_PREFIX = `__Host-${LOGIN_COOKIE_PREFIX}`;
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

function loginCookieName(state: string, secure: boolean): string {
  // the state is random base64url: a prefix of it is a fine cookie name and finds the cookie
  return (secure ? SECURE_LOGIN_COOKIE_PREFIX : LOGIN_COOKIE_PREFIX) + state.slice(0, 16);
}

function loginCookieAttributes(secure: boolean): string {
  return secure ? 'Path=/; HttpOnly; SameSite=Lax; Secure' : `Path=${CALLBACK_PATH}; HttpOnly; SameSite=Lax`;
}

export class LoginStateSealer {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = deriveKey(secret, 'gateway-login-state');
  }

  /** `secure`: the request came over https (as the client sees it). */
  setCookie(login: LoginState, secure: boolean): string {
    const value = seal(this.#key, JSON.stringify(login), login.state);
    return `${loginCookieName(login.state, secure)}=${value}; Max-Age=${LOGIN_STATE_TTL}; ${loginCookieAttributes(secure)}`;
  }

  clearCookie(state: string, secure: boolean): string {
    return `${loginCookieName(state, secure)}=; Max-Age=0; ${loginCookieAttributes(secure)}`;
  }

  /**
   * The login started with `state` (from its cookie), or undefined: missing, forged, other
   * state, expired. On https (`secure`) only the `__Host-` name counts.
   */
  open(header: string | string[] | undefined, state: string, now: number, secure: boolean): LoginState | undefined {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(state)) return undefined;
    const value = readCookie(header, loginCookieName(state, secure));
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
