/**
 * Traces (docs/operations.md#traces): OpenTelemetry spans from an HTTP request through the enqueue,
 * the worker's processing, the runner's run and each webhook attempt, in one trace. The API and the
 * worker meet only through Redis, so the trace context (W3C Trace Context, `traceparent`) travels in
 * the job: BullMQ's telemetry (the `bullmq-otel` package, the `telemetry` option of its Queue and
 * Worker) puts it in the job's options when the job is added and continues it when a worker
 * processes the job. Spans go to an OTLP/HTTP receiver (OTEL_EXPORTER_OTLP_ENDPOINT).
 *
 * Off (no endpoint), nothing is loaded or started: the OpenTelemetry modules, its API among them
 * (about 0.5 MB of heap in 100 modules), are imported only by {@link startTracing}, Queues and
 * Workers get no telemetry (BullMQ then skips its tracing code), and {@link inSpan} calls its
 * function straight away. Tracing state is per process, as OpenTelemetry's global providers are.
 */
import type { Attributes, Context, Span, SpanKind as OtelSpanKind } from '@opentelemetry/api';
import type { Telemetry } from 'bullmq';

/**
 * The span kinds of OpenTelemetry's API (its `SpanKind` enum's values, fixed by the OpenTelemetry
 * specification's trace API), here so that callers name one without loading the API.
 */
export const SpanKind = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const satisfies Record<string, OtelSpanKind>;
/** One of {@link SpanKind}'s values. */
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

/** OpenTelemetry's `SpanStatusCode.ERROR` (the trace API's status codes: UNSET 0, OK 1, ERROR 2). */
const STATUS_ERROR = 2;

/** The instrumentation scope of fnqueue's own spans. */
const TRACER_NAME = 'fnqueue';

/** What a started tracing holds. */
interface ActiveTracing {
  /** OpenTelemetry's API, loaded with the SDK. */
  api: typeof import('@opentelemetry/api');
  telemetry: Telemetry;
  shutdown(): Promise<void>;
}

let active: ActiveTracing | undefined;

/** Options of {@link startTracing}. */
export interface TracingOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: base URL of the OTLP/HTTP receiver; undefined: tracing stays off. */
  endpoint: string | undefined;
  /** `service.name` of the spans (OTEL_SERVICE_NAME, else fnqueue-api / fnqueue-worker). */
  serviceName: string;
  /** `service.version`: fnqueue's package version. */
  serviceVersion: string;
  /** Longest a finished span waits before it is exported, ms. Default 1000. */
  exportDelayMs?: number;
}

/**
 * Starts tracing for this process when `endpoint` is set: an OpenTelemetry tracer provider with a
 * batching OTLP/HTTP (JSON) exporter to `<endpoint>/v1/traces`, the async-local-storage context
 * manager and the W3C Trace Context propagator, registered as OpenTelemetry's globals. Traces
 * start at a request, a job or a delivery: a span without a parent is recorded only when it is
 * not internal, so BullMQ's housekeeping (polling for jobs, stalled checks) starts no trace of
 * its own. A parent's sampling decision (an incoming `traceparent`) is followed.
 * Call it once, before any Queue or Worker is made. @returns whether tracing is on.
 */
export async function startTracing(opts: TracingOptions): Promise<boolean> {
  if (active || !opts.endpoint) return !!active;
  const [api, sdk, { OTLPTraceExporter }, { resourceFromAttributes }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { BullMQOtel }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('bullmq-otel'),
  ]);
  const root: import('@opentelemetry/sdk-trace').Sampler = {
    shouldSample: (_ctx, _traceId, _name, kind) => ({ decision: kind === SpanKind.INTERNAL ? sdk.SamplingDecision.NOT_RECORD : sdk.SamplingDecision.RECORD_AND_SAMPLED }),
    toString: () => 'fnqueue: no trace starts at an internal span',
  };
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.serviceVersion }),
    sampler: new sdk.ParentBasedSampler({ root }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${opts.endpoint}/v1/traces` }), scheduledDelayMillis: opts.exportDelayMs ?? 1000 })],
  });
  const { context, propagation, trace } = api;
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  active = {
    api,
    telemetry: new BullMQOtel({ tracerName: TRACER_NAME, version: opts.serviceVersion }),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
  return true;
}

/** Exports the spans not sent yet and stops tracing (the process is ending). Never rejects. */
export async function stopTracing(): Promise<void> {
  const current = active;
  active = undefined;
  await current?.shutdown().catch(() => undefined);
}

/** Whether this process traces (OTEL_EXPORTER_OTLP_ENDPOINT was set at start). */
export function tracingEnabled(): boolean {
  return active !== undefined;
}

/** The `telemetry` option of BullMQ's Queue and Worker: bullmq-otel when tracing is on, else undefined (BullMQ traces nothing). */
export function bullmqTelemetry(): Telemetry | undefined {
  return active?.telemetry;
}

/**
 * Runs `fn` in a new span, the current span's child, ended when `fn` settles; a rejection is
 * recorded on the span (status ERROR) and rethrown. With tracing off, runs `fn(undefined)` only.
 */
export async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!active) return fn(undefined);
  return active.api.trace.getTracer(TRACER_NAME).startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks `span` failed with `err` (status ERROR, the exception as an event). */
export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: STATUS_ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Starts the SERVER span of an incoming HTTP request, continuing the caller's trace when its
 * headers carry a `traceparent`. @returns the span and the context to run the request in, or
 * undefined with tracing off.
 */
export function startServerSpan(name: string, headers: Record<string, string | string[] | undefined>, attributes: Attributes): { span: Span; context: Context } | undefined {
  if (!active) return undefined;
  const { context, propagation, trace } = active.api;
  const parent = propagation.extract(context.active(), headers);
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Ends the SERVER span of a request ({@link startServerSpan}) with its route and status: failed on
 * a 5xx only (OpenTelemetry's semantic conventions for HTTP server spans).
 */
export function endServerSpan(span: Span, name: string, route: string, statusCode: number): void {
  span.updateName(name);
  span.setAttributes({ 'http.route': route, 'http.response.status_code': statusCode });
  if (statusCode >= 500) span.setStatus({ code: STATUS_ERROR });
  span.end();
}

/** Runs `fn` in `ctx` (a span's context from {@link startServerSpan}); just `fn()` with tracing off. */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return active ? active.api.context.with(ctx, fn) : fn();
}

/** The W3C Trace Context headers (`traceparent`, `tracestate`) of the current span, for an outgoing request; empty with tracing off. */
export function traceHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  if (active) active.api.propagation.inject(active.api.context.active(), headers);
  return headers;
}
