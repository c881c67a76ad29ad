// Malformed input at every endpoint of the gateway listener: proxied routes behind each
// authenticator (key-auth, basic-auth, hmac-auth in both schemes, jwt, oauth2-introspection,
// oidc-login, session with cors, none), the browser-session endpoints (callback, logout,
// back-channel logout), forward-auth, health, WebSocket upgrades. Every answer must be the
// gateway's error (ARCHITECTURE §6: JSON { error, error_description, request_id } with the
// scheme's challenge, below 500, no stack), the gateway must go on proxying, and no secret
// may reach the log.
import { rawRequest, sweep, type Case } from './malformed-support.js';
import {
  API_KEY, b64, b64url, BASIC_PASSWORD, defineSweeps, duplicateAuthorizations, form, named, noise, oddAuthorizations, oddCookies, protocolCases, req, WRONG_SECRET,
} from './malformed-stack.js';

defineSweeps('the gateway', (check) => {
  check('proxied routes behind each authenticator', async ({ s, health }) => {
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

  check('browser-session endpoints, forward-auth and health', async ({ s, health }) => {
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
});
