// Child entry point: the bare upstream of the gateway benchmark. node:http, a tiny fixed
// JSON answer, keep-alive. It reports in its answer whether it received the gateway's
// internal JWT (`Authorization: Bearer ey…`) with no edge credential alongside, and counts
// requests for GET /__bench/stats, so the orchestrator can check that every authenticated
// request really reached upstream with the internal token.
//   node dist/bench/gateway/upstream.js PORT
import { createServer } from 'node:http';
import { closeOnSignal, portFromArgv } from '../common.js';
import { announce, STATS_PATH, UPSTREAM_BODY, type UpstreamStats } from './common.js';

const port = portFromArgv();
const PLAIN = Buffer.from(UPSTREAM_BODY.plain);
const BEARER = Buffer.from(UPSTREAM_BODY.bearer);
const HEADERS = { 'content-type': 'application/json', 'content-length': String(PLAIN.length) };

const stats: UpstreamStats = { requests: 0, bearer: 0, leaked: 0, lastBearer: null };

const server = createServer(function answer(req, res) {
  if (req.url === STATS_PATH) {
    const body = JSON.stringify(stats);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
    return;
  }
  stats.requests++;
  const h = req.headers;
  const auth = h.authorization;
  const leaked = h.apikey !== undefined || h.signature !== undefined || h['signature-input'] !== undefined;
  if (leaked) stats.leaked++;
  let body = PLAIN;
  if (auth !== undefined && auth.startsWith('Bearer ey')) {
    stats.bearer++;
    stats.lastBearer = auth;
    if (!leaked) body = BEARER;
  }
  res.writeHead(200, HEADERS);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve());
});
closeOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);
announce({ server: 'upstream', version: process.version, url: `http://127.0.0.1:${port}` });
