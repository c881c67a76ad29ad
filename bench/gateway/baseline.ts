// Child entry point: the BASELINE of the gateway benchmark — the least a correct reverse
// proxy on Node.js and undici does. A node:http server and one undici Pool to the upstream,
// with the gateway's keep-alive and timeout settings (listener keepAliveTimeout 65 s, pool
// keepAliveTimeout 4 s, connect 5 s, read 60 s); bodies streamed both ways through a raw
// undici dispatch handler (the fastest undici API: no intermediate stream), hop-by-hop
// headers dropped both ways, X-Forwarded-For/-Proto/-Host added. No routing, no plugins,
// no request ids, no metrics: whatever the gateway costs beyond this is its own.
//
// With CLIENT `h1` the same proxy forwards over the gateway's own HTTP/1.1 client
// (src/gateway/h1/pool.ts) instead of undici: the reference row (b2), which shows how much
// of the gateway's standing against the undici baseline comes from its client alone.
//   node dist/bench/gateway/baseline.js PORT UPSTREAM_URL [undici|h1]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { UpstreamPool, type UpstreamResponseHandler } from '../../src/gateway/h1/pool.js';
import { closeOnSignal, portFromArgv } from '../common.js';
import { announce } from './common.js';

const port = portFromArgv();
const upstream = new URL(process.argv[3] ?? '');
const client = process.argv[4] === 'h1' ? 'h1' : 'undici';
const pool: Pool | UpstreamPool =
  client === 'h1'
    ? new UpstreamPool(upstream.origin, { connectTimeout: 5_000, readTimeout: 60_000, keepAliveTimeout: 4_000 })
    : new Pool(upstream.origin, { connectTimeout: 5_000, headersTimeout: 60_000, bodyTimeout: 60_000, keepAliveTimeout: 4_000 });

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

function latin1(field: Buffer | string): string {
  return typeof field === 'string' ? field : field.toString('latin1');
}

class Relay implements Dispatcher.DispatchHandler, UpstreamResponseHandler {
  constructor(readonly res: ServerResponse) {}

  onConnect(abort: (err?: Error) => void): void {
    if (this.res.destroyed) abort();
  }

  // undici hands over Buffers, the gateway's client strings
  onHeaders(statusCode: number, rawHeaders: Array<Buffer | string>, resume: () => void, statusText: string): boolean {
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = latin1(rawHeaders[i]!).toLowerCase();
      if (HOP_BY_HOP.has(name)) continue;
      const value = latin1(rawHeaders[i + 1]!);
      const seen = headers[name];
      headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    this.res.writeHead(statusCode, statusText || undefined, headers);
    this.res.on('drain', resume);
    return !this.res.writableNeedDrain;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.res.end();
  }

  onError(err: Error): void {
    if (this.res.headersSent) {
      this.res.destroy(err);
      return;
    }
    const body = '{"error":"bad_gateway"}';
    this.res.writeHead(502, { 'content-type': 'application/json', 'content-length': body.length });
    this.res.end(body);
  }
}

const server = createServer(function proxy(req, res) {
  const src = req.headers;
  const headers: IncomingHttpHeaders = {};
  for (const name in src) if (!HOP_BY_HOP.has(name)) headers[name] = src[name];
  const xff = src['x-forwarded-for'];
  const peer = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = xff === undefined ? peer : `${xff}, ${peer}`;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-host'] = src.host ?? '';
  const length = src['content-length'];
  const hasBody = (length !== undefined && length !== '0') || src['transfer-encoding'] !== undefined;
  const request = { path: req.url ?? '/', method: req.method ?? 'GET', headers, body: hasBody ? req : null };
  if (pool instanceof UpstreamPool) pool.dispatch(request, new Relay(res));
  else pool.dispatch(request, new Relay(res));
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;

await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve());
});
closeOnSignal(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  await pool.close();
});
const undiciPackage = createRequire(import.meta.url).resolve('undici/package.json');
const undiciVersion = (JSON.parse(readFileSync(undiciPackage, 'utf8')) as { version: string }).version;
announce({ server: client === 'h1' ? 'baseline-h1' : 'baseline', version: undiciVersion, url: `http://127.0.0.1:${port}` });
