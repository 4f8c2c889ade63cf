#!/usr/bin/env node
/**
 * `fnqueue`: the fnqueue API from a shell (docs/clients/cli.md). Base URL and credentials from
 * --url / --api-key / --token, else FNQUEUE_URL / FNQUEUE_API_KEY / FNQUEUE_TOKEN. Exit codes:
 * src/cli/exit-codes.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { FnqueueClient } from './client.js';
import { FnqueueError, isFnqueueError } from './errors.js';
import { optionsFromEnv } from './env.js';
import { collect, integer, parseData, parseEnv, parseParams, table, UsageError } from './cli/args.js';
import { EXIT, exitForError, exitForStatus } from './cli/exit-codes.js';
import { progressView } from './cli/progress.js';
import { TERMINAL_STATUSES, type FunctionCreate, type JobLogLine, type JobRecord, type ScheduleCreate } from './types.js';
import { sleep } from './wait.js';

const PACKAGE_DIR = path.resolve(import.meta.dirname, '..');
const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
/** How often `jobs logs --follow` asks for new lines (ms). */
const LOGS_FOLLOW_MS = 500;

interface GlobalOptions {
  url?: string;
  apiKey?: string;
  token?: string;
  json?: boolean;
  progress?: boolean;
}

/** What a command's action needs: the client, the output mode. */
class Context {
  constructor(readonly opts: GlobalOptions) {}

  get json(): boolean {
    return Boolean(this.opts.json);
  }

  /** @throws UsageError when the URL (--url, else FNQUEUE_URL) is not an http(s) URL: bad usage (exit 2), not an unreachable API. */
  client(): FnqueueClient {
    const env = optionsFromEnv();
    const baseUrl = this.opts.url ?? env.baseUrl;
    if (baseUrl !== undefined && !URL.canParse(baseUrl)) throw new UsageError(`the API URL '${baseUrl}' (--url or FNQUEUE_URL) is not a URL: give e.g. http://localhost:8000`);
    if (baseUrl !== undefined && !/^https?:$/.test(new URL(baseUrl).protocol)) throw new UsageError(`the API URL '${baseUrl}' (--url or FNQUEUE_URL) must be http:// or https://`);
    return new FnqueueClient({ baseUrl, apiKey: this.opts.apiKey ?? env.apiKey, token: this.opts.token ?? env.token });
  }

  /** Prints `data` as one JSON line with --json, else `text()`. */
  print(data: unknown, text: () => string): void {
    process.stdout.write(`${this.json ? JSON.stringify(data) : text()}\n`);
  }

  /** The progress view's mode: none with --json or --no-progress, a bar on a terminal, else lines. */
  progressMode(): 'bar' | 'lines' | 'none' {
    if (this.json || this.opts.progress === false) return 'none';
    return process.stderr.isTTY ? 'bar' : 'lines';
  }
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);
const note = (text: string) => process.stderr.write(`${text}\n`);

/** Waits on a job with a live view; prints the final record; answers the exit code. */
async function waitAndReport(ctx: Context, jobId: string, options: { timeout?: number; poll?: boolean }): Promise<number> {
  const client = ctx.client();
  const view = progressView(jobId, process.stderr, ctx.progressMode());
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(new Interrupted(jobId));
  process.once('SIGINT', onSigint);
  let record: JobRecord;
  try {
    record = await client.wait(jobId, {
      timeoutMs: options.timeout,
      signal: interrupt.signal,
      transport: options.poll ? 'poll' : 'auto',
      onStatus: (r) => view.status(r),
      onProgress: (p) => view.progress(p),
    });
  } finally {
    view.stop();
    process.removeListener('SIGINT', onSigint);
  }
  printRecord(ctx, record);
  return exitForStatus(record.status);
}

/** The final record: --json the record; else the result (stdout) and a status line (stderr). */
function printRecord(ctx: Context, record: JobRecord): void {
  if (ctx.json) return ctx.print(record, () => '');
  const elapsed = record.metadata?.elapsed_time;
  if (record.status === 'completed') {
    note(`job ${record.job_id} completed${elapsed !== undefined ? ` in ${elapsed} s` : ''}`);
    process.stdout.write(`${pretty(record.result ?? null)}\n`);
  } else if (record.status === 'failed') {
    note(`job ${record.job_id} failed: ${record.error ?? 'no error message'}`);
  } else {
    note(`job ${record.job_id} ${record.status}${record.error ? `: ${record.error}` : ''}`);
  }
}

