import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { track, untrack } from './resources.js';

/** One request a receiver got. */
export interface ReceivedHook {
  /** Date.now() when the request's headers arrived. */
  at: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body bytes, as sent (what a signature covers). */
  raw: Buffer;
  /** The body parsed as JSON; undefined when it is not JSON (or the connection was cut first). */
  body: any;
}

/** What a receiver does with its n-th request (0-based). */
export type HookBehaviour = (n: number, hook: ReceivedHook, res: ServerResponse, req: IncomingMessage) => void;

/** A local webhook receiver on a loopback address (127.0.0.1 by default), port 0. */
export interface HookReceiver {
  port: number;
  /** `http://<host>:<port>/hook`. */
  url: string;
  received: ReceivedHook[];
  close(): Promise<void>;
}

/** Answers every request with `status`. */
export const answerWith = (status: number, headers: Record<string, string> = {}): HookBehaviour => (_n, _hook, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{}');
};

/**
 * Starts a receiver that reads each body completely, then runs `behaviour`.
 * @param host the loopback address it listens on (another one than 127.0.0.1 makes another webhook host).
 */
export async function startHookReceiver(behaviour: HookBehaviour, host = '127.0.0.1'): Promise<HookReceiver> {
  const received: ReceivedHook[] = [];
  const server: Server = createServer((req, res) => {
    const hook: ReceivedHook = { at: Date.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: Buffer.alloc(0), body: undefined };
    const n = received.push(hook) - 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hook.raw = Buffer.concat(chunks);
      try {
        hook.body = JSON.parse(hook.raw.toString('utf8'));
      } catch {
        hook.body = undefined;
      }
      behaviour(n, hook, res, req);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const receiver: HookReceiver = {
    port,
    url: `http://${host}:${port}/hook`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      untrack(receiver);
    },
  };
  return track(`webhook receiver :${port}`, receiver, receiver.close);
}
