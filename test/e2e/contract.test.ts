// The public contract (ARCHITECTURE §3 CLI, §4 config file, §5 what a microservice receives,
// §6 errors) and the RFC details a conformance suite looks at, checked the way an outside
// client or peer would: the real `drawbridge` command started on a config file written here,
// talked to over HTTP with fetch, raw sockets, oauth4webapi and jose. Only the command tree is
// read in-process (to check every command's help without a process each).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import { freePorts } from '../helpers/auth-server.js';
import { Browser, parseForm, signInIfAsked } from '../helpers/browser.js';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { runCli, spawnCli, waitForReady, type CliProcess } from '../cli/spawn.js';

// ---------------------------------------------------------------------------------------------
// the product under test and its surroundings

const SECRET = randomBytes(32).toString('base64url');
const ADMIN_TOKEN = 'contract-admin-token-0123456789';
// RFC 6749 §2.3.1: id and secret are form-encoded before Basic; these need it
const SVC_SECRET = 'svc:secret+/%&= ~!0123456789';
const GW_SECRET = 'gw-secret-0123456789abcdef';
const WEB_SECRET = 'web-secret-0123456789abcdef';
const JWTC_SECRET = 'jwtc-secret-0123456789abcdef';
const ORDERS_SECRET = 'orders-secret-0123456789abcdef';
const APP_SECRET = 'app-secret-0123456789abcdef';
const ALICE_PASSWORD = 'alice-password-0123456789';
const API_KEY = 'partner-key-0123456789abcdef';
const BASIC_USER = 'pa';
const BASIC_PASSWORD = 'pa-password-0123456789';
const HMAC_KEY_ID = 'pa-hmac';
const HMAC_SECRET = 'pa-hmac-secret-0123456789abcdef';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

/** An upstream service that records what it receives; `/slow…` answers after 1.5 s. */
async function startRecorder(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    req.resume();
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, headers: req.headers }));
    };
    if ((req.url ?? '').includes('/slow')) setTimeout(answer, 1500).unref();
    else answer();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, seen };
}

interface Ports {
  auth: number;
  gateway: number;
  admin: number;
  upstream: number;
  closed: number;
}

function configYaml(dir: string, p: Ports): string {
  const issuer = `http://127.0.0.1:${p.auth}`;
  const up = `http://127.0.0.1:${p.upstream}`;
  const introspection = `{ name: oauth2-introspection, config: { issuer: "${issuer}", client_id: gw, client_secret: "${GW_SECRET}" } }`;
  return `# written by test/e2e/contract.test.ts
issuer: ${issuer}
storage: sqlite:${join(dir, 'drawbridge.db')}
secret: \${CONTRACT_SECRET}
log: { level: "\${CONTRACT_LOG_LEVEL:-warn}" }
auth:
  listen: 127.0.0.1:${p.auth}
  access_token_ttl: 10m
  refresh_token_ttl: 30d
  introspection_jwt_ttl: 30s
  audit: { enabled: false }
  brute_force: { enabled: false }
  # the malformed-input tests fail client authentication on purpose, all from 127.0.0.1
  client_auth_throttle: { max_failures: 100, window: 60s }
  sessions: { idle_timeout: 30m, absolute_timeout: 12h }
  clients:
    - client_id: svc
      client_secret: '${SVC_SECRET}'
      grant_types: [client_credentials]
      scopes: [orders:read, orders:write]
      default_scopes: [orders:read]
      access_token_ttl: 30s
    - client_id: gw
      client_secret: ${GW_SECRET}
      grant_types: [client_credentials]
      scopes: [introspect]
    - client_id: jwtc
      client_secret: ${JWTC_SECRET}
      grant_types: [client_credentials]
      scopes: [orders:read]
      access_token_format: jwt
      access_token_ttl: 12h
    - client_id: orders
      client_secret: ${ORDERS_SECRET}
      grant_types: [client_credentials, ${TOKEN_EXCHANGE}]
      scopes: [orders:read]
      audiences: [inventory]
    - client_id: web
      client_secret: ${WEB_SECRET}
      redirect_uris: [http://127.0.0.1:${p.closed}/cb]
      grant_types: [authorization_code, refresh_token]
      scopes: [openid, profile, email, offline_access, orders:read]
      consent: skip
    - client_id: app
      client_secret: ${APP_SECRET}
      redirect_uris: [http://127.0.0.1:${p.gateway}/_drawbridge/callback]
      grant_types: [authorization_code, refresh_token]
      scopes: [openid, profile, email, offline_access]
      consent: skip
  users:
    - username: alice
      password: ${ALICE_PASSWORD}
      claims: { email: alice@example.com, name: Alice, groups: [admin] }
gateway:
  listen: 127.0.0.1:${p.gateway}
  admin_listen: 127.0.0.1:${p.admin}
  admin_token: \${CONTRACT_ADMIN_TOKEN}
  strip_headers: [X-Internal-Secret, X-Tenant-*]
  services:
    - name: orders
      url: ${up}
      routes:
        - { paths: [/orders], strip_path: false }
      plugins:
        - { name: key-auth }
        - { name: basic-auth }
        - { name: hmac-auth }
        - ${introspection}
        - { name: jwt, config: { issuers: [ { issuer: "${issuer}", jwks_uri: "${issuer}/.well-known/jwks.json" } ] } }
    - name: inventory
      url: ${up}
      routes: [ { paths: [/inventory] } ]
      plugins:
        - ${introspection}
        - { name: jwt, config: { issuers: [ { issuer: "${issuer}", jwks_uri: "${issuer}/.well-known/jwks.json" } ] } }
    - name: scoped
      url: ${up}
      routes: [ { paths: [/scoped] } ]
      plugins:
        - ${introspection}
        - { name: scopes, config: { required: [orders:write] } }
    - name: limited
      url: ${up}
      routes: [ { paths: [/limited] } ]
      plugins:
        - { name: key-auth }
        - { name: rate-limiting, config: { minute: 2, policy: local } }
    - name: plain
      url: ${up}
      routes: [ { paths: [/plain] } ]
    - name: slow
      url: ${up}
      read_timeout: 300ms
      retries: 0
      routes: [ { paths: [/slow], strip_path: false } ]
    - name: down
      url: http://127.0.0.1:${p.closed}
      retries: 0
      healthchecks: { passive: { unhealthy_failures: 1, cooldown: 30s } }
      routes: [ { paths: [/down] } ]
    - name: app
      url: ${up}
      routes: [ { paths: [/app] } ]
      plugins:
        - { name: oidc-login, config: { issuer: "${issuer}", client_id: app, client_secret: ${APP_SECRET} } }
  consumers:
    - username: partner-a
      groups: [partners]
      credentials:
        key-auth: [ { key: ${API_KEY} } ]
        basic-auth: [ { username: ${BASIC_USER}, password: ${BASIC_PASSWORD} } ]
        hmac-auth: [ { key_id: ${HMAC_KEY_ID}, secret: ${HMAC_SECRET} } ]
`;
}

let dir: string;
let ports: Ports;
let configFile: string;
let server: CliProcess;
let upstream: Awaited<ReturnType<typeof startRecorder>>;
let issuer: string;
let gateway: string;
let admin: string;
let as: oauth.AuthorizationServer;
let jwks: ReturnType<typeof jose.createRemoteJWKSet>;

