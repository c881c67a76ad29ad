// A tiny relying-party web app for browser tests: node:http + openid-client v6, the way a
// real OIDC client signs users in. /login starts the code flow (PKCE S256, state, nonce),
// /cb redeems the code with authorizationCodeGrant (openid-client checks state, iss, the ID
// token's signature against the JWKS, iss, aud, exp and nonce; this app also checks at_hash,
// which openid-client v6 leaves to the caller), and / shows "signed in as <sub>" with the ID
// token's claims. It keeps its own cookie session. Listen on its own loopback address
// (127.0.0.2, 127.0.0.3, …) so its cookies never mix with the auth server's (127.0.0.1).
//
//   GET /                  signed-in page, or "not signed in"
//   GET /login[?prompt=…]  → the authorization endpoint (prompt, max_age, login_hint,
//                          response_mode passed on; ?tamper=nonce|state: a wrong check)
//   GET|POST /cb           the redirect URI (POST: response_mode=form_post)
//   GET /logout-local      ends only this app's session
//   GET /logout            RP-initiated logout (buildEndSessionUrl: id_token_hint, state)
//   GET /logged-out        the post-logout redirect URI: shows whether state came back intact
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';

export interface RpLogin {
  /** what this app sent in the authorization request */
  sentState: string;
  sentNonce: string;
  /** what it told openid-client to expect (differs from sent only with ?tamper=) */
  expectedNonce: string;
  expectedState: string;
  /** the authorization request URL */
  authorizationUrl: string;
  /** how the response arrived at the redirect URI: GET (query) or POST (form_post) */
  callbackMethod?: string;
  /** set when the code was redeemed and every check passed */
  claims?: Record<string, unknown>;
  idToken?: string;
  accessToken?: string;
  refreshToken?: string;
  /** at_hash was present and matched the access token */
  atHashChecked?: boolean;
  /** why the sign-in failed (an openid-client error, an error response, a bad at_hash) */
  error?: string;
}

export interface RpLogout {
  sentState: string;
  endSessionUrl: string;
  /** the state the post-logout redirect brought back (undefined until it came) */
  returnedState?: string | null;
}

export interface RelyingParty {
  /** the client_id */
  name: string;
  /** http://127.0.0.x:port */
  origin: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  /** every sign-in this app started, oldest first */
  logins: RpLogin[];
  logouts: RpLogout[];
  /** discovery against the issuer; call once the auth server runs */
  connect(issuer: string, opts?: { clientSecret?: string; scope?: string }): Promise<void>;
  config(): client.Configuration;
  close(): Promise<void>;
}

interface Pending {
  verifier: string;
  login: RpLogin;
}

interface Session {
  login: RpLogin;
  logoutState?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><title>${esc(title)}</title></head><body>${body}</body></html>`);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  res.writeHead(302, { location, 'set-cookie': cookies, 'cache-control': 'no-store' });
  res.end();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** at_hash (OIDC Core §3.1.3.6): left half of the access token's hash, hash by the ID token's alg. */
export function atHash(alg: string, accessToken: string): string {
  const hash = alg === 'EdDSA' || alg.endsWith('512') ? 'sha512' : alg.endsWith('384') ? 'sha384' : 'sha256';
  const digest = createHash(hash).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** The error and its causes in one line: openid-client wraps the specific check that failed. */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { error?: unknown }).error;
    parts.push(`${e.name}: ${e.message}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  return parts.join(' ← ');
}

