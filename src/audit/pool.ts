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
import { estimateAll, loadAuditEstimator, loadStrongProof, type StrengthEstimate } from './strength.js';

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

/**
 * Estimates of `jobs`, in order. The prefilter (src/audit/prefilter.ts) runs here first: it
 * settles most generated passwords at a fraction of zxcvbn's cost, so that workers (each loading
 * the dictionaries again) pay off only for what it leaves, when that is a lot.
 */
export async function estimateMany(jobs: readonly Job[], onProgress?: (done: number, total: number) => void): Promise<StrengthEstimate[]> {
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
  const n = Math.min(workerCount(left.length), Math.ceil(left.length / BATCH));
  let fresh: StrengthEstimate[];
  if (n < 1 || !runnableAsWorker()) fresh = await estimateAll(left, progress);
  else {
    try {
      fresh = await onWorkers(left, n, progress);
    } catch {
      fresh = await estimateAll(left, progress); // a worker failed: do it here instead
    }
  }
  rest.forEach((i, k) => (results[i] = fresh[k]));
  return results;
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
