// The audit log: one JSON line per security event (logins, MFA, lockouts, consent, tokens,
// logout) with `time` first, then the event, request id, user, client and IP. Writing never
// blocks a request (lines are queued on a stream), and a line never carries a secret: any
// key that looks like one (password, token, secret, code, otp, …) is dropped before writing.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditConfig, Config } from '../config/types.js';
import type { Logger } from './logger.js';

export interface AuditEvent {
  /** dotted name: `login.succeeded`, `token.issued`, … */
  event: string;
  request_id?: string;
  user_id?: string;
  username?: string;
  client_id?: string;
  ip?: string;
  [detail: string]: unknown;
}

export interface AuditLog {
  record(e: AuditEvent): void;
  /** flushes and closes the file (no-op for stdout and the disabled log) */
  close?(): Promise<void>;
  /** opens the file again under its name, after logrotate moved it away (SIGHUP) */
  reopen?(): void;
}

/** Keys never written, wherever they appear (case-insensitive, also as part of a key). */
const SECRET_KEY = /pass(word|wd)?|secret|token|otp|totp|assertion|cookie|authorization|verifier|ticket|csrf|nonce|hash|seal|^code$|_code$|^codes?$|recovery/i;
/** Keys that match SECRET_KEY but hold no secret. */
const ALLOWED_KEYS = new Set(['token_type', 'token_type_hint', 'grant_type', 'recovery_codes_left']);

export function isSecretKey(key: string): boolean {
  return !ALLOWED_KEYS.has(key) && SECRET_KEY.test(key);
}

function clean(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol' ? String(value) : value;
  }
  if (depth > 4) return '[…]';
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || isSecretKey(k)) continue;
    out[k] = clean(v, depth + 1);
  }
  return out;
}

/** The JSON line for an event: `time` first, secrets removed, `extra` (e.g. `type`) after time. */
export function auditLine(e: AuditEvent, now: Date, extra: Record<string, unknown> = {}): string {
  const body = clean(e, 0) as Record<string, unknown>;
  return JSON.stringify({ time: now.toISOString(), ...extra, ...body }) + '\n';
}

/** Discards every event (`auth.audit.enabled: false`, hand-built contexts in tests). */
export const noAudit: AuditLog = { record() {} };

/**
 * Lines appended to a file (created with mode 0600, its directory too when missing).
 * reopen() starts a new stream on the same name once the old one has flushed, for log
 * rotation (`logrotate` moves the file, then sends SIGHUP); lines recorded meanwhile go to
 * the new stream, after the old one's.
 */
export function fileAudit(path: string, onError: (err: Error) => void = () => {}): AuditLog {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new Error(`auth.audit.file: cannot create the directory of ${path}: ${(err as Error).message}`);
  }
  let failed = false;
  let closed = false;
  function open(): WriteStream {
    const s = createWriteStream(path, { flags: 'a', mode: 0o600 });
    s.on('error', (err) => {
      if (!failed) onError(err);
      // a late error of a stream reopen() already replaced must not silence the new file
      if (s === stream) failed = true;
    });
    return s;
  }
  let stream = open();
  return {
    record(e) {
      if (failed || closed) return;
      stream.write(auditLine(e, new Date()));
    },
    reopen() {
      if (closed) return;
      const old = stream;
      failed = false; // a new file gets a new chance
      stream = open();
      old.end();
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (stream.writableEnded) return resolve();
        stream.end(() => resolve());
        stream.once('error', () => resolve());
      }),
  };
}

/** Lines on stdout, marked `"type":"audit"` so they can be told from the process log. */
function stdoutAudit(): AuditLog {
  return {
    record(e) {
      process.stdout.write(auditLine(e, new Date(), { type: 'audit' }));
    },
  };
}

/**
 * The audit log the config asks for: `auth.audit.file` → that file; `enabled: false` → none;
 * absent → stdout, unless the process log is `silent` (then nothing, like every other line).
 */
export function createAuditLog(cfg: AuditConfig | undefined, opts: { silent?: boolean; onError?: (err: Error) => void } = {}): AuditLog {
  if (cfg && !cfg.enabled) return noAudit;
  if (cfg?.file) return fileAudit(cfg.file, opts.onError);
  return opts.silent ? noAudit : stdoutAudit();
}

/** The audit log `auth.audit` asks for, its write failures logged. */
export function openAuditLog(config: Config, logger: Logger): AuditLog {
  return createAuditLog(config.auth?.audit, {
    silent: config.log.level === 'silent',
    onError: (err) => logger.error({ err: err.message, file: config.auth?.audit?.file }, 'audit log: writing failed; events are dropped'),
  });
}
