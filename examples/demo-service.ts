// A demo microservice for `drawbridge dev`: it trusts nothing but the internal JWT the
// gateway sends (ARCHITECTURE §5), verifies it against the auth server's JWKS with jose,
// and echoes who called. This is what a real service behind Drawbridge does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface DemoService {
  url: string;
  close(): Promise<void>;
}

/** `names`: the gateway services routed here; the internal token's `aud` must be one of them. */
export async function startDemoService(opts: { names: string[]; issuer: string; host: string; port: number }): Promise<DemoService> {
  const jwks = createRemoteJWKSet(new URL(`${opts.issuer}/.well-known/jwks.json`));
  const server: Server = createServer(async function handleDemoRequest(req, res) {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    let body: Record<string, unknown>;
    let status = 200;
    if (!token) {
      status = 401;
      body = { error: 'unauthorized', error_description: 'no internal token: call me through the gateway' };
    } else {
      try {
        const { payload, protectedHeader } = await jwtVerify(token, jwks, {
          issuer: opts.issuer,
          audience: opts.names,
          typ: 'at+jwt',
          algorithms: ['ES256', 'RS256', 'EdDSA'],
        });
        body = {
          service: payload.aud,
          method: req.method,
          path: req.url,
          caller: { sub: payload.sub, auth_method: payload.auth_method, consumer: payload.consumer, groups: payload.groups, scope: payload.scope },
          internal_token: { kid: protectedHeader.kid, claims: payload },
          request_id: req.headers['x-request-id'],
        };
      } catch (err) {
        status = 401;
        body = { error: 'invalid_token', error_description: (err as Error).message };
      }
    }
    req.resume();
    const text = JSON.stringify(body, null, 2) + '\n';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
