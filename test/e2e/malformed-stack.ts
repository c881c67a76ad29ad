// The stack and the shared corpus of the malformed-input sweeps (malformed-auth,
// malformed-gateway, malformed-admin .test.ts): an auth server, a gateway with a route behind
// each authenticator, the browser-session endpoints, forward-auth and the admin API, on
// memory: or PostgreSQL, with the production logger captured; the secrets they are
// configured with; the HTTP-level corpus every path gets (methods, request targets, Host,
// header syntax, framing), odd Authorization values and cookies, broken form bodies.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { exportJWK } from 'jose';
import { basic } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl } from '../helpers/services.js';
import { capturingLogger, exchange, rawRequest, type Case, type ErrorShape } from './malformed-support.js';

// Every secret the stack is configured with or the corpus sends: none may reach a log.
export const CLIENT_SECRET = 'mf-client-secret-Qx7Lw2Rz9Pk4Vn8Jt3';
export const POST_SECRET = 'mf-post-secret-Hd6Ys1Bc5Nm0Gf2Wq8';
export const GATEWAY_SECRET = 'mf-gateway-secret-Tz4Kp9Lx2Ra7Ve5Ub1';
export const PASSWORD = 'mf-user-password-Ej3Mw8Dq6Sa1Zc4Ho9';
export const ADMIN_TOKEN = 'mf-admin-token-Fn5Xb0Ci7Ty2Gk6Lu3Pv8';
export const API_KEY = 'mf-api-key-Wr1Jd9Qe4Om7Ns2Ah5';
export const BASIC_PASSWORD = 'mf-basic-password-Yk8Ug3Lb6Ix0Ct5';
export const HMAC_SECRET = 'mf-hmac-secret-Pa2Ve7Rn4Zo9Kw1Sj6';
export const WRONG_SECRET = 'mf-wrong-secret-Bq0Hy5Fm8Xl3Dt7Gc2';
const MASTER_SECRET = 'mf-master-secret-0123456789abcdef-0123456789';
const CONFIG_SECRETS = [CLIENT_SECRET, POST_SECRET, GATEWAY_SECRET, PASSWORD, ADMIN_TOKEN, API_KEY, BASIC_PASSWORD, HMAC_SECRET, WRONG_SECRET, MASTER_SECRET];

export const enc = encodeURIComponent;
export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
export const b64url = (s: string) => Buffer.from(s).toString('base64url');
/** `length` random base64url characters: huge values that do not compress (PostgreSQL compresses a repeated letter below its index limits) */
export const noise = (length: number) => randomBytes(Math.ceil((length * 3) / 4)).toString('base64url').slice(0, length);

