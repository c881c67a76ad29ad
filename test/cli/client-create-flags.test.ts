// `drawbridge client create` flag combinations and `drawbridge token --key`, each a real child
// process against a real SQLite file and, for the tokens, a running `drawbridge start`:
// --public beside a credential-bearing --auth-method (refused), a client given keys without
// --auth-method (private_key_jwt, as the config file's schema defaults it), --json without a
// client_secret where there is none, and a client assertion (RFC 7523) signed by the CLI.
import * as assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, freePort, postForm } from '../helpers/auth-server.js';
import { assertExit, assertNoStack, cliWorkspace, configYaml, ENV, SVC_SECRET } from './cli-support.js';
import { runCli, waitForReady, type CliResult } from './spawn.js';

const ws = cliWorkspace();

describe('client create flags and token --key (SQLite file, running server)', () => {
  let issuer: string;
  let configFile: string;

  before(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    configFile = join(ws.dir, 'drawbridge.yaml');
    await writeFile(configFile, configYaml({ port, storage: `sqlite:${join(ws.dir, 'state', 'drawbridge.db')}` }));
    const server = ws.start(configFile);
    await waitForReady(`${issuer}/readyz`, server);
  });

  const create = (...args: string[]) => runCli(['client', 'create', '--config', configFile, ...args], { env: ENV });

  async function stored(): Promise<Array<Record<string, unknown>>> {
    const list = await runCli(['client', 'list', '--config', configFile, '--json'], { env: ENV });
    assertExit(list, 0);
    return JSON.parse(list.stdout) as Array<Record<string, unknown>>;
  }

  async function active(token: string): Promise<boolean> {
    const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('svc', SVC_SECRET) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { active: boolean }).active;
  }

  async function publicJwks(file: string, key: jose.CryptoKey, kid?: string): Promise<void> {
    await writeFile(file, JSON.stringify({ keys: [{ ...(await jose.exportJWK(key)), ...(kid === undefined ? {} : { kid }) }] }));
  }

  it('--public with any --auth-method → 2 naming both flags; nothing stored', async () => {
    const methods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
    const results = await Promise.all(
      methods.map((m) => create('--id', `pub-${m}`, '--public', '--auth-method', m, '--jwks-uri', 'https://keys.example/jwks.json', '--redirect-uri', 'https://app.example/cb')),
    );
    results.forEach((r, i) => {
      assertExit(r, 2);
      assertNoStack(r);
      assert.match(r.stderr, new RegExp(`--public and --auth-method ${methods[i]}`));
      assert.equal(r.stdout, '');
    });
    const ids = (await stored()).map((c) => c.client_id);
    for (const m of methods) assert.ok(!ids.includes(`pub-${m}`), `pub-${m} stored`);
  });

  it('--public --json: client_id and token_endpoint_auth_method none, no client_secret key at all', async () => {
    const r = await create('--id', 'pub-json', '--public', '--redirect-uri', 'https://app.example/cb', '--json');
    assertExit(r, 0);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(shown, { client_id: 'pub-json', token_endpoint_auth_method: 'none' });
    assert.ok(!Object.hasOwn(shown, 'client_secret'));
    const text = await create('--id', 'pub-text', '--public', '--redirect-uri', 'https://app.example/cb');
    assertExit(text, 0);
    assert.doesNotMatch(text.stdout, /client_secret/);
    const rows = await stored();
    assert.equal(rows.find((c) => c.client_id === 'pub-json')?.token_endpoint_auth_method, 'none');
  });

  it('a secret client\'s --json: client_id, token_endpoint_auth_method and the client_secret', async () => {
    const r = await create('--id', 'secret-json', '--json');
    assertExit(r, 0);
    const shown = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(shown).sort(), ['client_id', 'client_secret', 'token_endpoint_auth_method']);
    assert.equal(shown.token_endpoint_auth_method, 'client_secret_basic');
    assert.match(String(shown.client_secret), /^[A-Za-z0-9_-]{43,}$/);
    const post = await create('--id', 'secret-post-json', '--auth-method', 'client_secret_post', '--json');
    assertExit(post, 0);
    assert.equal((JSON.parse(post.stdout) as Record<string, unknown>).token_endpoint_auth_method, 'client_secret_post');
  });

  it('--jwks FILE without --auth-method: a private_key_jwt client (as the config schema defaults one with keys), no secret made or shown; it gets a token with its key', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
    const file = join(ws.dir, 'implied-jwks.json');
    await publicJwks(file, publicKey, 'implied-1');
    const r = await create('--id', 'implied-pkjwt', '--jwks', file, '--scope', 'orders:read');
    assertExit(r, 0);
    assert.doesNotMatch(r.stdout, /client_secret|shown only now/);
    assert.match(r.stdout, /^auth_method:\s+private_key_jwt$/m);
    const row = (await stored()).find((c) => c.client_id === 'implied-pkjwt');
    assert.equal(row?.token_endpoint_auth_method, 'private_key_jwt');
    // its assertion gets a token; a Basic secret has nothing to match
    const tokenEndpoint = `${issuer}/oauth2/token`;
    const assertion = await new jose.SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'implied-1' })
      .setIssuer('implied-pkjwt')
      .setSubject('implied-pkjwt')
      .setAudience(tokenEndpoint)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const ok = await postForm(tokenEndpoint, {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    assert.equal(ok.status, 200);
    const guessed = await postForm(tokenEndpoint, { grant_type: 'client_credentials' }, { authorization: basic('implied-pkjwt', 'any') });
    assert.equal(guessed.status, 401);
  });

  it('--jwks-uri URL without --auth-method --json: private_key_jwt, no client_secret; an explicit secret method or --public beside keys stays as asked', async () => {
    const uri = 'https://keys.example/jwks.json';
    const [json, withSecret, pub] = await Promise.all([
      create('--id', 'implied-uri', '--jwks-uri', uri, '--json'),
      create('--id', 'keys-and-secret', '--jwks-uri', uri, '--auth-method', 'client_secret_basic', '--json'),
      create('--id', 'keys-public', '--jwks-uri', uri, '--public', '--redirect-uri', 'https://app.example/cb', '--json'),
    ]);
    for (const r of [json, withSecret, pub]) assertExit(r, 0);
    assert.deepEqual(JSON.parse(json.stdout), { client_id: 'implied-uri', token_endpoint_auth_method: 'private_key_jwt' });
    const secretShown = JSON.parse(withSecret.stdout) as Record<string, unknown>;
    assert.equal(secretShown.token_endpoint_auth_method, 'client_secret_basic');
    assert.equal(typeof secretShown.client_secret, 'string');
    assert.deepEqual(JSON.parse(pub.stdout), { client_id: 'keys-public', token_endpoint_auth_method: 'none' });
    const rows = await stored();
    const method = (id: string) => rows.find((c) => c.client_id === id)?.token_endpoint_auth_method;
    assert.equal(method('implied-uri'), 'private_key_jwt');
    assert.equal(method('keys-and-secret'), 'client_secret_basic');
    assert.equal(method('keys-public'), 'none');
  });

  it('--help says how the auth method is chosen', async () => {
    const r = await runCli(['client', 'create', '--help']);
    assertExit(r, 0);
    assert.match(r.stdout.replace(/\s+/g, ' '), /private_key_jwt with --jwks or --jwks-uri/);
    const token = await runCli(['token', '--help']);
    assertExit(token, 0);
    assert.match(token.stdout, /--key <file>/);
  });

  describe('token --key', () => {
    let ecPrivateJwkFile: string;
    let ecPrivateJwk: jose.JWK;
    let rsaPemFile: string;
    let rsaPem: string;
    let edPemFile: string;

    before(async () => {
      // an ES256 key given as a private JWK (with its kid), an RSA key as a PKCS#8 PEM, an
      // Ed25519 key as a PEM; each client is registered with the matching public JWKS
      const ec = await jose.generateKeyPair('ES256', { extractable: true });
      ecPrivateJwk = { ...(await jose.exportJWK(ec.privateKey)), kid: 'ec-1' };
      ecPrivateJwkFile = join(ws.dir, 'ec-private.jwk.json');
      await writeFile(ecPrivateJwkFile, JSON.stringify(ecPrivateJwk));
      const ecJwks = join(ws.dir, 'ec-public.jwks.json');
      await publicJwks(ecJwks, ec.publicKey, 'ec-1');

      const rsa = await jose.generateKeyPair('RS256', { extractable: true });
      rsaPem = await jose.exportPKCS8(rsa.privateKey);
      rsaPemFile = join(ws.dir, 'rsa-private.pem');
      await writeFile(rsaPemFile, rsaPem);
      const rsaJwks = join(ws.dir, 'rsa-public.jwks.json');
      await publicJwks(rsaJwks, rsa.publicKey);

      const ed = await jose.generateKeyPair('EdDSA', { extractable: true });
      edPemFile = join(ws.dir, 'ed-private.pem');
      await writeFile(edPemFile, await jose.exportPKCS8(ed.privateKey));
      const edJwks = join(ws.dir, 'ed-public.jwks.json');
      await publicJwks(edJwks, ed.publicKey);

      const made = await Promise.all([
        create('--id', 'tk-ec', '--jwks', ecJwks, '--scope', 'orders:read'),
        create('--id', 'tk-rsa', '--jwks', rsaJwks, '--scope', 'orders:read'),
        create('--id', 'tk-ed', '--jwks', edJwks, '--scope', 'orders:read'),
      ]);
      for (const r of made) assertExit(r, 0);
    });

    const token = (...args: string[]) => runCli(['token', '--issuer', issuer, ...args], { env: { ...ENV, DRAWBRIDGE_CLIENT_SECRET: undefined } });

    function assertKeyNotShown(r: CliResult): void {
      for (const secretPart of [ecPrivateJwk.d!, rsaPem.split('\n')[1]!]) {
        assert.ok(!r.stdout.includes(secretPart) && !r.stderr.includes(secretPart), `key material shown:\n${r.stdout}\n${r.stderr}`);
      }
    }

    it('a private JWK (ES256), an RSA PEM (RS256) and an Ed25519 PEM (EdDSA) each get an access token from the running server', async () => {
      const results = await Promise.all([
        token('--client', 'tk-ec', '--key', ecPrivateJwkFile, '--scope', 'orders:read'),
        token('--client', 'tk-rsa', '--key', rsaPemFile),
        token('--client', 'tk-ed', '--key', edPemFile, '--json'),
      ]);
      for (const r of results) {
        assertExit(r, 0);
        assertKeyNotShown(r);
      }
      assert.equal(await active(results[0]!.stdout.trim()), true);
      assert.equal(await active(results[1]!.stdout.trim()), true);
      const json = JSON.parse(results[2]!.stdout) as { access_token: string; token_type: string };
      assert.equal(json.token_type, 'Bearer');
      assert.equal(await active(json.access_token), true);
    });

    it('another client\'s key → 1 with invalid_client; the key is never shown', async () => {
      const r = await token('--client', 'tk-ec', '--key', rsaPemFile);
      assertExit(r, 1);
      assertNoStack(r);
      assert.match(r.stderr, /401 invalid_client/);
      assertKeyNotShown(r);
    });

    it('--key beside --secret or --auth-method, a public key, a symmetric key, a malformed or missing file → 2 naming --key; nothing of the file shown', async () => {
      const pubFile = join(ws.dir, 'only-public.jwk.json');
      const { d: _d, ...pub } = ecPrivateJwk;
      await writeFile(pubFile, JSON.stringify(pub));
      const octFile = join(ws.dir, 'oct.jwk.json');
      await writeFile(octFile, JSON.stringify({ kty: 'oct', k: 'c2VjcmV0LXN5bW1ldHJpYy1rZXktbWF0ZXJpYWwtMTIzNA' }));
      const brokenFile = join(ws.dir, 'broken.json');
      await writeFile(brokenFile, `{"kty":"EC","d":"${ecPrivateJwk.d}",`);
      const pemBroken = join(ws.dir, 'broken.pem');
      await writeFile(pemBroken, rsaPem.slice(0, 200));
      const wrongAlg = join(ws.dir, 'wrong-alg.jwk.json');
      await writeFile(wrongAlg, JSON.stringify({ ...ecPrivateJwk, alg: 'RS256' }));
      const encrypted = join(ws.dir, 'encrypted.pem');
      const rsaKey = createPrivateKey(rsaPem);
      await writeFile(encrypted, rsaKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pass' }));
      const cases: Array<[string[], RegExp]> = [
        [['--key', ecPrivateJwkFile, '--secret', 'x'], /--key and --secret/],
        [['--key', ecPrivateJwkFile, '--auth-method', 'post'], /--key and --auth-method/],
        [['--key', pubFile], /--key .*not a private key/],
        [['--key', octFile], /--key .*(symmetric|oct)/],
        [['--key', brokenFile], /--key .*not valid JSON/],
        [['--key', pemBroken], /--key .*not a private key/],
        [['--key', wrongAlg], /--key .*alg RS256 does not fit an EC P-256 key/],
        [['--key', encrypted], /--key .*encrypted PEM/],
        [['--key', join(ws.dir, 'missing.pem')], /--key .*cannot read/],
      ];
      const results = await Promise.all(cases.map(([args]) => token('--client', 'tk-ec', ...args)));
      results.forEach((r, i) => {
        assertExit(r, 2);
        assertNoStack(r);
        assert.match(r.stderr, cases[i]![1]);
        assertKeyNotShown(r);
      });
    });

    /**
     * A stand-in server that records the token request instead of answering it for real; its
     * metadata names `${base}/somewhere/token` unless `meta` says otherwise.
     */
    async function withRecordingServer<T>(run: (base: string, seen: { form?: URLSearchParams; authorization?: string }) => Promise<T>, meta?: Record<string, unknown>): Promise<T> {
      const seen: { form?: URLSearchParams; authorization?: string } = {};
      const fake: Server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString('utf8')));
        req.on('end', () => {
          const base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
          res.setHeader('content-type', 'application/json');
          if (req.url === '/.well-known/oauth-authorization-server') {
            res.end(JSON.stringify(meta ?? { issuer: base, token_endpoint: `${base}/somewhere/token` }));
            return;
          }
          seen.form = new URLSearchParams(body);
          if (req.headers.authorization !== undefined) seen.authorization = req.headers.authorization;
          res.end(JSON.stringify({ access_token: 'recorded', token_type: 'Bearer' }));
        });
      });
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
      try {
        return await run(`http://127.0.0.1:${(fake.address() as AddressInfo).port}`, seen);
      } finally {
        fake.close();
      }
    }

    it('metadata without an http(s) token_endpoint → 1 naming it, nothing sent', async () => {
      await withRecordingServer(async (base, seen) => {
        const r = await runCli(['token', '--issuer', base, '--client', 'tk-ec', '--secret', 'some-secret']);
        assertExit(r, 1);
        assertNoStack(r);
        assert.match(r.stderr, /names no http\(s\) token_endpoint/);
        assert.equal(seen.form, undefined);
      }, { issuer: 'http://127.0.0.1' });
    });

    it('the assertion: iss = sub = client_id, aud = the token endpoint, a fresh jti, a short exp, the key\'s alg and kid', async () => {
      const startedAt = Math.floor(Date.now() / 1000);
      const { r, base, form, authorization } = await withRecordingServer(async (base, seen) => {
        const r = await runCli(['token', '--issuer', base, '--client', 'tk-ec', '--key', ecPrivateJwkFile, '--scope', 'orders:read']);
        return { r, base, ...seen };
      });
      assertExit(r, 0);
      assert.equal(r.stdout.trim(), 'recorded');
      assert.equal(authorization, undefined);
      assert.equal(form?.get('grant_type'), 'client_credentials');
      assert.equal(form?.get('scope'), 'orders:read');
      assert.equal(form?.get('client_id'), 'tk-ec');
      assert.equal(form?.get('client_secret'), null);
      assert.equal(form?.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const assertion = form?.get('client_assertion') ?? '';
      const header = jose.decodeProtectedHeader(assertion);
      assert.equal(header.alg, 'ES256');
      assert.equal(header.kid, 'ec-1');
      const { d: _d, ...pub } = ecPrivateJwk;
      const { payload } = await jose.jwtVerify(assertion, await jose.importJWK(pub, 'ES256'), {
        issuer: 'tk-ec',
        subject: 'tk-ec',
        audience: `${base}/somewhere/token`,
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      assert.ok(payload.iat! >= startedAt - 1 && payload.exp! - payload.iat! > 0 && payload.exp! - payload.iat! <= 60, JSON.stringify(payload));
      assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    });
  });
});
