// One OAuth client (an `auth.clients[]` entry) checked by the config schema itself, so the
// config file, `drawbridge client create` and the admin API's /clients accept exactly the
// same clients. Errors name the client's own field (`redirect_uris[0]: …`), not the wrapper.
import { ConfigError, validateConfig } from './schema.js';
import type { ClientConfig } from './types.js';

const WRAP_ISSUER = 'http://127.0.0.1';
const PREFIX = 'auth.clients[0]';

interface ClientCheckOptions {
  /** the issuer of the auth server the client is for (default: a loopback placeholder) */
  issuer?: string;
  /**
   * The config's `keys` section as written (or as validated): a client's
   * id_token_signed_response_alg must be one of its id_token_algorithms. Absent: the defaults.
   */
  keys?: Record<string, unknown>;
}

/** The client as validated (defaults derived); throws ConfigError whose path is the client's field ('' for the client as a whole). */
export function validateClientConfig(raw: Record<string, unknown>, opts: ClientCheckOptions = {}): ClientConfig {
  try {
    return validateConfig({ issuer: opts.issuer ?? WRAP_ISSUER, storage: 'memory:', keys: opts.keys ?? {}, auth: { clients: [raw] } }).auth!.clients[0]!;
  } catch (err) {
    if (err instanceof ConfigError && (err.path === PREFIX || err.path.startsWith(`${PREFIX}.`) || err.path.startsWith(`${PREFIX}[`))) {
      const field = err.path.slice(PREFIX.length).replace(/^\./, '');
      throw new ConfigError(field, err.problem, err.expected === undefined ? {} : { expected: err.expected });
    }
    throw err;
  }
}
