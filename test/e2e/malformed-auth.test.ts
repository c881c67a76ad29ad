// Malformed input at every endpoint of the auth server: discovery, JWKS, authorize with its
// login, TOTP enrolment and consent forms, PAR, token for every grant and client
// authentication method (Basic, post, private_key_jwt, public), introspection, revocation,
// userinfo, end-session, CORS preflights. Each gets the corpus of malformed-stack.ts and its
// own broken parameters over raw sockets; every answer must be the endpoint's own error
// (ARCHITECTURE §6: RFC 6749 §5.2 JSON or the HTML page, no-store, below 500, no stack),
// the server must go on serving, and no secret may reach the log or the audit file.
import { randomBytes, sign } from 'node:crypto';
import { basic } from '../helpers/auth-server.js';
import { sweep, type Case } from './malformed-support.js';
import {
  b64url, CLIENT_SECRET, defineSweeps, duplicateAuthorizations, enc, form, formBodyCases, GATEWAY_SECRET, named, noise, oddAuthorizations, oddCookies,
  POST_SECRET, protocolCases, req, WRONG_SECRET, type Sweep,
} from './malformed-stack.js';

defineSweeps('the auth server', (check) => {
  check('discovery, JWKS, health and unknown paths', async ({ s, health }) => {
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

  check('token endpoint, every grant and client authentication method', async ({ s, health }) => {
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

  check('introspection, revocation and PAR', async ({ s, health }) => {
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

  check('userinfo, GET and POST', async ({ s, health }) => {
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

  check('authorization endpoint, GET and POST, with its login, MFA and consent forms', async ({ s, health }) => {
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

  check('end-session endpoint, GET and POST', async ({ s, health }) => {
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
}, { auditEvent: 'login.failed' });

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
