import { Option, type Command } from 'commander';
import { StartupError } from '../errors.js';
import { collect, print, readConfig, UsageError } from '../shared.js';
import { basicCredentials } from '../../core/http.js';

interface TokenOptions {
  client: string;
  secret?: string;
  scope?: string[];
  resource?: string[];
  issuer?: string;
  config?: string;
  authMethod: 'basic' | 'post';
  json?: boolean;
}

export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('get an access token with client credentials from a running auth server and print it')
    .requiredOption('--client <client_id>', 'client id')
    .option('--secret <secret>', 'client secret; default $DRAWBRIDGE_CLIENT_SECRET (better: an argument shows in ps and shell history)')
    .option('--scope <scope>', 'scope to ask for (repeatable)', collect)
    .option('--resource <uri>', 'resource indicator, RFC 8707 (repeatable)', collect)
    .option('--issuer <url>', 'issuer URL (default: from --config)')
    .option('-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG')
    .addOption(new Option('--auth-method <m>', 'how to send the secret').choices(['basic', 'post']).default('basic'))
    .option('--json', 'print the whole token response')
    .action(async function token(opts: TokenOptions) {
      const secret = opts.secret ?? process.env.DRAWBRIDGE_CLIENT_SECRET;
      if (secret === undefined || secret === '') throw new UsageError('--secret SECRET or the environment variable DRAWBRIDGE_CLIENT_SECRET is required');
      const issuer = (opts.issuer ?? (opts.config || process.env.DRAWBRIDGE_CONFIG ? readConfig(opts).issuer : undefined))?.replace(/\/$/, '');
      if (!issuer) throw new UsageError('--issuer URL or --config FILE is required');
      if (!isHttpUrl(issuer)) throw new UsageError(`--issuer: expected an absolute http(s) URL, got "${opts.issuer}"`);
      const meta = await getJson(`${issuer}/.well-known/oauth-authorization-server`);
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      if (opts.scope?.length) body.set('scope', opts.scope.join(' '));
      for (const r of opts.resource ?? []) body.append('resource', r);
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      if (opts.authMethod === 'basic') {
        headers.authorization = basicCredentials(opts.client, secret);
      } else {
        body.set('client_id', opts.client);
        body.set('client_secret', secret);
      }
      const res = await fetch(String(meta.token_endpoint), { method: 'POST', headers, body });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok) throw new StartupError(`token request failed: ${res.status} ${json.error ?? ''} ${json.error_description ?? ''}`.trim());
      print(opts.json ? JSON.stringify(json, null, 2) : String(json.access_token));
    });
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
