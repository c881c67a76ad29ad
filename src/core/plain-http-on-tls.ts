// A TLS listener's first look at each connection. A TLS client starts with a handshake record
// (content type 22, RFC 8446 §5.1); a plain HTTP client starts with a method token. The latter
// gets a plain-HTTP 400 that says to use https (as nginx does) instead of a TLS alert it cannot
// read ("Empty reply from server"). Anything else is closed at once rather than left waiting
// for a handshake that will never come. TLS connections go on to the server's own TLS
// handling with the peeked bytes put back (TLSSocket takes what the socket already buffered).
import type { Server, Socket } from 'node:net';
import { newRequestId } from './request-id.js';

const TLS_HANDSHAKE = 0x16;
/** how long a connection may stay silent before its first byte (tls.Server's own handshake limit is 120 s) */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

function plainHttpRefusal(): string {
  const body = JSON.stringify({
    error: 'invalid_request',
    error_description: 'plain HTTP was sent to an HTTPS port: use https://',
    request_id: newRequestId(),
  });
  return (
    `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n` +
    `connection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** an HTTP/1.x request line starts with a method token: tchar, and in practice an upper-case letter */
function looksLikeHttp(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}

/** Puts the first-byte check in front of a TLS server's own connection handling. */
export function answerPlainHttpOnTls(server: Server): void {
  const tlsHandlers = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const silent = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    silent.unref();
    socket.once('close', () => clearTimeout(silent));
    // a reset before or after the check must not become an uncaught 'error'
    socket.on('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(silent);
      socket.pause();
      const first = chunk[0]!;
      if (first === TLS_HANDSHAKE) {
        socket.unshift(chunk);
        for (const handler of tlsHandlers) handler.call(server, socket);
        return;
      }
      if (looksLikeHttp(first)) {
        // the rest of the request is not read: the answer ends the connection
        socket.end(plainHttpRefusal());
        socket.setTimeout(5_000, () => socket.destroy());
        return;
      }
      socket.destroy();
    });
  });
}