function decodeJwtPart(jwt: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Starts the app for client `name` on `host` (a loopback address of its own); connect() it once the issuer runs. */
export async function startRp(name: string, host: string): Promise<RelyingParty> {
  const pending = new Map<string, Pending>();
  const byState = new Map<string, string>();
  const sessions = new Map<string, Session>();
  const logins: RpLogin[] = [];
  const logouts: RpLogout[] = [];
  let cfg: client.Configuration | undefined;
  let scope = 'openid profile email';
  const id = () => randomBytes(16).toString('base64url');

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const session = sessions.get(cookie(req, 'rp_session') ?? '');
    switch (url.pathname) {
      case '/': {
        if (!session?.login.claims) return page(res, 200, `${name}: signed out`, `<h1 id="status">not signed in</h1><a href="/login">Sign in</a>`);
        const c = session.login.claims;
        return page(
          res,
          200,
          `${name}: signed in`,
          `<h1 id="status">signed in as <span id="sub">${esc(String(c.sub))}</span></h1>` +
            `<p id="at-hash">${session.login.atHashChecked ? 'at_hash checked' : 'at_hash NOT checked'}</p>` +
            `<pre id="claims">${esc(JSON.stringify(c, null, 2))}</pre>` +
            `<a href="/logout">Sign out everywhere</a> <a href="/logout-local">Sign out of ${esc(name)}</a>`,
        );
      }
      case '/login': {
        const config = cfg!;
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        const tamper = url.searchParams.get('tamper');
        const params: Record<string, string> = {
          redirect_uri: redirectUri,
          scope,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        };
        for (const p of ['prompt', 'max_age', 'login_hint', 'response_mode']) {
          const v = url.searchParams.get(p);
          if (v !== null) params[p] = v;
        }
        const authUrl = client.buildAuthorizationUrl(config, params);
        const login: RpLogin = {
          sentState: state,
          sentNonce: nonce,
          expectedNonce: tamper === 'nonce' ? client.randomNonce() : nonce,
          expectedState: tamper === 'state' ? client.randomState() : state,
          authorizationUrl: authUrl.href,
        };
        logins.push(login);
        const tx = id();
        pending.set(tx, { verifier, login });
        // form_post arrives as a cross-site POST, which carries no SameSite=Lax cookie (and
        // SameSite=None needs https): that sign-in is found by its state instead
        if (params.response_mode === 'form_post') byState.set(state, tx);
        return redirect(res, authUrl.href, [`rp_tx=${tx}; Path=/; HttpOnly; SameSite=Lax`]);
      }
      case '/cb': {
        let current: URL | Request = url;
        let txId = cookie(req, 'rp_tx') ?? '';
        if (req.method === 'POST') {
          const body = await readBody(req);
          txId = byState.get(new URLSearchParams(body).get('state') ?? '') ?? '';
          current = new Request(url, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body });
        }
        const tx = pending.get(txId);
        if (!tx) return page(res, 400, 'error', '<p id="error">no sign-in in progress</p>');
        pending.delete(txId);
        byState.delete(tx.login.sentState);
        const login = tx.login;
        login.callbackMethod = req.method ?? 'GET';
        try {
          const tokens = await client.authorizationCodeGrant(cfg!, current, {
            pkceCodeVerifier: tx.verifier,
            expectedState: login.expectedState,
            expectedNonce: login.expectedNonce,
            idTokenExpected: true,
          });
          const claims = tokens.claims()! as Record<string, unknown>;
          const header = decodeJwtPart(tokens.id_token!, 0);
          if (typeof claims.at_hash !== 'string' || claims.at_hash !== atHash(String(header.alg), tokens.access_token)) {
            throw new Error(`at_hash ${String(claims.at_hash)} does not match the access token`);
          }
          login.claims = claims;
          login.idToken = tokens.id_token!;
          login.accessToken = tokens.access_token;
          if (tokens.refresh_token !== undefined) login.refreshToken = tokens.refresh_token;
          login.atHashChecked = true;
        } catch (err) {
          login.error = describeError(err);
          return page(res, 400, `${name}: sign-in failed`, `<h1 id="status">sign-in failed</h1><p id="error">${esc(login.error)}</p>`);
        }
        const sid = id();
        sessions.set(sid, { login });
        return redirect(res, '/', [`rp_session=${sid}; Path=/; HttpOnly; SameSite=Lax`, 'rp_tx=; Path=/; Max-Age=0']);
      }
      case '/logout-local': {
        sessions.delete(cookie(req, 'rp_session') ?? '');
        return redirect(res, '/', ['rp_session=; Path=/; Max-Age=0']);
      }
      case '/logout': {
        if (!session?.login.idToken) return redirect(res, '/');
        const state = client.randomState();
        const endSessionUrl = client.buildEndSessionUrl(cfg!, {
          id_token_hint: session.login.idToken,
          post_logout_redirect_uri: postLogoutRedirectUri,
          state,
        });
        logouts.push({ sentState: state, endSessionUrl: endSessionUrl.href });
        sessions.delete(cookie(req, 'rp_session')!);
        return redirect(res, endSessionUrl.href, ['rp_session=; Path=/; Max-Age=0']);
      }
      case '/logged-out': {
        const last = logouts.at(-1);
        const returned = url.searchParams.get('state');
        if (last) last.returnedState = returned;
        const ok = last !== undefined && returned === last.sentState;
        return page(res, 200, `${name}: signed out`, `<h1 id="status">signed out</h1><p id="state">${ok ? 'state matches' : 'state MISMATCH'}</p>`);
      }
      default:
        return page(res, 404, 'not found', '<p>not found</p>');
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) page(res, 500, 'error', `<p id="error">${esc(err.message)}</p>`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const origin = `http://${host}:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${origin}/cb`;
  const postLogoutRedirectUri = `${origin}/logged-out`;

  return {
    name,
    origin,
    redirectUri,
    postLogoutRedirectUri,
    logins,
    logouts,
    async connect(issuer, opts = {}) {
      if (opts.scope !== undefined) scope = opts.scope;
      const auth = opts.clientSecret !== undefined ? client.ClientSecretBasic(opts.clientSecret) : client.None();
      cfg = await client.discovery(new URL(issuer), name, { redirect_uris: [redirectUri] }, auth, {
        // http loopback; and verify the ID token's signature against the JWKS
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      });
    },
    config: () => cfg!,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
