// Strength estimates for many passwords (the audit): the prefilter in this thread first, then what
// it leaves on worker threads, one per core, when there are enough of those to pay for each worker
// loading the dictionaries (~0.3 s); in this thread otherwise. zxcvbn costs about a millisecond per password or more, so a 10k-entry vault is
// seconds of CPU. Passwords go to the workers by message, inside this process; nothing is written.
//
// This module is also the workers' entry point (it is its own chunk in the build). From the
// TypeScript sources (tests) it cannot be loaded as a worker, and the estimates run in this thread.
// KPM_AUDIT_WORKERS=N forces N workers (0: none).
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadEstimator, loadStrongProof, type StrengthEstimate } from './strength.js';

interface Job {
  password: string;
  inputs?: readonly string[];
}
interface Request {
  id: number;
  jobs: Job[];
}
type Reply = { id: number; results: StrengthEstimate[] } | { id: number; error: string };

const FLAG = 'kpmStrengthWorker';
const BATCH = 64;
const JOBS_PER_WORKER = 400;

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[FLAG] === true) {
  const port = parentPort;
  const estimator = loadEstimator(); // the prefilter ran in the main thread: these are what it left
  port.on('message', (m: Request) => {
    estimator.then(
      (est) => port.postMessage({ id: m.id, results: m.jobs.map((j) => est(j.password, j.inputs)) } satisfies Reply),
      (e: unknown) => port.postMessage({ id: m.id, error: String((e as Error)?.message ?? e) } satisfies Reply),
    );
  });
}

function workerCount(jobs: number): number {
  const forced = process.env.KPM_AUDIT_WORKERS;
  if (forced !== undefined && /^\d+$/.test(forced)) return Math.min(Number(forced), 16);
  return Math.min(availableParallelism(), 8, Math.floor(jobs / JOBS_PER_WORKER));
}

const runnableAsWorker = (): boolean => /\.m?js$/.test(new URL(import.meta.url).pathname);

/** from this many passwords on, a worker starts loading zxcvbn-ts at once, beside the prefilter */
const EARLY_WORKER_JOBS = 64;

/** at most this many of the passwords the prefilter leaves go to the early worker while it runs */
const STREAMED = 512;

/**
 * Estimates of `jobs`, in order. The prefilter (src/audit/prefilter.ts) runs here first: it
 * settles most generated passwords at a fraction of zxcvbn's cost, so that workers (each loading
 * the dictionaries again) pay off only for what it leaves, when that is a lot. A vault of many
 * passwords almost always has some the prefilter leaves (the weak ones): for those, one worker
 * starts loading zxcvbn-ts right away, on another core, and is sent them batch by batch while the
 * prefilter runs here (the first STREAMED of them; the rest are shared out after). It is stopped
 * unused when the prefilter leaves none.
 */
