import { expect } from 'chai';
import { Redis } from 'ioredis';
import { eventually, http } from '../helpers/http.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * Closing an API and worker leaves nothing of theirs on Redis (docs/deployment.md, "Stopping on
 * time"): no connection still open, none reconnecting, and no "[ioredis] Unhandled error event"
 * line, also when the grace period ends with a job running, the case where BullMQ's `pause()`
 * ends after the forced close and reopens the Worker's blocking connection (shared/queue/redis.ts
 * `closeDuplicates`). In-process, against the test's own redis-server, whose CLIENT LIST is the witness.
 */

/** Past the longest wait between reconnection attempts (shared/queue/redis.ts, 2 s): any retry shows by then. */
const RECONNECT_WINDOW_MS = 3000;
const ADMIN_NAME = 'test-admin';

/** Names of the clients connected to `redis` other than the test's own. */
async function otherClients(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== ADMIN_NAME);
}

/** Collects what this process writes to stderr (ioredis's console.error included) until `stop()`. */
function captureStderr(): { text: () => string; stop: () => void } {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  return { text: () => chunks.join(''), stop: () => (process.stderr.write = write) };
}

describe('closing an in-process api and worker (real Redis)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let stack: Stack | undefined;
  let admin: Redis | undefined;

  beforeEach(async () => {
    redis = await startRedis();
    stack = await startStack(redis.url, { WORKER_CONCURRENCY: '1' });
  });
  afterEach(async () => {
    await stack?.close();
    admin?.disconnect();
    admin = undefined;
    await redis.destroy();
  });

  /** Submits a Sleep job of `ms` and resolves once it runs. */
  const running = async (ms: number) => {
    const res = await http('POST', `${stack!.url}/jobs`, { algorithm: 'Sleep', params: { ms } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    await eventually(async () => (await http('GET', `${stack!.url}/jobs/${res.body.job_id}`)).body?.status === 'running', 10_000);
  };
  /** The names of the clients seen over {@link RECONNECT_WINDOW_MS}, once those of the close have gone. */
  const clientsAfterClose = async (): Promise<string[]> => {
    admin = new Redis(redis.url, { connectionName: ADMIN_NAME });
    await eventually(async () => (await otherClients(admin!)).length === 0, 1000).catch(() => undefined);
    const seen = new Set<string>();
    for (const until = Date.now() + RECONNECT_WINDOW_MS; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      for (const name of await otherClients(admin)) seen.add(name);
    }
    return [...seen];
  };

  it('leaves no client connected once closed, when the grace period ended with a job running', async () => {
    await running(10_000);
    // The stack closes the worker with a 1 s grace: the job is still running then.
    await stack!.close();
    stack = undefined;
    expect(await clientsAfterClose(), 'clients on Redis after the close').to.deep.equal([]);
  });

  it('leaves no connection retrying and prints no unhandled ioredis error when closed while its Redis is stopped', async () => {
    await running(10_000);
    const stderr = captureStderr();
    try {
      await redis.stop();
      await stack!.close();
      stack = undefined;
      // Anything still retrying connects once Redis is back.
      await redis.start();
      expect(await clientsAfterClose(), 'clients on Redis after the close').to.deep.equal([]);
    } finally {
      stderr.stop();
    }
    expect(stderr.text()).not.to.contain('Unhandled error event');
  });
});
