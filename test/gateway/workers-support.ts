// Shared by the multi-process gateway suites (workers-*.test.ts, sighup-*.test.ts): reading
// the JSON log lines of a `drawbridge start` child, waiting for one, and a raw request with
// a deadline (a worker stopped with SIGSTOP never answers the connection it was handed).
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { CliProcess } from '../cli/spawn.js';
import { TEST_SECRET } from '../helpers/gateway.js';

/**
 * Writes `dir/drawbridge.json` for `drawbridge start`: SQLite in `dir` (workers share it),
 * JSON logs at info (the tests read the "listening" lines), and this `gateway` section.
 */
export function writeStartConfig(dir: string, gateway: Record<string, unknown>, file = join(dir, 'drawbridge.json')): string {
  writeFileSync(
    file,
    JSON.stringify({
      issuer: 'http://127.0.0.1:9',
      storage: `sqlite:${join(dir, 'drawbridge.db')}`,
      secret: TEST_SECRET,
      log: { level: 'info', pretty: false },
      gateway,
    }),
  );
  return file;
}

export interface LogLine {
  level?: number;
  msg?: string;
  pid?: number;
  listener?: string;
  keys?: string[];
  key?: string;
  [field: string]: unknown;
}

export function logLines(proc: CliProcess): LogLine[] {
  return proc.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Polls `probe` until it returns a value; fails with the process's output after `ms` or on its exit. */
export async function until<T>(what: string, proc: CliProcess, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline || proc.child.exitCode !== null) {
      throw new Error(`${what} did not happen:\n${proc.stderr}\n${proc.stdout.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pids of the processes whose `listener` logged "listening", in order. */
export function listeningPids(proc: CliProcess, listener = 'gateway'): number[] {
  return logLines(proc)
    .filter((l) => l.msg === 'listening' && l.listener === listener && l.pid !== undefined)
    .map((l) => l.pid!);
}

/** Kills a `drawbridge start` group (the primary, then any worker that outlived it). */
export async function killGroup(proc: CliProcess | undefined, listener = 'gateway'): Promise<void> {
  if (proc === undefined) return;
  if (proc.child.exitCode === null) await proc.stop('SIGKILL');
  for (const pid of listeningPids(proc, listener)) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A GET on a new connection; rejects after `timeoutMs` without an answer. */
export function getWithin(url: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
