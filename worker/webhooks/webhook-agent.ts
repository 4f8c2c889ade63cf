import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import type { Agent, buildConnector } from 'undici';
import { classifyAddress, describeCategory } from '../../shared/net/address-policy.js';
import { undici } from './undici.js';

/** `code` of {@link WebhookRefusedError}; errors are matched by code, not class. */
export const WEBHOOK_REFUSED = 'ERR_WEBHOOK_REFUSED';

/** A delivery refused by the SSRF guard: final, never retried (the same host resolves the same way). */
export class WebhookRefusedError extends Error {
  override readonly name = 'WebhookRefusedError';
  readonly code = WEBHOOK_REFUSED;
}

/** Whether `err` (or an error it wraps) is a {@link WebhookRefusedError}. */
export function isWebhookRefused(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === WEBHOOK_REFUSED) return true;
  }
  return false;
}

function refusal(host: string, address: string): WebhookRefusedError | undefined {
  const verdict = classifyAddress(address);
  if (verdict.allowed) return undefined;
  const what = describeCategory(verdict.category);
  return new WebhookRefusedError(
    host === verdict.address ? `refused: webhook host ${address} is ${what}` : `refused: webhook host ${host} resolves to ${what} (${verdict.address})`,
  );
}

/** Resolves every address of a name (dns.lookup, as net.connect does). */
export type ResolveAll = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A `net.connect` lookup that resolves, drops refused addresses, and hands the socket only allowed
 * ones: the address connected to is the address checked, so a DNS answer that changes between a
 * check and the connect (DNS rebinding) cannot slip through.
 * @throws (through the callback) WebhookRefusedError when every address is refused.
 */
export function guardedLookup(resolveAll: ResolveAll = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolveAll(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const allowed = addresses.filter((a) => classifyAddress(a.address).allowed);
      if (allowed.length === 0) {
        const first = addresses[0];
        const error = first ? refusal(hostname, first.address)! : new WebhookRefusedError(`refused: webhook host ${hostname} has no address`);
        return callback(error, '', 0);
      }
      // Node >= 20 asks for all addresses (autoSelectFamily, "happy eyeballs"); older callers for one.
      if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/** Options of {@link createWebhookAgent}. */
export interface WebhookAgentOptions {
  /** WEBHOOK_ALLOW_PRIVATE: no guard at all (local use with receivers on localhost). */
  allowPrivate: boolean;
  /** Connect timeout in ms (the attempt's timeout). */
  connectTimeoutMs: number;
  /** DNS resolution (tests); default dns.lookup. */
  resolveAll?: ResolveAll;
}

/**
 * The undici dispatcher of webhook deliveries. Unless `allowPrivate`, its connector refuses a
 * literal IP host that {@link classifyAddress} refuses, resolves names through {@link guardedLookup},
 * and checks the connected socket's remote address once more before any byte is sent.
 * undici's Agent follows no redirects (that takes its redirect interceptor, which we do not add).
 */
export function createWebhookAgent(opts: WebhookAgentOptions): Agent {
  const { Agent, buildConnector } = undici();
  if (opts.allowPrivate) return new Agent({ connect: { timeout: opts.connectTimeoutMs } });
  const base = buildConnector({ timeout: opts.connectTimeoutMs, lookup: guardedLookup(opts.resolveAll) });
  const connect: buildConnector.connector = (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    // A literal IP never goes through lookup: net.connect uses it as is.
    if (isIP(host)) {
      const refused = refusal(host, host);
      if (refused) return callback(refused, null);
    }
    base(options, (err, socket) => {
      if (err) return callback(err, null);
      const remote = (socket as Socket).remoteAddress;
      const refused = remote === undefined ? new WebhookRefusedError(`refused: no remote address for webhook host ${host}`) : refusal(host, remote);
      if (refused) {
        socket!.destroy();
        return callback(refused, null);
      }
      callback(null, socket!);
    });
  };
  return new Agent({ connect });
}
