// Self-signed certificates for TLS tests, made with the openssl CLI (an independent issuer):
// EC P-256, valid a day, for localhost and 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** `DIR/NAME.pem` and `DIR/NAME-key.pem`: a certificate (its own CA) whose subject CN is `cn`. */
export function selfSigned(dir: string, name: string, cn = name): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}