/** A request on one connection that closes after the answer. */
export function req(url: string, method: string, target: string, fields: string[] = [], body?: string | Buffer): Buffer {
  const host = new URL(url).host;
  // strings are sent byte for byte (latin-1), as rawRequest writes them
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const length = bytes === undefined ? [] : [`Content-Length: ${bytes.length}`];
  return rawRequest([`${method} ${target} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...fields, ...length].join('\r\n'), bytes ?? '');
}

export function form(url: string, target: string, body: string, fields: string[] = []): Buffer {
  return req(url, 'POST', target, ['Content-Type: application/x-www-form-urlencoded', ...fields], body);
}

/** Names cases after what they send. */
export function named(prefix: string, list: Array<[string, Buffer, Partial<Case>?]>): Case[] {
  return list.map(([name, request, extra]) => ({ name: `${prefix} ${name}`, request, ...extra }));
}

/**
 * The HTTP-level corpus for one path of a listener: methods, request targets, Host, header
 * syntax, framing. `fields` are what a good request to the path would carry (credentials).
 * The listener refuses most of these before the endpoint (JSON everywhere: `listener`).
 */
export function protocolCases(url: string, path: string, fields: string[] = []): Case[] {
  const host = new URL(url).host;
  const line = (method: string, target: string, extra: string[] = [], version = 'HTTP/1.1') =>
    rawRequest([`${method} ${target} ${version}`, `Host: ${host}`, 'Connection: close', ...fields, ...extra].join('\r\n'));
  const bare = (head: string[], body = '') => rawRequest(head.join('\r\n'), body);
  const listener: Partial<Case> = { shape: 'listener' };
  return named(path, [
    ['PROPFIND', line('PROPFIND', path), listener],
    ['lower-case get', line('get', path), listener],
    ['unknown method BREW', line('BREW', path), listener],
    ['CONNECT', bare([`CONNECT ${host} HTTP/1.1`, `Host: ${host}`]), listener],
    ['OPTIONS *', line('OPTIONS', '*'), listener],
    ['absolute-form target', line('GET', `http://${host}${path}`)],
    ['absolute-form target naming another host', line('GET', `http://other.example${path}`)],
    ['absolute-form target with userinfo', line('GET', `http://user:pw@${host}${path}`)],
    ['HTTP/1.0 without Host', bare([`GET ${path} HTTP/1.0`, ...fields])],
    ['HTTP/1.1 without Host', bare([`GET ${path} HTTP/1.1`, 'Connection: close', ...fields]), listener],
    ['duplicate Host', line('GET', path, [`Host: other.example`]), listener],
    ['two more Authorization fields', line('GET', path, ['Authorization: Basic eDp5', 'Authorization: Bearer x']), { ...listener, also: (r) => (r.status === 400 ? undefined : `status ${r.status}, not 400`) }],
    ['Host with a space', bare([`GET ${path} HTTP/1.1`, 'Host: a b', 'Connection: close', ...fields]), listener],
    ['Host with a non-ASCII byte', bare([`GET ${path} HTTP/1.1`, 'Host: caf\xe9.example', 'Connection: close', ...fields]), listener],
    ['obs-fold header', line('GET', path, ['X-Folded: one', ' two']), listener],
    ['latin-1 byte in a header value', line('GET', path, ['X-Name: caf\xe9'])],
    ['UTF-8 bytes in a header value', line('GET', path, [Buffer.from('X-Name: café ☃').toString('latin1')])],
    ['control character in a header value', line('GET', path, ['X-Name: a\x01b']), listener],
    ['space in a header name', line('GET', path, ['Bad Name: x']), listener],
    ['header without a colon', line('GET', path, ['NoColonHere']), listener],
    ['%zz in the path', line('GET', `${path}%zz`)],
    ['lone % in the path', line('GET', `${path}/%`)],
    ['overlong UTF-8 in the path', line('GET', `${path}/%c0%af`)],
    ['lone surrogate in the path', line('GET', `${path}/%ed%a0%80`)],
    ['NUL in the path', line('GET', `${path}/%00`)],
    ['encoded dot segments in the path', line('GET', `${path}/%2e%2e/%2e%2e/etc/passwd`)],
    ['raw non-ASCII byte in the path', line('GET', `${path}/\xff`), listener],
    ['fragment in the target', line('GET', `${path}#frag`), listener],
    ['bad escapes in the query', line('GET', `${path}?%zz=%zz&a=%&b=%c0%af&c=%ed%a0%80&d=%00`)],
    ['repeated query parameters', line('GET', `${path}?a=1&a=2&a=3`)],
    ['12 KB query', line('GET', `${path}?q=${noise(12_000)}`)],
    ['70 KB URL', line('GET', `${path}?q=${noise(70_000)}`), listener],
    ['20 KB header', line('GET', path, [`X-Big: ${noise(20_000)}`]), listener],
    ['Expect: something else', line('GET', path, ['Expect: the-unexpected']), listener],
    ['body on GET', rawRequest([`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...fields, 'Content-Length: 11'].join('\r\n'), 'hello=world')],
    ['Content-Length not a number', line('POST', path, ['Content-Length: abc']), listener],
    ['negative Content-Length', line('POST', path, ['Content-Length: -1']), listener],
    ['two different Content-Lengths', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Length: 3', 'Content-Length: 4'], 'abcd'), listener],
    ['Content-Length with Transfer-Encoding', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Length: 3', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), listener],
    ['unknown transfer coding', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Transfer-Encoding: gzip'], 'abc'), listener],
    ['bad chunk size', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n'), listener],
    ['chunked body that breaks off', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked'], '10\r\ngrant_type=c'), { ...listener, halfClose: true }],
    ['Content-Length promising more than comes', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 100'], 'a=b'), { ...listener, halfClose: true }],
    ['Content-Length promising less than comes', bare([`POST ${path} HTTP/1.1`, `Host: ${host}`, ...fields, 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 3'], 'a=bXXXX garbage')],
  ]);
}

/** Authorization header values with every scheme in odd case, without credentials, broken. */
export function oddAuthorizations(): Array<[string, string]> {
  const id = 'mf-basic';
  return [
    ['empty Authorization', ''],
    ['Basic alone', 'Basic'],
    ['Basic with a space only', 'Basic '],
    ['bAsIc in odd case', `bAsIc ${b64(`${id}:${CLIENT_SECRET}`)}`],
    ['BASIC in capitals', `BASIC ${b64(`${id}:${CLIENT_SECRET}`)}`],
    ['Basic with invalid base64', 'Basic !!!not*base64!!!'],
    ['Basic with padding only', 'Basic ===='],
    ['Basic without a colon', `Basic ${b64('no-colon-here')}`],
    ['Basic colon only', `Basic ${b64(':')}`],
    ['Basic empty id', `Basic ${b64(`:${WRONG_SECRET}`)}`],
    ['Basic empty secret', `Basic ${b64(`${id}:`)}`],
    ['Basic %zz in the id', `Basic ${b64(`mf%zz:${WRONG_SECRET}`)}`],
    ['Basic lone % in the secret', `Basic ${b64(`${id}:%`)}`],
    ['Basic overlong UTF-8 in the id', `Basic ${b64(`%c0%af:${WRONG_SECRET}`)}`],
    ['Basic lone surrogate in the id', `Basic ${b64(`%ed%a0%80:${WRONG_SECRET}`)}`],
    ['Basic NUL in the id', `Basic ${b64(`%00:${WRONG_SECRET}`)}`],
    ['Basic NUL in the secret', `Basic ${b64(`${id}:%00`)}`],
    ['Basic raw NUL in the id', `Basic ${b64(`a\0b:${WRONG_SECRET}`)}`],
    ['Basic invalid UTF-8 bytes', `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0xc0, 0xaf]))}`],
    ['Basic 30 KB id', `Basic ${b64(`${noise(30_000)}:${WRONG_SECRET}`)}`],
    ['Basic with two spaces', `Basic  ${b64(`${id}:${CLIENT_SECRET}`)}`],
    ['Basic with a tab', `Basic\t${b64(`${id}:${CLIENT_SECRET}`)}`],
    ['Basic with trailing garbage', `Basic ${b64(`${id}:${CLIENT_SECRET}`)} extra`],
    ['Bearer alone', 'Bearer'],
    ['bearer in lower case, no token', 'bearer '],
    ['BEARER with a token', `BEARER ${API_KEY}`],
    ['Bearer with a space inside', 'Bearer a b'],
    ['Bearer with %zz', 'Bearer %zz'],
    ['Bearer 10 KB', `Bearer ${noise(10_000)}`],
    ['Bearer a.b.c', 'Bearer a.b.c'],
    ['Bearer alg none JWT', `Bearer ${b64url('{"alg":"none","typ":"JWT"}')}.${b64url('{"sub":"x","iss":{},"exp":"soon"}')}.`],
    ['Bearer JWT with odd header types', `Bearer ${b64url('{"alg":["ES256"],"kid":{"a":1},"typ":7}')}.${b64url('[]')}.${b64url('sig')}`],
    ['Digest', 'Digest username="x", realm="y", nonce="z", uri="/", response="0"'],
    ['Negotiate', 'Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggS'],
    ['Signature', 'Signature keyId="x",signature="%%%"'],
    ['hmac legacy garbage', 'hmac username="x", algorithm="hmac-sha999", headers="date", signature="!!"'],
    ['HOBA', 'HOBA result="a.b.c"'],
    ['scheme only with token68 garbage', 'X-Custom ==='],
    ['non-ASCII byte in the credential', `Basic ${b64(`${id}:`)}\xe9`],
  ];
}

/**
 * Two Authorization fields, the good one first and then second: one credential per request
 * (RFC 9110 §11.6.2), so a 400 at the listener, whichever comes first. Returns the cases made
 * by `make` from the header lines.
 */
export function duplicateAuthorizations(good: string, make: (fields: string[]) => Buffer): Array<[string, Buffer, Partial<Case>]> {
  const wrong = `Basic ${b64(`mf-basic:${WRONG_SECRET}`)}`;
  const refused: Partial<Case> = { shape: 'listener', also: (r) => (r.status === 400 ? undefined : `status ${r.status}, not 400, for two Authorization fields`) };
  return [
    ['duplicate Authorization, the good one first', make([`Authorization: ${good}`, `Authorization: ${wrong}`]), refused],
    ['duplicate Authorization, the good one second', make([`Authorization: ${wrong}`, `Authorization: ${good}`]), refused],
    ['duplicate Authorization in other case', make([`authorization: ${good}`, `AUTHORIZATION: ${good}`]), refused],
  ];
}

/** Cookies of odd shapes for a listener whose cookies are named `names`. */
export function oddCookies(names: string[]): Array<[string, string]> {
  const [first] = names;
  return [
    ['cookie without a value', `${first}`],
    ['cookie with an empty value', `${first}=`],
    ['cookie with %zz', `${first}=%zz`],
    ['cookie with overlong UTF-8 escape', `${first}=%c0%af`],
    ['cookie with a lone surrogate escape', `${first}=%ed%a0%80`],
    ['cookie quoted', `${first}="${'q'.repeat(43)}"`],
    ['cookie duplicated', names.map((n) => `${n}=${'a'.repeat(43)}; ${n}=${'b'.repeat(43)}`).join('; ')],
    ['cookie 12 KB', `${first}=${noise(12_000)}`],
    ['cookie with a latin-1 byte', `${first}=caf\xe9`],
    ['cookie with only separators', ';;;=;=='],
    ['cookie with a 43-character value that is no session', `${first}=${'A'.repeat(43)}`],
  ];
}

/** Form bodies that are broken as forms, around `good` (the endpoint's own good fields). */
export function formBodyCases(url: string, target: string, good: string, fields: string[] = [], shape?: ErrorShape): Case[] {
  const post = (body: string | Buffer, type = 'application/x-www-form-urlencoded', extra: string[] = []) => req(url, 'POST', target, [...(type === '' ? [] : [`Content-Type: ${type}`]), ...fields, ...extra], body);
  const opts: Partial<Case> = shape === undefined ? {} : { shape };
  return named(`POST ${target}`, [
    ['form with %zz', post(`${good}&x=%zz`), opts],
    ['form with a lone %', post(`${good}&x=%`), opts],
    ['form with overlong UTF-8', post(`${good}&x=%c0%af`), opts],
    ['form with a lone surrogate', post(`${good}&x=%ed%a0%80`), opts],
    ['form with %00 in a value', post(`${good}&x=%00`), opts],
    ['form with %00 in a name', post(`${good}&%00=1`), opts],
    ['form with a raw NUL', post(Buffer.concat([Buffer.from(`${good}&x=`), Buffer.from([0]), Buffer.from('y')])), opts],
    ['form with invalid UTF-8 bytes', post(Buffer.concat([Buffer.from(`${good}&x=`), Buffer.from([0xff, 0xc0, 0xaf])])), opts],
    ['form of separators', post('&&&==&=&'), opts],
    ['form with every field repeated', post(`${good}&${good}`), opts],
    ['form with a 60 KB value', post(`${good}&x=${noise(60_000)}`), opts],
    ['form over the body limit', post(`${good}&x=${noise(70_000)}`), { shape: 'listener' }],
    ['form with 5000 parameters', post(`${good}${'&p=1'.repeat(5000)}`), opts],
    ['form with bracketed names', post(`${good}&a[b][c]=1&a[]=2`), opts],
    ['no Content-Type', post(good, ''), opts],
    ['Content-Type application/json with a form', post(good, 'application/json'), opts],
    ['JSON with arrays', post('{"grant_type":["client_credentials","password"],"scope":{"a":1}}', 'application/json'), opts],
    ['JSON with wrong types', post('{"grant_type":1,"client_id":null,"token":{}}', 'application/json'), opts],
    ['JSON nested 50000 deep', post(`${'['.repeat(50_000)}${']'.repeat(50_000)}`, 'application/json'), opts],
    ['invalid JSON', post('{"grant_type":', 'application/json'), opts],
    ['text/plain', post(good, 'text/plain'), opts],
    ['multipart/form-data', post(`--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n`, 'multipart/form-data; boundary=x'), opts],
    ['charset=iso-8859-1', post(`${good}&x=caf\xe9`, 'application/x-www-form-urlencoded; charset=iso-8859-1'), opts],
    ['charset=utf-16 with a UTF-16 body', post(Buffer.from(good, 'utf16le'), 'application/x-www-form-urlencoded; charset=utf-16'), opts],
    ['Content-Type in capitals', post(good, 'APPLICATION/X-WWW-FORM-URLENCODED'), opts],
    ['Content-Type with empty parameters', post(good, 'application/x-www-form-urlencoded;;; ;='), opts],
    ['Content-Type with a latin-1 byte', post(good, 'application/x-www-form-urlencoded; charset=caf\xe9'), opts],
    ['duplicate Content-Type', post(good, 'application/x-www-form-urlencoded', ['Content-Type: application/json']), opts],
  ]);
}

export interface Sweep {
  stack: Stack;
  upstream: Upstream;
  auth: string;
  gw: string;
  adm: string;
  lines: string[];
  auditFile: string;
  /** secrets learnt during the run (tokens issued, cookies) that must not be logged either */
  learnt: string[];
  userToken: string;
  clientToken: string;
  refreshToken: string;
  /** a browser signed in at the auth server (SSO cookie + CSRF cookie) and its CSRF token */
  ssoCookie: string;
  csrfCookie: string;
  csrfToken: string;
  /** the consent page's form (ticket, CSRF token, the request) for the signed-in browser */
  consentFields: Array<[string, string]>;
  /** bob's TOTP enrolment page after his password: its form and that browser's CSRF cookie */
  enrolFields: Array<[string, string]>;
  enrolCookie: string;
  /** a fresh browser's CSRF cookie and token (not signed in) */
  anonCsrfCookie: string;
  anonCsrfToken: string;
  signer: { privateKey: KeyObject };
  done(): Promise<void>;
}

async function startSweep(storage: string | undefined): Promise<Sweep> {
  const dir = await mkdtemp(join(tmpdir(), 'h3-malformed-'));
  const auditFile = join(dir, 'audit.log');
  const { logger, lines } = capturingLogger('debug');
  const upstream = await startUpstream({ name: 'svc' });
  const authPort = await freePort();
  const gwPort = await freePort();
  const admPort = await freePort();
  const issuer = `http://127.0.0.1:${authPort}`;
  const gw = `http://127.0.0.1:${gwPort}`;
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'mf-1', alg: 'ES256', use: 'sig' };
  const scopes = ['openid', 'profile', 'email', 'offline_access', 'orders:read'];
  const confidential = {
    client_secret: CLIENT_SECRET,
    redirect_uris: ['http://127.0.0.1:9/cb'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    scopes,
  };
  const stack = await startStack({
    top: { issuer, secret: MASTER_SECRET, ...(storage === undefined ? {} : { storage }) },
    logger,
    auth: {
      listen: `127.0.0.1:${authPort}`,
      brute_force: { enabled: false },
      client_auth_throttle: { max_failures: 1_000_000, max_failures_per_ip: 1_000_000 },
      audit: { file: auditFile },
      users: [
        { username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com', groups: ['staff'] } },
        { username: 'bob', password: PASSWORD, claims: {}, mfa_required: true },
      ],
      clients: [
        { client_id: 'mf-basic', ...confidential, post_logout_redirect_uris: ['http://127.0.0.1:9/bye'] },
        { client_id: 'mf-post', ...confidential, client_secret: POST_SECRET, token_endpoint_auth_method: 'client_secret_post' },
        { client_id: 'mf-public', redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', 'refresh_token'], scopes },
        { client_id: 'mf-jwt', jwks: { keys: [jwk] }, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['client_credentials', 'authorization_code'], scopes },
        {
          client_id: 'gateway', client_secret: GATEWAY_SECRET, redirect_uris: [`${gw}/_drawbridge/callback`], grant_types: ['authorization_code', 'refresh_token'],
          scopes: [...scopes, 'introspect'], consent: 'skip', backchannel_logout_uri: `${gw}/_drawbridge/backchannel-logout`,
        },
      ],
    },
    gateway: {
      listen: `127.0.0.1:${gwPort}`,
      admin_listen: `127.0.0.1:${admPort}`,
      admin_token: ADMIN_TOKEN,
      consumers: [
        {
          username: 'partner', groups: ['partners'],
          credentials: { 'key-auth': [{ key: API_KEY }], 'basic-auth': [{ username: 'partner', password: BASIC_PASSWORD }], 'hmac-auth': [{ key_id: 'partner-hmac', secret: HMAC_SECRET }] },
        },
      ],
      services: [
        { name: 'keyed', url: upstream.url, routes: [{ paths: ['/keyed'] }], plugins: [{ name: 'key-auth', config: { key_in_query: true } }, { name: 'request-size-limiting', config: { allowed_payload_size: 1, size_unit: 'kilobytes' } }] },
        { name: 'basic', url: upstream.url, routes: [{ paths: ['/basic'] }], plugins: [{ name: 'basic-auth' }] },
        { name: 'hmac', url: upstream.url, routes: [{ paths: ['/hmac'] }], plugins: [{ name: 'hmac-auth', config: { enforce_headers: ['content-digest'], validate_request_body: true } }] },
        { name: 'legacy-hmac', url: upstream.url, routes: [{ paths: ['/legacy-hmac'] }], plugins: [{ name: 'hmac-auth', config: { legacy: true, validate_request_body: true } }] },
        { name: 'jwt', url: upstream.url, routes: [{ paths: ['/jwt'] }], plugins: [{ name: 'jwt', config: { issuers: [{ issuer, jwks_uri: `${issuer}/.well-known/jwks.json` }], cookie_names: ['at'], uri_param_names: ['access_token'] } }] },
        { name: 'phantom', url: upstream.url, routes: [{ paths: ['/phantom'] }], plugins: [{ name: 'oauth2-introspection', config: { issuer, client_id: 'gateway', client_secret: GATEWAY_SECRET } }] },
        { name: 'app', url: upstream.url, routes: [{ paths: ['/app'] }], plugins: [{ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: GATEWAY_SECRET, scopes: ['openid', 'email'] } }] },
        { name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }, { name: 'cors', config: { origins: ['http://127.0.0.1:9'] } }] },
        { name: 'open', url: upstream.url, routes: [{ paths: ['/open'], methods: ['GET', 'POST'] }] },
      ],
    },
  });

  try {
    return await prepare(stack, upstream, issuer, gw, dir, auditFile, lines, keys.privateKey);
  } catch (err) {
    await stack.close();
    await upstream.close();
    throw err;
  }
}