export async function estimateMany(jobs: readonly Job[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const workers: Worker[] = [];
  if (jobs.length >= EARLY_WORKER_JOBS && runnableAsWorker() && workerCount(Infinity) >= 1 && (process.env.KPM_AUDIT_WORKERS !== undefined || availableParallelism() >= 2)) {
    try {
      workers.push(spawn());
    } catch {
      // no worker: all here
    }
  }
  try {
    const strong = await loadStrongProof();
    const results: StrengthEstimate[] = new Array(jobs.length);
    const rest: number[] = [];
    const stream = workers.length ? streamTo(workers[0], jobs, results) : undefined;
    let streamed = 0;
    jobs.forEach((j, i) => {
      const e = strong(j.password, j.inputs);
      if (e) results[i] = e;
      else if (stream && streamed < STREAMED) stream.add(i), streamed++;
      else rest.push(i);
      if (i % 256 === 255) {
        stream?.send();
        if (onProgress) onProgress(i + 1 - rest.length - streamed, jobs.length);
      }
    });
    stream?.send();
    rest.push(...((await stream?.done()) ?? []));
    rest.sort((a, b) => a - b);
    const settled = jobs.length - rest.length;
    if (onProgress) onProgress(settled, jobs.length);
    if (!rest.length) return results;
    const left = rest.map((i) => jobs[i]);
    const progress = onProgress && ((d: number) => onProgress(settled + d, jobs.length));
    const n = Math.max(workers.length, Math.min(workerCount(left.length), Math.ceil(left.length / BATCH)));
    let fresh: StrengthEstimate[];
    if (n < 1 || !runnableAsWorker()) fresh = await inThisThread(left, progress);
    else {
      try {
        while (workers.length < n) workers.push(spawn());
        fresh = await onWorkers(left, workers, progress);
      } catch {
        fresh = await inThisThread(left, progress); // a worker failed: do it here instead
      }
    }
    rest.forEach((i, k) => (results[i] = fresh[k]));
    return results;
  } finally {
    for (const w of workers) void w.terminate();
  }
}

/** a job as posted to a worker (its inputs as a plain array) */
const sendable = (j: Job): Job => ({ password: j.password, inputs: j.inputs ? [...j.inputs] : undefined });

/** workers that failed or ended before they were given work */
const dead = new WeakSet<Worker>();
const spawn = (): Worker => {
  const w = new Worker(new URL(import.meta.url), { workerData: { [FLAG]: true } });
  w.on('error', () => dead.add(w)); // (onWorkers listens for itself once it gives the worker work)
  w.on('exit', () => dead.add(w));
  return w;
};

/**
 * Batches of jobs sent to worker `w` as they are added (send), their estimates put into `results`
 * as they come; done() waits for them all and gives back the indexes of those not estimated (the
 * worker failed: the caller estimates them again). Their requests have ids below 0 (onWorkers' are 0 and up).
 */
function streamTo(w: Worker, jobs: readonly Job[], results: StrengthEstimate[]) {
  const pending = new Map<number, number[]>();
  let batch: number[] = [];
  let nextId = -1;
  let failed = false;
  let finish: (() => void) | undefined;
  const settle = (id: number) => {
    pending.delete(id);
    if (!pending.size) finish?.();
  };
  const onEnd = () => {
    failed = true;
    finish?.();
  };
  const onMessage = (m: Reply) => {
    const idx = pending.get(m.id);
    if (!idx) return;
    if ('error' in m) return onEnd();
    m.results.forEach((e, k) => (results[idx[k]] = e));
    settle(m.id);
  };
  w.on('message', onMessage);
  w.on('error', onEnd);
  w.on('exit', onEnd);
  return {
    add: (i: number) => void batch.push(i),
    send(): void {
      if (!batch.length || failed || dead.has(w)) return;
      const id = nextId--;
      pending.set(id, batch);
      w.postMessage({ id, jobs: batch.map((i) => sendable(jobs[i])) } satisfies Request);
      batch = [];
    },
    /** the indexes added that have no estimate (the worker failed, or they were never sent) */
    async done(): Promise<number[]> {
      if (pending.size && !failed) await new Promise<void>((r) => (finish = r));
      w.off('message', onMessage);
      w.off('error', onEnd);
      w.off('exit', onEnd);
      const missing = [...batch];
      for (const idx of pending.values()) missing.push(...idx);
      return missing;
    },
  };
}

/** zxcvbn-ts on each job here, with progress now and then. */
async function inThisThread(jobs: readonly Job[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const est = await loadEstimator();
  return jobs.map((j, i) => {
    const e = est(j.password, j.inputs);
    if (onProgress && (i % 25 === 24 || i === jobs.length - 1)) onProgress(i + 1, jobs.length);
    return e;
  });
}

/** The jobs shared out to `workers` (the caller stops them). */
function onWorkers(jobs: readonly Job[], workers: readonly Worker[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const results: StrengthEstimate[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  return new Promise<StrengthEstimate[]>((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err === undefined) resolve(results);
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const feed = (w: Worker) => {
      if (next >= jobs.length) return;
      const id = next;
      next = Math.min(jobs.length, next + BATCH);
      w.postMessage({ id, jobs: jobs.slice(id, next).map(sendable) } satisfies Request);
    };
    const live = workers.filter((w) => !dead.has(w));
    if (!live.length) return finish(new Error('no strength worker'));
    for (const w of live) {
      w.on('message', (m: Reply) => {
        if (m.id < 0) return; // a streamed batch's (streamTo)
        if ('error' in m) return finish(new Error(m.error));
        m.results.forEach((r, i) => (results[m.id + i] = r));
        done += m.results.length;
        onProgress?.(done, jobs.length);
        if (done === jobs.length) finish();
        else feed(w);
      });
      w.on('error', (e) => finish(e));
      w.on('exit', (code) => {
        if (!settled) finish(new Error(`strength worker exited with code ${code}`));
      });
      feed(w);
    }
  });
}
