import { http } from './http.js';

/** One submission of a {@link FailoverLoad}. */
export interface Submission {
  /** ms since the load started, when the answer came. */
  at: number;
  status: number;
  /** The job id of a 202. */
  jobId?: string;
  /** The error code and Retry-After of an error answer. */
  error?: string;
  retryAfter?: string | null;
}

/** A steady, bounded stream of POST /jobs (the failover tests' load). */
export interface FailoverLoad {
  readonly submissions: Submission[];
  /** ms since the load started. */
  elapsed(): number;
  /** Stops submitting and waits for the answers in flight. */
  stop(): Promise<Submission[]>;
}

/**
 * Submits `PrimeChecker` jobs to `apiUrl` every `intervalMs` (at most `inFlight` unanswered at once),
 * until stopped or `maxSubmissions` were sent or `maxMs` passed, whichever comes first.
 */
export function startFailoverLoad(apiUrl: string, opts: { intervalMs?: number; inFlight?: number; maxSubmissions?: number; maxMs?: number } = {}): FailoverLoad {
  const intervalMs = opts.intervalMs ?? 25;
  const inFlight = opts.inFlight ?? 4;
  const maxSubmissions = opts.maxSubmissions ?? 1500;
  const maxMs = opts.maxMs ?? 40_000;
  const started = Date.now();
  const submissions: Submission[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let stopped = false;
  const submitOne = async () => {
    try {
      const res = await http('POST', `${apiUrl}/jobs`, { algorithm: 'PrimeChecker', params: { number: 1_000_003 + sent } });
      submissions.push({
        at: Date.now() - started,
        status: res.status,
        ...(res.status === 202 ? { jobId: res.body.job_id as string } : { error: res.body?.error as string, retryAfter: res.headers.get('retry-after') }),
      });
    } catch (err) {
      // A connection the API never answered: status 0, which the tests count as a failure.
      submissions.push({ at: Date.now() - started, status: 0, error: String(err) });
    }
  };
  const timer = setInterval(() => {
    if (stopped || sent >= maxSubmissions || Date.now() - started > maxMs) {
      clearInterval(timer);
      return;
    }
    if (pending.size >= inFlight) return;
    sent++;
    const p = submitOne().finally(() => pending.delete(p));
    pending.add(p);
  }, intervalMs);
  return {
    submissions,
    elapsed: () => Date.now() - started,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...pending]);
      return submissions;
    },
  };
}

/** What a failover did to a load: statuses counted, and the 503 window (first to last 503, ms; 0 without one). */
export function summarize(submissions: Submission[]): { byStatus: Record<number, number>; windowMs: number; accepted: string[] } {
  const byStatus: Record<number, number> = {};
  for (const s of submissions) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  const refused = submissions.filter((s) => s.status === 503).map((s) => s.at);
  const windowMs = refused.length ? Math.max(...refused) - Math.min(...refused) : 0;
  return { byStatus, windowMs, accepted: submissions.filter((s) => s.status === 202).map((s) => s.jobId!) };
}

/**
 * Polls GET /jobs/{id} of every accepted job until each is `completed`, or `timeoutMs` passes.
 * @returns the jobs that never completed, and those of them the API does not know (404: lost).
 */
export async function awaitCompletion(apiUrl: string, jobIds: string[], timeoutMs = 30_000): Promise<{ unfinished: string[]; lost: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let left = [...jobIds];
  const missing = new Set<string>();
  while (left.length && Date.now() < deadline) {
    const next: string[] = [];
    for (const id of left) {
      const res = await http('GET', `${apiUrl}/jobs/${id}`);
      if (res.status === 200 && res.body.status === 'completed') {
        missing.delete(id);
        continue;
      }
      if (res.status === 404) missing.add(id);
      next.push(id);
    }
    left = next;
    if (left.length) await new Promise((r) => setTimeout(r, 250));
  }
  return { unfinished: left, lost: left.filter((id) => missing.has(id)) };
}
