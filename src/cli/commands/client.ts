import { Option, type Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/index.js';
import { isPlainObject } from '../../config/fields.js';
import { validateClientConfig } from '../../config/client.js';
import type { ClientConfig } from '../../config/types.js';
import { randomToken } from '../../core/crypto-util.js';
import { REQUEST_OBJECT_ALGS } from '../../crypto/algorithms.js';
import { clientRecordFromConfig } from '../../auth/clients.js';
import { SECRET_METHODS, withNewSecret } from '../../storage/client-records.js';
import type { ClientRecord } from '../../storage/types.js';
import { clientRevocationEvents, publishOnce, type GatewayEvent } from '../../cache/events.js';
import { collect, print, printTable, readConfig, UsageError, withStorage } from '../shared.js';

interface CreateOptions {
  config?: string;
  id?: string;
  name?: string;
  grantType?: string[];
  scope?: string[];
  redirectUri?: string[];
  authMethod?: string;
  format?: string;
  public?: boolean;
  postLogoutRedirectUri?: string[];
  backchannelLogoutUri?: string;
  backchannelLogoutSessionRequired?: boolean;
  consent?: 'ask' | 'skip';
  mfa?: 'optional' | 'required';
  /** false with --no-require-pkce */
  requirePkce?: boolean;
  requirePar?: boolean;
  idTokenAlg?: 'ES256' | 'RS256' | 'EdDSA';
  jwksUri?: string;
  /** a JWK Set file */
  jwks?: string;
  requestObjectAlg?: string;
  requireSignedRequestObject?: boolean;
  json?: boolean;
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('OAuth clients: create, list, rotate-secret, delete');
  client
    .command('create')
    .description('create a client; a generated secret is printed once and stored only as a digest (--public and private_key_jwt clients: no secret)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--id <client_id>', 'client id (default: a random UUID)')
    .option('--name <name>', 'display name')
    .option('--grant-type <type>', 'allowed grant type (repeatable; default client_credentials)', collect)
    .option('--scope <scope>', 'allowed scope (repeatable)', collect)
    .option('--redirect-uri <uri>', 'redirect URI (repeatable)', collect)
    .addOption(
      new Option(
        '--auth-method <method>',
        'token endpoint auth method (default: private_key_jwt with --jwks or --jwks-uri, else client_secret_basic; not with --public); private_key_jwt (RFC 7523): a JWT signed with the client\'s own key, verified with its --jwks or --jwks-uri, no secret',
      ).choices(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    )
    .addOption(new Option('--format <format>', 'access token format').choices(['opaque', 'jwt']).default('opaque'))
    .option('--public', 'public client: no secret, PKCE required (browser and mobile apps); not with --auth-method')
    .option('--post-logout-redirect-uri <uri>', 'where RP-initiated logout may redirect afterwards, exact match (repeatable)', collect)
    .option('--backchannel-logout-uri <uri>', 'OIDC Back-Channel Logout: where logout tokens are POSTed (https, or http on loopback)')
    .option('--backchannel-logout-session-required', 'put sid in the logout tokens')
    .addOption(new Option('--consent <mode>', 'skip: first-party, users never see the consent page').choices(['ask', 'skip']).default('ask'))
    .addOption(new Option('--mfa <mode>', 'required: every user signing in to it uses TOTP').choices(['optional', 'required']).default('optional'))
    .option('--no-require-pkce', 'confidential clients only: allow the code flow without PKCE (server-side RPs that send no code_challenge)')
    .option('--require-par', 'accept this client\'s authorization requests only through the pushed authorization request endpoint (RFC 9126)')
    .addOption(
      new Option('--id-token-alg <alg>', 'id_token_signed_response_alg: one of keys.id_token_algorithms (default: the first)').choices(['ES256', 'RS256', 'EdDSA']),
    )
    .option('--jwks-uri <url>', 'URL of the client\'s public keys (JWKS), which its client assertions (private_key_jwt) and request objects (RFC 9101) are verified with; not with --jwks')
    .option('--jwks <file>', 'the client\'s public keys inline: a JSON file holding a JWK Set ({"keys": [...]}: kty EC, RSA or OKP, no private members), stored as its jwks; not with --jwks-uri')
    .addOption(
      new Option('--request-object-alg <alg>', 'request_object_signing_alg: the only algorithm accepted on its request objects (default: any asymmetric one); needs --jwks or --jwks-uri').choices([...REQUEST_OBJECT_ALGS]),
    )
    .option('--require-signed-request-object', 'accept this client\'s authorization requests only as a signed request object (request, RFC 9101), by value or through PAR; needs --jwks or --jwks-uri')
    .option('--json', 'print JSON')
    .action(async function createClient(opts: CreateOptions) {
      if (opts.jwks !== undefined && opts.jwksUri !== undefined) {
        throw new UsageError('--jwks and --jwks-uri: give one of them (the client\'s public keys inline, or the URL they are fetched from)');
      }
      if (opts.public && opts.authMethod !== undefined) {
        const how = opts.authMethod === 'private_key_jwt' ? 'a private_key_jwt client authenticates with its keys' : `a ${opts.authMethod} client authenticates with a secret`;
        throw new UsageError(`--public and --auth-method ${opts.authMethod}: give one of them (a public client has no credential; ${how})`);
      }
      const hasKeys = opts.jwks !== undefined || opts.jwksUri !== undefined;
      if (opts.authMethod === 'private_key_jwt' && !hasKeys) {
        throw new UsageError('--auth-method private_key_jwt needs the client\'s public keys: --jwks FILE (a JWK Set) or --jwks-uri URL');
      }
      // as the config file's schema defaults it (schema-auth.ts): a client with keys and no
      // secret authenticates with them; the CLI makes a secret only for a secret method
      const method = opts.public ? 'none' : (opts.authMethod ?? (hasKeys ? 'private_key_jwt' : 'client_secret_basic'));
      const keyAuth = method === 'private_key_jwt';
      const jwks = opts.jwks === undefined ? undefined : readJwksFile(opts.jwks);
      const cfg = readConfig(opts);
      const clientId = opts.id ?? randomUUID();
      const secret = SECRET_METHODS.has(method) ? randomToken(32) : undefined;
      const raw: Record<string, unknown> = {
        client_id: clientId,
        grant_types: opts.grantType ?? (opts.public ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
        scopes: opts.scope ?? [],
        redirect_uris: opts.redirectUri ?? [],
        token_endpoint_auth_method: method,
        access_token_format: opts.format,
      };
      if (opts.name) raw.client_name = opts.name;
      if (opts.postLogoutRedirectUri) raw.post_logout_redirect_uris = opts.postLogoutRedirectUri;
      if (opts.backchannelLogoutUri) raw.backchannel_logout_uri = opts.backchannelLogoutUri;
      if (opts.backchannelLogoutSessionRequired) raw.backchannel_logout_session_required = true;
      if (opts.consent) raw.consent = opts.consent;
      if (opts.mfa) raw.mfa = opts.mfa;
      if (opts.requirePkce === false) raw.require_pkce = false;
      if (opts.requirePar) raw.require_pushed_authorization_requests = true;
      if (opts.idTokenAlg) raw.id_token_signed_response_alg = opts.idTokenAlg;
      if (opts.jwksUri) raw.jwks_uri = opts.jwksUri;
      if (jwks !== undefined) raw.jwks = jwks;
      if (opts.requestObjectAlg) raw.request_object_signing_alg = opts.requestObjectAlg;
      if (opts.requireSignedRequestObject) raw.require_signed_request_object = true;
      if (secret) raw.client_secret = secret;
      // against this config's keys: the server signs only with its keys.id_token_algorithms
      const validated = validateClient(cfg.issuer, raw, { algorithm: cfg.keys.algorithm, id_token_algorithms: cfg.keys.id_token_algorithms }, opts.jwks);
      await withStorage(cfg, async (s) => {
        if (cfg.auth?.clients.some((c) => c.client_id === clientId)) throw new UsageError(`client "${clientId}" is defined in the config file`);
        if (await s.clients.get(clientId)) throw new UsageError(`client "${clientId}" already exists`);
        await s.clients.upsert(clientRecordFromConfig(validated, 'cli', Math.floor(Date.now() / 1000)));
      });
      if (opts.json) {
        // the method it got (it follows from --jwks/--jwks-uri when not given); client_secret
        // only when one was made: a public or private_key_jwt client has none, not even null
        const shown = secret === undefined ? { client_id: clientId, token_endpoint_auth_method: method } : { client_id: clientId, token_endpoint_auth_method: method, client_secret: secret };
        print(JSON.stringify(shown, null, 2));
        return;
      }
      print(`client_id:     ${clientId}`);
      if (secret) {
        print(`client_secret: ${secret}`);
        print('The secret is shown only now; Drawbridge keeps only its digest.');
      }
      if (keyAuth) {
        const where = opts.jwksUri !== undefined ? `its public keys, fetched from ${opts.jwksUri}` : 'its public keys, stored from the --jwks file';
        print('auth_method:   private_key_jwt');
        print(`No client secret: the client authenticates with private_key_jwt (RFC 7523), a client_assertion JWT signed with its private key and verified with ${where}.`);
      }
    });
  client
    .command('list')
    .description("list stored clients: made here or with the admin API, and the config file's once an auth server has synced them")
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--json', 'print JSON')
    .action(async function listClients(opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const rows = await s.clients.list();
        if (opts.json) {
          print(JSON.stringify(rows.map(({ secret_hash: _h, ...rest }) => rest), null, 2));
          return;
        }
        printTable(
          rows.map((c) => ({
            client_id: c.client_id,
            auth_method: c.token_endpoint_auth_method,
            grants: c.grant_types.join(','),
            scopes: c.scopes.join(' '),
            format: c.access_token_format,
            consent: c.consent ?? 'ask',
            mfa: c.mfa ?? 'optional',
            pkce: c.require_pkce === false ? 'optional' : 'required',
            id_token_alg: c.id_token_signed_response_alg ?? 'default',
            requires: requirements(c),
            source: c.source,
          })),
          ['client_id', 'auth_method', 'grants', 'scopes', 'format', 'consent', 'mfa', 'pkce', 'id_token_alg', 'requires', 'source'],
        );
      });
    });
  client
    .command('rotate-secret')
    .description('replace a client\'s secret: the new one is printed once, the old one stops working at once')
    .argument('<client_id>')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .option('--json', 'print JSON')
    .action(async function rotateClientSecret(clientId: string, opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      if (cfg.auth?.clients.some((c) => c.client_id === clientId)) {
        throw new UsageError(`client "${clientId}" is defined in the config file; change its secret there`);
      }
      const secret = await withStorage(cfg, async (s) => {
        const rec = await s.clients.get(clientId);
        if (!rec) throw new UsageError(`no client "${clientId}"`);
        // a config-file client's secret is the file's (the next start would put it back)
        if (rec.source === 'config') throw new UsageError(`client "${clientId}" is defined in the config file; change its secret there`);
        const rotated = withNewSecret(rec, Math.floor(Date.now() / 1000));
        if (rotated === undefined) throw new UsageError(`client "${clientId}" authenticates with ${rec.token_endpoint_auth_method}; it has no secret to rotate`);
        if (!(await s.clients.update(rotated.rec))) throw new UsageError(`no client "${clientId}"`);
        return rotated.secret;
      });
      // running auth servers drop their cached copy (else they notice within their 2 s cache)
      if (cfg.redis && !(await publishOnce(cfg.redis, { type: 'client.changed', client_id: clientId }))) {
        process.stderr.write('drawbridge: warning: could not notify running auth servers over redis; the old secret works until their client cache expires (2 s)\n');
      }
      if (opts.json) {
        print(JSON.stringify({ client_id: clientId, client_secret: secret }, null, 2));
        return;
      }
      print(`client_id:     ${clientId}`);
      print(`client_secret: ${secret}`);
      print('The secret is shown only now; Drawbridge keeps only its digest.');
    });
  client
    .command('delete')
    .description('delete a client and revoke its tokens, and those other clients exchanged from them')
    .argument('<client_id>')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .action(async function deleteClient(clientId: string, opts: { config?: string }) {
      const cfg = readConfig(opts);
      if (cfg.auth?.clients.some((c) => c.client_id === clientId)) {
        throw new UsageError(`client "${clientId}" is defined in the config file; remove it there`);
      }
      let events: GatewayEvent[] = [];
      await withStorage(cfg, async (s) => {
        if (!(await s.clients.delete(clientId))) throw new UsageError(`no client "${clientId}"`);
        const now = Math.floor(Date.now() / 1000);
        const revoked = await s.tokens.revokeByClient(clientId, now);
        // and what other clients exchanged from its tokens (RFC 8693), down the chain
        const exchanged = await s.tokens.revokeExchangedFromClient(clientId, now);
        events = clientRevocationEvents(clientId, exchanged);
        const also = exchanged.length > 0 ? ` and ${exchanged.length} exchanged from them` : '';
        print(`deleted client ${clientId}; revoked ${revoked} token(s)${also}`);
      });
      // running gateways drop what they cached for the client's tokens
      if (cfg.redis && !(await publishOnce(cfg.redis, events))) {
        process.stderr.write('drawbridge: warning: could not notify running gateways over redis; they drop cached tokens within their cache TTL\n');
      }
    });
}

/**
 * The `requires` column of `client list`: how the client's authorization requests must come,
 * `par` (require_pushed_authorization_requests) and `signed-request`
 * (require_signed_request_object), comma-separated; `-` for neither.
 */
function requirements(c: Pick<ClientRecord, 'require_pushed_authorization_requests' | 'require_signed_request_object'>): string {
  const flags = [c.require_pushed_authorization_requests === true ? 'par' : '', c.require_signed_request_object === true ? 'signed-request' : ''].filter(Boolean);
  return flags.length > 0 ? flags.join(',') : '-';
}

/**
 * Runs a client through the same schema as the config file (and the admin API), so all accept
 * the same clients: its `jwks` too (public keys only). A fault in the keys read from
 * `--jwks FILE` (`jwksFile`) is named after the flag and the file, as `--jwks FILE: keys[0].d: …`.
 */
function validateClient(issuer: string, raw: Record<string, unknown>, keys: Record<string, unknown> = {}, jwksFile?: string): ClientConfig {
  try {
    return validateClientConfig(raw, { issuer, keys });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (jwksFile !== undefined && (err.path === 'jwks' || err.path.startsWith('jwks.') || err.path.startsWith('jwks['))) {
      const inFile = err.path.slice('jwks'.length).replace(/^\./, '');
      throw new UsageError(`--jwks ${jwksFile}: ${inFile === '' ? '' : `${inFile}: `}${err.problem}`);
    }
    throw new UsageError(err.path === '' ? `client ${err.problem}` : `client ${err.message}`);
  }
}

/**
 * The JWK Set in `--jwks FILE`, parsed but not yet checked (the client schema does that). What
 * the file holds is never echoed: it may be a private key given by mistake.
 */
function readJwksFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`--jwks ${file}: cannot read the file (${code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8's message may quote the text around the fault; only its position is kept
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new UsageError(`--jwks ${file}: not valid JSON${at === undefined ? '' : ` (at position ${at})`}; expected a JWK Set, {"keys": [...]}`);
  }
  if (!isPlainObject(parsed)) throw new UsageError(`--jwks ${file}: expected a JWK Set, {"keys": [...]}, got ${Array.isArray(parsed) ? 'a list' : parsed === null ? 'null' : `a ${typeof parsed}`}`);
  if (!Object.hasOwn(parsed, 'keys') && Object.hasOwn(parsed, 'kty')) {
    throw new UsageError(`--jwks ${file}: a single JWK, not a JWK Set: put it in {"keys": [...]}`);
  }
  return parsed;
}
