// A demo microservice for `drawbridge dev`: it trusts nothing but the internal JWT the
// gateway sends (ARCHITECTURE §5), verifies it with the SDK (`drawbridge/sdk`: keys from the
// issuer's JWKS, found by discovery) and echoes who called. This is what a real service
// behind Drawbridge does; outside this repository the import is `from 'drawbridge/sdk'`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { authenticate, bearerToken, createVerifier } from '../src/sdk/index.js';

export interface DemoService {
  url: string;
  close(): Promise<void>;
}

/** `names`: the gateway services routed here; the internal token's `aud` must be one of them. */
export async function startDemoService(opts: { names: string[]; issuer: string; host: string; port: number }): Promise<DemoService> {
  const verifier = createVerifier({ issuer: opts.issuer, audience: opts.names });
  // requests without a valid internal token are answered 401 (RFC 6750) before this runs
  const handler = authenticate(verifier)(function handleDemoRequest(req, res) {
    const token = bearerToken(req.headers)!;
    const body = {
      service: req.auth.aud,
      method: req.method,
      path: req.url,
      caller: { sub: req.auth.sub, auth_method: req.auth.auth_method, consumer: req.auth.consumer, groups: req.auth.groups, scope: req.auth.scope },
      // shown for learning: the token as signed (already verified above)
      internal_token: { kid: decodeProtectedHeader(token).kid, claims: decodeJwt(token) },
      request_id: req.headers['x-request-id'],
    };
    req.resume();
    const text = JSON.stringify(body, null, 2) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  const server: Server = createServer((req, res) => {
    handler(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}\n');
      else res.destroy();
    });
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
