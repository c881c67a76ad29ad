// A listener's certificate and key read again (SIGHUP after a renewal): new handshakes get
// them, connections already open keep theirs. A file that cannot be read, or a pair that
// does not match, leaves the certificate in use and is logged with the config key to fix.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { TlsConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';

/** true when the listener took the new pair; `key` is the config path (`gateway.tls`) */
export function reloadCertificate(server: Server, tls: TlsConfig, key: string, logger: Logger, listener: string): boolean {
  let cert: Buffer;
  let privateKey: Buffer;
  let path = `${key}.cert`;
  try {
    cert = readFileSync(tls.cert);
    path = `${key}.key`;
    privateKey = readFileSync(tls.key);
    path = key;
    // throws on a malformed file or a key that is not the certificate's
    createSecureContext({ cert, key: privateKey });
  } catch (err) {
    logger.error({ key: path, listener, err: (err as Error).message }, 'reload: TLS certificate not replaced; keeping the one in use');
    return false;
  }
  (server as unknown as TlsServer).setSecureContext({ cert, key: privateKey });
  return true;
}