/** The tokens, cookies and CSRF tokens the corpus needs, from good requests. */
async function prepare(stack: Stack, upstream: Upstream, auth: string, gw: string, dir: string, auditFile: string, lines: string[], privateKey: KeyObject): Promise<Sweep> {
  const adm = stack.adminUrl!;
  const learnt: string[] = [];
  const token = async (body: string, authorization = basic('mf-basic', CLIENT_SECRET)) => {
    const res = await fetch(`${auth}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body });
    const json = (await res.json()) as Record<string, string>;
    assert.equal(res.status, 200, JSON.stringify(json));
    for (const k of ['access_token', 'refresh_token', 'id_token']) if (json[k] !== undefined) learnt.push(json[k]!);
    return json;
  };
  const user = await token(`grant_type=password&username=alice&password=${enc(PASSWORD)}&scope=openid%20offline_access`);
  const client = await token('grant_type=client_credentials&scope=orders:read');

  // a browser at the login page (CSRF cookie and token), and one signed in (SSO session)
  const authorizeUrl = `${auth}/oauth2/authorize?client_id=mf-basic&response_type=code&scope=openid&redirect_uri=${enc('http://127.0.0.1:9/cb')}&code_challenge=${'E'.repeat(43)}&code_challenge_method=S256&state=s`;
  const anon = new Browser();
  const loginPage = parseForm(await (await anon.fetch(authorizeUrl)).text());
  const signedIn = new Browser();
  const page = parseForm(await (await signedIn.fetch(authorizeUrl)).text());
  const afterLogin = await signedIn.fetch(page.action, { form: [...page.fields, ['username', 'alice'], ['password', PASSWORD]] });
  assert.equal(afterLogin.status, 200, 'the consent page after signing in');
  const consent = parseForm(await afterLogin.text());
  const cookieOf = (b: Browser, name: string) => b.cookies.get(name)!.value;
  const ssoName = [...signedIn.cookies.keys()].find((k) => k !== 'drawbridge_csrf')!;
  // bob must enrol TOTP: his password leads to the enrolment page (a ticket for the code)
  const mfa = new Browser();
  const bobLogin = parseForm(await (await mfa.fetch(authorizeUrl)).text());
  const enrolPage = await mfa.fetch(bobLogin.action, { form: [...bobLogin.fields, ['username', 'bob'], ['password', PASSWORD]] });
  assert.equal(enrolPage.status, 200, 'the enrolment page after bob\'s password');
  const enrol = parseForm(await enrolPage.text());
  learnt.push(cookieOf(signedIn, ssoName), cookieOf(signedIn, 'drawbridge_csrf'), cookieOf(anon, 'drawbridge_csrf'), cookieOf(mfa, 'drawbridge_csrf'));

  return {
    stack, upstream, auth, gw, adm, lines, auditFile, learnt,
    userToken: user.access_token!, clientToken: client.access_token!, refreshToken: user.refresh_token!,
    ssoCookie: `${ssoName}=${cookieOf(signedIn, ssoName)}`,
    csrfCookie: `drawbridge_csrf=${cookieOf(signedIn, 'drawbridge_csrf')}`,
    csrfToken: consent.fields.find(([k]) => k === 'csrf_token')![1],
    consentFields: consent.fields,
    enrolFields: enrol.fields,
    enrolCookie: `drawbridge_csrf=${cookieOf(mfa, 'drawbridge_csrf')}`,
    anonCsrfCookie: `drawbridge_csrf=${cookieOf(anon, 'drawbridge_csrf')}`,
    anonCsrfToken: loginPage.fields.find(([k]) => k === 'csrf_token')![1],
    signer: { privateKey },
    async done() {
      await stack.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Each listener still answers a good request (the sweep runs this between batches). */
export function healthChecks(s: Sweep): { auth(): Promise<void>; gateway(): Promise<void>; admin(): Promise<void> } {
  return {
    async auth() {
      const r = await exchange(s.auth, form(s.auth, '/oauth2/token', 'grant_type=client_credentials', [`Authorization: ${basic('mf-basic', CLIENT_SECRET)}`]));
      assert.equal(r?.status, 200, `the auth server still issues tokens: ${r?.body}`);
      s.learnt.push(String(JSON.parse(r!.body).access_token));
    },
    async gateway() {
      const r = await exchange(s.gw, req(s.gw, 'GET', '/keyed/ok', [`apikey: ${API_KEY}`]));
      assert.equal(r?.status, 200, `the gateway still proxies: ${r?.body}`);
    },
    async admin() {
      const r = await exchange(s.adm, req(s.adm, 'GET', '/services', [`Authorization: Bearer ${ADMIN_TOKEN}`]));
      assert.equal(r?.status, 200, `the admin API still answers: ${r?.body}`);
    },
  };
}

function assertNothingSecretLogged(s: Sweep, audit: string): void {
  const logged = s.lines.join('') + audit;
  // the Basic credentials as they travel (Base64) count as the secrets themselves
  const encoded = [basic('mf-basic', CLIENT_SECRET).slice(6), basic('gateway', GATEWAY_SECRET).slice(6), b64(`partner:${BASIC_PASSWORD}`)];
  const secrets = [...CONFIG_SECRETS, ...encoded, ...s.learnt].filter((x) => x.length >= 16);
  const leaked = secrets.filter((x) => logged.includes(x));
  assert.deepEqual(leaked.map((x) => `${x.slice(0, 12)}…`), [], 'secrets in the log or audit file');
  // every line is JSON (nothing printed around the logger)
  for (const line of s.lines) assert.doesNotThrow(() => JSON.parse(line), `a log line that is no JSON: ${line.slice(0, 200)}`);
}

/** What a check sees: the running stack and what was learnt starting it, the health checks, the storage. */
export interface SweepContext {
  s: Sweep;
  health: ReturnType<typeof healthChecks>;
  label: StorageLabel;
}

export type StorageLabel = 'memory storage' | 'PostgreSQL';
export type Check = (name: string, fn: (c: SweepContext, t: TestContext) => Promise<void>) => void;

const TARGETS: Array<{ label: StorageLabel; storage(): Promise<{ url: string | undefined; drop(): Promise<void> } | 'skip'> }> = [
  { label: 'memory storage', storage: async () => ({ url: undefined, drop: async () => undefined }) },
  {
    label: 'PostgreSQL',
    async storage() {
      const base = await postgresUrl();
      if (base === undefined) return 'skip';
      const schema = await migratedPostgresSchema(base);
      return { url: schema.url, drop: () => schema.drop() };
    },
  },
];

/**
 * `area`'s sweep once per storage (memory:, and PostgreSQL when reachable: it refuses some
 * input memory takes), one stack each: `define` adds the checks, and a last one asserts that
 * the log and the audit file hold none of the secrets (and, when given, that the audit file
 * holds `auditEvent`, so the check is not vacuous).
 */
export function defineSweeps(area: string, define: (check: Check, label: StorageLabel) => void, opts: { auditEvent?: string } = {}): void {
  for (const target of TARGETS) {
    describe(`malformed input: ${area} (${target.label})`, { timeout: 120_000 }, () => {
      let c: SweepContext | undefined;
      let drop: () => Promise<void> = async () => undefined;
      let skipped = false;

      before(async () => {
        const storage = await target.storage();
        if (storage === 'skip') {
          skipped = true;
          return;
        }
        drop = storage.drop;
        const s = await startSweep(storage.url);
        c = { s, health: healthChecks(s), label: target.label };
      });

      after(async () => {
        await c?.s.done();
        await drop();
      });

      const check: Check = (name, fn) =>
        it(name, async (t) => {
          if (skipped) return t.skip('PostgreSQL not reachable');
          await fn(c!, t);
        });
      define(check, target.label);

      check('logs and audit events hold none of the secrets sent or configured', async ({ s }) => {
        // the audit file is written in the background: wait until it stops growing
        let audit = '';
        for (let i = 0; i < 50; i++) {
          const now = await readFile(s.auditFile, 'utf8').catch(() => '');
          if (now === audit && now !== '') break;
          audit = now;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(s.lines.length > 0, 'the logger captured lines');
        if (opts.auditEvent !== undefined) assert.ok(audit.includes(`"${opts.auditEvent}"`), `the audit file holds the corpus's ${opts.auditEvent} events`);
        assertNothingSecretLogged(s, audit);
      });
    });
  }
}
