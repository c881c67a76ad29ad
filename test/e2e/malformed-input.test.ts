// Malformed input at every endpoint Drawbridge serves: the auth server (discovery, JWKS,
// authorize with its login / MFA / consent forms, PAR, token for every grant and client
// authentication method, introspection, revocation, userinfo, end-session), the gateway
// listener (proxied routes behind each authenticator, the browser-session endpoints,
// forward-auth, health) and the admin API (every resource, /metrics). Each endpoint gets a
// corpus of broken requests over raw sockets — bad percent-encoding, repeated and mistyped
// parameters, odd and missing content types, huge values, odd methods and request targets,
// broken framing, odd Authorization schemes and cookies — and every answer must be the
// endpoint's own error (ARCHITECTURE §6): below 500, no stack or internal path, the
// endpoint's shape and content type, no-store at the auth server. The server must go on
// serving, and its log (the production logger, at debug) and audit file must hold none of
// the secrets the corpus used. One stack per storage (memory:, and PostgreSQL when
// reachable: it refuses some input SQLite and memory take), cases sent a few at a time.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK } from 'jose';
import { openStorage } from '../../src/storage/open.js';
import { basic } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { freshPostgresSchema, postgresUrl } from '../helpers/services.js';
import { capturingLogger, exchange, rawRequest, sweep, type Case, type ErrorShape } from './malformed-support.js';

// Every secret the stack is configured with or the corpus sends: none may reach a log.
const CLIENT_SECRET = 'mf-client-secret-Qx7Lw2Rz9Pk4Vn8Jt3';
const POST_SECRET = 'mf-post-secret-Hd6Ys1Bc5Nm0Gf2Wq8';
const GATEWAY_SECRET = 'mf-gateway-secret-Tz4Kp9Lx2Ra7Ve5Ub1';
const PASSWORD = 'mf-user-password-Ej3Mw8Dq6Sa1Zc4Ho9';
const ADMIN_TOKEN = 'mf-admin-token-Fn5Xb0Ci7Ty2Gk6Lu3Pv8';
const API_KEY = 'mf-api-key-Wr1Jd9Qe4Om7Ns2Ah5';
const BASIC_PASSWORD = 'mf-basic-password-Yk8Ug3Lb6Ix0Ct5';
const HMAC_SECRET = 'mf-hmac-secret-Pa2Ve7Rn4Zo9Kw1Sj6';
const WRONG_SECRET = 'mf-wrong-secret-Bq0Hy5Fm8Xl3Dt7Gc2';
const MASTER_SECRET = 'mf-master-secret-0123456789abcdef-0123456789';
const CONFIG_SECRETS = [CLIENT_SECRET, POST_SECRET, GATEWAY_SECRET, PASSWORD, ADMIN_TOKEN, API_KEY, BASIC_PASSWORD, HMAC_SECRET, WRONG_SECRET, MASTER_SECRET];

const enc = encodeURIComponent;
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');
/** `length` random base64url characters: huge values that do not compress (PostgreSQL compresses a repeated letter below its index limits) */
const noise = (length: number) => randomBytes(Math.ceil((length * 3) / 4)).toString('base64url').slice(0, length);

