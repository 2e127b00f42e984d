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

/**
 * Estimates of `jobs`, in order. The prefilter (src/audit/prefilter.ts) runs here first: it
 * settles most generated passwords at a fraction of zxcvbn's cost, so that workers (each loading
 * the dictionaries again) pay off only for what it leaves, when that is a lot. A vault of many
 * passwords almost always has some the prefilter leaves (the weak ones): for those, one worker
 * starts loading zxcvbn-ts right away, on another core, while the prefilter runs here (and is
 * stopped unused when it leaves none).
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
    jobs.forEach((j, i) => {
      const e = strong(j.password, j.inputs);
      if (e) results[i] = e;
      else rest.push(i);
      if (onProgress && i % 256 === 255) onProgress(i + 1 - rest.length, jobs.length);
    });
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

/** workers that failed or ended before they were given work */
const dead = new WeakSet<Worker>();
const spawn = (): Worker => {
  const w = new Worker(new URL(import.meta.url), { workerData: { [FLAG]: true } });
  w.on('error', () => dead.add(w)); // (onWorkers listens for itself once it gives the worker work)
  w.on('exit', () => dead.add(w));
  return w;
};

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
      w.postMessage({ id, jobs: jobs.slice(id, next).map((j) => ({ password: j.password, inputs: j.inputs ? [...j.inputs] : undefined })) } satisfies Request);
    };
    const live = workers.filter((w) => !dead.has(w));
    if (!live.length) return finish(new Error('no strength worker'));
    for (const w of live) {
      w.on('message', (m: Reply) => {
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
