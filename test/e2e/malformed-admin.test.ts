// Malformed input at every resource of the admin API (services, routes, plugins, consumers
// and their credentials, sessions, clients, users, /metrics): broken bodies of every kind, odd
// paths and query parameters, and every field of every resource with each JSON type and odd
// strings. Every answer must be the admin API's error (JSON { error, error_description,
// request_id }, 401 with the Bearer challenge, below 500, no stack), nothing malformed may be
// stored, the API must go on answering, and no secret may reach the log.
import * as assert from 'node:assert/strict';
import { postgresUrl } from '../helpers/services.js';
import { exchange, sweep, type Case } from './malformed-support.js';
import { ADMIN_TOKEN, b64url, defineSweeps, type StorageLabel, duplicateAuthorizations, named, noise, oddAuthorizations, protocolCases, req, WRONG_SECRET } from './malformed-stack.js';

// the field sweep's checks are the same on every store and PostgreSQL is the strictest (NUL,
// index sizes): it runs once, there when PostgreSQL is reachable (the file stays under 20 s)
const fieldSweepOn: StorageLabel = (await postgresUrl()) === undefined ? 'memory storage' : 'PostgreSQL';

defineSweeps('the admin API', (check, label) => {
  check('every resource and /metrics', async ({ s, health }) => {
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

  if (label === fieldSweepOn) check('every field of every resource with a wrong type or an odd value', async ({ s, health }) => {
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
});

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
