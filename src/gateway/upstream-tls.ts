// A service's TLS settings for its https targets (Kong's `tls_verify`, `ca_certificates` and
// `client_certificate`), read and checked when the route table is compiled (start, reload,
// admin API change), so a bad file is a config error naming the key, never a failed request.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, keyPath } from '../config/schema.js';
import type { ServiceConfig } from '../config/types.js';

/** What the pool (and the WebSocket upgrade) hand to tls.connect for a service's targets. */
export interface UpstreamTls {
  /** trusted certificate authorities instead of Node's bundled ones */
  ca?: Buffer[];
  /** the client certificate chain and key for mutual TLS */
  cert?: Buffer;
  key?: Buffer;
  /** false: certificates are not verified (tls_verify: false) */
  rejectUnauthorized: boolean;
}

/** The service's TLS settings; undefined when it has none beyond the defaults. */
export function upstreamTls(svc: ServiceConfig, at: string): UpstreamTls | undefined {
  if (svc.tls_verify && svc.ca_certificates === undefined && svc.client_certificate === undefined) return undefined;
  const tls: UpstreamTls = { rejectUnauthorized: svc.tls_verify };
  if (svc.ca_certificates !== undefined) {
    tls.ca = svc.ca_certificates.map((file, i) => readPem(file, keyPath(keyPath(at, 'ca_certificates'), i), 'CERTIFICATE'));
  }
  const client = svc.client_certificate;
  if (client !== undefined) {
    const path = keyPath(at, 'client_certificate');
    tls.cert = readPem(client.cert, keyPath(path, 'cert'), 'CERTIFICATE');
    tls.key = readPem(client.key, keyPath(path, 'key'), 'PRIVATE KEY');
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (err) {
      throw new ConfigError(path, `the certificate and key do not go together (${(err as Error).message})`, {
        expected: 'a certificate and its own private key',
      });
    }
  }
  if (tls.ca !== undefined) {
    try {
      createSecureContext({ ca: tls.ca });
    } catch (err) {
      throw new ConfigError(keyPath(at, 'ca_certificates'), `not usable as certificate authorities (${(err as Error).message})`, {
        expected: 'PEM files of CA certificates',
      });
    }
  }
  return tls;
}

function readPem(file: string, at: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new ConfigError(at, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { expected: 'a readable PEM file' });
  }
  // the contents are never echoed: a key file stays out of error messages and logs
  if (!pem.includes(`-----BEGIN `) || !pem.includes(kind)) {
    throw new ConfigError(at, `${file} is not a PEM file with a ${kind.toLowerCase()}`, { expected: `a PEM file (-----BEGIN …${kind}-----)` });
  }
  return pem;
}