const ENV = { CONTRACT_SECRET: SECRET, CONTRACT_ADMIN_TOKEN: ADMIN_TOKEN };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drawbridge-contract-'));
  upstream = await startRecorder();
  const [authPort, gatewayPort, adminPort, closedPort] = (await freePorts(4)) as [number, number, number, number];
  ports = { auth: authPort, gateway: gatewayPort, admin: adminPort, upstream: upstream.port, closed: closedPort };
  issuer = `http://127.0.0.1:${ports.auth}`;
  gateway = `http://127.0.0.1:${ports.gateway}`;
  admin = `http://127.0.0.1:${ports.admin}`;
  configFile = join(dir, 'drawbridge.yaml');
  writeFileSync(configFile, configYaml(dir, ports));
  server = spawnCli(['start', '--config', configFile], { env: ENV, timeoutMs: 120_000 });
  await waitForReady(`${issuer}/readyz`, server);
  await waitForReady(`${gateway}/readyz`, server);
  as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
  jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri!));
});

after(async () => {
  const r = await server?.stop();
  upstream?.server.closeAllConnections();
  await new Promise((resolve) => upstream?.server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
  // a crash on the way out would hide behind the passing tests otherwise (SIGTERM drains, exit 0)
  assert.equal(r?.code, 0, `drawbridge start exited ${r?.code}: ${r?.stderr}`);
});

// ---------------------------------------------------------------------------------------------
// client helpers

const insecure = { [oauth.allowInsecureRequests]: true } as const;

function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: application/x-www-form-urlencoded, then Basic
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
}

async function clientToken(id: string, secret: string, extra: Record<string, string> = {}): Promise<{ access_token: string; expires_in: number; scope?: string; token_type: string }> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', ...extra }, { authorization: basic(id, secret) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { access_token: string; expires_in: number; scope?: string; token_type: string };
}

/** The last request the upstream saw, and the internal JWT it carried, verified as a service would. */
async function upstreamReceived(): Promise<{ seen: Seen; token: string; claims: jose.JWTPayload & Record<string, unknown>; header: jose.ProtectedHeaderParameters }> {
  const seen = upstream.seen.at(-1)!;
  const m = /^Bearer (.+)$/.exec(seen.headers.authorization ?? '');
  assert.ok(m, `upstream got no Bearer token: ${JSON.stringify(seen.headers)}`);
  const token = m[1]!;
  const aud = seen.path.startsWith('/orders') ? 'orders' : undefined;
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer, typ: 'at+jwt', ...(aud ? { audience: aud } : {}) });
  return { seen, token, claims: payload as jose.JWTPayload & Record<string, unknown>, header: protectedHeader };
}

/** RFC 9421 signature over @method @authority @path, as `drawbridge dev` prints it. */
function hmacHeaders(method: string, authority: string, path: string): Record<string, string> {
  const params = `("@method" "@authority" "@path");created=${Math.floor(Date.now() / 1000)};keyid="${HMAC_KEY_ID}";alg="hmac-sha256"`;
  const base = `"@method": ${method}\n"@authority": ${authority}\n"@path": ${path}\n"@signature-params": ${params}`;
  const sig = createHmac('sha256', HMAC_SECRET).update(base).digest('base64');
  return { 'signature-input': `sig1=${params}`, signature: `sig1=:${sig}:` };
}

interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/** One request written byte for byte (what fetch refuses to send), answered on a fresh socket. */
function raw(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), head, body: split === -1 ? '' : text.slice(split + 4) });
    };
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    // no half-close: node servers abort a request whose client ends its side early; every
    // request here says `Connection: close`, so the server closes when it has answered
    socket.write(request);
  });
}

/** ARCHITECTURE §6, gateway: JSON `{ error, error_description, request_id }`, the id also in X-Request-Id. */
async function assertGatewayError(res: Response, status: number, error?: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof body.error_description, 'string');
  assert.equal(body.request_id, res.headers.get('x-request-id'));
  if (error !== undefined) assert.equal(body.error, error);
  return body;
}

/** ARCHITECTURE §6, auth server: RFC 6749 §5.2 JSON with Cache-Control: no-store. */
async function assertOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.error, error);
  assert.equal(typeof body.error_description, 'string');
  return body;
}

// ---------------------------------------------------------------------------------------------