/** A request on one connection that closes after the answer. */
function req(url: string, method: string, target: string, fields: string[] = [], body?: string | Buffer): Buffer {
  const host = new URL(url).host;
  // strings are sent byte for byte (latin-1), as rawRequest writes them
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const length = bytes === undefined ? [] : [`Content-Length: ${bytes.length}`];
  return rawRequest([`${method} ${target} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...fields, ...length].join('\r\n'), bytes ?? '');
}

function form(url: string, target: string, body: string, fields: string[] = []): Buffer {
  return req(url, 'POST', target, ['Content-Type: application/x-www-form-urlencoded', ...fields], body);
}

/** Names cases after what they send. */
function named(prefix: string, list: Array<[string, Buffer, Partial<Case>?]>): Case[] {
  return list.map(([name, request, extra]) => ({ name: `${prefix} ${name}`, request, ...extra }));
}

/**
 * The HTTP-level corpus for one path of a listener: methods, request targets, Host, header
 * syntax, framing. `fields` are what a good request to the path would carry (credentials).
 * The listener refuses most of these before the endpoint (JSON everywhere: `listener`).
 */
function protocolCases(url: string, path: string, fields: string[] = []): Case[] {
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
function oddAuthorizations(): Array<[string, string]> {
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
function duplicateAuthorizations(good: string, make: (fields: string[]) => Buffer): Array<[string, Buffer, Partial<Case>]> {
  const wrong = `Basic ${b64(`mf-basic:${WRONG_SECRET}`)}`;
  const refused: Partial<Case> = { shape: 'listener', also: (r) => (r.status === 400 ? undefined : `status ${r.status}, not 400, for two Authorization fields`) };
  return [
    ['duplicate Authorization, the good one first', make([`Authorization: ${good}`, `Authorization: ${wrong}`]), refused],
    ['duplicate Authorization, the good one second', make([`Authorization: ${wrong}`, `Authorization: ${good}`]), refused],
    ['duplicate Authorization in other case', make([`authorization: ${good}`, `AUTHORIZATION: ${good}`]), refused],
  ];
}

/** Cookies of odd shapes for a listener whose cookies are named `names`. */
function oddCookies(names: string[]): Array<[string, string]> {
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
function formBodyCases(url: string, target: string, good: string, fields: string[] = [], shape?: ErrorShape): Case[] {
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

interface Sweep {
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
function healthChecks(s: Sweep): { auth(): Promise<void>; gateway(): Promise<void>; admin(): Promise<void> } {
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

/**
 * A client assertion for mf-jwt with `claims` over good ones, signed with its key (by hand:
 * a JWT library would refuse to sign the odd headers and claims).
 */
function assertion(s: Sweep, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: 'mf-jwt', sub: 'mf-jwt', aud: `${s.auth}/oauth2/token`, exp: now + 60, iat: now, jti: randomBytes(8).toString('hex'), ...claims };
  const input = `${b64url(JSON.stringify({ alg: 'ES256', kid: 'mf-1', ...header }))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('sha256', Buffer.from(input), { key: s.signer.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function defineSweep(label: string, storageFor: () => Promise<{ url: string | undefined; drop(): Promise<void> } | 'skip'>): void {
  describe(`malformed input at every endpoint (${label})`, { timeout: 120_000 }, () => {
    let s: Sweep;
    let health: ReturnType<typeof healthChecks>;
    let drop: () => Promise<void> = async () => undefined;
    let skipped = false;

    before(async () => {
      const storage = await storageFor();
      if (storage === 'skip') {
        skipped = true;
        return;
      }
      drop = storage.drop;
      s = await startSweep(storage.url);
      health = healthChecks(s);
    });

    after(async () => {
      await s?.done();
      await drop();
    });

    const skipIfNoStorage = (t: { skip(msg?: string): void }) => {
      if (skipped) t.skip('PostgreSQL not reachable');
      return skipped;
    };

    it('auth server: discovery, JWKS, health and unknown paths', async (t) => {
      if (skipIfNoStorage(t)) return;
      const cases: Case[] = [];
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json', '/healthz', '/readyz', '/no/such/path']) {
        cases.push(...protocolCases(s.auth, path));
        cases.push(...named(path, [
          ['POST with a form', form(s.auth, path, 'a=%zz')],
          ['DELETE', req(s.auth, 'DELETE', path)],
          ['OPTIONS with an Origin', req(s.auth, 'OPTIONS', path, ['Origin: http://evil.example', 'Access-Control-Request-Method: POST'])],
        ]));
      }
      await sweep(s.auth, cases, { shape: 'oauth' }, health.auth);
    });

    it('auth server: token endpoint, every grant and client authentication method', async (t) => {
      if (skipIfNoStorage(t)) return;
      const target = '/oauth2/token';
      const good = basic('mf-basic', CLIENT_SECRET);
      const withBasic = (body: string) => form(s.auth, target, body, [`Authorization: ${good}`]);
      const cases: Case[] = [...protocolCases(s.auth, target, [`Authorization: ${good}`]), ...formBodyCases(s.auth, target, 'grant_type=client_credentials', [`Authorization: ${good}`])];
      const grants: Array<[string, string]> = [
        ['grant_type missing', 'scope=openid'],
        ['grant_type %00', 'grant_type=%00'],
        ['grant_type __proto__', 'grant_type=__proto__'],
        ['grant_type constructor', 'grant_type=constructor'],
        ['grant_type toString', 'grant_type=toString'],
        ['grant_type repeated', 'grant_type=client_credentials&grant_type=password'],
        ['grant_type 30 KB', `grant_type=${noise(30_000)}`],
        ['client_credentials scope %00', 'grant_type=client_credentials&scope=%00'],
        ['client_credentials scope with control characters', 'grant_type=client_credentials&scope=orders:read%0d%0aX-Injected:%201'],
        ['client_credentials scope 50 KB', `grant_type=client_credentials&scope=${noise(50_000)}`],
        ['client_credentials scope of spaces', 'grant_type=client_credentials&scope=%20%20%20'],
        ['client_credentials resource %zz', 'grant_type=client_credentials&resource=%zz'],
        ['client_credentials resource not a URI', 'grant_type=client_credentials&resource=not%20a%20uri'],
        ['client_credentials resource with a bad host', `grant_type=client_credentials&resource=${enc('http://[::1/x')}`],
        ['client_credentials resource with %00', `grant_type=client_credentials&resource=${enc('https://a.example/')}%00`],
        ['client_credentials resource with a fragment', `grant_type=client_credentials&resource=${enc('https://a.example/#f')}`],
        ['client_credentials 200 resources', `grant_type=client_credentials${`&resource=${enc('https://a.example/')}`.repeat(200)}`],
        ['client_credentials audience odd', 'grant_type=client_credentials&audience=%00&audience=%20'],
        ['authorization_code code %00', 'grant_type=authorization_code&code=%00&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb'],
        ['authorization_code code 50 KB', `grant_type=authorization_code&code=${noise(50_000)}`],
        ['authorization_code code repeated', 'grant_type=authorization_code&code=a&code=b'],
        ['authorization_code redirect_uri %zz', 'grant_type=authorization_code&code=x&redirect_uri=%zz'],
        ['authorization_code redirect_uri javascript:', `grant_type=authorization_code&code=x&redirect_uri=${enc('javascript:alert(1)')}`],
        ['authorization_code code_verifier %00', 'grant_type=authorization_code&code=x&code_verifier=%00'],
        ['authorization_code code_verifier 50 KB', `grant_type=authorization_code&code=x&code_verifier=${noise(50_000)}`],
        ['refresh_token %00', 'grant_type=refresh_token&refresh_token=%00'],
        ['refresh_token 50 KB', `grant_type=refresh_token&refresh_token=${noise(50_000)}`],
        ['refresh_token with scope %00', `grant_type=refresh_token&refresh_token=${enc(s.refreshToken)}&scope=%00`],
        ['refresh_token with a widened scope', `grant_type=refresh_token&refresh_token=${enc(s.refreshToken)}&scope=openid%20admin`],
        ['password username %00', `grant_type=password&username=%00&password=${enc(WRONG_SECRET)}`],
        ['password username with control characters', `grant_type=password&username=a%01%1f%7f&password=${enc(WRONG_SECRET)}`],
        ['password username 50 KB', `grant_type=password&username=${noise(50_000)}&password=${enc(WRONG_SECRET)}`],
        ['password password %00', 'grant_type=password&username=alice&password=%00'],
        ['password password 60 KB', `grant_type=password&username=alice&password=${noise(60_000)}`],
        ['password username repeated', `grant_type=password&username=alice&username=bob&password=${enc(WRONG_SECRET)}`],
        ['password username __proto__', `grant_type=password&username=__proto__&password=${enc(WRONG_SECRET)}`],
        ['token-exchange subject_token garbage', 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=%00&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token'],
        ['token-exchange subject_token_type unknown', `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=${enc(s.userToken)}&subject_token_type=%00`],
        ['token-exchange JWT subject garbage', 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt'],
        ['token-exchange actor_token without a type', `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=${enc(s.userToken)}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&actor_token=%zz`],
        ['token-exchange requested_token_type garbage', `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=${enc(s.userToken)}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&requested_token_type=%00&audience=${noise(5000)}`],
        ['token-exchange id_token subject', `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=${b64url('{"alg":"none"}')}.${b64url('{"sub":{}}')}.&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token`],
      ];
      cases.push(...named(`POST ${target}`, grants.map(([name, body]) => [name, withBasic(body)])));
      // client authentication: odd Authorization values, body credentials, assertions
      const cc = 'grant_type=client_credentials';
      cases.push(...named(`POST ${target}`, oddAuthorizations().map(([name, value]) => [name, form(s.auth, target, cc, [`Authorization: ${value}`])])));
      cases.push(...named(`POST ${target}`, duplicateAuthorizations(good, (fields) => form(s.auth, target, cc, fields))));
      cases.push(...named(`POST ${target}`, [
        ['client_id %00 with a secret', form(s.auth, target, `${cc}&client_id=%00&client_secret=${enc(WRONG_SECRET)}`)],
        ['client_id 30 KB', form(s.auth, target, `${cc}&client_id=${noise(30_000)}&client_secret=${enc(WRONG_SECRET)}`)],
        ['client_id __proto__', form(s.auth, target, `${cc}&client_id=__proto__&client_secret=${enc(WRONG_SECRET)}`)],
        ['client_id repeated', form(s.auth, target, `${cc}&client_id=mf-post&client_id=mf-basic&client_secret=${enc(POST_SECRET)}`)],
        ['client_secret repeated', form(s.auth, target, `${cc}&client_id=mf-post&client_secret=${enc(POST_SECRET)}&client_secret=${enc(WRONG_SECRET)}`)],
        ['client_secret %00', form(s.auth, target, `${cc}&client_id=mf-post&client_secret=%00`)],
        ['client_secret 60 KB', form(s.auth, target, `${cc}&client_id=mf-post&client_secret=${noise(60_000)}`)],
        ['public client_id %00', form(s.auth, target, 'grant_type=authorization_code&code=x&client_id=%00')],
        ...(['null', 'http://%zz', 'http://a b', `http://${noise(5000)}.example`, 'http://caf\xe9.example', 'http://127.0.0.1:9, http://evil.example'].flatMap((origin): Array<[string, Buffer]> => [
          [`POST from Origin ${origin.slice(0, 30)}`, form(s.auth, target, cc, [`Origin: ${origin}`, `Authorization: ${good}`])],
        ])),
        ['public client_id with control characters', form(s.auth, target, 'grant_type=authorization_code&code=x&client_id=a%0d%0ab')],
        ['Basic and body secret both', form(s.auth, target, `${cc}&client_id=mf-basic&client_secret=${enc(WRONG_SECRET)}`, [`Authorization: ${good}`])],
        ['client_assertion_type %00', form(s.auth, target, `${cc}&client_assertion_type=%00&client_assertion=a.b.c`)],
        ['client_assertion garbage', form(s.auth, target, `${cc}&client_assertion_type=${enc('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}&client_assertion=%zz`)],
        ['client_assertion a.b.c', form(s.auth, target, `${cc}&client_assertion_type=${enc('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}&client_assertion=a.b.c`)],
        ...(([
            ['payload iss an object', `${b64url('{"alg":"ES256"}')}.${b64url('{"iss":{"a":1}}')}.sig`],
            ['payload iss NUL', `${b64url('{"alg":"ES256"}')}.${b64url('{"iss":"\\u0000"}')}.sig`],
            ['payload iss 30 KB', `${b64url('{"alg":"ES256"}')}.${b64url(`{"iss":"${noise(30_000)}"}`)}.sig`],
            ['payload an array', `${b64url('{"alg":"ES256"}')}.${b64url('[1,2]')}.sig`],
            ['payload deeply nested', `${b64url('{"alg":"ES256"}')}.${b64url(`${'['.repeat(20_000)}${']'.repeat(20_000)}`)}.sig`],
            ['header alg none', `${b64url('{"alg":"none"}')}.${b64url('{"iss":"mf-jwt","sub":"mf-jwt"}')}.`],
            ['header not JSON', `${b64url('{{')}.${b64url('{"iss":"mf-jwt"}')}.sig`],
            ['signed, jti NUL', assertion(s, { jti: '\u0000' })],
            ['signed, jti 20 KB', assertion(s, { jti: noise(20_000) })],
            ['signed, jti an object', assertion(s, { jti: { a: 1 } })],
            ['signed, aud a list of objects', assertion(s, { aud: [{}, 1] })],
            ['signed, exp a string', assertion(s, { exp: 'tomorrow' })],
            ['signed, exp huge', assertion(s, { exp: 1e300 })],
            ['signed, iat negative', assertion(s, { iat: -1e300 })],
            ['signed, kid an object', assertion(s, {}, { kid: { a: 1 } })],
            ['signed, crit header', assertion(s, {}, { crit: ['x-unknown'], 'x-unknown': 1 })],
          ] as Array<[string, string]>).map(([name, jwt]) => [`client_assertion ${name}`, form(s.auth, target, `${cc}&client_assertion_type=${enc('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}&client_assertion=${enc(jwt)}`)] as [string, Buffer])),
      ]));
      // CORS preflights from odd origins: refused as cors.ts refuses any other (403, nothing allowed)
      for (const origin of ['null', 'http://%zz', 'http://a b', `http://${noise(5000)}.example`, 'http://caf\xe9.example', 'http://127.0.0.1:9, http://evil.example']) {
        for (const path of [target, '/oauth2/userinfo', '/oauth2/par', '/oauth2/revoke']) {
          cases.push({ name: `OPTIONS ${path} from Origin ${origin.slice(0, 30)}`, request: req(s.auth, 'OPTIONS', path, [`Origin: ${origin}`, 'Access-Control-Request-Method: POST', 'Access-Control-Request-Headers: ,,authorization,\xe9']), shape: 'preflight' });
        }
      }
      await sweep(s.auth, cases, { shape: 'oauth' }, health.auth);
    });

    it('auth server: introspection, revocation and PAR', async (t) => {
      if (skipIfNoStorage(t)) return;
      const gateway = basic('gateway', GATEWAY_SECRET);
      const mine = basic('mf-basic', CLIENT_SECRET);
      const cases: Case[] = [];
      for (const [target, good, authz] of [
        ['/oauth2/introspect', `token=${enc(s.clientToken)}`, gateway],
        ['/oauth2/revoke', 'token=unknown-token', mine],
        ['/oauth2/par', `response_type=code&redirect_uri=${enc('http://127.0.0.1:9/cb')}&scope=openid&code_challenge=${'E'.repeat(43)}&code_challenge_method=S256`, mine],
      ] as const) {
        cases.push(...protocolCases(s.auth, target, [`Authorization: ${authz}`]));
        cases.push(...formBodyCases(s.auth, target, good, [`Authorization: ${authz}`]));
        cases.push(...named(`POST ${target}`, oddAuthorizations().map(([name, value]) => [name, form(s.auth, target, good, [`Authorization: ${value}`])])));
        cases.push(...named(`POST ${target}`, duplicateAuthorizations(authz, (fields) => form(s.auth, target, good, fields))));
        cases.push(...named(`POST ${target}`, [
          ['token %00', form(s.auth, target, 'token=%00', [`Authorization: ${authz}`])],
          ['token 60 KB', form(s.auth, target, `token=${noise(60_000)}`, [`Authorization: ${authz}`])],
          ['token repeated', form(s.auth, target, 'token=a&token=b', [`Authorization: ${authz}`])],
          ['token_type_hint odd', form(s.auth, target, `${good}&token_type_hint=%00&token_type_hint=x`, [`Authorization: ${authz}`])],
          ['Accept with a bad q', form(s.auth, target, good, [`Authorization: ${authz}`, 'Accept: application/token-introspection+jwt;q=abc, application/json;q=2'])],
          ['Accept of 4000 ranges', form(s.auth, target, good, [`Authorization: ${authz}`, `Accept: ${'application/token-introspection+jwt;q=0.5,'.repeat(300)}`])],
          ['Accept with odd parameters', form(s.auth, target, good, [`Authorization: ${authz}`, 'Accept: application/token-introspection+jwt;;;q=;=,,,;'])],
        ]));
      }
      const par = (body: string) => form(s.auth, '/oauth2/par', body, [`Authorization: ${mine}`]);
      cases.push(...named('POST /oauth2/par', authorizeParamCases().map(([name, query]) => [name, par(query)])));
      cases.push(...named('POST /oauth2/par', [['request_uri in a pushed request', par('request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax&response_type=code')]]));
      await sweep(s.auth, cases, { shape: 'oauth' }, health.auth);
    });

    it('auth server: userinfo, GET and POST', async (t) => {
      if (skipIfNoStorage(t)) return;
      const target = '/oauth2/userinfo';
      const good = `Bearer ${s.userToken}`;
      const cases: Case[] = [...protocolCases(s.auth, target, [`Authorization: ${good}`]), ...formBodyCases(s.auth, target, `access_token=${enc(s.userToken)}`)];
      cases.push(...named(`GET ${target}`, oddAuthorizations().map(([name, value]) => [name, req(s.auth, 'GET', target, [`Authorization: ${value}`])])));
      cases.push(...named(`GET ${target}`, duplicateAuthorizations(good, (fields) => req(s.auth, 'GET', target, fields))));
      cases.push(...named(target, [
        ['token in the query', req(s.auth, 'GET', `${target}?access_token=${enc(s.userToken)}`)],
        ['token in the header and the body', form(s.auth, target, `access_token=${enc(s.userToken)}`, [`Authorization: ${good}`])],
        ['body token %00', form(s.auth, target, 'access_token=%00')],
        ['body token repeated', form(s.auth, target, 'access_token=a&access_token=b')],
        ['client token (no user)', req(s.auth, 'GET', target, [`Authorization: Bearer ${s.clientToken}`])],
        ['POST with a JSON body', req(s.auth, 'POST', target, ['Content-Type: application/json'], `{"access_token":${JSON.stringify(s.userToken)}}`)],
      ]));
      await sweep(s.auth, cases, { shape: 'oauth' }, health.auth);
    });

    it('auth server: authorization endpoint, GET and POST, with its login, MFA and consent forms', async (t) => {
      if (skipIfNoStorage(t)) return;
      const target = '/oauth2/authorize';
      const base = `client_id=mf-basic&response_type=code&scope=openid&redirect_uri=${enc('http://127.0.0.1:9/cb')}&code_challenge=${'E'.repeat(43)}&code_challenge_method=S256&state=s`;
      const cases: Case[] = [...protocolCases(s.auth, `${target}?${base}`), ...formBodyCases(s.auth, target, base, [], 'page')];
      cases.push(...named(`GET ${target}`, authorizeParamCases().map(([name, query]) => [name, req(s.auth, 'GET', `${target}?${query}`)])));
      cases.push(...named(`POST ${target}`, authorizeParamCases().map(([name, query]) => [name, form(s.auth, target, query)])));
      const asAnon = (body: string) => form(s.auth, target, `${base}&csrf_token=${enc(s.anonCsrfToken)}&${body}`, [`Cookie: ${s.anonCsrfCookie}`]);
      const asUser = (body: string, cookie = `${s.ssoCookie}; ${s.csrfCookie}`) => form(s.auth, target, `${base}&csrf_token=${enc(s.csrfToken)}&${body}`, [`Cookie: ${cookie}`]);
      cases.push(...named(`POST ${target}`, [
        ['login without a CSRF token', form(s.auth, target, `${base}&action=login&username=alice&password=${enc(WRONG_SECRET)}`)],
        ['login with a CSRF token 60 KB', form(s.auth, target, `${base}&action=login&csrf_token=${noise(60_000)}`, [`Cookie: ${s.anonCsrfCookie}`])],
        ['login with a CSRF token %00', form(s.auth, target, `${base}&action=login&csrf_token=%00`, [`Cookie: ${s.anonCsrfCookie}`])],
        ['login with the CSRF token repeated', form(s.auth, target, `${base}&action=login&csrf_token=${enc(s.anonCsrfToken)}&csrf_token=x`, [`Cookie: ${s.anonCsrfCookie}`])],
        ['login username %00', asAnon(`action=login&username=%00&password=${enc(WRONG_SECRET)}`)],
        ['login username with control characters', asAnon(`action=login&username=a%0d%0ab%01&password=${enc(WRONG_SECRET)}`)],
        ['login username 50 KB', asAnon(`action=login&username=${noise(50_000)}&password=${enc(WRONG_SECRET)}`)],
        ['login username repeated', asAnon(`action=login&username=alice&username=bob&password=${enc(WRONG_SECRET)}`)],
        ['login username __proto__', asAnon(`action=login&username=__proto__&password=${enc(WRONG_SECRET)}`)],
        ['login password %00', asAnon('action=login&username=alice&password=%00')],
        ['login password 50 KB', asAnon(`action=login&username=alice&password=${noise(50_000)}`)],
        ['login without a password', asAnon('action=login&username=alice')],
        ['unknown action', asAnon('action=%00')],
        ['action repeated', asAnon('action=login&action=consent')],
        ['mfa with a garbage ticket', asAnon('action=mfa&mfa_ticket=garbage&otp=123456')],
        ['mfa with a ticket %00', asAnon('action=mfa&mfa_ticket=%00&otp=%00')],
        ['mfa with a 50 KB ticket', asAnon(`action=mfa&mfa_ticket=${noise(50_000)}&otp=1`)],
        ['enrol with a garbage ticket', asAnon(`action=enrol&mfa_ticket=${b64url('{"u":{}}')}&otp=1`)],
        ['enrolled with a garbage ticket', asAnon('action=enrolled&mfa_ticket=a.b.c')],
        ['consent with a garbage ticket', asUser('action=consent&decision=allow&consent_ticket=garbage')],
        ['consent with a ticket %00', asUser('action=consent&decision=%00&consent_ticket=%00')],
        ['consent with the decision repeated', asUser('action=consent&decision=allow&decision=deny&consent_ticket=x')],
        ['consent without a ticket', asUser('action=consent&decision=deny')],
      ]));
      // the real enrolment and consent forms, with odd codes and decisions
      const filled = (fields: Array<[string, string]>, extra: string, drop: string[] = []) => fields.filter(([k]) => !drop.includes(k)).map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&') + extra;
      const otps: Array<[string, string]> = [
        ['empty', ''], ['spaces', '%20%20%20'], ['letters', 'abcdef'], ['full-width digits', enc('１２３４５６')], ['Arabic-Indic digits', enc('١٢٣٤٥٦')],
        ['10 KB of digits', '1'.repeat(10_000)], ['negative', '-123456'], ['exponent', '1e6'], ['with a tab', '123%09456'], ['repeated', '123456&otp=654321'],
      ];
      cases.push(...named(`POST ${target} enrol`, otps.map(([name, otp]) => [`code ${name}`, form(s.auth, target, filled(s.enrolFields, `&otp=${otp}`), [`Cookie: ${s.enrolCookie}`])])));
      cases.push(...named(`POST ${target}`, [
        ['enrolment ticket used for mfa', form(s.auth, target, filled(s.enrolFields, '&action=mfa&otp=123456', ['action']), [`Cookie: ${s.enrolCookie}`])],
        ['enrolment ticket used for enrolled', form(s.auth, target, filled(s.enrolFields, '&action=enrolled', ['action']), [`Cookie: ${s.enrolCookie}`])],
        ['enrolment ticket with one character changed', form(s.auth, target, filled(s.enrolFields.map(([k, v]): [string, string] => [k, k === 'mfa_ticket' ? `${v.slice(0, -2)}A${v.slice(-1)}` : v]), '&otp=123456'), [`Cookie: ${s.enrolCookie}`])],
      ]));
      const decisions: Array<[string, string]> = [['ALLOW in capitals', 'ALLOW'], ['allow with a space', 'allow%20'], ['empty', ''], ['repeated', 'deny&decision=allow'], ['30 KB', noise(30_000)]];
      cases.push(...named(`POST ${target} consent`, decisions.map(([name, d]) => [`decision ${name}`, form(s.auth, target, filled(s.consentFields, `&decision=${d}`), [`Cookie: ${s.ssoCookie}; ${s.csrfCookie}`])])));
      cases.push(...named(`POST ${target} consent`, [
        ['the ticket repeated', form(s.auth, target, filled(s.consentFields, `&decision=deny&consent_ticket=x`), [`Cookie: ${s.ssoCookie}; ${s.csrfCookie}`])],
        ['another scope than the page showed', form(s.auth, target, filled(s.consentFields, '&decision=allow&scope=openid%20offline_access', ['scope']), [`Cookie: ${s.ssoCookie}; ${s.csrfCookie}`])],
        ['without the session cookie', form(s.auth, target, filled(s.consentFields, '&decision=allow'), [`Cookie: ${s.csrfCookie}`])],
      ]));
      for (const [name, cookie] of oddCookies(['drawbridge_sso', 'drawbridge_csrf'])) {
        cases.push(...named(`GET ${target}`, [[name, req(s.auth, 'GET', `${target}?${base}`, [`Cookie: ${cookie}`])]]));
        cases.push(...named(`POST ${target} login`, [[name, form(s.auth, target, `${base}&action=login&csrf_token=x&username=alice&password=${enc(WRONG_SECRET)}`, [`Cookie: ${cookie}`])]]));
      }
      await sweep(s.auth, cases, { shape: 'page' }, health.auth);
    });

    it('auth server: end-session endpoint, GET and POST', async (t) => {
      if (skipIfNoStorage(t)) return;
      const target = '/oauth2/logout';
      const cases: Case[] = [...protocolCases(s.auth, target), ...formBodyCases(s.auth, target, 'client_id=mf-basic', [], 'page')];
      const queries: Array<[string, string]> = [
        ['id_token_hint garbage', 'id_token_hint=garbage'],
        ['id_token_hint %00', 'id_token_hint=%00'],
        ['id_token_hint a.b.c', 'id_token_hint=a.b.c'],
        ['id_token_hint alg none', `id_token_hint=${b64url('{"alg":"none"}')}.${b64url('{"sub":{},"aud":[1],"sid":null}')}.`],
        ['id_token_hint 50 KB', `id_token_hint=${noise(50_000)}`],
        ['post_logout_redirect_uri %zz', 'client_id=mf-basic&post_logout_redirect_uri=%zz'],
        ['post_logout_redirect_uri javascript:', `client_id=mf-basic&post_logout_redirect_uri=${enc('javascript:alert(1)')}`],
        ['post_logout_redirect_uri not absolute', 'client_id=mf-basic&post_logout_redirect_uri=/bye'],
        ['post_logout_redirect_uri without a client', `post_logout_redirect_uri=${enc('http://127.0.0.1:9/bye')}`],
        ['client_id %00', 'client_id=%00'],
        ['client_id 30 KB', `client_id=${noise(30_000)}`],
        ['client_id __proto__', 'client_id=__proto__'],
        ['client_id repeated', 'client_id=mf-basic&client_id=mf-post'],
        ['state 50 KB', `client_id=mf-basic&post_logout_redirect_uri=${enc('http://127.0.0.1:9/bye')}&state=${noise(50_000)}`],
        ['state %00', `client_id=mf-basic&post_logout_redirect_uri=${enc('http://127.0.0.1:9/bye')}&state=%00`],
        ['ui_locales and logout_hint odd', 'ui_locales=%00&logout_hint=%ff'],
      ];
      cases.push(...named(`GET ${target}`, queries.map(([name, q]) => [name, req(s.auth, 'GET', `${target}?${q}`)])));
      cases.push(...named(`POST ${target}`, queries.map(([name, q]) => [name, form(s.auth, target, q)])));
      cases.push(...named(`POST ${target}`, [
        ['logout without a CSRF token', form(s.auth, target, 'action=logout', [`Cookie: ${s.csrfCookie}`])],
        ['logout with a CSRF token %00', form(s.auth, target, 'action=logout&csrf_token=%00', [`Cookie: ${s.csrfCookie}`])],
        ['unknown action with a good CSRF token', form(s.auth, target, `action=%00&csrf_token=${enc(s.csrfToken)}`, [`Cookie: ${s.csrfCookie}`])],
        ['action repeated', form(s.auth, target, `action=logout&action=cancel&csrf_token=${enc(s.csrfToken)}`, [`Cookie: ${s.csrfCookie}`])],
      ]));
      for (const [name, cookie] of oddCookies(['drawbridge_sso', 'drawbridge_csrf'])) cases.push(...named(`GET ${target}`, [[name, req(s.auth, 'GET', target, [`Cookie: ${cookie}`])]]));
      await sweep(s.auth, cases, { shape: 'page' }, health.auth);
    });

    it('gateway: proxied routes behind each authenticator', async (t) => {
      if (skipIfNoStorage(t)) return;
      const cases: Case[] = [];
      const routes: Array<[string, string[]]> = [
        ['/keyed/x', [`apikey: ${API_KEY}`]],
        ['/basic/x', [`Authorization: Basic ${b64(`partner:${BASIC_PASSWORD}`)}`]],
        ['/hmac/x', []],
        ['/legacy-hmac/x', []],
        ['/jwt/x', []],
        ['/phantom/x', [`Authorization: Bearer ${s.clientToken}`]],
        ['/app/x', []],
        ['/api/x', []],
        ['/open/x', []],
        ['/no-such-route', []],
      ];
      for (const [path, fields] of routes) {
        cases.push(...protocolCases(s.gw, path, fields));
        cases.push(...named(`GET ${path}`, oddAuthorizations().map(([name, value]) => [name, req(s.gw, 'GET', path, [`Authorization: ${value}`])])));
        const good = fields.find((f) => f.startsWith('Authorization: '))?.slice(15) ?? `Bearer ${s.clientToken}`;
        cases.push(...named(`GET ${path}`, duplicateAuthorizations(good, (more) => req(s.gw, 'GET', path, [...fields.filter((f) => !f.startsWith('Authorization: ')), ...more]))));
        cases.push(...named(`GET ${path}`, oddCookies(['drawbridge_session', 'at']).map(([name, cookie]) => [name, req(s.gw, 'GET', path, [`Cookie: ${cookie}`])])));
        cases.push(...named(`POST ${path}`, [
          ['form with %zz', form(s.gw, path, 'a=%zz&b=%00', fields)],
          ['JSON nested 50000 deep', req(s.gw, 'POST', path, ['Content-Type: application/json', ...fields], `${'['.repeat(50_000)}${']'.repeat(50_000)}`)],
        ]));
      }
      cases.push(...named('/keyed', [
        ['apikey empty', req(s.gw, 'GET', '/keyed/x', ['apikey: '])],
        ['apikey 10 KB', req(s.gw, 'GET', '/keyed/x', [`apikey: ${noise(10_000)}`])],
        ['apikey latin-1 byte', req(s.gw, 'GET', '/keyed/x', ['apikey: k\xe9y'])],
        ['apikey twice', req(s.gw, 'GET', '/keyed/x', [`apikey: ${API_KEY}`, `apikey: ${WRONG_SECRET}`])],
        ['apikey in the query %zz', req(s.gw, 'GET', '/keyed/x?apikey=%zz')],
        ['apikey in the query %00', req(s.gw, 'GET', '/keyed/x?apikey=%00')],
        ['apikey in the query repeated', req(s.gw, 'GET', `/keyed/x?apikey=${API_KEY}&apikey=${WRONG_SECRET}`)],
        ['body over request-size-limiting', req(s.gw, 'POST', '/keyed/x', [`apikey: ${API_KEY}`, 'Content-Type: text/plain'], noise(5000))],
      ]));
      cases.push(...named('/basic', [
        ['Basic user with a control character', req(s.gw, 'GET', '/basic/x', [`Authorization: Basic ${b64(`part\x01ner:${BASIC_PASSWORD}`)}`])],
        ['Basic 12 KB user', req(s.gw, 'GET', '/basic/x', [`Authorization: Basic ${b64(`${noise(9000)}:${WRONG_SECRET}`)}`])],
      ]));
      const sig = ['Signature-Input: sig1=("@method" "@path" "content-digest");created=1;keyid="partner-hmac";alg="hmac-sha256"', 'Signature: sig1=:AAAA:'];
      cases.push(...named('/hmac', [
        ['Signature-Input garbage', req(s.gw, 'GET', '/hmac/x', ['Signature-Input: ((((', 'Signature: sig1=:%%%:'])],
        ['Signature-Input with odd parameters', req(s.gw, 'GET', '/hmac/x', ['Signature-Input: sig1=();created=-1;keyid=1;alg=7;expires=1e999', 'Signature: sig1=:AA==:'])],
        ['Signature without input', req(s.gw, 'GET', '/hmac/x', ['Signature: sig1=:AA==:'])],
        ['keyid 10 KB', req(s.gw, 'GET', '/hmac/x', [`Signature-Input: sig1=("@method");created=1;keyid="${noise(10_000)}"`, 'Signature: sig1=:AA==:'])],
        ['Content-Digest garbage', req(s.gw, 'POST', '/hmac/x', [...sig, 'Content-Digest: sha-256=:!!!:', 'Content-Type: text/plain'], 'body')],
        ['Content-Digest unknown algorithm', req(s.gw, 'POST', '/hmac/x', [...sig, 'Content-Digest: md5=:AA==:, sha-999=:AA==:'], 'body')],
        ['Content-Digest of 300 members', req(s.gw, 'POST', '/hmac/x', [...sig, `Content-Digest: ${'sha-256=:AA==:, '.repeat(300)}sha-256=:AA==:`], 'body')],
        ['signature over a chunked body that breaks off', rawRequest([`POST /hmac/x HTTP/1.1`, `Host: ${new URL(s.gw).host}`, ...sig, 'Content-Digest: sha-256=:AA==:', 'Transfer-Encoding: chunked'].join('\r\n'), '10\r\nabc'), { halfClose: true }],
      ]));
      cases.push(...named('/legacy-hmac', [
        ['legacy header garbage', req(s.gw, 'GET', '/legacy-hmac/x', ['Authorization: hmac username=, algorithm, headers="""', 'Date: not a date'])],
        ['legacy with a Digest garbage', req(s.gw, 'POST', '/legacy-hmac/x', ['Authorization: hmac username="partner-hmac", algorithm="hmac-sha256", headers="date digest", signature="AA=="', `Date: ${new Date().toUTCString()}`, 'Digest: SHA-256=!!!'], 'body')],
        ['legacy Date in the far future', req(s.gw, 'GET', '/legacy-hmac/x', ['Authorization: hmac username="partner-hmac", algorithm="hmac-sha256", headers="date", signature="AA=="', 'Date: Fri, 31 Dec 275760 00:00:00 GMT'])],
      ]));
      cases.push(...named('/jwt', [
        ['token in the query %zz', req(s.gw, 'GET', '/jwt/x?access_token=%zz')],
        ['token in the query repeated', req(s.gw, 'GET', '/jwt/x?access_token=a&access_token=b')],
        ['token cookie garbage', req(s.gw, 'GET', '/jwt/x', ['Cookie: at=%zz; at=a.b.c'])],
        ['opaque token as a JWT', req(s.gw, 'GET', '/jwt/x', [`Authorization: Bearer ${s.clientToken}`])],
      ]));
      cases.push(...named('/api (cors)', [
        ['preflight with odd Origin', req(s.gw, 'OPTIONS', '/api/x', ['Origin: http://%zz', 'Access-Control-Request-Method: g e t', 'Access-Control-Request-Headers: ,,,\xe9'])],
        ['Origin null', req(s.gw, 'GET', '/api/x', ['Origin: null'])],
      ]));
      await sweep(s.gw, cases, { shape: 'gateway' }, health.gateway);
    });

    it('gateway: browser-session endpoints, forward-auth and health', async (t) => {
      if (skipIfNoStorage(t)) return;
      const cases: Case[] = [];
      for (const path of ['/_drawbridge/callback', '/_drawbridge/logout', '/_drawbridge/backchannel-logout', '/_drawbridge/authz', '/healthz', '/readyz']) {
        cases.push(...protocolCases(s.gw, path));
        cases.push(...named(path, oddCookies(['drawbridge_session', 'drawbridge_login_AAAAAAAAAAAAAAAA']).map(([name, cookie]) => [name, req(s.gw, 'GET', path, [`Cookie: ${cookie}`])])));
      }
      const html = { shape: 'page' as const };
      const callback = (q: string, fields: string[] = []) => req(s.gw, 'GET', `/_drawbridge/callback?${q}`, fields);
      cases.push(...named('/_drawbridge/callback', [
        ['state %zz', callback('state=%zz&code=x')],
        ['state 10 KB', callback(`state=${noise(10_000)}&code=x`)],
        ['state repeated', callback('state=AAAAAAAAAAAAAAAA&state=BBBBBBBBBBBBBBBB&code=x')],
        ['no parameters', callback('')],
        ['error with markup', callback('error=%3Cscript%3E&error_description=%3Cb%3Ex%3C/b%3E&state=AAAAAAAAAAAAAAAA')],
        ['error with control characters', callback('error=a%0d%0ab%00&state=AAAAAAAAAAAAAAAA')],
        ['login cookie garbage', callback('state=AAAAAAAAAAAAAAAAAAAA&code=x', ['Cookie: drawbridge_login_AAAAAAAAAAAAAAAA=%zz.garbage'])],
        ['login cookie 5 KB', callback('state=AAAAAAAAAAAAAAAAAAAA&code=x', [`Cookie: drawbridge_login_AAAAAAAAAAAAAAAA=${noise(5000)}`])],
        ['as a browser', callback('state=%zz', ['Accept: text/html']), html],
        ['error as a browser', callback('error=%3Cscript%3E&state=AAAAAAAAAAAAAAAA', ['Accept: text/html']), html],
        ['POST', form(s.gw, '/_drawbridge/callback', 'state=x&code=y')],
      ]));
      cases.push(...named('/_drawbridge/logout', [
        ['Origin garbage', req(s.gw, 'POST', '/_drawbridge/logout', ['Origin: http://%zz', 'Cookie: drawbridge_session=' + 'a'.repeat(43)])],
        ['Origin null', req(s.gw, 'POST', '/_drawbridge/logout', ['Origin: null'])],
        ['Sec-Fetch-Site odd', req(s.gw, 'GET', '/_drawbridge/logout', ['Sec-Fetch-Site: \xe9', 'Origin: x'])],
        ['PUT', req(s.gw, 'PUT', '/_drawbridge/logout')],
        ['form body with %zz', form(s.gw, '/_drawbridge/logout', 'a=%zz')],
      ]));
      const backchannel = (body: string | Buffer, type = 'application/x-www-form-urlencoded') => req(s.gw, 'POST', '/_drawbridge/backchannel-logout', type === '' ? [] : [`Content-Type: ${type}`], body);
      cases.push(...named('/_drawbridge/backchannel-logout', [
        ['no body', backchannel('')],
        ['logout_token %zz', backchannel('logout_token=%zz')],
        ['logout_token %00', backchannel('logout_token=%00')],
        ['logout_token repeated', backchannel('logout_token=a&logout_token=b')],
        ['logout_token a.b.c', backchannel('logout_token=a.b.c')],
        ['logout_token 60 KB', backchannel(`logout_token=${noise(60_000)}`)],
        ['logout_token over the limit', backchannel(`logout_token=${noise(70_000)}`)],
        ['logout_token alg none', backchannel(`logout_token=${b64url('{"alg":"none"}')}.${b64url('{"iss":{},"aud":[[]],"events":"x","sid":1}')}.`)],
        ['logout_token with odd claims, unsigned', backchannel(`logout_token=${b64url('{"alg":"ES256","kid":{}}')}.${b64url(`{"iss":"${s.auth}","aud":"gateway","events":{"http://schemas.openid.net/event/backchannel-logout":[]},"sid":{},"sub":[]}`)}.AAAA`)],
        ['JSON body', backchannel('{"logout_token":1}', 'application/json')],
        ['no Content-Type', backchannel('logout_token=x', '')],
        ['GET', req(s.gw, 'GET', '/_drawbridge/backchannel-logout')],
      ]));
      const authz = (fields: string[]) => req(s.gw, 'GET', '/_drawbridge/authz', fields);
      const key = `apikey: ${API_KEY}`;
      cases.push(...named('/_drawbridge/authz', [
        ['X-Forwarded-Uri %zz', authz([key, 'X-Forwarded-Uri: /keyed/%zz'])],
        ['X-Forwarded-Uri %00', authz([key, 'X-Forwarded-Uri: /keyed/%00'])],
        ['X-Forwarded-Uri overlong UTF-8', authz([key, 'X-Forwarded-Uri: /keyed/%c0%af'])],
        ['X-Forwarded-Uri without a slash', authz([key, 'X-Forwarded-Uri: keyed'])],
        ['X-Forwarded-Uri absolute', authz([key, 'X-Forwarded-Uri: http://other.example/keyed'])],
        ['X-Forwarded-Uri *', authz([key, 'X-Forwarded-Uri: *'])],
        ['X-Forwarded-Uri with a fragment', authz([key, 'X-Forwarded-Uri: /keyed#x'])],
        ['X-Forwarded-Uri with dot segments', authz([key, 'X-Forwarded-Uri: /open/%2e%2e/keyed'])],
        ['X-Forwarded-Uri 10 KB', authz([key, `X-Forwarded-Uri: /keyed/${noise(10_000)}`])],
        ['X-Forwarded-Uri twice', authz([key, 'X-Forwarded-Uri: /keyed', 'X-Forwarded-Uri: /open'])],
        ['X-Forwarded-Uri latin-1 byte', authz([key, 'X-Forwarded-Uri: /keyed/caf\xe9'])],
        ['X-Original-URL odd', authz([key, 'X-Original-URL: http://%zz/'])],
        ['X-Forwarded-Method lower case', authz([key, 'X-Forwarded-Method: get', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Method odd', authz([key, 'X-Forwarded-Method: G E T', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Method empty', authz([key, 'X-Forwarded-Method: ', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Host odd', authz([key, 'X-Forwarded-Host: a b', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Host bracket', authz([key, 'X-Forwarded-Host: [::1', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Host 10 KB', authz([key, `X-Forwarded-Host: ${noise(10_000)}`, 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-Proto odd', authz([key, 'X-Forwarded-Proto: gopher, https', 'X-Forwarded-Uri: /keyed'])],
        ['X-Forwarded-For garbage', authz([key, 'X-Forwarded-For: not-an-ip, 999.1.1.1, ::zz', 'X-Forwarded-Uri: /keyed'])],
        ['POST with a body', req(s.gw, 'POST', '/_drawbridge/authz', [key, 'X-Forwarded-Uri: /keyed', 'Content-Type: text/plain'], noise(5000))],
      ]));
      cases.push(...named('/_drawbridge/authz', duplicateAuthorizations(`Basic ${b64(`partner:${BASIC_PASSWORD}`)}`, (fields) => authz(['X-Forwarded-Uri: /basic/x', ...fields]))));
      const upgrade = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
      cases.push(...named('WebSocket upgrade', duplicateAuthorizations(`Basic ${b64(`partner:${BASIC_PASSWORD}`)}`, (fields) => req(s.gw, 'GET', '/basic/ws', [...upgrade, ...fields]))));
      await sweep(s.gw, cases, { shape: 'gateway' }, health.gateway);
    });

    it('admin API: every resource and /metrics', async (t) => {
      if (skipIfNoStorage(t)) return;
      const bearer = `Authorization: Bearer ${ADMIN_TOKEN}`;
      const cases: Case[] = [];
      cases.push(...named('/services', oddAuthorizations().map(([name, value]) => [name, req(s.adm, 'GET', '/services', [`Authorization: ${value}`])])));
      cases.push(...named('/services', duplicateAuthorizations(`Bearer ${ADMIN_TOKEN}`, (fields) => req(s.adm, 'GET', '/services', fields))));
      const json = (method: string, path: string, body: string | Buffer, type = 'application/json') => req(s.adm, method, path, [bearer, ...(type === '' ? [] : [`Content-Type: ${type}`])], body);
      const bodies: Array<[string, string | Buffer, string?]> = [
        ['invalid JSON', '{"name":'],
        ['a JSON list', '[]'],
        ['JSON null', 'null'],
        ['a JSON number', '1'],
        ['a JSON string', '"s"'],
        ['nested 50000 deep', `{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`],
        ['__proto__', '{"__proto__":{"polluted":1},"name":"x"}'],
        ['constructor.prototype', '{"constructor":{"prototype":{"polluted":1}}}'],
        ['duplicate keys', '{"name":"a","name":"b"}'],
        ['JSON with a form Content-Type', '{"name":"x"}', 'application/x-www-form-urlencoded'],
        ['form with %zz', 'name=%zz&url=%00&tags[]=%c0%af', 'application/x-www-form-urlencoded'],
        ['form nested deep', `${'a.'.repeat(200)}b=1`, 'application/x-www-form-urlencoded'],
        ['form with an empty name', '=1&.=2&a..b=3&[]=4', 'application/x-www-form-urlencoded'],
        ['multipart without a boundary', 'x', 'multipart/form-data'],
        ['multipart garbage', '--b\r\nno headers end', 'multipart/form-data; boundary=b'],
        ['multipart with a NUL', '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\na\0b\r\n--b--\r\n', 'multipart/form-data; boundary=b'],
        ['text/plain', '{"name":"x"}', 'text/plain'],
        ['no Content-Type', '{"name":"x"}', ''],
        ['charset=utf-16', Buffer.from('{"name":"x"}', 'utf16le'), 'application/json; charset=utf-16'],
        ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xc0, 0xaf, 0x22, 0x7d])],
        ['over the body limit', `{"name":"${noise(2_000_000)}"}`],
      ];
      const resources = ['services', 'routes', 'plugins', 'consumers', 'key-auths', 'basic-auths', 'hmac-auths', 'sessions', 'clients', 'consumers/partner/key-auth', 'consumers/partner/basic-auth', 'consumers/partner/hmac-auth', 'services/keyed/routes', 'services/keyed/plugins'];
      for (const r of resources) {
        const path = `/${r}`;
        cases.push(...named(`POST ${path}`, bodies.map(([name, body, type]) => [name, json('POST', path, body, type)])));
        cases.push(...named(path, [
          ['size=abc', req(s.adm, 'GET', `${path}?size=abc`, [bearer])],
          ['size=-1', req(s.adm, 'GET', `${path}?size=-1`, [bearer])],
          ['size huge', req(s.adm, 'GET', `${path}?size=99999999999999999999999`, [bearer])],
          ['size repeated', req(s.adm, 'GET', `${path}?size=1&size=2`, [bearer])],
          ['offset garbage', req(s.adm, 'GET', `${path}?size=1&offset=%zz`, [bearer])],
          ['offset not base64', req(s.adm, 'GET', `${path}?size=1&offset=!!!`, [bearer])],
          ...(['{"__proto__":1}', '[]', '"x"', 'null', '[1e999]', '[{}, [], null]', `${'['.repeat(5000)}${']'.repeat(5000)}`, '["\\u0000"]'].map(
            (o) => [`offset ${o.slice(0, 20)}`, req(s.adm, 'GET', `${path}?size=1&offset=${b64url(o)}`, [bearer])] as [string, Buffer],
          )),
          ['tags odd', req(s.adm, 'GET', `${path}?tags=%00&tags=a,,b/&user=%00&sub=%zz`, [bearer])],
          ['id %zz', req(s.adm, 'GET', `${path}/%zz`, [bearer])],
          ['id %00', req(s.adm, 'GET', `${path}/%00`, [bearer])],
          ['id overlong UTF-8', req(s.adm, 'GET', `${path}/%c0%af`, [bearer])],
          ['id lone surrogate', req(s.adm, 'GET', `${path}/%ed%a0%80`, [bearer])],
          ['id 10 KB', req(s.adm, 'GET', `${path}/${noise(10_000)}`, [bearer])],
          ['id __proto__', req(s.adm, 'GET', `${path}/__proto__`, [bearer])],
          ['id constructor', req(s.adm, 'GET', `${path}/constructor/x/y`, [bearer])],
          ['PATCH a missing one', json('PATCH', `${path}/no-such-thing`, '{"name":1}')],
          ['PUT with a lone surrogate id', json('PUT', `${path}/%ed%a0%80`, '{"name":"x"}')],
          ['PUT 3 KB id', json('PUT', `${path}/${noise(3000)}`, '{"url":"http://a.example","username":"u","client_id":"c","key":"k"}')],
          ['DELETE %zz', req(s.adm, 'DELETE', `${path}/%zz`, [bearer])],
          ['PROPFIND', req(s.adm, 'PROPFIND', path, [bearer])],
        ]));
      }
      for (const r of ['services/keyed', 'consumers/partner', 'clients/mf-basic']) {
        cases.push(...named(`PATCH /${r}`, bodies.filter(([name]) => name !== 'over the body limit').map(([name, body, type]) => [name, json('PATCH', `/${r}`, body, type)])));
      }
      cases.push(...named('/clients', [
        ['redirect_uris a string', json('POST', '/clients', '{"client_id":"x1","redirect_uris":"http://a.example/cb"}')],
        ['redirect_uris of odd types', json('POST', '/clients', '{"client_id":"x2","redirect_uris":[1,{},null,"%zz","javascript:x"]}')],
        ['grant_types unknown', json('POST', '/clients', '{"client_id":"x3","grant_types":["__proto__","toString",7]}')],
        ...jwkCases().map(([name, key]): [string, Buffer, Partial<Case>] => [
          `jwks ${name}`,
          json('POST', '/clients', JSON.stringify({ client_id: `jwk-${name.replace(/\W+/g, '-')}`, token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], jwks: { keys: [key] } })),
          // refused naming the key, and never echoing a private member's value
          { also: (r) => (r.status !== 400 ? `status ${r.status}, not 400` : r.body.includes(PRIVATE_D) ? 'the private key echoed' : undefined) },
        ]),
        ['scopes with control characters', json('POST', '/clients', '{"client_id":"x5","scopes":["a\\r\\nb","",7]}')],
        ['client_secret_sha256 garbage', json('POST', '/clients', `{"client_id":"x6","client_secret_sha256":"${WRONG_SECRET}"}`)],
      ]));
      cases.push(...named('/metrics', [
        ['POST', req(s.adm, 'POST', '/metrics', [bearer])],
        ['query garbage', req(s.adm, 'GET', '/metrics?%zz=%00&name[]=x', [bearer])],
        ['no token', req(s.adm, 'GET', '/metrics')],
      ]));
      for (const path of ['/', '/services', '/metrics', '/healthz', '/readyz', '/nothing-here']) cases.push(...protocolCases(s.adm, path, [bearer]));
      await sweep(s.adm, cases, { shape: 'gateway' }, health.admin);
      // nothing malformed was stored: the list of services is the configured one
      const services = await exchange(s.adm, req(s.adm, 'GET', '/services', [bearer]));
      const names = (JSON.parse(services!.body).data as Array<{ name: string }>).map((x) => x.name).sort();
      assert.ok(names.every((n) => /^[a-z-]+$/.test(n) || n === 'big'), `services stored from the corpus: ${names.join(', ')}`);
    });

    it('admin API: every field of every resource with a wrong type or an odd value', async (t) => {
      if (skipIfNoStorage(t)) return;
      // the checks are the same on every store and PostgreSQL is the strictest (NUL, index
      // sizes): run once, there when it is reachable (the whole file stays under 20 s)
      if (label !== 'PostgreSQL' && (await postgresUrl()) !== undefined) return t.skip('runs on PostgreSQL');
      const bearer = `Authorization: Bearer ${ADMIN_TOKEN}`;
      const send = (method: string, path: string, body: unknown) => req(s.adm, method, path, [bearer, 'Content-Type: application/json'], JSON.stringify(body));
      // entities made here (not the config file's, which the admin API may not change) for the PATCHes
      const ids = new Map<string, string>();
      for (const [path, body] of ADMIN_FIXTURES) {
        const made = await exchange(s.adm, send('POST', path, body));
        assert.equal(made?.status, 201, `${path}: ${made?.body}`);
        const created = JSON.parse(made!.body) as { id?: string; client_secret?: string };
        ids.set(path, String(created.id));
        // a client's secret is generated and returned once: it must not be logged either
        if (created.client_secret !== undefined) s.learnt.push(created.client_secret);
      }
      let n = 0;
      const cases: Case[] = [];
      for (const [path, good, keys, patchPath] of adminBodies(ids)) {
        for (const field of Object.keys(good)) {
          for (const [what, value] of oddValues()) {
            // the identifying fields made unique, so that each body is judged on its own
            const body: Record<string, unknown> = { ...good };
            n++;
            for (const key of keys) body[key] = `${String(good[key])}-${n}`;
            body[field] = value;
            // no store keeps NUL or half a surrogate pair as given: refused, never stored otherwise
            const refused: Partial<Case> = what === 'a NUL' || what === 'a lone surrogate' ? { also: (r) => (r.status === 400 ? undefined : `status ${r.status}, not 400`) } : {};
            cases.push({ name: `POST ${path} ${field} ${what}`, request: send('POST', path, body), ...refused });
            if (patchPath !== undefined && !keys.includes(field)) cases.push({ name: `PATCH ${patchPath} ${field} ${what}`, request: send('PATCH', patchPath, { [field]: value }), ...refused });
          }
        }
      }
      await sweep(s.adm, cases, { shape: 'gateway' }, health.admin, 16);
    });

    it('logs and audit events hold none of the secrets sent or configured', async (t) => {
      if (skipIfNoStorage(t)) return;
      // the audit file is written in the background: wait until it stops growing
      let audit = '';
      for (let i = 0; i < 50; i++) {
        const now = await readFile(s.auditFile, 'utf8').catch(() => '');
        if (now === audit && now !== '') break;
        audit = now;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(s.lines.length > 0, 'the logger captured lines');
      assert.ok(audit.includes('"login.failed"'), 'the audit file holds the failed logins of the corpus');
      assertNothingSecretLogged(s, audit);
    });
  });
}

/** A private EC key's `d`, which must never come back in an answer. */
const PRIVATE_D = 'mf-private-d-member-0123456789abcdefghijklmnop';

/** JWKs no client may register for private_key_jwt. */
function jwkCases(): Array<[string, unknown]> {
  const ec = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
  return [
    ['with bad members', { kty: 'EC', crv: 'P-256', x: '!', y: {} }],
    ['with a private member', { ...ec, d: PRIVATE_D }],
    ['symmetric', { kty: 'oct', k: 'c2VjcmV0' }],
    ['without kty', { crv: 'P-256', x: ec.x, y: ec.y }],
    ['of an unknown curve', { ...ec, crv: 'P-999' }],
    ['a string', 'not a key'],
    ['an RSA key without n', { kty: 'RSA', e: 'AQAB' }],
  ];
}

/** Values of every JSON type and odd strings, for any field. */
function oddValues(): Array<[string, unknown]> {
  return [
    ['a number', 7],
    ['a huge number', 1e308],
    ['null', null],
    ['true', true],
    ['an object', { a: 1 }],
    ['a list of odd things', [1, null, {}, [], '']],
    ['an empty string', ''],
    ['a 3 KB string', noise(3000)],
    ['control characters', 'a\r\nb\x01c'],
    ['a NUL', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800b'],
    ['markup and %zz', '<script>alert(1)</script>%zz/../..'],
  ];
}

/** Admin entities the field sweep PATCHes (POSTed first). */
const ADMIN_FIXTURES: Array<[string, Record<string, unknown>]> = [
  ['/services', { name: 'mf-svc', url: 'http://127.0.0.1:9' }],
  ['/routes', { name: 'mf-route', paths: ['/mf-route'], service: { name: 'mf-svc' } }],
  ['/plugins', { name: 'rate-limiting', config: { minute: 5 }, service: { name: 'mf-svc' } }],
  ['/consumers', { username: 'mf-consumer', custom_id: 'mf-c1' }],
  ['/consumers/mf-consumer/key-auth', { key: 'mf-fixture-key-0123456789abcdef' }],
  ['/clients', { client_id: 'mf-admin-client', redirect_uris: ['https://a.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'] }],
  ['/users', { username: 'mf-admin-user', password: 'mf admin user passphrase 0123' }],
];

/** Per resource: a good body, its identifying fields (made unique per case), and what to PATCH. */
function adminBodies(ids: Map<string, string>): Array<[string, Record<string, unknown>, string[], string | undefined]> {
  return [
    ['/services', { name: 'mf-s', url: 'http://127.0.0.1:9', connect_timeout: 1000, read_timeout: 1000, retries: 1, tls_verify: true }, ['name'], '/services/mf-svc'],
    ['/routes', { id: 'mf-r-id', name: 'mf-r', paths: ['/mf-r'], methods: ['GET'], hosts: ['a.example'], strip_path: true, regex_priority: 0, service: { name: 'mf-svc' } }, ['id', 'name'], '/routes/mf-route'],
    ['/plugins', { name: 'rate-limiting', config: { minute: 5 }, service: { name: 'mf-svc' }, enabled: true, instance_name: 'mf-p' }, ['instance_name'], `/plugins/${ids.get('/plugins')}`],
    ['/consumers', { username: 'mf-u', custom_id: 'mf-custom', tags: ['t'], groups: ['g'] }, ['username', 'custom_id'], '/consumers/mf-consumer'],
    ['/consumers/partner/key-auth', { key: 'mf-key-0123456789abcdef', tags: ['t'] }, ['key'], `/consumers/mf-consumer/key-auth/${ids.get('/consumers/mf-consumer/key-auth')}`],
    ['/consumers/partner/basic-auth', { username: 'mf-basic-user', password: 'mf basic password 0123' }, ['username'], undefined],
    ['/consumers/partner/hmac-auth', { key_id: 'mf-hmac-key', secret: 'mf-hmac-secret-0123456789abcdef' }, ['key_id'], undefined],
    ['/clients', { client_id: 'mf-cl', redirect_uris: ['https://a.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'], token_endpoint_auth_method: 'client_secret_basic', client_name: 'x', consent: 'ask' }, ['client_id'], '/clients/mf-admin-client'],
    ['/users', { username: 'mf-user', password: 'mf user passphrase 0123456', claims: { email: 'a@b.example' }, require_mfa: false }, ['username'], '/users/mf-admin-user'],
  ];
}

/** Authorization-request parameters of odd shapes (query or form). */
function authorizeParamCases(): Array<[string, string]> {
  const redirect = `redirect_uri=${enc('http://127.0.0.1:9/cb')}`;
  const base = `client_id=mf-basic&response_type=code&scope=openid&${redirect}&code_challenge=${'E'.repeat(43)}&code_challenge_method=S256`;
  return [
    ['no parameters', ''],
    ['client_id missing', `response_type=code&${redirect}`],
    ['client_id %00', `client_id=%00&${redirect}`],
    ['client_id with control characters', `client_id=a%0d%0ab&${redirect}`],
    ['client_id 30 KB', `client_id=${noise(30_000)}`],
    ['client_id __proto__', `client_id=__proto__&${redirect}`],
    ['client_id repeated', `client_id=mf-basic&client_id=mf-post&${redirect}`],
    ['redirect_uri %zz', 'client_id=mf-basic&redirect_uri=%zz'],
    ['redirect_uri javascript:', `client_id=mf-basic&redirect_uri=${enc('javascript:alert(1)')}`],
    ['redirect_uri with a bad host', `client_id=mf-basic&redirect_uri=${enc('http://[::1/cb')}`],
    ['redirect_uri 30 KB', `client_id=mf-basic&redirect_uri=http://${noise(30_000)}`],
    ['redirect_uri repeated', `client_id=mf-basic&${redirect}&${redirect}`],
    ['response_type %00', `${base}&response_type=%00`],
    ['response_type odd', base.replace('response_type=code', 'response_type=code%20%20id_token%20token%20none')],
    ['response_mode odd', `${base}&response_mode=%00`],
    ['response_mode form_post.jwt', `${base}&response_mode=form_post.jwt`],
    ['scope %00', base.replace('scope=openid', 'scope=openid%00')],
    ['scope 50 KB', base.replace('scope=openid', `scope=${noise(50_000)}`)],
    ['state 2 KB', `${base}&state=${noise(2000)}`],
    ['state %00', `${base}&state=%00`],
    ['state with markup', `${base}&state=%22%3E%3Cscript%3Ealert(1)%3C/script%3E`],
    ['nonce 2 KB', `${base}&nonce=${noise(2000)}`],
    ['prompt odd', `${base}&prompt=none%20login`],
    ['prompt %00', `${base}&prompt=%00`],
    ['max_age negative', `${base}&max_age=-1`],
    ['max_age huge', `${base}&max_age=99999999999999999999`],
    ['max_age a float', `${base}&max_age=1.5e3`],
    ['login_hint %00', `${base}&login_hint=%00`],
    ['id_token_hint garbage', `${base}&id_token_hint=garbage`],
    ['id_token_hint alg none', `${base}&id_token_hint=${b64url('{"alg":"none"}')}.${b64url('{"sub":{},"aud":[1]}')}.`],
    ['request object', `${base}&request=a.b.c`],
    ['request_uri foreign', `${base}&request_uri=${enc('https://evil.example/r')}`],
    ['request_uri ours, garbage', `client_id=mf-basic&request_uri=${enc('urn:ietf:params:oauth:request_uri:garbage')}`],
    ['request_uri ours, %00', `client_id=mf-basic&request_uri=${enc('urn:ietf:params:oauth:request_uri:')}%00`],
    ['request_uri ours, 30 KB', `client_id=mf-basic&request_uri=${enc('urn:ietf:params:oauth:request_uri:')}${noise(30_000)}`],
    ['request_uri without client_id', `request_uri=${enc('urn:ietf:params:oauth:request_uri:x')}`],
    ['code_challenge %00', base.replace(`code_challenge=${'E'.repeat(43)}`, 'code_challenge=%00')],
    ['code_challenge 10 KB', base.replace(`code_challenge=${'E'.repeat(43)}`, `code_challenge=${noise(10_000)}`)],
    ['code_challenge_method plain', base.replace('S256', 'plain')],
    ['code_challenge_method odd', base.replace('S256', 'S256%00')],
    ['resource %zz', `${base}&resource=%zz`],
    ['resource relative', `${base}&resource=/x`],
    ['resource with a bad host', `${base}&resource=${enc('http://[::1/x')}`],
    ['claims garbage', `${base}&claims=%7B%7B`],
    ['claims deeply nested', `${base}&claims=${enc(`${'['.repeat(5000)}${']'.repeat(5000)}`)}`],
    ['registration and request both', `${base}&registration=%7B%7D&request=x`],
    ['every parameter repeated', `${base}&${base}`],
    ['public client without PKCE', `client_id=mf-public&response_type=code&scope=openid&${redirect}`],
    ['implicit for a code-only client', `client_id=mf-basic&response_type=token&scope=openid&${redirect}&nonce=n`],
  ];
}

defineSweep('memory storage', async () => ({ url: undefined, drop: async () => undefined }));

defineSweep('PostgreSQL', async () => {
  const base = await postgresUrl();
  if (base === undefined) return 'skip';
  const schema = await freshPostgresSchema(base);
  await (await openStorage(schema.url, { autoMigrate: true })).close();
  return { url: schema.url, drop: () => schema.drop() };
});
