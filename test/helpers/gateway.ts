// Gateway test helpers: a recording upstream and a whole in-process stack.
//
//   startUpstream(opts?) → Upstream
//     A real HTTP server on a free loopback port. Every request is recorded (method, url,
//     path, query, headers, rawHeaders, body, bodyBytes) in `upstream.requests`, then
//     answered with status `opts.status` (default 200) and the JSON
//       { name, method, url, headers, body_bytes }
//     Options: `name` (echoed, to tell several upstreams apart), `status`,
//     `recordBodies: false` (count bytes only: for huge bodies), `handler(req, res)` (answer
//     yourself; the helper records headers only and leaves the body unread), `websocket: true`
//     (accept WebSocket upgrades and echo every text/binary message; upgrade requests are
//     recorded in `upstream.upgrades`).
//     `upstream.last()` is the latest recorded request (throws when none), `reset()` forgets
//     them, `close()` stops the server and destroys its sockets.
//
//   startStack({ auth?, gateway, top?, clock?, logger?, plugins? }) → Stack
//     Runs the auth server and the gateway in this process through `run()` (src/cli/run.ts),
//     on `memory:` storage with TEST_SECRET unless `top` says otherwise (e.g. `top: { redis }`
//     or `top: { storage }`). `auth` is merged into the auth section (default `{}`; `false`
//     runs no auth server: the issuer is then an unused loopback URL and the keys still live
//     in storage). `gateway` is the gateway section; `listen` defaults to a free loopback port,
//     log output is silent. `plugins` replaces the gateway's plugin table (e.g.
//     `new Map([...PLUGINS, ['test-auth', myFactory]])`) for test-only plugins. The Stack has `issuer`, `gatewayUrl`, `adminUrl` (when
//     `gateway.admin_listen` is set), `jwksUri` (the issuer's JWKS, when auth runs),
//     `config`, `running` (the Running of run()), `gateway` (the RunningGateway) and
//     `close()` (drains and stops everything).
//
//   TEST_SECRET and freePort() are re-exported from auth-server.ts for convenience.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { validateConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import type { Clock } from '../../src/core/clock.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { run, type Running } from '../../src/cli/run.js';
import type { RunningGateway } from '../../src/gateway/start.js';
import type { PluginFactory } from '../../src/gateway/types.js';
import { TEST_SECRET, freePort, testKeys } from './auth-server.js';

export { TEST_SECRET, freePort };

export interface RecordedRequest {
  method: string;
  /** path and query as received */
  url: string;
  path: string;
  /** query string without '?' ('' when none) */
  query: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  /** the whole body (empty with `recordBodies: false` or a custom handler) */
  body: Buffer;
  bodyBytes: number;
}

export interface UpstreamOptions {
  name?: string;
  status?: number;
  recordBodies?: boolean;
  handler?: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  websocket?: boolean;
}

export interface Upstream {
  name: string;
  url: string;
  port: number;
  server: Server;
  requests: RecordedRequest[];
  upgrades: RecordedRequest[];
  last(): RecordedRequest;
  reset(): void;
  close(): Promise<void>;
}

function record(req: IncomingMessage): RecordedRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    url,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: Buffer.alloc(0),
    bodyBytes: 0,
  };
}

export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const name = opts.name ?? 'upstream';
  const keepBodies = opts.recordBodies ?? true;
  const requests: RecordedRequest[] = [];
  const upgrades: RecordedRequest[] = [];
  const sockets = new Set<Socket | Duplex>();

  const server = createServer(function recordAndAnswer(req, res) {
    const rec = record(req);
    requests.push(rec);
    if (opts.handler) {
      void Promise.resolve(opts.handler(req, res)).catch(() => res.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      rec.bodyBytes += chunk.length;
      if (keepBodies) chunks.push(chunk);
    });
    req.on('end', () => {
      rec.body = Buffer.concat(chunks);
      const payload = JSON.stringify({ name, method: rec.method, url: rec.url, headers: rec.headers, body_bytes: rec.bodyBytes });
      res.writeHead(opts.status ?? 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  if (opts.websocket) {
    server.on('upgrade', function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer) {
      upgrades.push(record(req));
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      const key = req.headers['sec-websocket-key'];
      if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
          `sec-websocket-accept: ${accept}\r\nx-upstream: ${name}\r\n\r\n`,
      );
      echoFrames(socket, head);
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    requests,
    upgrades,
    last() {
      const rec = requests.at(-1);
      if (!rec) throw new Error(`upstream ${name}: no request recorded`);
      return rec;
    },
    reset() {
      requests.length = 0;
      upgrades.length = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Minimal RFC 6455 server side: unmask client frames, echo text/binary, answer ping and close. */
function echoFrames(socket: Duplex, head: Buffer): void {
  let buffered: Buffer = head.length > 0 ? Buffer.from(head) : Buffer.alloc(0);
  const consume = (): void => {
    for (;;) {
      if (buffered.length < 2) return;
      const opcode = buffered[0]! & 0x0f;
      const masked = (buffered[1]! & 0x80) !== 0;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const maskOffset = offset;
      if (masked) offset += 4;
      if (buffered.length < offset + length) return;
      const payload = Buffer.from(buffered.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffered[maskOffset + (i % 4)]!;
      buffered = buffered.subarray(offset + length);
      if (opcode === 0x8) {
        socket.end(frame(0x8, payload));
        return;
      }
      if (opcode === 0x9) socket.write(frame(0xa, payload));
      else if (opcode === 0x1 || opcode === 0x2) socket.write(frame(opcode, payload));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    consume();
  });
  consume();
}

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.alloc(len < 65536 ? 4 : 10);
  if (len >= 126 && len < 65536) {
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

export interface StackOptions {
  auth?: Record<string, unknown> | false;
  gateway: Record<string, unknown>;
  top?: Record<string, unknown>;
  clock?: Clock;
  logger?: Logger;
  plugins?: ReadonlyMap<string, PluginFactory>;
}

export interface Stack {
  issuer: string;
  gatewayUrl: string;
  adminUrl?: string;
  jwksUri?: string;
  config: Config;
  running: Running;
  gateway: RunningGateway;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const authPort = await freePort();
  const issuer = `http://127.0.0.1:${authPort}`;
  const gatewaySection = { ...opts.gateway };
  if (gatewaySection.listen === undefined) gatewaySection.listen = `127.0.0.1:${await freePort()}`;
  const raw: Record<string, unknown> = {
    issuer,
    storage: 'memory:',
    secret: TEST_SECRET,
    log: { level: 'silent' },
    ...opts.top,
    // the main algorithm only, unless the test names keys.id_token_algorithms (see testKeys)
    keys: testKeys(opts.top?.keys),
    gateway: gatewaySection,
  };
  if (opts.auth !== false) raw.auth = { listen: `127.0.0.1:${authPort}`, ...(opts.auth ?? {}) };
  const config = validateConfig(raw);
  const running = await run(config, { logger: opts.logger ?? silentLogger(), clock: opts.clock, gatewayPlugins: opts.plugins });
  const gateway = running.gateway;
  if (!gateway) {
    await running.close();
    throw new Error('startStack: the gateway role did not start');
  }
  return {
    issuer,
    gatewayUrl: gateway.url,
    adminUrl: gateway.adminUrl,
    jwksUri: opts.auth === false ? undefined : `${issuer}/.well-known/jwks.json`,
    config,
    running,
    gateway,
    close: () => running.close(),
  };
}