// the CLI tests each start node processes and wait on them: run a few at once
describe('§3 the command line', { concurrency: 3 }, () => {
  // what the contract names (ARCHITECTURE §3 and the README's CLI table)
  const CONTRACT = [
    'dev', 'start', 'config validate', 'migrate', 'token',
    'client create', 'client list', 'client delete',
    'user create', 'user list', 'user set-password', 'user lock', 'user unlock', 'user reset-mfa', 'user require-mfa', 'user revoke', 'user delete', 'user hash-password',
    'consumer create', 'consumer list', 'consumer delete', 'consumer credential add', 'consumer credential list', 'consumer credential delete',
    'key list', 'key rotate', 'session list', 'session revoke',
  ];

  it(`every command the contract names exists and has help (${CONTRACT.length} commands)`, () => {
    // the command tree itself, walked in this process: a spawn per command costs seconds on a busy machine
    const found = new Map<string, Command>();
    const walk = (cmd: Command, prefix: string[]) => {
      for (const sub of cmd.commands) {
        const path = [...prefix, sub.name()];
        if (sub.name() !== 'help') found.set(path.join(' '), sub);
        walk(sub, path);
      }
    };
    walk(buildProgram(), []);
    const missing = CONTRACT.filter((c) => !found.has(c));
    assert.deepEqual(missing, []);
    for (const [path, cmd] of found) assert.ok(cmd.helpInformation().startsWith(`Usage: drawbridge ${path} `), path);
  });

  it('--help through the real command exits 0 with the usage (groups and a leaf of each; the rest in test/cli/cli.test.ts)', async () => {
    const commands = [['user'], ['user', 'create'], ['consumer'], ['consumer', 'credential', 'add'], ['session'], ['session', 'revoke']];
    const results = await Promise.all(commands.map((c) => runCli([...c, '--help'])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`Usage: drawbridge ${commands[i]!.join(' ')} `), r.stdout.slice(0, 100));
    });
  });

  it('config validate: the running file → 0', async () => {
    const r = await runCli(['config', 'validate', '--config', configFile], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /roles: auth, gateway/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['a bad duration', 'auth: { access_token_ttl: 30x }', /auth\.access_token_ttl: .*30s, 10m, 12h or 30d.*"30x"/],
    ['a bad choice', 'auth: { clients: [ { client_id: a, client_secret: s, access_token_format: jwe } ] }', /auth\.clients\[0\]\.access_token_format: expected one of "opaque", "jwt", got "jwe"/],
    ['a missing required key', 'gateway: { services: [ { url: "http://127.0.0.1:1" } ] }', /gateway\.services\[0\]\.name: required: expected /],
    ['an unknown key', 'auth: { access_token_tll: 10m }', /auth\.access_token_tll: unknown key \(expected one of: .*access_token_ttl/],
    ['an unset ${VAR}', 'secret: ${CONTRACT_UNSET_VARIABLE}', /secret: environment variable CONTRACT_UNSET_VARIABLE is not set/],
    ["a plugin's unknown setting", 'gateway: { plugins: [ { name: key-auth, config: { key_name: [a] } } ] }', /gateway\.plugins\[0\]\.config\.key_name: unknown key/],
    ['an unknown credential field', 'gateway: { consumers: [ { username: u, credentials: { key-auth: [ { key: k0123456789, keyy: x } ] } } ] }', /gateway\.consumers\[0\]\.credentials\.key-auth\[0\]\.keyy: unknown/],
    ['an unknown credential type', 'gateway: { consumers: [ { username: u, credentials: { jwt-auth: [ { key: k } ] } } ] }', /gateway\.consumers\[0\]\.credentials\.jwt-auth: unknown credential type/],
    ['a credential without its key', 'gateway: { consumers: [ { username: u, credentials: { hmac-auth: [ { key_id: k } ] } } ] }', /gateway\.consumers\[0\]\.credentials\.hmac-auth\[0\]\.secret: required/],
    ['one API key for two consumers', 'gateway: { consumers: [ { username: u, credentials: { key-auth: [ { key: same-key-0123456789 } ] } }, { username: v, credentials: { key-auth: [ { key: same-key-0123456789 } ] } } ] }', /gateway\.consumers\[1\]\.credentials\.key-auth\[0\]\.key: already used by consumer "u"/],
  ];
  for (const [name, yaml, message] of bad) {
    it(`config validate: ${name} → 2 naming the key and what is expected`, async () => {
      const file = join(dir, `bad-${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, `issuer: http://127.0.0.1:1\nstorage: memory\n${yaml}\n`);
      const r = await runCli(['config', 'validate', '--config', file]);
      assert.equal(r.code, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }

  it('config validate says OK only for files that start: a credential problem stops both with 2', async () => {
    const file = join(dir, 'cred.yaml');
    writeFileSync(file, `issuer: http://127.0.0.1:1\nstorage: memory\nsecret: ${SECRET}\ngateway: { listen: 127.0.0.1:0, consumers: [ { username: u, credentials: { basic-auth: [ { username: "a:b", password: x } ] } } ] }\n`);
    const [validate, start] = await Promise.all([runCli(['config', 'validate', '--config', file]), runCli(['start', '--config', file], { timeoutMs: 20_000 })]);
    assert.equal(start.code, 2, start.stderr);
    assert.equal(validate.code, 2, validate.stdout);
    assert.match(validate.stderr, /gateway\.consumers\[0\]\.credentials\.basic-auth\[0\]\.username: must not contain ":"/);
  });

  it('usage errors → 2; runtime failures (port taken, issuer unreachable) → 1', async () => {
    const file = join(dir, 'taken.yaml');
    writeFileSync(file, `issuer: ${issuer}\nstorage: memory\nsecret: ${SECRET}\nauth: { listen: 127.0.0.1:${ports.auth} }\n`);
    const [unknown, flag, taken, unreachable] = await Promise.all([
      runCli(['frobnicate']),
      runCli(['start', '--only', 'everything', '--config', configFile]),
      runCli(['start', '--config', file], { timeoutMs: 20_000 }),
      runCli(['token', '--client', 'svc', '--secret', 'x', '--issuer', `http://127.0.0.1:${ports.closed}`]),
    ]);
    assert.equal(unknown.code, 2);
    assert.equal(flag.code, 2);
    assert.equal(taken.code, 1, taken.stderr);
    assert.match(taken.stderr, /EADDRINUSE|in use/);
    assert.equal(unreachable.code, 1, unreachable.stderr);
    assert.doesNotMatch(unreachable.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('§4 the config file means what it says', () => {
  it('${VAR} and ${VAR:-default} were interpolated (the server runs on the secret and admin token from the environment)', async () => {
    const res = await fetch(`${admin}/consumers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: Array<{ username: string }>; next: unknown };
    assert.deepEqual(body.data.map((c) => c.username), ['partner-a']);
    assert.equal(body.next, null);
  });

  it('the file may be JSON, with the same interpolation and the same strictness', async () => {
    const good = join(dir, 'config.json');
    writeFileSync(good, JSON.stringify({ issuer: 'http://127.0.0.1:1', storage: 'memory:', secret: '${CONTRACT_SECRET}', auth: { access_token_ttl: '${CONTRACT_TTL:-12h}', refresh_token_ttl: '30d' } }));
    const ok = await runCli(['config', 'validate', '--config', good], { env: ENV });
    assert.equal(ok.code, 0, ok.stderr);
    const bad = join(dir, 'bad-config.json');
    writeFileSync(bad, JSON.stringify({ issuer: 'http://127.0.0.1:1', storage: 'memory:', gateway: { listen: '127.0.0.1:0', admin_tokn: 'x' } }));
    const refused = await runCli(['config', 'validate', '--config', bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /gateway\.admin_tokn: unknown key/);
  });

  it('durations: auth.access_token_ttl 10m, a client override 30s, another 12h', async () => {
    const web = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic('gw', GW_SECRET) });
    assert.equal(((await web.json()) as { expires_in: number }).expires_in, 600);
    assert.equal((await clientToken('svc', SVC_SECRET)).expires_in, 30);
    const jwt = await clientToken('jwtc', JWTC_SECRET);
    assert.equal(jwt.expires_in, 43_200);
    const claims = jose.decodeJwt(jwt.access_token);
    assert.equal(claims.exp! - claims.iat!, 43_200);
  });

  it('client_secret_basic with RFC 6749 §2.3.1 form-encoding of a secret full of reserved characters (oauth4webapi)', async () => {
    const client: oauth.Client = { client_id: 'svc' };
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SVC_SECRET), { scope: 'orders:write' }, insecure);
    const token = await oauth.processClientCredentialsResponse(as, client, res);
    assert.equal(token.scope, 'orders:write');
    assert.equal(token.token_type, 'bearer');
  });
});

describe('§5 what a microservice receives', () => {
  const spoofed = {
    'x-consumer-id': 'spoof',
    'x-consumer-username': 'admin',
    'x-consumer-groups': 'admins',
    'x-userinfo': 'eyJzdWIiOiJhZG1pbiJ9',
    'x-drawbridge-sub': 'admin',
    'x-credential-identifier': 'x',
    'x-authenticated-scope': 'all',
    'x-anonymous-consumer': 'true',
    'x-internal-secret': 'configured strip_headers',
    'x-tenant-id': 'configured prefix',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'https',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'x-request-id': 'contract-req-0001',
  };

  function assertCleanHeaders(h: IncomingHttpHeaders): void {
    for (const name of ['x-userinfo', 'x-drawbridge-sub', 'x-credential-identifier', 'x-authenticated-scope', 'x-anonymous-consumer', 'x-internal-secret', 'x-tenant-id']) {
      assert.equal(h[name], undefined, `${name} reached upstream`);
    }
    assert.notEqual(h['x-consumer-username'], 'admin');
    assert.notEqual(h['x-consumer-groups'], 'admins');
    assert.notEqual(h['x-consumer-id'], 'spoof');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-host'], `127.0.0.1:${ports.gateway}`);
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h.traceparent, spoofed.traceparent);
    assert.equal(h['x-request-id'], 'contract-req-0001');
  }

  async function assertInternalJwt(method: string, extra: (claims: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
    const { claims, header, seen } = await upstreamReceived();
    assert.equal(header.typ, 'at+jwt');
    assert.equal(typeof header.kid, 'string');
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, 'orders');
    // gateway.internal_token_ttl defaults to 60 s; never past the edge credential's own expiry
    if (claims.consumer !== undefined) assert.equal(claims.exp! - claims.iat!, 60, 'default lifetime 60 s');
    else assert.ok(claims.exp! - claims.iat! <= 60, 'at most 60 s');
    for (const name of ['sub', 'jti', 'client_id', 'scope']) assert.equal(typeof claims[name], 'string', name);
    assert.ok(Array.isArray(claims.groups));
    assert.equal(claims.auth_method, method);
    assertCleanHeaders(seen.headers);
    extra(claims);
    return claims;
  }

  it('the JWKS is the one discovery names, and its keys carry kid', async () => {
    assert.equal(as.jwks_uri, `${issuer}/.well-known/jwks.json`);
    const set = (await (await fetch(as.jwks_uri!)).json()) as { keys: Array<{ kid?: string; d?: unknown }> };
    assert.ok(set.keys.length >= 1);
    for (const k of set.keys) {
      assert.equal(typeof k.kid, 'string');
      assert.equal(k.d, undefined, 'no private key material');
    }
  });

  it('key-auth: internal JWT with consumer, groups; API key not forwarded; spoofed identity headers removed', async () => {
    const res = await fetch(`${gateway}/orders/1`, { headers: { apikey: API_KEY, ...spoofed } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'contract-req-0001');
    await assertInternalJwt('key-auth', (c) => {
      assert.equal(c.consumer, 'partner-a');
      assert.deepEqual(c.groups, ['partners']);
    });
    assert.equal(upstream.seen.at(-1)!.headers.apikey, undefined);
  });

  it('basic-auth and hmac-auth: auth_method names the scheme; the edge credential does not reach upstream', async () => {
    assert.equal((await fetch(`${gateway}/orders/2`, { headers: { authorization: `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`, ...spoofed } })).status, 200);
    await assertInternalJwt('basic-auth', (c) => assert.equal(c.consumer, 'partner-a'));
    const signed = hmacHeaders('GET', `127.0.0.1:${ports.gateway}`, '/orders/3');
    assert.equal((await fetch(`${gateway}/orders/3`, { headers: { ...signed, ...spoofed } })).status, 200);
    await assertInternalJwt('hmac-auth', (c) => assert.equal(c.consumer, 'partner-a'));
    const h = upstream.seen.at(-1)!.headers;
    assert.equal(h.signature, undefined);
    assert.equal(h['signature-input'], undefined);
  });

  it('an opaque token (oauth2) and a JWT access token (jwt): client_id, scope; the edge token never reaches upstream', async () => {
    const opaque = await clientToken('svc', SVC_SECRET, { scope: 'orders:read orders:write' });
    assert.equal((await fetch(`${gateway}/orders/4`, { headers: { authorization: `Bearer ${opaque.access_token}`, ...spoofed } })).status, 200);
    const { token } = await upstreamReceived();
    assert.notEqual(token, opaque.access_token);
    await assertInternalJwt('oauth2', (c) => {
      assert.equal(c.client_id, 'svc');
      assert.equal(c.sub, 'svc');
      assert.equal(c.scope, 'orders:read orders:write');
      assert.equal(c.consumer, undefined);
    });
    const jwt = await clientToken('jwtc', JWTC_SECRET);
    assert.equal((await fetch(`${gateway}/orders/5`, { headers: { authorization: `Bearer ${jwt.access_token}`, ...spoofed } })).status, 200);
    assert.notEqual((await upstreamReceived()).token, jwt.access_token);
    await assertInternalJwt('jwt', (c) => {
      assert.equal(c.client_id, 'jwtc');
      assert.equal(c.scope, 'orders:read');
    });
  });

  it('every internal JWT has its own jti (one JWT is reused per credential and service while fresh)', async () => {
    const tokens = new Set(upstream.seen.filter((s) => s.headers.authorization).map((s) => s.headers.authorization!.slice(7)));
    const jtis = new Set([...tokens].map((t) => jose.decodeJwt(t).jti));
    assert.ok(tokens.size >= 4, `only ${tokens.size} distinct tokens`);
    assert.equal(jtis.size, tokens.size);
  });

  it('a route without authenticators still strips spoofed identity headers (the client\'s Authorization passes, as in Kong)', async () => {
    const res = await fetch(`${gateway}/plain/x`, { headers: { ...spoofed, authorization: 'Bearer client-own-token' } });
    assert.equal(res.status, 200);
    const h = upstream.seen.at(-1)!.headers;
    assertCleanHeaders(h);
    for (const name of ['x-consumer-id', 'x-consumer-username', 'x-consumer-groups']) assert.equal(h[name], undefined, name);
    assert.equal(h.authorization, 'Bearer client-own-token');
  });

  it('X-Request-Id: an invalid one is replaced by a generated one (and answered to the client)', async () => {
    const res = await fetch(`${gateway}/orders/6`, { headers: { apikey: API_KEY, 'x-request-id': 'has spaces <and> "quotes"' } });
    assert.equal(res.status, 200);
    const sent = upstream.seen.at(-1)!.headers['x-request-id'];
    assert.ok(sent && sent !== 'has spaces <and> "quotes"');
    assert.equal(res.headers.get('x-request-id'), sent);
  });

  it('token exchange: the internal JWT traded by the orders service carries act to the next service', async () => {
    const opaque = await clientToken('svc', SVC_SECRET);
    assert.equal((await fetch(`${gateway}/orders/7`, { headers: { authorization: `Bearer ${opaque.access_token}` } })).status, 200);
    const { token: internal } = await upstreamReceived();
    const res = await postForm(
      `${issuer}/oauth2/token`,
      { grant_type: TOKEN_EXCHANGE, audience: 'inventory', subject_token: internal, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' },
      { authorization: basic('orders', ORDERS_SECRET) },
    );
    assert.equal(res.status, 200, await res.clone().text());
    const exchanged = (await res.json()) as { access_token: string; issued_token_type: string };
    assert.equal(exchanged.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal((await fetch(`${gateway}/inventory/items`, { headers: { authorization: `Bearer ${exchanged.access_token}` } })).status, 200);
    const seen = upstream.seen.at(-1)!;
    const { payload } = await jose.jwtVerify(seen.headers.authorization!.slice(7), jwks, { issuer, audience: 'inventory', typ: 'at+jwt' });
    assert.equal(payload.sub, 'svc');
    assert.deepEqual(payload.act, { sub: 'orders' });
    assert.equal(payload.auth_method, 'oauth2');
  });

  it('token exchange for a JWT (RFC 9068): the jwt authenticator carries act on to the internal JWT', async () => {
    const opaque = await clientToken('svc', SVC_SECRET);
    assert.equal((await fetch(`${gateway}/orders/8`, { headers: { authorization: `Bearer ${opaque.access_token}` } })).status, 200);
    const { token: internal } = await upstreamReceived();
    const res = await postForm(
      `${issuer}/oauth2/token`,
      {
        grant_type: TOKEN_EXCHANGE, audience: 'inventory', subject_token: internal, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        requested_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      },
      { authorization: basic('orders', ORDERS_SECRET) },
    );
    assert.equal(res.status, 200, await res.clone().text());
    const { access_token } = (await res.json()) as { access_token: string };
    assert.deepEqual(jose.decodeJwt(access_token).act, { sub: 'orders' });
    // narrowed to inventory: not good at the orders service (its aud), good at inventory
    const elsewhere = await fetch(`${gateway}/orders/9`, { headers: { authorization: `Bearer ${access_token}` } });
    await assertGatewayError(elsewhere, 401, 'invalid_token');
    assert.equal((await fetch(`${gateway}/inventory/9`, { headers: { authorization: `Bearer ${access_token}` } })).status, 200);
    const { claims } = await upstreamReceived();
    assert.equal(claims.auth_method, 'jwt');
    assert.equal(claims.sub, 'svc');
    assert.deepEqual(claims.act, { sub: 'orders' });
  });

  it('a browser session (oidc-login): auth_method session with sid; the session cookie is not forwarded', async () => {
    const browser = new Browser();
    const html = { accept: 'text/html' };
    // an API-style request is not redirected: 401 with the Cookie challenge (README, oidc-login)
    const api = await fetch(`${gateway}/app/home`, { headers: { accept: 'application/json' } });
    assert.match(api.headers.get('www-authenticate') ?? '', /^Cookie realm="[^"]*", cookie-name="drawbridge_session"/);
    await assertGatewayError(api, 401);
    const start = await browser.fetch(`${gateway}/app/home`, { headers: html });
    assert.equal(start.status, 302);
    const authorize = start.headers.get('location')!;
    assert.ok(authorize.startsWith(`${issuer}/oauth2/authorize?`), authorize);
    const login = parseForm(await (await browser.fetch(authorize, { headers: html })).text());
    const signedIn = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', ALICE_PASSWORD]] });
    assert.equal(signedIn.status, 303);
    const callback = await browser.fetch(signedIn.headers.get('location')!, { headers: html });
    assert.equal(callback.status, 303, await callback.clone().text());
    const page = await browser.fetch(`${gateway}/app/home`, { headers: html });
    assert.equal(page.status, 200);
    const seen = upstream.seen.at(-1)!;
    const { payload } = await jose.jwtVerify(seen.headers.authorization!.slice(7), jwks, { issuer, audience: 'app', typ: 'at+jwt' });
    assert.equal(payload.auth_method, 'session');
    assert.equal(typeof payload.sid, 'string');
    assert.equal(payload.client_id, 'app');
    assert.ok(Array.isArray(payload.groups));
    assert.doesNotMatch(seen.headers.cookie ?? '', /drawbridge_session=/);
  });
});

describe('§6 errors', () => {
  it('auth server: invalid client authentication → 401 invalid_client with WWW-Authenticate, no-store', async () => {
    for (const headers of [{ authorization: basic('svc', 'wrong') }, { authorization: basic('nobody', 'x') }]) {
      const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials' }, headers);
      await assertOAuthError(res, 401, 'invalid_client');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="/);
    }
  });

  it('auth server: RFC 6749 §5.2 codes for bad grants, scopes and requests', async () => {
    const auth = { authorization: basic('svc', SVC_SECRET) };
    await assertOAuthError(await postForm(`${issuer}/oauth2/token`, { grant_type: 'urn:example:nope' }, auth), 400, 'unsupported_grant_type');
    await assertOAuthError(await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'admin:all' }, auth), 400, 'invalid_scope');
    await assertOAuthError(await postForm(`${issuer}/oauth2/token`, {}, auth), 400, 'invalid_request');
    await assertOAuthError(await postForm(`${issuer}/oauth2/token`, { grant_type: 'password', username: 'alice', password: ALICE_PASSWORD }, auth), 400, 'unauthorized_client');
    await assertOAuthError(await fetch(`${issuer}/oauth2/token`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' }), 400, 'invalid_request');
    await assertOAuthError(await fetch(`${issuer}/oauth2/token`, { headers: auth }), 405, 'invalid_request');
  });

  it('gateway: no credential → 401 with every scheme\'s challenge (Key, Basic realm=, Signature, Bearer without error)', async () => {
    const res = await fetch(`${gateway}/orders`);
    const challenges = res.headers.get('www-authenticate') ?? '';
    for (const scheme of ['Key', 'Basic', 'Signature', 'Bearer']) assert.match(challenges, new RegExp(`(^|, )${scheme} realm="`), scheme);
    assert.doesNotMatch(challenges, /error=/, 'RFC 6750 §3.1: no error code without credentials');
    await assertGatewayError(res, 401);
  });

  it(
    'gateway: one WWW-Authenticate challenge per scheme (jwt and oauth2-introspection on one route both answer Bearer)',
    async () => {
      const res = await fetch(`${gateway}/orders`);
      await res.arrayBuffer();
      const bearer = res.headers.get('www-authenticate')!.split(/, (?=[A-Za-z]+ realm=)/).filter((c) => c.startsWith('Bearer '));
      assert.equal(bearer.length, 1, bearer.join(' | '));
    },
  );

  it('gateway: a bad bearer token → 401 error="invalid_token"; bad Basic → Basic realm=; bad signature → Signature', async () => {
    const bearer = await fetch(`${gateway}/scoped`, { headers: { authorization: 'Bearer not-a-token-we-issued' } });
    assert.match(bearer.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]*", error="invalid_token"/);
    await assertGatewayError(bearer, 401, 'invalid_token');
    const wrong = await fetch(`${gateway}/orders`, { headers: { authorization: `Basic ${Buffer.from(`${BASIC_USER}:nope`).toString('base64')}` } });
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]*"/);
    await assertGatewayError(wrong, 401);
    const forged = hmacHeaders('GET', `127.0.0.1:${ports.gateway}`, '/orders/other-path');
    const sig = await fetch(`${gateway}/orders/1`, { headers: forged });
    assert.match(sig.headers.get('www-authenticate') ?? '', /^Signature realm="/);
    await assertGatewayError(sig, 401);
  });

  it('gateway: a missing scope → 403 insufficient_scope with the Bearer challenge naming it', async () => {
    const t = await clientToken('svc', SVC_SECRET, { scope: 'orders:read' });
    const res = await fetch(`${gateway}/scoped`, { headers: { authorization: `Bearer ${t.access_token}` } });
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="orders:write"/);
    await assertGatewayError(res, 403, 'insufficient_scope');
  });

  it('gateway: over the limit → 429 with Retry-After and RateLimit-*', async () => {
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await fetch(`${gateway}/limited/x`, { headers: { apikey: API_KEY } });
      if (last.status !== 429) await last.arrayBuffer();
    }
    assert.ok(Number(last!.headers.get('retry-after')) > 0);
    assert.equal(last!.headers.get('ratelimit-limit'), '2');
    assert.equal(last!.headers.get('ratelimit-remaining'), '0');
    assert.ok(last!.headers.get('ratelimit-reset'));
    await assertGatewayError(last!, 429);
  });

  it('gateway: upstream refused → 502, then ejected → 503 with Retry-After; too slow → 504; no route → 404', async () => {
    await assertGatewayError(await fetch(`${gateway}/down/x`), 502);
    const ejected = await fetch(`${gateway}/down/x`);
    assert.ok(Number(ejected.headers.get('retry-after')) > 0);
    await assertGatewayError(ejected, 503);
    await assertGatewayError(await fetch(`${gateway}/slow`), 504);
    await assertGatewayError(await fetch(`${gateway}/no/such/route`), 404);
  });

  it(
    'gateway: an error answered to a bodiless request keeps the connection alive',
    async () => {
      for (const path of ['/no/such/route', '/orders']) {
        const res = await fetch(`${gateway}${path}`);
        await res.arrayBuffer();
        assert.notEqual(res.headers.get('connection'), 'close', path);
      }
    },
  );

  it('userinfo (RFC 6750 §3): no token → 401 bare challenge; malformed → 400 invalid_request; the body is always error JSON', async () => {
    const none = await fetch(`${issuer}/oauth2/userinfo`);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="drawbridge"');
    await assertOAuthError(none, 401, 'unauthorized');
    const other = await fetch(`${issuer}/oauth2/userinfo`, { headers: { authorization: 'Basic YTpi' } });
    assert.equal(other.headers.get('www-authenticate'), 'Bearer realm="drawbridge"');
    await assertOAuthError(other, 401, 'unauthorized');
    for (const header of ['Bearer', 'Bearer a b', 'Bearer !!!']) {
      const res = await fetch(`${issuer}/oauth2/userinfo`, { headers: { authorization: header } });
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
      await assertOAuthError(res, 400, 'invalid_request');
    }
    const bad = await fetch(`${issuer}/oauth2/userinfo`, { headers: { authorization: 'Bearer nope' } });
    await assertOAuthError(bad, 401, 'invalid_token');
  });

  describe('malformed input never gets a 500 or a stack trace', () => {
    function post(path: string, contentType: string, body: string | Buffer, extra = ''): Buffer {
      const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
      return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${b.length}\r\n${extra}Connection: close\r\n\r\n`, 'latin1'), b]);
    }
    function get(path: string, extra = ''): Buffer {
      return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`, 'latin1');
    }
    const FORM = 'application/x-www-form-urlencoded';

    function cases(): Array<[string, number, Buffer]> {
      const out: Array<[string, number, Buffer]> = [];
      const svc = `Authorization: ${basic('svc', SVC_SECRET)}\r\n`;
      const gw = `Authorization: ${basic('gw', GW_SECRET)}\r\n`;
      for (const path of ['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke', '/oauth2/authorize', '/oauth2/userinfo', '/oauth2/logout']) {
        const auth = path === '/oauth2/introspect' ? gw : svc;
        const a = (name: string, req: Buffer) => out.push([`auth ${path}: ${name}`, ports.auth, req]);
        a('bad percent-encoding in the body', post(path, FORM, 'grant_type=%zz&token=%E0%A4%A', auth));
        a('invalid UTF-8 after decoding', post(path, FORM, 'grant_type=client_credentials&scope=%FF%FE&token=%C3%28', auth));
        a('raw non-UTF-8 bytes', post(path, FORM, Buffer.from([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xff, 0xfe, 0x00]), auth));
        a('truncated JSON', post(path, 'application/json', '{"grant_type":', auth));
        a('multipart', post(path, 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--', auth));
        a('no content type', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n${auth}Connection: close\r\n\r\na=b`, 'latin1'));
        a('duplicate parameters', post(path, FORM, 'grant_type=client_credentials&grant_type=client_credentials&token=a&token=b&client_id=web&client_id=x', auth));
        a('bad percent-encoding in the query', get(`${path}?client_id=%zz&response_type=code&redirect_uri=%E0%A4%A&id_token_hint=%FF`));
        a('duplicate query parameters', get(`${path}?client_id=web&client_id=web&response_type=code&response_type=code`));
        a('bad percent-encoding in the path', get(`${path}%zz/%E0`));
        a('Basic not base64', post(path, FORM, 'grant_type=client_credentials&token=x', 'Authorization: Basic %%%\r\n'));
        a('Basic with bad percent-encoding inside', post(path, FORM, 'grant_type=client_credentials&token=x', `Authorization: Basic ${Buffer.from('%zz:%E0').toString('base64')}\r\n`));
        a('a huge header', get(path, `X-Big: ${'a'.repeat(20_000)}\r\n`));
        a('a body over the limit', post(path, FORM, `a=${'b'.repeat(200_000)}`, auth));
        a('bad chunked encoding', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 'latin1'));
        a('gzip body that is not gzip', post(path, FORM, 'abc', `Content-Encoding: gzip\r\n${auth}`));
      }
      const a = (name: string, req: Buffer) => out.push([`auth: ${name}`, ports.auth, req]);
      a('client assertion that is not a JWT', post('/oauth2/token', FORM, 'grant_type=client_credentials&client_id=svc&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.'));
      a('subject token that is not a JWT', post('/oauth2/token', FORM, `grant_type=${TOKEN_EXCHANGE}&subject_token=eyJ.eyJ.x&subject_token_type=urn:ietf:params:oauth:token-type:jwt&audience=inventory`, `Authorization: ${basic('orders', ORDERS_SECRET)}\r\n`));
      a('id_token_hint of garbage JSON', get(`/oauth2/logout?id_token_hint=${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('[1,2]').toString('base64url')}.AAAA`));
      a('JWT introspection with a broken Accept', post('/oauth2/introspect', FORM, 'token=x', `${gw}Accept: application/token-introspection+jwt;q=%zz, */*;q=abc\r\n`));
      a('discovery with a body', post('/.well-known/openid-configuration', 'application/json', '{'));
      for (const path of ['/orders', '/scoped', '/app', '/nowhere', '/_drawbridge/authz', '/_drawbridge/callback', '/_drawbridge/logout', '/_drawbridge/backchannel-logout']) {
        const g = (name: string, req: Buffer) => out.push([`gateway ${path}: ${name}`, ports.gateway, req]);
        g('bad percent-encoding in path and query', get(`${path}/%zz/%E0%A4%A?x=%zz&x=1`));
        g('encoded dot segments', get(`${path}/../../%2e%2e/%2E%2E/etc`));
        g('a JWT with garbage inside', get(path, 'Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA\r\n'));
        g('non-ASCII bytes in Authorization', get(path, 'Authorization: Bearer \xff\xfe\r\n'));
        g('Basic not base64', get(path, 'Authorization: Basic %%%\r\n'));
        g('Basic decoding to non-UTF-8', get(path, `Authorization: Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString('base64')}\r\n`));
        g('a broken Signature-Input', get(path, 'Signature-Input: sig1=("@method";created=abc\r\nSignature: sig1=:%%%:\r\n'));
        g('a huge header', get(path, `X-Big: ${'a'.repeat(20_000)}\r\n`));
        g('a broken session cookie', get(path, 'Cookie: drawbridge_session=%zz; drawbridge_login=\xff\r\nAccept: text/html\r\n'));
        g('callback parameters of garbage', get(`${path}?code=%zz&state=%FF&iss=x&error=%E0`, 'Accept: text/html\r\n'));
        g('broken forwarding headers', get(path, 'X-Forwarded-For: not-an-ip, ,,\r\nX-Forwarded-Uri: %zz\r\nX-Forwarded-Method: \xff\r\nX-Original-URI: /orders/%zz\r\nX-Request-Id: \xff\xfe\r\ntraceparent: garbage\r\n'));
        g('truncated JSON body', post(path, 'application/json', '{"a":', `apikey: ${API_KEY}\r\n`));
        g('a form body of garbage', post(path, FORM, 'logout_token=%zz&logout_token=a&state=%FF'));
      }
      for (const path of ['/services', '/routes', '/plugins', '/consumers', '/consumers/partner-a/key-auth', '/consumers/%zz/basic-auth', '/sessions?user=%zz', '/sessions/%zz', '/metrics']) {
        const auth = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`;
        const m = (name: string, req: Buffer) => out.push([`admin ${path}: ${name}`, ports.admin, req]);
        m('truncated JSON', post(path, 'application/json', '{"username":', auth));
        m('wrong JSON types', post(path, 'application/json', '{"username":[1],"key":{},"name":null,"paths":"x","groups":5,"url":7}', auth));
        m('non-UTF-8 JSON', post(path, 'application/json', '{"username":"\xff\xfe"}', auth));
        m('a repeated form field', post(path, FORM, 'username=%zz&username=b', auth));
        m('a token of non-ASCII bytes', get(path, 'Authorization: Bearer \xff\r\n'));
      }
      return out;
    }

    it('every endpoint of the auth server, the gateway and the admin API', async () => {
      const all = cases();
      const failures: string[] = [];
      let checked = 0;
      const queue = [...all];
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let c = queue.shift(); c; c = queue.shift()) {
            const [name, port, request] = c;
            const r = await raw(port, request);
            checked++;
            const stack = /\n\s+at |node:internal|\/src\/|(Type|Syntax|Range|Reference)Error/.test(r.body);
            if (r.status === 0 || r.status >= 500 && ![502, 503, 504].includes(r.status) || stack) failures.push(`${name} → ${r.status} ${r.body.slice(0, 160)}`);
          }
        }),
      );
      assert.equal(checked, all.length);
      assert.deepEqual(failures, []);
    });

    it(
      'headers over the limit → 431 (RFC 6585 §5) with the gateway\'s JSON error body, not a bare 400',
      async () => {
        const r = await raw(ports.gateway, get('/orders', `X-Big: ${'a'.repeat(20_000)}\r\n`));
        assert.equal(r.status, 431);
        const body = JSON.parse(r.body) as Record<string, unknown>;
        assert.equal(typeof body.error, 'string');
        assert.equal(typeof body.request_id, 'string');
      },
    );

    it(
      'an absolute-form request target (RFC 9112 §3.2.2: a server MUST accept it) is served like its origin form',
      async () => {
        const auth = await raw(ports.auth, get(`http://127.0.0.1:${ports.auth}/.well-known/openid-configuration`));
        assert.equal(auth.status, 200);
        const gw = await raw(ports.gateway, get(`http://127.0.0.1:${ports.gateway}/orders/abs`, `apikey: ${API_KEY}\r\n`));
        assert.equal(gw.status, 200);
      },
    );
  });
});

describe('RFC details a conformance suite checks', () => {
  it('discovery (RFC 8414, OIDC Discovery): both documents, required members, what is (not) supported', async () => {
    const docs = await Promise.all(['openid-configuration', 'oauth-authorization-server'].map(async (name) => (await fetch(`${issuer}/.well-known/${name}`)).json() as Promise<Record<string, unknown>>));
    assert.deepEqual(docs[0], docs[1]);
    const m = docs[0]!;
    assert.equal(m.issuer, issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      assert.ok(String(m[key]).startsWith(`${issuer}/`), key);
    }
    for (const key of ['response_types_supported', 'subject_types_supported', 'id_token_signing_alg_values_supported', 'grant_types_supported', 'token_endpoint_auth_methods_supported', 'scopes_supported']) {
      assert.ok(Array.isArray(m[key]) && (m[key] as unknown[]).length > 0, key);
    }
    assert.ok((m.scopes_supported as string[]).includes('openid'));
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    // OIDC Discovery §3: request_uri_parameter_supported defaults to true when absent
    assert.equal(m.request_parameter_supported, true);
    assert.ok(Array.isArray(m.request_object_signing_alg_values_supported) && !(m.request_object_signing_alg_values_supported as string[]).includes('none'));
    assert.equal(m.request_uri_parameter_supported, false);
    // RFC 8414 §2: private_key_jwt listed → the signing algorithms must be listed too, without none
    for (const ep of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
      if ((m[`${ep}_auth_methods_supported`] as string[]).includes('private_key_jwt')) {
        const algs = m[`${ep}_auth_signing_alg_values_supported`] as string[];
        assert.ok(algs.length > 0 && !algs.includes('none'), ep);
      }
    }
  });

  it('token endpoint (RFC 6749 §5.1): Cache-Control: no-store and Pragma: no-cache, token_type Bearer', async () => {
    const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic('svc', SVC_SECRET) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'orders:read', 'default_scopes');
    assert.equal(body.refresh_token, undefined, 'no refresh token for client_credentials (RFC 6749 §4.4.3)');
  });

  it('error_description stays within RFC 6749 §5.2 / §4.1.2.1 characters, even when it echoes what the client sent', async () => {
    const allowed = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
    const auth = { authorization: basic('svc', SVC_SECRET) };
    const bodies = await Promise.all([
      postForm(`${issuer}/oauth2/token`, { grant_type: 'urn:x:"quoted"\\back\u00e4\n' }, auth),
      fetch(`${issuer}/oauth2/token`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&grant_type=x' }),
      postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'a"b' }, auth),
      postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', resource: 'not "a" uri' }, auth),
    ].map(async (p) => ((await (await p).json()) as { error_description: string }).error_description));
    for (const d of bodies) assert.match(d, allowed, d);
    const u = new URL(as.authorization_endpoint!);
    for (const [k, v] of Object.entries({ client_id: 'web', redirect_uri: `http://127.0.0.1:${ports.closed}/cb`, response_type: 'code "x"', state: 's' })) u.searchParams.set(k, v);
    const redirect = await fetch(u, { redirect: 'manual' });
    const back = new URL(redirect.headers.get('location')!);
    assert.ok(back.searchParams.get('error'));
    assert.match(back.searchParams.get('error_description') ?? '', allowed);
  });

  it('introspection (RFC 7662): active token described; bad tokens active:false only; bad client auth 401', async () => {
    const t = await clientToken('svc', SVC_SECRET);
    const client: oauth.Client = { client_id: 'gw' };
    const auth = oauth.ClientSecretBasic(GW_SECRET);
    const active = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, t.access_token, insecure));
    assert.equal(active.active, true);
    assert.equal(active.client_id, 'svc');
    assert.equal(active.token_type, 'Bearer');
    assert.equal(active.iss, issuer);
    for (const k of ['exp', 'iat']) assert.equal(typeof active[k], 'number');
    for (const token of ['nope', 'a'.repeat(4000), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) {
      const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('gw', GW_SECRET) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await res.json(), { active: false });
    }
    const badClient = await postForm(`${issuer}/oauth2/introspect`, { token: t.access_token }, { authorization: basic('gw', 'wrong') });
    assert.ok(badClient.headers.get('www-authenticate'));
    await assertOAuthError(badClient, 401, 'invalid_client');
    await assertOAuthError(await postForm(`${issuer}/oauth2/introspect`, { token: t.access_token }), 401, 'invalid_client');
    await assertOAuthError(await postForm(`${issuer}/oauth2/introspect`, {}, { authorization: basic('gw', GW_SECRET) }), 400, 'invalid_request');
    // RFC 9701: a signed answer on request
    const jwtRes = await postForm(`${issuer}/oauth2/introspect`, { token: t.access_token }, { authorization: basic('gw', GW_SECRET), accept: 'application/token-introspection+jwt' });
    assert.equal(jwtRes.headers.get('content-type'), 'application/token-introspection+jwt');
    const { payload, protectedHeader } = await jose.jwtVerify(await jwtRes.text(), jwks, { issuer, audience: 'gw' });
    assert.equal(protectedHeader.typ, 'token-introspection+jwt');
    assert.equal((payload.token_introspection as { active: boolean }).active, true);
  });

  it('revocation (RFC 7009): 200 for unknown tokens and unknown hints; the revoked token is inactive at once, also at the gateway', async () => {
    const auth = { authorization: basic('svc', SVC_SECRET) };
    const unknown = await postForm(`${issuer}/oauth2/revoke`, { token: 'never-issued' }, auth);
    assert.equal(unknown.status, 200);
    assert.equal(await unknown.text(), '');
    // §2.1: the hint is only a hint; an unknown one is ignored, not refused
    assert.equal((await postForm(`${issuer}/oauth2/revoke`, { token: 'x', token_type_hint: 'id_token' }, auth)).status, 200);
    await assertOAuthError(await postForm(`${issuer}/oauth2/revoke`, { token: 'x' }, { authorization: basic('svc', 'wrong') }), 401, 'invalid_client');
    const t = await clientToken('svc', SVC_SECRET);
    assert.equal((await fetch(`${gateway}/orders/r`, { headers: { authorization: `Bearer ${t.access_token}` } })).status, 200);
    const client: oauth.Client = { client_id: 'svc' };
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(SVC_SECRET), t.access_token, { ...insecure, additionalParameters: { token_type_hint: 'access_token' } }));
    const inactive = await postForm(`${issuer}/oauth2/introspect`, { token: t.access_token }, { authorization: basic('gw', GW_SECRET) });
    assert.deepEqual(await inactive.json(), { active: false });
    await assertGatewayError(await fetch(`${gateway}/orders/r`, { headers: { authorization: `Bearer ${t.access_token}` } }), 401, 'invalid_token');
  });

  describe('authorization code + PKCE (RFC 7636) with iss in the response (RFC 9207)', () => {
    const client: oauth.Client = { client_id: 'web' };
    const redirectUri = () => `http://127.0.0.1:${ports.closed}/cb`;
    const browser = new Browser();

    function authorizeUrl(params: Record<string, string>): string {
      const u = new URL(as.authorization_endpoint!);
      for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: redirectUri(), scope: 'openid email offline_access', ...params })) if (v !== '') u.searchParams.set(k, v);
      return u.href;
    }

    /** Signs alice in when needed; returns the redirect back to the client. */
    async function authorize(params: Record<string, string>): Promise<URL> {
      const res = await signInIfAsked(browser, await browser.fetch(authorizeUrl(params), { headers: { accept: 'text/html' } }), 'alice', ALICE_PASSWORD);
      assert.ok([302, 303].includes(res.status), `expected a redirect, got ${res.status}`);
      return new URL(res.headers.get('location')!);
    }

    it('without code_challenge, or with plain → invalid_request at the redirect URI, with state and iss', async () => {
      for (const params of [{}, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }] as Array<Record<string, string>>) {
        const back = await authorize({ state: 's1', ...params });
        assert.equal(back.searchParams.get('error'), 'invalid_request');
        assert.equal(back.searchParams.get('state'), 's1');
        assert.equal(back.searchParams.get('iss'), issuer);
      }
    });

    it('an unsigned request and request_uri (OIDC Core §6) are refused, not ignored', async () => {
      // an unsigned request object: nothing in it to trust, so an error page rather than a redirect
      const request = await browser.fetch(authorizeUrl({ state: 's2', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', request: 'eyJhbGciOiJub25lIn0.e30.' }), { headers: { accept: 'text/html' } });
      assert.equal(request.status, 400);
      assert.equal(request.headers.get('location'), null);
      assert.match(await request.text(), /invalid_request_object/);
      const requestUri = await authorize({ state: 's3', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', request_uri: 'urn:example:request' });
      assert.equal(requestUri.searchParams.get('error'), 'request_uri_not_supported');
    });

    it('the code flow through oauth4webapi: iss checked, a wrong verifier is invalid_grant, the right one gets tokens', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const nonce = oauth.generateRandomNonce();
      const back = await authorize({ state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      assert.equal(back.searchParams.get('iss'), issuer);
      const params = oauth.validateAuthResponse(as, client, back, state);
      const clientAuth = oauth.ClientSecretBasic(WEB_SECRET);
      const wrong = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri(), oauth.generateRandomCodeVerifier(), insecure);
      await assertOAuthError(wrong, 400, 'invalid_grant');
      // a fresh code for the right verifier (whether a failed redemption burns the code is not part of the contract)
      const verifier2 = oauth.generateRandomCodeVerifier();
      const back2 = await authorize({ state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier2), code_challenge_method: 'S256' });
      const params2 = oauth.validateAuthResponse(as, client, back2, state);
      const res = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params2, redirectUri(), verifier2, insecure);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: nonce, requireIdToken: true });
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
      const claims = oauth.getValidatedIdTokenClaims(tokens)!;
      assert.equal(claims.iss, issuer);
      assert.equal(claims.aud, 'web');
      // userinfo with the access token
      const info = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure));
      assert.equal(info.email, 'alice@example.com');
      // refresh_token_ttl 30d: what introspection says about the refresh token
      const rt = await postForm(`${issuer}/oauth2/introspect`, { token: tokens.refresh_token! }, { authorization: basic('web', WEB_SECRET) });
      const described = (await rt.json()) as { active: boolean; exp?: number; iat?: number };
      assert.equal(described.active, true);
      if (described.exp !== undefined && described.iat !== undefined) assert.equal(described.exp - described.iat, 30 * 86_400);
      // the same code twice → invalid_grant, and what it gave is revoked (RFC 6749 §4.1.2)
      await assertOAuthError(await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params2, redirectUri(), verifier2, insecure), 400, 'invalid_grant');
      const replayed = await postForm(`${issuer}/oauth2/introspect`, { token: tokens.access_token }, { authorization: basic('web', WEB_SECRET) });
      assert.deepEqual(await replayed.json(), { active: false });
    });

    it(
      '§5: an opaque access token with an SSO session behind it gives the internal JWT that session\'s sid',
      async () => {
        const verifier = oauth.generateRandomCodeVerifier();
        const state = oauth.generateRandomState();
        const back = await authorize({ state, scope: 'openid orders:read', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
        const params = oauth.validateAuthResponse(as, client, back, state);
        const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(WEB_SECRET), params, redirectUri(), verifier, insecure);
        const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { requireIdToken: true });
        const sid = oauth.getValidatedIdTokenClaims(tokens)!.sid;
        assert.equal(typeof sid, 'string');
        const introspected = (await (await postForm(`${issuer}/oauth2/introspect`, { token: tokens.access_token }, { authorization: basic('gw', GW_SECRET) })).json()) as { sid?: string };
        assert.equal(introspected.sid, sid);
        assert.equal((await fetch(`${gateway}/inventory/mine`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);
        const { payload } = await jose.jwtVerify(upstream.seen.at(-1)!.headers.authorization!.slice(7), jwks, { issuer, audience: 'inventory', typ: 'at+jwt' });
        assert.equal(payload.auth_method, 'oauth2');
        assert.equal(payload.sid, sid);
      },
    );
  });
});
