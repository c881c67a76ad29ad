// JSON logs (pino), pretty in a terminal. Secrets and tokens are never logged: known
// secret-bearing fields are redacted wherever they appear, and request logging records
// only method, path (without query) and status.
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogConfig } from '../config/types.js';

export type { Logger } from 'pino';

const REDACT = [
  'secret', '*.secret', 'client_secret', '*.client_secret', 'password', '*.password',
  'token', '*.token', 'access_token', '*.access_token', 'refresh_token', '*.refresh_token',
  'client_assertion', '*.client_assertion', 'authorization', '*.authorization',
  'headers.authorization', 'headers.cookie', '*.headers.authorization', '*.headers.cookie',
  'admin_token', '*.admin_token', 'private_enc', '*.private_enc',
];

/**
 * `destination`: where the JSON lines go instead of stdout (tests read what the process
 * would have logged, redaction included).
 */
export function createLogger(cfg: Partial<LogConfig> = {}, name = 'drawbridge', destination?: DestinationStream): Logger {
  const level = cfg.level ?? 'info';
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  if (destination !== undefined) return pino(options, destination);
  if (cfg.pretty ?? Boolean(process.stdout.isTTY)) {
    // loaded only for a terminal: a server logging JSON never loads the pretty printer
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ colorize: true, sync: true, ignore: 'pid,hostname' }));
  }
  return pino(options);
}

/** A logger that discards everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
