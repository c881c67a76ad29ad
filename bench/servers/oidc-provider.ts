// Child entry point: oidc-provider (npm) on 127.0.0.1:PORT, configured like the Drawbridge
// child: its default in-memory adapter, the same two confidential clients
// (client_secret_basic, client_credentials, same scopes and secret), one ES256 signing key,
// the same token lifetime, introspection enabled, and a resource server (RFC 8707
// resourceIndicators) whose access tokens are ES256 JWTs.
//   node dist/bench/servers/oidc-provider.js PORT
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';
import {
  ACCESS_TOKEN_TTL,
  CLIENT_SECRET,
  JWT_CLIENT,
  OPAQUE_CLIENT,
  RESOURCE,
  SCOPE,
  SCOPES,
  announceReady,
  closeOnSignal,
  portFromArgv,
} from '../common.js';

const port = portFromArgv();
const issuer = `http://127.0.0.1:${port}`;

// One ES256 (P-256) signing key, as a private JWK: the only key in the keystore.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

function client(clientId: string): Record<string, unknown> {
  return {
    client_id: clientId,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: SCOPE,
    id_token_signed_response_alg: 'ES256',
  };
}

interface TokenLike {
  clientId?: string;
}
interface ClientLike {
  clientAuthMethod?: string;
}
interface CtxLike {
  oidc: { client?: { clientId?: string } };
}

const provider = new Provider(issuer, {
  clients: [client(OPAQUE_CLIENT), client(JWT_CLIENT)],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingJwk] },
  scopes: ['openid', 'offline_access', ...SCOPES],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: { ClientCredentials: ACCESS_TOKEN_TTL, AccessToken: ACCESS_TOKEN_TTL },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // the default policy, stated (Drawbridge lets any authenticated confidential client introspect)
      allowedPolicy: async (ctx: CtxLike, caller: ClientLike, token: TokenLike) =>
        caller.clientAuthMethod !== 'none' || token.clientId === ctx.oidc.client?.clientId,
    },
    resourceIndicators: {
      enabled: true,
      // no resource parameter → no resource server → an opaque token (the opaque scenario)
      defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

// A 500 must not go unnoticed: the orchestrator shows the child's stderr when a check fails.
provider.on('server_error', (_ctx: unknown, err: unknown) => {
  process.stderr.write(`oidc-provider server_error: ${(err as Error)?.stack ?? String(err)}\n`);
});

const server = createServer(provider.callback());
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve());
});
closeOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
);

const require = createRequire(import.meta.url);
const pkgPath = require.resolve('oidc-provider/package.json');
const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
announceReady({
  server: 'oidc-provider',
  version: pkg.version,
  issuer,
  tokenPath: '/token',
  introspectionPath: '/token/introspection',
  jwksPath: '/jwks',
});
