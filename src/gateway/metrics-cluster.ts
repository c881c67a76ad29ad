// One /metrics for the whole process group under `gateway.workers`. Each worker records its
// own series (src/gateway/metrics.ts); a scrape lands on one of them (the admin port is
// shared round-robin), so answering with that worker's counters alone made them jump
// between workers' values, and Prometheus read every drop as a counter reset. Instead the
// worker serving the scrape asks the primary over cluster IPC; the primary asks every live
// worker for a snapshot, waits at most `timeoutMs` (a hung worker must not hang the scrape)
// and answers with their merge, which the worker renders.
//
// Counters never go down, even across worker restarts: the primary keeps each worker's
// latest snapshot, uses it for a worker that does not answer in time (counters only; its
// gauges are left out), and folds a dead worker's last counters into a "retired" total. What
// a worker counted after the last scrape before it died is lost (as with prom-client's
// AggregatorRegistry, which loses all of it).
//
//   worker  → primary   { drawbridge: 'metrics:scrape', id }
//   primary → workers   { drawbridge: 'metrics:snapshot?', id }
//   workers → primary   { drawbridge: 'metrics:snapshot', id, snapshot }
//   primary → worker    { drawbridge: 'metrics:merged', id, snapshot }
import type { Worker } from 'node:cluster';
import { emptySnapshot, mergeSnapshots, renderSnapshot, type Metrics, type MetricsSnapshot } from './metrics.js';

/** How long the primary waits for each worker's snapshot (ms). */
const WORKER_SNAPSHOT_TIMEOUT_MS = 1500;
/** How long a worker waits for the primary's merged answer before the scrape fails (ms). */
const PRIMARY_ANSWER_TIMEOUT_MS = 5000;

interface MetricsMessage {
  drawbridge: 'metrics:scrape' | 'metrics:snapshot?' | 'metrics:snapshot' | 'metrics:merged';
  id: string;
  snapshot?: MetricsSnapshot;
}

function isMetricsMessage(msg: unknown): msg is MetricsMessage {
  return typeof msg === 'object' && msg !== null && typeof (msg as MetricsMessage).drawbridge === 'string' && (msg as MetricsMessage).drawbridge.startsWith('metrics:');
}

interface ClusterMetrics {
  /** the worker's registry, with scrape() answered for the whole group */
  readonly metrics: Metrics;
  /** stops answering the primary (on close) */
  stop(): void;
}

/**
 * In a worker: answers the primary's snapshot requests from `local`, and returns `local` with
 * scrape() asking the primary for the group's merged series.
 */
export function joinClusterMetrics(local: Metrics): ClusterMetrics {
  const waiting = new Map<string, (snapshot: MetricsSnapshot) => void>();
  let seq = 0;
  function onPrimaryMessage(msg: unknown): void {
    if (!isMetricsMessage(msg)) return;
    if (msg.drawbridge === 'metrics:snapshot?') process.send?.({ drawbridge: 'metrics:snapshot', id: msg.id, snapshot: local.snapshot() } satisfies MetricsMessage);
    else if (msg.drawbridge === 'metrics:merged' && msg.snapshot) waiting.get(msg.id)?.(msg.snapshot);
  }
  process.on('message', onPrimaryMessage);
  const metrics: Metrics = {
    ...local,
    scrape() {
      return new Promise<string>(function askPrimary(resolve, reject) {
        const id = `${process.pid}.${++seq}`;
        const fail = (err: Error) => {
          if (!waiting.delete(id)) return;
          clearTimeout(timer);
          reject(err);
        };
        const timer = setTimeout(() => fail(new Error('metrics: the primary process did not answer the scrape')), PRIMARY_ANSWER_TIMEOUT_MS);
        waiting.set(id, (snapshot) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(renderSnapshot(snapshot));
        });
        if (process.send === undefined) return fail(new Error('metrics: not a cluster worker'));
        process.send({ drawbridge: 'metrics:scrape', id } satisfies MetricsMessage, undefined, {}, (err: Error | null) => {
          if (err) fail(err);
        });
      });
    },
  };
  return {
    metrics,
    stop() {
      process.off('message', onPrimaryMessage);
    },
  };
}

interface MetricsAggregator {
  /** follow a newly forked worker: answer its scrapes, keep its counters after it dies */
  add(worker: Worker): void;
  /** every live worker's snapshot merged with the retired counters (exported for tests) */
  gather(): Promise<MetricsSnapshot>;
}

/** In the primary: merges the workers' registries for whichever worker serves a scrape. */
export function aggregateWorkerMetrics(timeoutMs = WORKER_SNAPSHOT_TIMEOUT_MS): MetricsAggregator {
  const live = new Set<Worker>();
  const last = new Map<Worker, MetricsSnapshot>();
  const pending = new Map<string, (snapshot: MetricsSnapshot | undefined) => void>();
  let retired = emptySnapshot();
  let seq = 0;

  function ask(worker: Worker, id: string): Promise<MetricsSnapshot | undefined> {
    return new Promise((resolve) => {
      const key = `${worker.id}/${id}`;
      const settle = (snapshot: MetricsSnapshot | undefined) => {
        if (!pending.delete(key)) return;
        clearTimeout(timer);
        resolve(snapshot);
      };
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      pending.set(key, settle);
      try {
        worker.send({ drawbridge: 'metrics:snapshot?', id } satisfies MetricsMessage, undefined, (err: Error | null) => {
          if (err) settle(undefined);
        });
      } catch {
        settle(undefined);
      }
    });
  }

  async function gather(): Promise<MetricsSnapshot> {
    const id = String(++seq);
    const workers = [...live];
    const replies = await Promise.all(workers.map((w) => ask(w, id)));
    const parts: MetricsSnapshot[] = [retired];
    workers.forEach((worker, i) => {
      // one that died meanwhile: its last counters are in `retired` already
      if (!live.has(worker)) return;
      const reply = replies[i];
      if (reply) {
        last.set(worker, reply);
        parts.push(reply);
      } else {
        const known = last.get(worker);
        if (known) parts.push(countersOnly(known));
      }
    });
    return mergeSnapshots(parts);
  }

  return {
    add(worker) {
      live.add(worker);
      worker.on('message', function onWorkerMessage(msg: unknown) {
        if (!isMetricsMessage(msg)) return;
        if (msg.drawbridge === 'metrics:snapshot' && msg.snapshot) {
          pending.get(`${worker.id}/${msg.id}`)?.(msg.snapshot);
        } else if (msg.drawbridge === 'metrics:scrape') {
          void gather().then((snapshot) => {
            if (worker.isConnected()) worker.send({ drawbridge: 'metrics:merged', id: msg.id, snapshot } satisfies MetricsMessage, undefined, () => undefined);
          });
        }
      });
      worker.once('exit', function retireWorkerMetrics() {
        live.delete(worker);
        const known = last.get(worker);
        last.delete(worker);
        if (known) retired = mergeSnapshots([retired, countersOnly(known)]);
      });
    },
    gather,
  };
}

/** A snapshot without its gauges (a worker's last known state is no current value). */
function countersOnly(snap: MetricsSnapshot): MetricsSnapshot {
  return { ...snap, targets: [] };
}
