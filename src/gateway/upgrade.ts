// WebSocket upgrades (`server.on('upgrade')`): the same route, chain and internal token as
// any request (server.ts), then the client's and the upstream's sockets are piped together.
// Other upgrades are answered over HTTP/1.1 as usual, or refused when they carry a body.
import { request as httpRequest, ServerResponse, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { hasRequestBody } from '../core/http.js';
import { repeatedSingleton } from '../core/listener.js';
import { requestIdOf } from '../core/request-id.js';
import type { RouteTable } from './compile.js';
import { GatewayError, serviceUnavailable } from './errors.js';
import { stripQueryParams, upstreamHeaders } from './mutate/headers.js';
import { runPipeline } from './pipeline.js';
import { joinPath, upstreamError } from './proxy.js';
import { sendGatewayError, toGatewayError } from './respond.js';
import { enterGeneration, forwardIdentity, routeRequest, serve, withGeneration, type GatewayState } from './server.js';
import { peekStripQuery, type GatewayRequest } from './types.js';
import type { ServiceUpstream } from './upstream.js';

/** `server.on('upgrade')`: WebSockets go through the route and chain, then the sockets are piped. */
export function upgradeHandler(state: GatewayState) {
  return function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const requestId = requestIdOf(req.headers['x-request-id']);
    // A ServerResponse on the raw socket, so refusals are ordinary gateway responses.
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => socket.end());
    if (state.hsts !== null) res.setHeader('strict-transport-security', state.hsts);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const protocol = (req.headers.upgrade ?? '').toLowerCase();
    const repeated = repeatedSingleton(req.rawHeaders);
    if (repeated !== undefined) {
      // RFC 9112 §3.2 (Host), and one credential only, as on the listener (core/listener.ts)
      const reason = repeated === 'Host' ? 'bad_host' : 'bad_authorization';
      sendGatewayError(res, new GatewayError('invalid_request', 400, `the request has more than one ${repeated} header field`, { reason }), requestId);
    } else if (url.indexOf('#') !== -1) {
      sendGatewayError(res, new GatewayError('invalid_request', 400, 'the request target has a fragment (#)', { reason: 'bad_path' }), requestId);
    } else if (protocol === 'websocket') {
      void withGeneration(state, (table) => serveUpgrade(state, table, req, res, socket, head, requestId, rawPath, query));
    } else if (head.length === 0 && !hasRequestBody(req.headers)) {
      // RFC 9110 §7.8: a server may ignore Upgrade (h2c …): answer over HTTP/1.1 as usual
      void serve(state, enterGeneration(state), req, res, requestId, rawPath, query);
    } else {
      const refused = new GatewayError('invalid_request', 400, `upgrade to ${protocol || 'nothing'} is not supported`, { reason: 'bad_upgrade' });
      sendGatewayError(res, refused, requestId);
    }
  };
}

async function serveUpgrade(
  state: GatewayState,
  table: RouteTable,
  req: IncomingMessage,
  res: ServerResponse,
  socket: Duplex,
  head: Buffer,
  requestId: string,
  rawPath: string,
  query: string,
): Promise<void> {
  let gr: GatewayRequest | undefined;
  try {
    const routed = routeRequest(state, table, req, res, requestId, rawPath, query);
    gr = routed.gr;
    const answered = runPipeline(gr, state.metrics);
    if (answered === true || (answered !== false && (await answered))) return;
    forwardIdentity(state, gr);
    const { upstream, path, stripped } = routed;
    const target = upstream.pick();
    if (target === undefined) throw serviceUnavailable(`no healthy target for service ${upstream.service.name}`, upstream.retryAfter());
    const headers = upstreamHeaders(gr, state.policy, { preserveHost: gr.route.preserveHost, strippedPrefix: stripped });
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade;
    if (headers.host === undefined) headers.host = target.url.host;
    const path2 = joinPath(target.basePath, stripped === '' ? path : path.slice(stripped.length), stripQueryParams(query, peekStripQuery(gr)));
    await pipeUpgrade(state, gr, upstream, target, path2, headers, socket, head);
  } catch (err) {
    const error = toGatewayError(err, state.logger, requestId);
    sendGatewayError(res, error, requestId, gr?.responseHeaders);
  }
}

function pipeUpgrade(
  state: GatewayState,
  gr: GatewayRequest,
  upstream: ServiceUpstream,
  target: ServiceUpstream['targets'][number],
  path: string,
  headers: Record<string, string | string[] | undefined>,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  return new Promise<void>(function connectUpstream(resolve, reject) {
    const url = target.url;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const upReq = send({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method: 'GET',
      path,
      headers: headers as Record<string, string | string[]>,
      agent: false,
      timeout: upstream.service.connectTimeout,
      ...(url.protocol === 'https:' ? upstream.service.tls : undefined),
    });
    upReq.on('timeout', () => upReq.destroy(Object.assign(new Error('connect timeout'), { code: 'UPSTREAM_CONNECT_TIMEOUT' })));
    upReq.on('error', (err) => {
      upstream.failed(target);
      reject(upstreamError(err, upstream.service.name));
    });
    upReq.on('response', (upRes) => {
      // the upstream refused the upgrade: relay its answer
      upstream.succeeded(target);
      const out: string[] = [];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        const name = upRes.rawHeaders[i]!;
        if (!/^(connection|keep-alive|transfer-encoding|upgrade)$/i.test(name)) out.push(name, upRes.rawHeaders[i + 1]!);
      }
      for (const name in gr.responseHeaders) gr.res.setHeader(name, gr.responseHeaders[name]!);
      gr.res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(gr.res);
      upRes.on('end', resolve);
      upRes.on('error', () => {
        gr.res.destroy();
        resolve();
      });
    });
    upReq.on('upgrade', (upRes, upSocket, upHead) => {
      upstream.succeeded(target);
      upSocket.setTimeout(0);
      let response = `HTTP/1.1 101 ${upRes.statusMessage ?? 'Switching Protocols'}\r\n`;
      const extra = gr.responseHeaders;
      for (const name in extra) response += `${name}: ${extra[name]}\r\n`;
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) response += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`;
      response += `x-request-id: ${gr.requestId}\r\n`;
      gr.res.detachSocket(socket as Socket);
      socket.write(response + '\r\n');
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      state.sockets.add(socket);
      const done = () => {
        state.sockets.delete(socket);
        socket.destroy();
        upSocket.destroy();
      };
      socket.on('close', done);
      upSocket.on('close', done);
      upSocket.on('error', done);
      socket.on('error', done);
      socket.pipe(upSocket).pipe(socket);
      resolve();
    });
    upReq.end();
  });
}