/** Thrown into a wait by Ctrl-C. */
class Interrupted extends Error {
  constructor(readonly jobId: string) {
    super(`stopped waiting; job ${jobId} goes on (fnqueue jobs wait ${jobId})`);
  }
}

const JOB_OPTIONS: Array<[flags: string, description: string, parse?: (v: string) => unknown]> = [
  ['--webhook <url>', 'http(s) URL receiving the outcome'],
  ['--priority <n>', 'priority (lower runs first)', integer],
  ['--delay-ms <ms>', 'start no sooner than this', integer],
  ['--max-retries <n>', 'retries after a failure', integer],
  ['--retry-backoff <kind>', 'fixed or exponential'],
  ['--retry-interval-ms <ms>', 'first retry delay', integer],
  ['--timeout-ms <ms>', "the job's timeout", integer],
  ['--pool <name>', 'the worker pool to run in'],
];

function addJobOptions(cmd: Command): Command {
  for (const [flags, description, parse] of JOB_OPTIONS) {
    if (parse) cmd.option(flags, description, parse);
    else cmd.option(flags, description);
  }
  return cmd;
}

/** The job options set on the command line, in the API's names. */
function jobOptionsOf(o: Record<string, unknown>): Record<string, unknown> {
  const map: Record<string, string> = {
    webhook: 'webhook',
    priority: 'priority',
    delayMs: 'delay_ms',
    maxRetries: 'max_retries',
    retryBackoff: 'retry_backoff',
    retryIntervalMs: 'retry_interval_ms',
    timeoutMs: 'timeout_ms',
    pool: 'pool',
  };
  return Object.fromEntries(Object.entries(map).flatMap(([k, api]) => (o[k] === undefined ? [] : [[api, o[k]]])));
}

function jobRow(j: JobRecord): unknown[] {
  const p = j.progress ? `${Math.round(j.progress.percent)}%` : '';
  return [j.job_id, j.status, j.algorithm, j.created_at, j.completed_at, p];
}

/** Prints log lines: stdout lines to stdout, stderr lines to stderr (one JSON object a line with --json). */
function printLogLines(ctx: Context, lines: readonly JobLogLine[]): void {
  for (const l of lines) {
    if (ctx.json) process.stdout.write(`${JSON.stringify(l)}\n`);
    else (l.stream === 'stderr' ? process.stderr : process.stdout).write(`${l.line}\n`);
  }
}

