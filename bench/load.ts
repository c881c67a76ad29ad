// A closed-loop HTTP/1.1 load generator over node:http with a keep-alive agent: `connections`
// workers each send a request, read the whole response, record its latency and send the
// next, until the deadline. Throughput is completed requests / elapsed time; latencies are
// exact (every request recorded), not sampled.
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
}

/** Returns undefined when the response is acceptable, else what is wrong with it. */
export type ResponseCheck = (status: number, body: string) => string | undefined;

export interface PhaseOptions {
  host: string;
  port: number;
  connections: number;
  durationMs: number;
  /** the request for the n-th send (lets a phase rotate through several tokens) */
  next: (n: number) => RequestSpec;
  check: ResponseCheck;
  /** stop at the first failed check or transport error (warm-up) */
  stopOnError?: boolean;
}

export interface PhaseResult {
  /** responses received (latencies are over these) */
  requests: number;
  /** responses that passed the check: req/s counts only these */
  ok: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU used by this (load generator) process during the phase, % of one core */
  loadCpuPct: number;
}

/** Growable array of latencies in milliseconds. */
class Samples {
  #data = new Float64Array(1 << 16);
  #n = 0;

  push(v: number): void {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = v;
  }

  get length(): number {
    return this.#n;
  }

  sorted(): Float64Array {
    return this.#data.slice(0, this.#n).sort();
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

interface Reply {
  status: number;
  body: string;
}

function send(agent: Agent, host: string, port: number, spec: RequestSpec): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host, port, method: spec.method, path: spec.path, headers: spec.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(spec.body);
  });
}

export async function runPhase(opts: PhaseOptions): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections, scheduling: 'lifo' });
  const samples = new Samples();
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stop = false;
  const fail = (msg: string) => {
    errors++;
    firstError ??= msg;
    if (opts.stopOnError) stop = true;
  };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + opts.durationMs;

  async function worker(): Promise<void> {
    while (!stop && performance.now() < deadline) {
      const spec = opts.next(sent++);
      const start = performance.now();
      let reply: Reply;
      try {
        reply = await send(agent, opts.host, opts.port, spec);
      } catch (err) {
        fail(`${spec.method} ${spec.path}: ${(err as Error).message}`);
        continue;
      }
      samples.push(performance.now() - start);
      const problem = opts.check(reply.status, reply.body);
      if (problem === undefined) ok++;
      else fail(`${spec.method} ${spec.path} → ${reply.status}: ${problem}; body: ${reply.body.slice(0, 400)}`);
    }
  }

  await Promise.all(Array.from({ length: opts.connections }, () => worker()));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();

  const sorted = samples.sorted();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    requests: samples.length,
    ok,
    errors,
    firstError,
    elapsedMs,
    rps: ok / (elapsedMs / 1000),
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      mean: sorted.length ? sum / sorted.length : NaN,
    },
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
  };
}

/** One request, for set-up and probes (not measured). */
export async function sendOnce(host: string, port: number, spec: RequestSpec): Promise<Reply> {
  const agent = new Agent({ keepAlive: false });
  try {
    return await send(agent, host, port, spec);
  } finally {
    agent.destroy();
  }
}
