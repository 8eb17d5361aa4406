import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NotificationChannel, OutgoingMessage, Receipt, SendResult } from '../../cloud/notify/channels/channel.js';

/**
 * The contract every `NotificationChannel` adapter passes, run against each one with its
 * provider simulator (`test/cloud/notify/channels.contract.test.ts`). The harness gives the
 * channel plus controls of the fake provider, so the suite can check what reached the
 * recipient, not only what the adapter returned.
 */
export interface ChannelHarness {
  channel: NotificationChannel;
  /** A recipient address the provider accepts; distinct `i` give distinct recipients. */
  recipient(i: number): string;
  /** What recipients received so far, oldest first. */
  inbox(): Promise<Array<{ to: string; body: string }>>;
  /** Make the provider unavailable (5xx or connection refused). */
  goDown(): Promise<void>;
  goUp(): Promise<void>;
  /** Make one recipient unreachable (dead number, rejected mailbox, unknown device). */
  makeUnreachable(to: string): Promise<void>;
  /** Resolves once the provider has no delivery or receipt pending. */
  settle(): Promise<void>;
  /** Close the channel and stop every server. */
  teardown(): Promise<void>;
}

let seq = 0;
const nextId = (): string => `msg-${process.pid}-${Date.now().toString(36)}-${++seq}`;

/** A body with what breaks naive transports: non-ASCII, line breaks, a line over 78 chars. */
const tricky = (code: string): string =>
  `Hallo Jürgen,\nIhr Abholcode für Fach 7: ${code} (gültig 72 h).\n\n` +
  `${'Ein sehr langer Satz ohne Umbruch, '.repeat(4)}Ende. Kosten: 0 €`;

const ok = (r: SendResult): boolean => r.status === 'accepted' || r.status === 'delivered';

/** Register the contract for one adapter. `setup` runs before each test. */
export function notificationChannelContract(name: string, setup: () => Promise<ChannelHarness>): void {
  describe(`NotificationChannel contract: ${name}`, () => {
    let h: ChannelHarness;
    let receipts: Receipt[];
    const message = (to: string, body = tricky('123-456789'), messageId = nextId()): OutgoingMessage => ({
      messageId,
      to,
      subject: 'Ihr Abholcode – Cubby',
      body,
    });

    beforeEach(async () => {
      h = await setup();
      receipts = [];
      h.channel.onReceipt((r) => receipts.push(r));
    });
    afterEach(async () => {
      await h.teardown();
    });

    it('has a known channel name', () => {
      expect(['sms', 'email', 'push']).toContain(h.channel.name);
    });

    it('delivers the exact body to the recipient, once', async () => {
      const to = h.recipient(1);
      const msg = message(to);
      const result = await h.channel.send(msg);
      expect(result.status === 'accepted' || result.status === 'delivered', JSON.stringify(result)).toBe(true);
      await h.settle();
      const got = (await h.inbox()).filter((m) => m.to === to);
      expect(got).toHaveLength(1);
      expect(got[0]!.body).toBe(msg.body);
      if (result.status === 'accepted') {
        await vi.waitFor(() => expect(receipts).toContainEqual(expect.objectContaining({ providerId: result.providerId, status: 'delivered' })));
      }
    });

    it('sends the same messageId only once, answering the same providerId', async () => {
      const to = h.recipient(2);
      const msg = message(to);
      const first = await h.channel.send(msg);
      const second = await h.channel.send(msg);
      expect(ok(first) && ok(second)).toBe(true);
      expect(second).toEqual(first);
      await h.settle();
      expect((await h.inbox()).filter((m) => m.to === to)).toHaveLength(1);
    });

    it('keeps different messageIds apart', async () => {
      const to = h.recipient(3);
      expect(ok(await h.channel.send(message(to, 'first code 111-111111')))).toBe(true);
      expect(ok(await h.channel.send(message(to, 'second code 222-222222')))).toBe(true);
      await h.settle();
      expect((await h.inbox()).filter((m) => m.to === to).map((m) => m.body)).toEqual([
        'first code 111-111111',
        'second code 222-222222',
      ]);
    });

    it('reports a provider outage as a retryable failure and delivers nothing', async () => {
      await h.goDown();
      const result = await h.channel.send(message(h.recipient(4)));
      expect(result).toMatchObject({ status: 'failed', retryable: true });
      await h.goUp();
      await h.settle();
      expect((await h.inbox()).filter((m) => m.to === h.recipient(4))).toHaveLength(0);
    });

    it('recovers when the provider is back: the retry of the same messageId lands once', async () => {
      const to = h.recipient(5);
      const msg = message(to);
      await h.goDown();
      expect(await h.channel.send(msg)).toMatchObject({ status: 'failed', retryable: true });
      await h.goUp();
      expect(ok(await h.channel.send(msg))).toBe(true);
      expect(ok(await h.channel.send(msg))).toBe(true);
      await h.settle();
      const got = (await h.inbox()).filter((m) => m.to === to);
      expect(got.map((m) => m.body)).toEqual([msg.body]);
    });

    it('reports an unreachable recipient as final: non-retryable failure or an undelivered receipt', async () => {
      const to = h.recipient(6);
      await h.makeUnreachable(to);
      const result = await h.channel.send(message(to));
      if (result.status === 'failed') {
        expect(result.retryable).toBe(false);
        expect(result.error).not.toContain('123-456789');
      } else {
        expect(result.status).toBe('accepted');
        await vi.waitFor(() =>
          expect(receipts).toContainEqual(expect.objectContaining({ providerId: result.providerId, status: 'undelivered' })),
        );
      }
      await h.settle();
      expect((await h.inbox()).filter((m) => m.to === to)).toHaveLength(0);
      // Other recipients are unaffected.
      expect(ok(await h.channel.send(message(h.recipient(7))))).toBe(true);
    });

    it('stops calling a receipt listener once unsubscribed', async () => {
      const seen: Receipt[] = [];
      const unsubscribe = h.channel.onReceipt((r) => seen.push(r));
      unsubscribe();
      const dead = h.recipient(8);
      await h.makeUnreachable(dead);
      await h.channel.send(message(dead));
      await h.channel.send(message(h.recipient(9)));
      await h.settle();
      expect(seen).toEqual([]);
    });

    it('close() is idempotent; a send after it fails retryably without reaching the provider', async () => {
      await h.channel.close();
      await h.channel.close();
      const to = h.recipient(10);
      expect(await h.channel.send(message(to))).toMatchObject({ status: 'failed', retryable: true });
      await h.settle();
      expect((await h.inbox()).filter((m) => m.to === to)).toHaveLength(0);
    });
  });
}
