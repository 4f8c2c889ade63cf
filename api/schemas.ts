import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** An http(s) URL (seed 002: webhook). */
export const WebhookUrlSchema = z
  .string({ error: 'must be a string' })
  .max(2048, { error: 'must be at most 2048 characters' })
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { error: 'must be an http or https URL' },
  )
  .openapi({
    example: 'https://example.com/callback',
    description:
      'Receives the outcome as a POST (seed 002 payload); retried at 1 s, 5 s, 15 s. Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) when the service has WEBHOOK_SECRET. ' +
      'Hosts that are or resolve to loopback, private, link-local, CGNAT, multicast or cloud metadata addresses are refused (400 for a literal IP or metadata name; a failed delivery otherwise) unless WEBHOOK_ALLOW_PRIVATE; redirects are not followed.',
  });

const AlgorithmNameSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'must be at most 200 characters' })
  .openapi({ example: 'PrimeChecker' });

const ParamsSchema = z
  .record(z.string(), z.unknown(), { error: (iss) => (iss.input === undefined ? 'is required' : 'must be an object') })
  .openapi({ example: { number: 17 }, description: "The algorithm's params; see GET /algorithms for each schema." });

/** Body of `POST /jobs` (seed 002). */
export const JobRequestSchema = z
  .strictObject({ algorithm: AlgorithmNameSchema, params: ParamsSchema, webhook: WebhookUrlSchema.optional() })
  .openapi('JobRequest');
export type JobRequest = z.infer<typeof JobRequestSchema>;

/** Body of `POST /invoke` with an explicit algorithm; without `algorithm` the body is PrimeChecker's params. */
export const InvokeRequestSchema = z
  .strictObject({ algorithm: AlgorithmNameSchema, params: ParamsSchema.default({}) })
  .openapi('InvokeRequest');
export type InvokeRequest = z.infer<typeof InvokeRequestSchema>;

const IsoTime = z.string().openapi({ example: '2026-02-02T10:00:00.000+00:00' });

/** Seed 002's metadata. */
export const MetadataSchema = z
  .object({ algorithm: z.string(), version: z.string(), elapsed_time: z.number().openapi({ description: 'seconds' }) })
  .openapi('Metadata', { example: { algorithm: 'PrimeChecker', version: '1.0.0', elapsed_time: 0.001 } });

/** `POST /invoke` 200 (seed 002). */
export const InvokeResponseSchema = z
  .object({
    request_id: z.string(),
    status: z.literal('success'),
    result: z.unknown().openapi({ example: { number: 17, is_prime: true, factors: [], algorithm: 'trial_division' } }),
    metadata: MetadataSchema,
  })
  .openapi('InvokeResponse');

/** `POST /jobs` 202 (seed 002). */
export const JobAcceptedSchema = z
  .object({
    job_id: z.string().openapi({ example: 'a1b2c3d4e5f6', description: '12 lowercase hex characters' }),
    status: z.literal('pending'),
    message: z.string(),
    created_at: IsoTime,
  })
  .openapi('JobAccepted');

/** Webhook delivery outcome on a job record. */
export const WebhookOutcomeSchema = z
  .object({
    url: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    delivered_at: z.string().nullable(),
  })
  .openapi('WebhookOutcome');

/** `GET /jobs/{job_id}` (seed 002), plus `webhook` when the job has one. */
export const JobRecordSchema = z
  .object({
    job_id: z.string(),
    status: z.enum(['pending', 'running', 'completed', 'failed']),
    algorithm: z.string(),
    created_at: IsoTime,
    started_at: IsoTime.nullable(),
    completed_at: IsoTime.nullable(),
    result: z.unknown(),
    error: z.string().nullable(),
    metadata: MetadataSchema.nullable(),
    webhook: WebhookOutcomeSchema.optional(),
  })
  .openapi('JobRecord');

/** The one error shape (DESIGN.md, Errors). */
export const ErrorSchema = z
  .object({
    error: z.string().openapi({ example: 'VALIDATION_ERROR' }),
    message: z.string().openapi({ example: 'number must be an integer' }),
    details: z.record(z.string(), z.unknown()).openapi({ example: { field: 'number', value: 'abc' } }),
    request_id: z.string().openapi({ example: '550e8400-e29b-41d4-a716-446655440000' }),
  })
  .openapi('Error');

/** `GET /healthz` (seed 002). */
export const HealthSchema = z
  .object({ status: z.literal('healthy'), timestamp: z.number().openapi({ description: 'Unix time in seconds', example: 1706868000.123 }) })
  .openapi('Health');

/** `GET /readyz` (seed 002). */
export const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    timestamp: z.number(),
    checks: z.record(z.string(), z.boolean()).openapi({ example: { algorithm: true, redis: true, accepting: true } }),
  })
  .openapi('Ready');

/** `GET /algorithms`. */
export const AlgorithmListSchema = z
  .object({
    algorithms: z.array(
      z.object({ name: z.string(), version: z.string(), description: z.string(), params_schema: z.record(z.string(), z.unknown()) }),
    ),
  })
  .openapi('AlgorithmList');
