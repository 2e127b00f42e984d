// Strength estimates for many passwords (the audit): on worker threads, one per core, when there
// are enough passwords to pay for each worker loading the dictionaries (~0.3 s); in this thread
// otherwise. zxcvbn costs about a millisecond per password or more, so a 10k-entry vault is
// seconds of CPU. Passwords go to the workers by message, inside this process; nothing is written.
//
// This module is also the workers' entry point (it is its own chunk in the build). From the
// TypeScript sources (tests) it cannot be loaded as a worker, and the estimates run in this thread.
// KPM_AUDIT_WORKERS=N forces N workers (0: none).
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { estimateAll, loadAuditEstimator, type StrengthEstimate } from './strength.js';

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
  const estimator = loadAuditEstimator();
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

/** Estimates of `jobs`, in order. */
export async function estimateMany(jobs: readonly Job[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const n = Math.min(workerCount(jobs.length), Math.ceil(jobs.length / BATCH));
  if (n < 1 || !runnableAsWorker()) return estimateAll(jobs, onProgress);
  try {
    return await onWorkers(jobs, n, onProgress);
  } catch {
    return estimateAll(jobs, onProgress); // a worker failed: do it here instead
  }
}

function onWorkers(jobs: readonly Job[], n: number, onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
  const results: StrengthEstimate[] = new Array(jobs.length);
  const workers: Worker[] = [];
  let next = 0;
  let done = 0;
  return new Promise<StrengthEstimate[]>((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (err === undefined) resolve(results);
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const feed = (w: Worker) => {
      if (next >= jobs.length) return;
      const id = next;
      next = Math.min(jobs.length, next + BATCH);
      w.postMessage({ id, jobs: jobs.slice(id, next).map((j) => ({ password: j.password, inputs: j.inputs ? [...j.inputs] : undefined })) } satisfies Request);
    };
    for (let k = 0; k < n; k++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { [FLAG]: true } });
      workers.push(w);
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
