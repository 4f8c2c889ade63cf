import cliProgress from 'cli-progress';
import type { JobProgress, JobRecord } from '../types.js';

/** Shows a waited-on job: a live bar on a terminal, plain lines otherwise, nothing when quiet. */
export interface ProgressView {
  status(record: JobRecord): void;
  progress(progress: JobProgress): void;
  /** Ends the bar (it stays on screen with its last state). */
  stop(): void;
}

/**
 * A view of one job on `stream` (stderr): on a TTY a cli-progress bar
 * `job <id> [████░░░░] 40% running · step 2 of 5`, redrawn in place; else one line per change
 * (`job <id> running 40% step 2 of 5`), so logs and pipes stay readable.
 */
export function progressView(jobId: string, stream: NodeJS.WriteStream, mode: 'bar' | 'lines' | 'none'): ProgressView {
  if (mode === 'none') return { status: () => undefined, progress: () => undefined, stop: () => undefined };
  let status = 'pending';
  let percent = 0;
  let message = '';
  let reported = false;
  if (mode === 'lines') {
    // The percent appears once the job reported one.
    const line = () => stream.write(`job ${jobId} ${status}${reported ? ` ${Math.round(percent)}%` : ''}${message ? ` ${message}` : ''}\n`);
    return {
      status: (r) => {
        status = r.status;
        line();
      },
      progress: (p) => {
        percent = p.percent;
        message = p.message ?? '';
        reported = true;
        line();
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `job ${jobId} [{bar}] {percentage}% {status}{message}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      // Redraw on every event, not only on the timer.
      forceRedraw: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(100, 0, { status, message: '' });
  const payload = () => ({ status, message: message ? ` · ${message}` : '' });
  return {
    status: (r) => {
      status = r.status;
      bar.update(percent, payload());
    },
    progress: (p) => {
      percent = p.percent;
      message = p.message ?? '';
      bar.update(percent, payload());
    },
    stop: () => bar.stop(),
  };
}
