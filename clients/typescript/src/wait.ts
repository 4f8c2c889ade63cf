import { EventSourceParserStream } from 'eventsource-parser/stream';
import type { FnqueueClient } from './client.js';
import { errorFromResponse, FnqueueError, isFnqueueError } from './errors.js';
import { TERMINAL_STATUSES, type JobProgress, type JobRecord } from './types.js';

/** One event of GET /jobs/{job_id}/events. */
export type JobEvent = { type: 'status'; record: JobRecord } | { type: 'progress'; progress: JobProgress & { job_id: string } };

/** Options of {@link FnqueueClient.wait}. */
export interface WaitOptions {
  /** Give up after this long (ms; default: no limit): rejects with FnqueueError WAIT_TIMEOUT. The job goes on. */
  timeoutMs?: number;
  /** Stops waiting (the job goes on): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** `auto` (default): Server-Sent Events, polling when the API does not serve them; `sse` or `poll` only. */
  transport?: 'auto' | 'sse' | 'poll';
  /** Called at each status the waiter sees (the first one at once), with the record. */
  onStatus?: (record: JobRecord) => void;
  /** Called at each progress report the waiter sees: `percent` 0-100 and the algorithm's message. */
  onProgress?: (progress: JobProgress) => void;
  /** Polling's first interval (ms; default 250); each poll without change waits 1.5 times longer. */
  pollIntervalMs?: number;
  /** Polling's longest interval (ms; default 5000). */
  maxPollIntervalMs?: number;
}

/** How many times a dropped event stream is reopened before the waiter polls instead. */
const SSE_RECONNECTS = 3;
/** How many polls in a row may find the API unreachable before the wait fails with UNREACHABLE. */
const UNREACHABLE_POLLS = 3;

/** Reads GET /jobs/{job_id}/events (fetch + eventsource-parser, so requests carry the client's headers). @internal */
export class JobEvents {
  /** True once the API answered the stream with 200 (then a drop is worth a reconnect). */
  connected = false;

