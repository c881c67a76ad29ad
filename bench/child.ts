// What the benchmarks need to run servers as child processes: a free port, a child that
// announces readiness with one READY line, a clean stop, env-number parsing, the CPU time
// a process used, and a description of the machine for the results.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { READY_PREFIX } from './common.js';

/** A bench failure with a message for the reader (never a stack trace). */
export class BenchAbort extends Error {}

export function numberEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new BenchAbort(`${name}: expected a number ≥ ${min}, got "${raw}"`);
  return n;
}

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface ReadyChild<T> {
  child: ChildProcess;
  ready: T;
  stderrTail(): string;
}

/** Starts `node [nodeArgs] script port [args]` and waits (30 s at most) for its READY line. */
export async function spawnReady<T>(name: string, script: string, port: number, args: string[], nodeArgs: string[] = []): Promise<ReadyChild<T>> {
  const child = spawn(process.execPath, [...nodeArgs, script, String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8000);
  });
  const stderrTail = () => stderr.trim();
  const ready = await new Promise<T>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new BenchAbort(`${name}: no ready line within 30 s\n${stderrTail()}`)), 30_000);
    const onData = (s: string) => {
      out += s;
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith(READY_PREFIX)) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(JSON.parse(line.slice(READY_PREFIX.length)) as T);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new BenchAbort(`${name}: exited before it was ready (code ${code}, signal ${signal})\n${stderrTail()}`));
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  child.stdout!.resume(); // keep draining whatever the server prints later
  return { child, ready, stderrTail };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChildProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** utime + stime of one process in seconds (Linux /proc; undefined elsewhere or when gone). */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after "comm)": field 3 (state) first; utime and stime are fields 14 and 15, in clock ticks (100/s)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * utime + stime in seconds of a process and all its descendants (cluster workers), from
 * Linux /proc; undefined elsewhere.
 */
export function treeCpuSeconds(root: number | undefined): number | undefined {
  if (root === undefined) return undefined;
  const parentOf = new Map<number, number>();
  const ticks = new Map<number, number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // after "comm)": state ppid … ; utime and stime are fields 14 and 15 (clock ticks, 100/s)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(fields[1]));
      ticks.set(Number(name), Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process ended meanwhile
    }
  }
  if (!ticks.has(root)) return undefined;
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parentOf.get(p)) {
      if (p === root) {
        total += t;
        break;
      }
    }
  }
  return total / 100;
}

/** The machine a result was measured on, for the results JSON. */
export function machineInfo(): { node: string; platform: string; cpus: { count: number; model: string | undefined } } {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: { count: availableParallelism(), model: cpus()[0]?.model.trim() },
  };
}

/** Does a Redis server answer PING on host:port (within 0.5 s)? */
export function redisPong(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (d: Buffer) => done(d.toString('latin1').startsWith('+PONG')));
  });
}
