import type { LookupAddress } from 'node:dns';
import { expect } from 'chai';
import type { Agent } from 'undici';
import { postWebhook } from '../../worker/webhooks/delivery.js';
import { createWebhookAgent, guardedLookup, isWebhookRefused, WEBHOOK_REFUSED, type ResolveAll } from '../../worker/webhooks/webhook-agent.js';
import { answerWith, startHookReceiver, type HookReceiver } from '../helpers/webhook-receiver.js';

/** A resolver answering from a table instead of DNS. */
const fakeDns = (table: Record<string, LookupAddress[]>): ResolveAll => (hostname, _opts, cb) => {
  const addresses = table[hostname];
  if (addresses) setImmediate(() => cb(null, addresses));
  else setImmediate(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []));
};

/** Runs a LookupFunction and returns what it hands to net.connect. */
function runLookup(lookup: ReturnType<typeof guardedLookup>, hostname: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; result: unknown }> {
  return new Promise((resolve) => {
    lookup(hostname, { all } as never, (err: NodeJS.ErrnoException | null, address: unknown) => resolve({ err, result: address }));
  });
}

async function expectRefused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  expect(error, 'expected a refusal').to.be.instanceOf(Error);
  expect(isWebhookRefused(error), String(error)).to.equal(true);
  expect((error as Error).message).to.match(pattern);
}

describe('webhook agent (SSRF guard at connect, undici, local servers)', () => {
  describe('guardedLookup', () => {
    const lookup = guardedLookup(
      fakeDns({
        'mixed.test': [
          { address: '10.0.0.5', family: 4 },
          { address: '93.184.216.34', family: 4 },
          { address: '::1', family: 6 },
          { address: '2606:4700::1', family: 6 },
        ],
        'private.test': [{ address: '10.0.0.5', family: 4 }],
        'metadata.test': [{ address: '169.254.169.254', family: 4 }, { address: '127.0.0.1', family: 4 }],
        'mapped.test': [{ address: '::ffff:192.168.1.1', family: 6 }],
        'empty.test': [],
      }),
    );

    it('hands net.connect only the allowed addresses of a name', async () => {
      expect((await runLookup(lookup, 'mixed.test', true)).result).to.deep.equal([
        { address: '93.184.216.34', family: 4 },
        { address: '2606:4700::1', family: 6 },
      ]);
      expect((await runLookup(lookup, 'mixed.test', false)).result).to.equal('93.184.216.34');
    });

    it('refuses a name whose every address is refused, naming the address', async () => {
      const { err } = await runLookup(lookup, 'private.test', true);
      expect(err?.code).to.equal(WEBHOOK_REFUSED);
      expect(err?.message).to.equal('refused: webhook host private.test resolves to a private address (10.0.0.5)');
      expect((await runLookup(lookup, 'metadata.test', false)).err?.message).to.equal(
        'refused: webhook host metadata.test resolves to a cloud metadata address (169.254.169.254)',
      );
      expect((await runLookup(lookup, 'mapped.test', true)).err?.message).to.match(/private address \(::ffff:192\.168\.1\.1\)/);
      expect((await runLookup(lookup, 'empty.test', true)).err?.code).to.equal(WEBHOOK_REFUSED);
    });

    it('passes DNS errors through as they are (retried like any connection error)', async () => {
      const { err } = await runLookup(lookup, 'nowhere.test', true);
      expect(err?.code).to.equal('ENOTFOUND');
      expect(isWebhookRefused(err)).to.equal(false);
    });
  });

  describe('createWebhookAgent', () => {
    let receiver: HookReceiver | undefined;
    let other: HookReceiver | undefined;
    let agent: Agent | undefined;

    afterEach(async () => {
      await agent?.destroy();
      await receiver?.close();
      await other?.close();
      agent = receiver = other = undefined;
    });

    it('refuses loopback hosts, literal or resolved, before any byte reaches the receiver', async () => {
      receiver = await startHookReceiver(answerWith(200));
      agent = createWebhookAgent({ allowPrivate: false, connectTimeoutMs: 2000 });
      const p = receiver.port;
      const post = (url: string) => postWebhook(url, '{}', { timeoutMs: 2000, dispatcher: agent });
      await expectRefused(post(`http://127.0.0.1:${p}/hook`), /^refused: webhook host 127\.0\.0\.1 is a loopback address$/);
      await expectRefused(post(`http://localhost:${p}/hook`), /^refused: webhook host localhost resolves to a loopback address \((127\.0\.0\.1|::1)\)$/);
      await expectRefused(post(`http://[::1]:${p}/hook`), /loopback/);
      await expectRefused(post(`http://[::ffff:127.0.0.1]:${p}/hook`), /loopback/);
      await expectRefused(post(`http://2130706433:${p}/hook`), /127\.0\.0\.1 is a loopback address/);
      await expectRefused(post(`https://127.0.0.1:${p}/hook`), /loopback/);
      await expectRefused(post('http://169.254.169.254/latest/meta-data'), /cloud metadata address/);
      await expectRefused(post('http://10.255.0.1:9/'), /private address/);
      expect(receiver.received).to.have.length(0);
    });

    it('refuses a name that resolves to a private address (the address connected to is the one checked)', async () => {
      receiver = await startHookReceiver(answerWith(200));
      // As a rebinding name would answer at connect time, whatever it answered before.
      agent = createWebhookAgent({ allowPrivate: false, connectTimeoutMs: 2000, resolveAll: fakeDns({ 'rebind.test': [{ address: '127.0.0.1', family: 4 }] }) });
      await expectRefused(postWebhook(`http://rebind.test:${receiver.port}/hook`, '{}', { timeoutMs: 2000, dispatcher: agent }), /rebind\.test resolves to a loopback address \(127\.0\.0\.1\)/);
      expect(receiver.received).to.have.length(0);
    });

    it('with allowPrivate, delivers to loopback', async () => {
      receiver = await startHookReceiver(answerWith(204));
      agent = createWebhookAgent({ allowPrivate: true, connectTimeoutMs: 2000 });
      expect(await postWebhook(`http://localhost:${receiver.port}/hook`, '{"a":1}', { timeoutMs: 2000, dispatcher: agent })).to.equal(204);
      expect(receiver.received).to.have.length(1);
      expect(receiver.received[0]!.raw.toString()).to.equal('{"a":1}');
    });

    it('follows no redirect: a 3xx is a failed attempt and its Location gets nothing', async () => {
      other = await startHookReceiver(answerWith(200));
      for (const status of [301, 302, 303, 307, 308]) {
        receiver = await startHookReceiver(answerWith(status, { location: other.url }));
        agent = createWebhookAgent({ allowPrivate: true, connectTimeoutMs: 2000 });
        let error: unknown;
        await postWebhook(receiver.url, '{}', { timeoutMs: 2000, dispatcher: agent }).catch((err: unknown) => (error = err));
        expect((error as Error | undefined)?.message).to.equal(`receiver answered HTTP ${status} (redirects are not followed)`);
        expect(isWebhookRefused(error)).to.equal(false);
        expect(receiver.received).to.have.length(1);
        await agent.destroy();
        await receiver.close();
        agent = receiver = undefined;
      }
      expect(other.received).to.have.length(0);
    });
  });
});
