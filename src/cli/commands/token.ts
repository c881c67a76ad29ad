import { Option, type Command } from 'commander';
import { StartupError } from '../errors.js';
import { collect, print, readConfig, UsageError } from '../shared.js';
import { basicCredentials } from '../../core/http.js';
import { JWT_BEARER, readAssertionKey, signClientAssertion, type AssertionKey } from './client-assertion.js';

interface TokenOptions {
  client: string;
  secret?: string;
  scope?: string[];
  resource?: string[];
  issuer?: string;
  config?: string;
  /** a private JWK or PEM file: private_key_jwt instead of a secret */
  key?: string;
  authMethod?: 'basic' | 'post';
  json?: boolean;
}

export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('get an access token with client credentials from a running auth server and print it; the client authenticates with its secret, or with --key (private_key_jwt)')
    .requiredOption('--client <client_id>', 'client id')
    .option('--secret <secret>', 'client secret; default $DRAWBRIDGE_CLIENT_SECRET (better: an argument shows in ps and shell history)')
    .option('--key <file>', 'authenticate with private_key_jwt (RFC 7523) instead of a secret: the client\'s private key, a private JWK (JSON; its alg and kid are used) or a PEM private key, signs a 60 s client_assertion for the token endpoint; not with --secret or --auth-method')
    .option('--scope <scope>', 'scope to ask for (repeatable)', collect)
    .option('--resource <uri>', 'resource indicator, RFC 8707 (repeatable)', collect)
    .option('--issuer <url>', 'issuer URL (default: from --config)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .addOption(new Option('--auth-method <m>', 'how to send the secret (default: basic)').choices(['basic', 'post']))
    .option('--json', 'print the whole token response')
    .action(async function token(opts: TokenOptions) {
      // before any request: a missing secret or a key that cannot sign is a usage error (exit 2)
      const credential = credentialOf(opts);
      const issuer = (opts.issuer ?? (opts.config || process.env.DRAWBRIDGE_CONFIG ? readConfig(opts).issuer : undefined))?.replace(/\/$/, '');
      if (!issuer) throw new UsageError('--issuer URL or --config FILE is required');
      if (!isHttpUrl(issuer)) throw new UsageError(`--issuer: expected an absolute http(s) URL, got "${opts.issuer}"`);
      const meta = await getJson(`${issuer}/.well-known/oauth-authorization-server`);
      const tokenEndpoint = typeof meta.token_endpoint === 'string' && isHttpUrl(meta.token_endpoint) ? meta.token_endpoint : undefined;
      if (tokenEndpoint === undefined) throw new StartupError(`${issuer}/.well-known/oauth-authorization-server names no http(s) token_endpoint`);
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      if (opts.scope?.length) body.set('scope', opts.scope.join(' '));
      for (const r of opts.resource ?? []) body.append('resource', r);
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      if ('key' in credential) {
        // RFC 7521 §4.2: client_id may go beside the assertion; the server checks they agree
        body.set('client_id', opts.client);
        body.set('client_assertion_type', JWT_BEARER);
        body.set('client_assertion', await signClientAssertion(credential.key, opts.client, tokenEndpoint));
      } else if ((opts.authMethod ?? 'basic') === 'basic') {
        headers.authorization = basicCredentials(opts.client, credential.secret);
      } else {
        body.set('client_id', opts.client);
        body.set('client_secret', credential.secret);
      }
      const res = await fetch(tokenEndpoint, { method: 'POST', headers, body });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok) throw new StartupError(`token request failed: ${res.status} ${json.error ?? ''} ${json.error_description ?? ''}`.trim());
      print(opts.json ? JSON.stringify(json, null, 2) : String(json.access_token));
    });
}

/** The client's secret, or with --key its private key (a DRAWBRIDGE_CLIENT_SECRET is then not used). */
function credentialOf(opts: TokenOptions): { key: AssertionKey } | { secret: string } {
  if (opts.key !== undefined) {
    if (opts.secret !== undefined) throw new UsageError('--key and --secret: give one of them (the client\'s private key for private_key_jwt, or its secret)');
    if (opts.authMethod !== undefined) throw new UsageError(`--key and --auth-method ${opts.authMethod}: --key sends a client_assertion (private_key_jwt); --auth-method says how to send a secret`);
    return { key: readAssertionKey(opts.key) };
  }
  const secret = opts.secret ?? process.env.DRAWBRIDGE_CLIENT_SECRET;
  if (secret === undefined || secret === '') {
    throw new UsageError('--secret SECRET or the environment variable DRAWBRIDGE_CLIENT_SECRET is required (or --key FILE: the client\'s private key, for private_key_jwt)');
  }
  return { secret };
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' } });
  } catch (err) {
    throw new StartupError(`cannot reach ${url}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new StartupError(`${url} answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
