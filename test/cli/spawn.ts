// Runs the real `drawbridge` command (bin/drawbridge.js → dist/src/cli/main.js) as a child
// process. Tests run from dist/test/cli, so the repository root is three levels up.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'bin', 'drawbridge.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** kill the child after this long (a hung command fails the test instead of the run) */
  timeoutMs?: number;
}

/** Environment for children: ours, without a config file that could leak in from the shell. */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.DRAWBRIDGE_CONFIG;
  delete env.DRAWBRIDGE_SECRET;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `drawbridge …args` to completion. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, opts);
  return child.exited;
}

export interface CliProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<CliResult>;
  /** send a signal (default SIGTERM) and wait for the exit */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

/** Starts `drawbridge …args` and returns at once (for long-running commands like start). */
export function spawnCli(args: string[], opts: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  timer.unref();
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `url` until it answers 200; fails early when the process exits first. */
export async function waitForReady(url: string, proc: CliProcess, deadlineMs = 20_000): Promise<void> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (exited) throw new Error(`drawbridge exited before ${url} was ready:\n${proc.stderr}\n${proc.stdout}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${deadlineMs} ms:\n${proc.stderr}\n${proc.stdout}`);
}
