// Process signals of a serving command. SIGTERM / SIGINT: stop accepting, drain in-flight
// requests, close pools, exit 0 — within a deadline, whatever happens to stdout (a closed
// log pipe must not keep a stopped server alive). SIGHUP: reload the gateway's config, the
// auth server's clients and users, and reopen the audit log file (log rotation).
import { changedKeys, ROLE_SECTIONS } from '../config/changed-keys.js';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { Running } from './run.js';

const DRAIN_DEADLINE_MS = 25_000;

export function stopOnSignals(running: Running): void {
  // a reader that went away (EPIPE) must not turn logging into a crash or a hang
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // a second signal means "now"
      process.exit(1);
    }
    stopping = true;
    safeLog(() => running.logger.info({ signal }, 'shutting down: draining in-flight requests'));
    setTimeout(() => {
      safeLog(() => running.logger.error('shutdown deadline passed; exiting'));
      process.exit(1);
    }, DRAIN_DEADLINE_MS).unref();
    running.close().then(
      () => {
        safeLog(() => running.logger.info('stopped'));
        process.exit(0);
      },
      (err: unknown) => {
        safeLog(() => running.logger.error({ err }, 'shutdown failed'));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * SIGHUP: reopen the audit log file (after logrotate moved it), re-read the config file,
 * reload the gateway (src/gateway/start.ts, reload), and apply the auth server's clients and
 * users (src/auth/start.ts, reload). Changed settings that wait for a restart are named in a
 * warning: the top-level ones here, each role's own by the role. `onApplied` hears of a file
 * the gateway took (a worker tells its primary: workers.ts).
 */
export function reloadOnHangup(running: Running, file: string, onApplied?: (config: Config) => void): void {
  process.on('SIGHUP', () => {
    running.audit?.reopen?.();
    const { gateway, auth } = running;
    if (!gateway && !auth) return;
    let next: Config;
    try {
      next = loadConfig(file);
    } catch (err) {
      running.logger.error({ err: (err as Error).message }, 'reload: config file rejected; keeping the running configuration');
      return;
    }
    // each role names its own changed keys; the top-level ones (storage, redis, secret, …) always need a restart
    const waiting = changedKeys(running.config, next, '', ROLE_SECTIONS);
    if (waiting.length > 0) running.logger.warn({ keys: waiting }, 'reload: these settings changed and apply at the next start');
    if (auth) {
      if (next.auth === undefined) running.logger.error('reload: the config file has no auth section any more; keeping the auth server as it is');
      else auth.reload(next.auth).catch((err: unknown) => running.logger.error({ err: (err as Error).message }, 'reload of auth clients and users failed'));
    }
    if (gateway) {
      gateway.reload(next).then(
        () => onApplied?.(next),
        (err: unknown) => {
          running.logger.error({ err: (err as Error).message }, 'reload failed; keeping the running configuration');
        },
      );
    }
  });
}

function safeLog(fn: () => void): void {
  try {
    fn();
  } catch {
    // logging is best effort while stopping
  }
}
