/**
 * @fnqueue/client: the fnqueue API from TypeScript (docs/clients/typescript.md).
 *
 * ```ts
 * import { createClient } from '@fnqueue/client';
 * const fnq = createClient({ baseUrl: 'http://localhost:8000' });
 * const { job_id } = await fnq.submit('PrimeChecker', { number: 17 });
 * const record = await fnq.wait(job_id, { timeoutMs: 30_000, onProgress: (p) => console.log(p.percent) });
 * ```
 */
export { createClient, DEFAULT_BASE_URL, FnqueueClient, FunctionsApi, JobsApi, SchedulesApi, WorkersApi } from './client.js';
export type { CallOptions, ClientOptions, DeployOptions, FunctionCallOptions, ListOptions, SubmitOptions } from './client.js';
export { optionsFromEnv, type EnvOptions } from './env.js';
export { FnqueueError, isFnqueueError } from './errors.js';
export { TERMINAL_STATUSES } from './types.js';
export type * from './types.js';
export type { JobEvent, WaitOptions } from './wait.js';
export { verifyWebhook, Webhook, WebhookVerificationError, type HeadersLike } from './webhooks.js';