  constructor(
    private readonly client: FnqueueClient,
    private readonly jobId: string,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * The events until the terminal status. Returns (without a terminal status) when the connection
   * drops. @throws FnqueueError for a refused stream (JOB_NOT_FOUND, SERVICE_UNAVAILABLE ...), or
   * JOB_NOT_FOUND from the stream's `error` event.
   */
  async *stream(): AsyncGenerator<JobEvent, void, undefined> {
    const url = `${this.client.baseUrl}/jobs/${encodeURIComponent(this.jobId)}/events`;
    let res: Response;
    try {
      res = await this.client.fetch(url, { headers: { ...this.client.headers, Accept: 'text/event-stream' }, signal: this.signal });
    } catch (err) {
      throw this.client.transportError(err, this.signal);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: errorFromResponse reports the text */
      }
      throw errorFromResponse(res, body);
    }
    this.connected = true;
    const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    const reader = events.getReader();
    try {
      for (;;) {
        let next: ReadableStreamReadResult<{ event?: string; data: string }>;
        try {
          next = await reader.read();
        } catch (err) {
          if (this.signal?.aborted) throw this.signal.reason;
          return void err; // the connection dropped: the caller decides
        }
        if (next.done) return;
        const { event, data } = next.value;
        if (event === 'status') {
          const record = JSON.parse(data) as JobRecord;
          yield { type: 'status', record };
          if (TERMINAL_STATUSES.has(record.status)) return;
        } else if (event === 'progress') {
          yield { type: 'progress', progress: JSON.parse(data) as JobProgress & { job_id: string } };
        } else if (event === 'error') {
          const e = JSON.parse(data) as { error?: string; message?: string; details?: Record<string, unknown> };
          throw new FnqueueError({ code: e.error ?? 'JOB_NOT_FOUND', message: e.message ?? `job '${this.jobId}' ended its event stream`, details: e.details, status: 404 });
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
}

/** What a wait has seen so far: the timeout error names the last status. */
interface Seen {
  record?: JobRecord;
  progress?: string;
}

/** @see FnqueueClient.wait */
export async function waitForJob(client: FnqueueClient, jobId: string, options: WaitOptions): Promise<JobRecord> {
  const timeout = options.timeoutMs !== undefined ? AbortSignal.timeout(options.timeoutMs) : undefined;
  const signal = AbortSignal.any([options.signal, timeout].filter((s): s is AbortSignal => s !== undefined));
  const seen: Seen = {};
  // Progress first: a bar reaches the final percent before the final status is announced.
  const onRecord = (record: JobRecord) => {
    if (record.progress) onProgress(record.progress);
    const changed = seen.record?.status !== record.status;
    seen.record = record;
    if (changed) options.onStatus?.(record);
  };
  const onProgress = (p: JobProgress) => {
    const key = `${p.percent}\u0000${p.message ?? ''}`;
    if (key === seen.progress) return;
    seen.progress = key;
    options.onProgress?.({ percent: p.percent, message: p.message, updated_at: p.updated_at });
  };
  try {
    if (options.transport !== 'poll') {
      const done = await viaEvents(client, jobId, signal, onRecord, onProgress, options.transport === 'sse');
      if (done) return done;
    }
    return await viaPolling(client, jobId, signal, onRecord, options);
  } catch (err) {
    if (timeout?.aborted && !options.signal?.aborted) {
      const status = seen.record?.status ?? 'unknown';
      throw new FnqueueError({ code: 'WAIT_TIMEOUT', message: `job ${jobId} did not end within ${options.timeoutMs} ms (status ${status})`, details: { job_id: jobId, status, timeout_ms: options.timeoutMs } });
    }
    throw err;
  }
}

/**
 * Follows the event stream, reopening it after a drop. Answers the final record, or undefined when
 * the API does not serve live events (503 or no answer) and `required` is false.
 */
async function viaEvents(
  client: FnqueueClient,
  jobId: string,
  signal: AbortSignal,
  onRecord: (r: JobRecord) => void,
  onProgress: (p: JobProgress) => void,
  required: boolean,
): Promise<JobRecord | undefined> {
  for (let attempt = 0; attempt <= SSE_RECONNECTS; attempt++) {
    const events = new JobEvents(client, jobId, signal);
    try {
      for await (const event of events.stream()) {
        if (event.type === 'progress') onProgress(event.progress);
        else {
          onRecord(event.record);
          if (TERMINAL_STATUSES.has(event.record.status)) return event.record;
        }
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // Not served (503, a proxy's error page, or no answer): poll, unless the caller asked for events only.
      const unserved = isFnqueueError(err) && (err.code === 'UNREACHABLE' || err.code === 'HTTP_ERROR' || err.status === 503);
      if (!unserved || required) throw err;
      if (!events.connected) return undefined;
    }
    if (attempt < SSE_RECONNECTS) await sleep(250 * 2 ** attempt, signal);
  }
  if (required) throw new FnqueueError({ code: 'UNREACHABLE', message: `the event stream of job ${jobId} kept dropping`, details: { job_id: jobId } });
  return undefined;
}

/** Polls GET /jobs/{job_id} with backoff until the job ends. */
async function viaPolling(client: FnqueueClient, jobId: string, signal: AbortSignal, onRecord: (r: JobRecord) => void, options: WaitOptions): Promise<JobRecord> {
  const first = options.pollIntervalMs ?? 250;
  const longest = options.maxPollIntervalMs ?? 5000;
  let interval = first;
  let unreachable = 0;
  let last: string | undefined;
  for (;;) {
    let delay = interval;
    try {
      const record = await client.jobs.get(jobId, { signal });
      unreachable = 0;
      onRecord(record);
      if (TERMINAL_STATUSES.has(record.status)) return record;
      const key = `${record.status}\u0000${JSON.stringify(record.progress ?? null)}`;
      // Something moved: look again soon; else back off.
      interval = key === last ? Math.min(longest, interval * 1.5) : first;
      last = key;
      delay = interval;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!isFnqueueError(err)) throw err;
      if (err.code === 'UNREACHABLE') {
        if (++unreachable >= UNREACHABLE_POLLS) throw err;
      } else if (err.status !== 503) {
        throw err;
      }
      delay = Math.min(longest, Math.max(interval, 1000));
    }
    await sleep(delay, signal);
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