/** Finds the fnqueue repository (package.json named fnqueue with scripts/keys.ts) from `dirs` upwards. */
function findServerRoot(dirs: readonly string[]): string | undefined {
  for (const start of dirs) {
    for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
      const pkg = path.join(dir, 'package.json');
      if (existsSync(pkg) && existsSync(path.join(dir, 'scripts/keys.ts'))) {
        try {
          if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'fnqueue') return dir;
        } catch {
          /* not the one */
        }
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return undefined;
}

/** The exit code the last action answered (an action answers a number or nothing, meaning 0). */
let actionExit: number | undefined;

/** Sets the exit code of the running action (else 0). */
function exitWith(code: number): void {
  actionExit = code;
}

/** The program: every command, with the context its actions read. */
function buildProgram(): Command {
  const program = new Command('fnqueue')
    .description('The fnqueue API from a shell: run algorithms and functions, follow jobs, manage schedules.')
    .version(VERSION)
    .option('--url <url>', 'the API base URL (FNQUEUE_URL, default http://localhost:8000)')
    .option('--api-key <key>', 'an API key, sent as X-API-Key (FNQUEUE_API_KEY)')
    .option('--token <jwt>', 'a JWT, sent as Authorization: Bearer (FNQUEUE_TOKEN)')
    .option('--json', 'machine-readable output: one JSON document on stdout, no progress view')
    .option('--no-progress', 'no progress view while waiting')
    .showHelpAfterError('(fnqueue --help lists the commands and options)')
    .exitOverride();
  const ctx = (cmd: Command) => new Context(cmd.optsWithGlobals<GlobalOptions>());

  program
    .command('invoke')
    .description('run an algorithm and wait for its result (POST /invoke): fnqueue invoke PrimeChecker number=17')
    .argument('<algorithm>', 'the algorithm name (fnqueue algorithms lists them)')
    .argument('[params...]', 'key=value params; a value that parses as JSON is JSON')
    .option('-d, --data <json>', 'params as a JSON object (or @file), key=value words on top')
    .option('--pool <name>', 'the worker pool to run in')
    .action(async (algorithm: string, pairs: string[], o: { data?: string; pool?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const answer = await c.client().invoke(algorithm, parseParams(pairs, o.data), { pool: o.pool });
      c.print(answer, () => pretty(answer.result ?? null));
    });

  program
    .command('algorithms')
    .description('the algorithms and their params (GET /algorithms)')
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const list = await c.client().algorithms();
      c.print(list, () => table(['NAME', 'VERSION', 'DESCRIPTION'], list.map((a) => [a.name, a.version, a.description])));
    });

  const jobs = program.command('jobs').description('hand jobs over, follow them, list, cancel, read their logs');
  addJobOptions(
    jobs
      .command('submit')
      .description('create a job (POST /jobs) and print its id; with --wait, wait for it as jobs wait does')
      .argument('<algorithm>')
      .argument('[params...]', 'key=value params')
      .option('-d, --data <json>', 'params as a JSON object (or @file)')
      .option('--idempotency-key <key>', 'the same key and body answer the first job')
      .option('-w, --wait', 'wait for the job to end, with a progress view')
      .option('--timeout <ms>', 'with --wait: stop waiting after this long (exit 3)', integer),
  ).action(async (algorithm: string, pairs: string[], o: Record<string, unknown>, cmd: Command) => {
    const c = ctx(cmd);
    const accepted = await c.client().submit(algorithm, parseParams(pairs, o.data as string | undefined), {
      ...jobOptionsOf(o),
      idempotencyKey: o.idempotencyKey as string | undefined,
    });
    if (o.wait) {
      if (!c.json) note(`job ${accepted.job_id} submitted`);
      return exitWith(await waitAndReport(c, accepted.job_id, { timeout: o.timeout as number | undefined }));
    }
    c.print(accepted, () => accepted.job_id);
  });

  jobs
    .command('get')
    .description('read a job (GET /jobs/{job_id})')
    .argument('<job_id>')
    .action(async (jobId: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const record = await c.client().jobs.get(jobId);
      c.print(record, () => pretty(record));
    });

  jobs
    .command('wait')
    .description('wait for a job to end with a live progress view (Server-Sent Events, else polling); exit code by outcome')
    .argument('<job_id>')
    .option('--timeout <ms>', 'stop waiting after this long (exit 3; the job goes on)', integer)
    .option('--poll', 'poll GET /jobs/{job_id} instead of the event stream')
    .action(async (jobId: string, o: { timeout?: number; poll?: boolean }, cmd: Command) => exitWith(await waitAndReport(ctx(cmd), jobId, o)));

  jobs
    .command('list')
    .description('list jobs, newest first (GET /jobs, every page as needed)')
    .addOption(new Option('--status <status>').choices(['pending', 'running', 'completed', 'failed', 'cancelled']))
    .option('--algorithm <name>')
    .option('--function-id <id>')
    .option('--schedule-id <id>')
    .option('--created-after <iso>')
    .option('--created-before <iso>')
    .option('-n, --limit <n>', 'at most this many (default 20)', integer, 20)
    .option('--all', 'every matching job')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const c = ctx(cmd);
      const filter = Object.fromEntries(
        (['status', 'algorithm', 'functionId', 'scheduleId', 'createdAfter', 'createdBefore'] as const).flatMap((k) =>
          o[k] === undefined ? [] : [[k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`), o[k]]],
        ),
      );
      const max = o.all ? Infinity : (o.limit as number);
      const found: JobRecord[] = [];
      for await (const job of c.client().jobs.list(filter, { max, pageSize: Math.min(100, Number.isFinite(max) ? Math.max(1, max) : 100) })) found.push(job);
      c.print(found, () => table(['JOB_ID', 'STATUS', 'ALGORITHM', 'CREATED', 'COMPLETED', 'PROGRESS'], found.map(jobRow)));
    });

  jobs
    .command('cancel')
    .description('cancel a pending, delayed or running job (POST /jobs/{job_id}/cancel)')
    .argument('<job_id>')
    .action(async (jobId: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const record = await c.client().jobs.cancel(jobId);
      c.print(record, () => `job ${record.job_id} ${record.status}`);
    });

  jobs
    .command('logs')
    .description("a job's stdout and stderr lines (GET /jobs/{job_id}/logs); --follow prints new lines until it ends")
    .argument('<job_id>')
    .option('--tail <n>', 'only the last n lines', integer)
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .action(async (jobId: string, o: { tail?: number; follow?: boolean }, cmd: Command) => {
      const c = ctx(cmd);
      const client = c.client();
      const first = await client.jobs.logs(jobId, o.tail !== undefined ? { tail: o.tail } : {});
      if (!o.follow) {
        if (c.json) return c.print(first, () => '');
        return printLogLines(c, first.logs);
      }
      printLogLines(c, first.logs);
      // Lines at the last printed time come again (since is inclusive): skip as many as were printed.
      let since = first.logs.at(-1)?.ts;
      let atSince = first.logs.filter((l) => l.ts === since).length;
      for (;;) {
        const record = await client.jobs.get(jobId);
        const ended = TERMINAL_STATUSES.has(record.status);
        const page = await client.jobs.logs(jobId, since ? { since } : {});
        const fresh = page.logs.filter((l, i) => !(l.ts === since && i < atSince));
        printLogLines(c, fresh);
        if (fresh.length) {
          since = fresh.at(-1)!.ts;
          atSince = page.logs.filter((l) => l.ts === since).length;
        }
        if (ended) return exitWith(exitForStatus(record.status));
        await sleep(LOGS_FOLLOW_MS);
      }
    });

  const functions = program.command('functions').description('deploy, list, invoke and remove functions');
  functions
    .command('deploy')
    .description('deploy FILE as a function (POST /functions) and wait while its dependencies build')
    .argument('<file>', 'the source file')
    .addOption(new Option('--runtime <runtime>', 'python or nodejs (default: by the file extension)').choices(['python', 'nodejs']))
    .option('--name <name>', 'the function name (default: the file name without extension)')
    .option('--handler <name>', 'the exported function to call (default handler)')
    .option('--async', 'execution_type async: invoke answers 202 with a job to wait on')
    .option('--timeout-ms <ms>', 'per-run timeout', integer)
    .option('--memory-mb <mb>', 'per-run memory cap', integer)
    .option('--env <NAME=value>', 'an environment variable (repeatable)', collect)
    .option('--dependency <spec>', 'an npm or pip dependency (repeatable)', collect)
    .option('--project <name>')
    .option('--pool <name>')
    .action(async (file: string, o: Record<string, unknown>, cmd: Command) => {
      const c = ctx(cmd);
      let code: string;
      try {
        code = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const ext = path.extname(file);
      const runtime = (o.runtime as FunctionCreate['runtime'] | undefined) ?? (ext === '.py' ? 'python' : ['.js', '.mjs', '.cjs'].includes(ext) ? 'nodejs' : undefined);
      if (!runtime) throw new UsageError(`--runtime python|nodejs is needed for ${file}`);
      const spec: FunctionCreate = {
        name: (o.name as string | undefined) ?? path.basename(file, ext),
        runtime,
        code,
        execution_type: o.async ? 'async' : 'sync',
        ...(o.handler ? { handler: o.handler as string } : {}),
        ...(o.timeoutMs !== undefined ? { timeout_ms: o.timeoutMs as number } : {}),
        ...(o.memoryMb !== undefined ? { memory_mb: o.memoryMb as number } : {}),
        ...(o.env ? { env: parseEnv(o.env as string[]) } : {}),
        ...(o.dependency ? { dependencies: o.dependency as string[] } : {}),
        ...(o.project ? { project: o.project as string } : {}),
        ...(o.pool ? { pool: o.pool as string } : {}),
      };
      const fn = await c.client().functions.deploy(spec);
      c.print(fn, () => `${fn.function_id}`);
      if (!c.json) note(`deployed ${fn.name} as ${fn.function_id} (${fn.runtime}, ${fn.execution_type}, version ${fn.version}, ${fn.status})`);
      if (fn.status === 'failed') {
        if (!c.json) note(fn.build_log ?? 'the build failed');
        exitWith(EXIT.FAILED);
      }
    });

  functions
    .command('list')
    .description('the deployed functions (GET /functions)')
    .option('--project <name>')
    .option('-n, --limit <n>', 'at most this many (default 100)', integer, 100)
    .action(async (o: { project?: string; limit: number }, cmd: Command) => {
      const c = ctx(cmd);
      const page = await c.client().functions.list({ limit: o.limit, ...(o.project ? { project: o.project } : {}) });
      c.print(page, () =>
        table(['FUNCTION_ID', 'NAME', 'RUNTIME', 'TYPE', 'VERSION', 'STATUS', 'PROJECT'], page.functions.map((f) => [f.function_id, f.name, f.runtime, f.execution_type, f.version, f.status, f.project])),
      );
    });

  functions
    .command('get')
    .description('read a function (GET /functions/{function_id})')
    .argument('<function_id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const fn = await c.client().functions.get(id);
      c.print(fn, () => pretty(fn));
    });

  functions
    .command('invoke')
    .description('invoke a function with an event (POST /functions/{function_id}/invoke); async ones with --wait')
    .argument('<function_id>')
    .argument('[event...]', 'key=value fields of the event')
    .option('-d, --data <json>', 'the event as JSON (or @file); key=value words on top of an object')
    .option('-w, --wait', 'for an async function: wait for the job to end, with a progress view')
    .option('--timeout <ms>', 'with --wait: stop waiting after this long (exit 3)', integer)
    .option('--webhook <url>')
    .option('--timeout-ms <ms>', "this invocation's timeout", integer)
    .action(async (id: string, pairs: string[], o: Record<string, unknown>, cmd: Command) => {
      const c = ctx(cmd);
      const data = o.data as string | undefined;
      const event = data !== undefined && !pairs.length ? parseData(data) : parseParams(pairs, data);
      const query = { ...(o.webhook ? { webhook: o.webhook as string } : {}), ...(o.timeoutMs !== undefined ? { timeout_ms: o.timeoutMs as number } : {}) };
      const record = await c.client().functions.invoke(id, event, query);
      if (o.wait && !TERMINAL_STATUSES.has(record.status)) return exitWith(await waitAndReport(c, record.job_id, { timeout: o.timeout as number | undefined }));
      if (!TERMINAL_STATUSES.has(record.status)) {
        return c.print(record, () => record.job_id);
      }
      printRecord(c, record);
      exitWith(exitForStatus(record.status));
    });

  functions
    .command('logs')
    .description("the output of a function's last invocations")
    .argument('<function_id>')
    .option('--invocations <n>', 'how many of the last invocations (default 1)', integer, 1)
    .option('--tail <n>', 'only the last n lines of each', integer)
    .action(async (id: string, o: { invocations: number; tail?: number }, cmd: Command) => {
      const c = ctx(cmd);
      const all = await c.client().functions.logs(id, { invocations: o.invocations, tail: o.tail });
      if (c.json) return c.print(all, () => '');
      for (const logs of all) {
        note(`--- job ${logs.job_id} (${logs.total} lines${logs.truncated ? ', truncated' : ''})`);
        printLogLines(c, logs.logs);
      }
    });

  functions
    .command('rm')
    .alias('delete')
    .description('remove a function (DELETE /functions/{function_id})')
    .argument('<function_id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      await c.client().functions.remove(id);
      c.print({ function_id: id, deleted: true }, () => `removed ${id}`);
    });

  const schedules = program.command('schedules').description('cron and interval schedules');
  schedules
    .command('create')
    .description('create a schedule (POST /schedules) of an algorithm (--algorithm, key=value params) or a function (--function)')
    .argument('<name>')
    .argument('[params...]', 'key=value params of the algorithm')
    .option('--cron <expr>', 'a cron expression, e.g. "*/5 * * * *"')
    .option('--every-ms <ms>', 'an interval instead of cron', integer)
    .option('--timezone <tz>', 'the cron timezone (IANA), default UTC')
    .option('--algorithm <name>')
    .option('--function <function_id>')
    .option('-d, --data <json>', 'the params (algorithm) or event (function) as JSON')
    .option('--webhook <url>')
    .option('--disabled', 'create it disabled')
    .action(async (name: string, pairs: string[], o: Record<string, unknown>, cmd: Command) => {
      const c = ctx(cmd);
      if (Boolean(o.algorithm) === Boolean(o.function)) throw new UsageError('give one of --algorithm NAME or --function ID');
      if ((o.cron === undefined) === (o.everyMs === undefined)) throw new UsageError('give one of --cron EXPR or --every-ms N');
      const data = o.data as string | undefined;
      const target = o.algorithm
        ? { algorithm: o.algorithm as string, params: parseParams(pairs, data) }
        : { function_id: o.function as string, ...(data !== undefined || pairs.length ? { event: pairs.length ? parseParams(pairs, data) : parseData(data!) } : {}) };
      const spec: ScheduleCreate = {
        name,
        target,
        ...(o.cron !== undefined ? { cron: o.cron as string } : { every_ms: o.everyMs as number }),
        ...(o.timezone ? { timezone: o.timezone as string } : {}),
        ...(o.webhook ? { webhook: o.webhook as string } : {}),
        ...(o.disabled ? { enabled: false } : {}),
      };
      const s = await c.client().schedules.create(spec);
      c.print(s, () => s.schedule_id);
      if (!c.json) note(`schedule ${s.name} (${s.schedule_id}) ${s.enabled ? `next run at ${s.next_run_at}` : 'disabled'}`);
    });

  schedules
    .command('list')
    .description('the schedules (GET /schedules)')
    .option('-n, --limit <n>', 'at most this many (default 100)', integer, 100)
    .action(async (o: { limit: number }, cmd: Command) => {
      const c = ctx(cmd);
      const page = await c.client().schedules.list({ limit: o.limit });
      c.print(page, () =>
        table(
          ['SCHEDULE_ID', 'NAME', 'WHEN', 'TARGET', 'ENABLED', 'NEXT_RUN'],
          page.schedules.map((s) => [s.schedule_id, s.name, s.cron ?? `every ${s.every_ms} ms`, 'algorithm' in s.target ? s.target.algorithm : 'function_id' in s.target ? `function ${s.target.function_id}` : `command ${s.target.command.cmd}`, s.enabled, s.next_run_at]),
        ),
      );
    });

  for (const [verb, description] of [
    ['get', 'read a schedule'],
    ['enable', 'enable a schedule'],
    ['disable', 'disable a schedule'],
  ] as const) {
    schedules
      .command(verb)
      .description(description)
      .argument('<schedule_id>')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const c = ctx(cmd);
        const api = c.client().schedules;
        const s = verb === 'get' ? await api.get(id) : verb === 'enable' ? await api.enable(id) : await api.disable(id);
        c.print(s, () => (verb === 'get' ? pretty(s) : `schedule ${s.schedule_id} ${s.enabled ? 'enabled' : 'disabled'}`));
      });
  }

  schedules
    .command('runs')
    .description('the jobs a schedule started, newest first')
    .argument('<schedule_id>')
    .option('-n, --limit <n>', 'at most this many (default 20)', integer, 20)
    .action(async (id: string, o: { limit: number }, cmd: Command) => {
      const c = ctx(cmd);
      const page = await c.client().schedules.runs(id, { limit: o.limit });
      c.print(page, () => table(['JOB_ID', 'STATUS', 'ALGORITHM', 'CREATED', 'COMPLETED', 'PROGRESS'], page.jobs.map(jobRow)));
    });

  schedules
    .command('rm')
    .alias('delete')
    .description('remove a schedule')
    .argument('<schedule_id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      await c.client().schedules.remove(id);
      c.print({ schedule_id: id, deleted: true }, () => `removed ${id}`);
    });

  program
    .command('workers')
    .description('the worker processes by heartbeat (GET /workers)')
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const page = await c.client().workers.list({ limit: 100 });
      c.print(page, () =>
        table(
          ['WORKER_ID', 'STATUS', 'STATE', 'CONCURRENCY', 'ACTIVE', 'COMPLETED', 'FAILED', 'CPU%', 'MEMORY_MB', 'LAST_HEARTBEAT'],
          page.items.map((w) => [w.id, w.status, w.state, w.concurrency, w.active_jobs.length, w.jobs_processed.completed, w.jobs_processed.failed, w.resources.cpu_usage, Math.round(w.resources.memory_usage / 2 ** 20), w.last_heartbeat]),
        ),
      );
    });

  program
    .command('status')
    .description('the deployment at a glance: version, queues, workers, Redis (GET /status)')
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const client = c.client();
      const s = await client.status();
      c.print(s, () =>
        [
          `fnqueue ${s.version} at ${client.baseUrl}, up ${s.uptime}`,
          `queue depth ${s.queue_depth}: ${Object.entries(s.queues).map(([q, n]) => `${q} ${n.waiting} waiting, ${n.active} active, ${n.delayed} delayed`).join('; ')}`,
          `workers ${s.workers.online} online, ${s.workers.offline} offline`,
          `redis ${s.redis.version ?? '?'}, ${s.redis.used_memory_bytes === null ? '?' : Math.round(s.redis.used_memory_bytes / 2 ** 20)} MB used, ${s.redis.connected_clients ?? '?'} clients`,
          `functions ${s.total_functions}, projects ${s.projects.total} (${s.projects.running} running)`,
        ].join('\n'),
      );
    });

  program
    .command('keys')
    .description('API keys in Redis, as `npm run keys` (create --name N --scope read|write|admin, list, revoke ID); needs the fnqueue repository and its Redis')
    .argument('[args...]', 'create --name N --scope S | list | revoke ID')
    .option('--redis-url <url>', 'the Redis the API uses (REDIS_URL)')
    .option('--queue-prefix <prefix>', "the API's QUEUE_PREFIX (default as the API's)")
    .allowUnknownOption()
    .helpOption(false)
    .action(async (args: string[], o: { redisUrl?: string; queuePrefix?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const root = findServerRoot([process.cwd(), PACKAGE_DIR]);
      if (!root) throw new UsageError('fnqueue keys runs scripts/keys.ts of the fnqueue repository (the API has no key routes): run it inside a checkout');
      const env = { ...process.env, ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}), ...(o.queuePrefix ? { QUEUE_PREFIX: o.queuePrefix } : {}) };
      const argv = [...args, ...(c.json && args[0] === 'list' ? ['--json'] : [])];
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'scripts/keys.ts'), ...argv], { cwd: root, env, stdio: 'inherit' });
      exitWith(await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? EXIT.FAILED))));
    });

  return program;
}

/** Runs the CLI on `argv` (without node and the script) and answers the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  actionExit = undefined;
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
  } catch (err) {
    return reportError(err, argv.includes('--json'));
  }
  return actionExit ?? EXIT.OK;
}

function reportError(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  if (err instanceof UsageError) {
    note(`fnqueue: ${err.message}`);
    return EXIT.USAGE;
  }
  if (err instanceof Interrupted) {
    note(err.message);
    return EXIT.INTERRUPTED;
  }
  if (isFnqueueError(err)) {
    if (json) process.stdout.write(`${JSON.stringify((err as FnqueueError).toJSON())}\n`);
    else {
      note(`fnqueue: ${err.code}: ${err.message}${err.status ? ` (HTTP ${err.status}${err.requestId ? `, request ${err.requestId}` : ''})` : ''}`);
      if (Object.keys(err.details).length) note(pretty(err.details));
    }
    return exitForError(err);
  }
  note(`fnqueue: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT.FAILED;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fnqueue: ${String(err)}\n`);
    process.exitCode = EXIT.FAILED;
  },
);
