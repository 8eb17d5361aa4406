import { afterEach, describe, expect, it } from 'vitest';
import { codeMessage } from '../../../cloud/notify/outbox/message-text.js';
import { BANK, CARRIER_TOKEN, EMAIL, hubIssuedCode, PHONE, startSystem, type TestSystem } from '../../e2e/system.js';

/** The outbox and its worker against the real simulators (HTTP SMS gateway, SMTP sink), business time on a ManualClock. */
describe('notification outbox', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
  });
  const rows = (parcelId: string) => sys!.notify.outboxStore.forParcel(parcelId);
  const events = (parcelId: string) => sys!.notify.outboxStore.eventsForParcel(parcelId).map((e) => `${e.event}: ${e.detail ?? ''}`);

  it('queues a hub-issued code in the transaction of its document: rolled back -> no row; hook, announcement and sweep queue it once', async () => {
    sys = await startSystem();
    await sys.notify.worker!.stop();
    await sys.announce('P-TX');
    expect(() => hubIssuedCode(sys!, 'P-TX', { fail: true })).toThrow('the commit fails');
    expect(sys.cloud.replicas.get(BANK).ledger.doc('P-TX')?.deposit).toBeUndefined();
    expect(rows('P-TX')).toEqual([]);

    const { codeId } = hubIssuedCode(sys, 'P-TX');
    expect(rows('P-TX')).toMatchObject([{ codeId, channel: 'sms', status: 'pending', destinationMasked: '+49 ••• ••• 5678', kind: 'code' }]);
    const doc = sys.cloud.replicas.get(BANK).ledger.doc('P-TX')!;
    sys.notify.notifier.parcelReceived({ parcelId: 'P-TX', bankId: BANK, doc });
    sys.notify.notifier.parcelAnnounced({ parcelId: 'P-TX', bankId: BANK });
    expect(sys.notify.notifier.sweep(3600_000)).toBe(0);
    expect(rows('P-TX')).toHaveLength(1);
  });

  it('a parcel deposited before it was announced is queued on the announcement; the start-up sweep catches a code with no row', async () => {
    sys = await startSystem();
    await sys.notify.worker!.stop();
    hubIssuedCode(sys, 'P-EARLY'); // no contact yet: nothing to queue
    expect(rows('P-EARLY')).toEqual([]);
    expect((await sys.announce('P-EARLY')).status).toBe(201);
    expect(rows('P-EARLY')).toHaveLength(1);

    // A code committed without the hook (e.g. received before this outbox existed).
    await sys.announce('P-MISSED');
    const replica = sys.cloud.replicas.get(BANK);
    replica.ledger.depositAndIssue('P-MISSED', { depositId: 'd', compartment: 2, courierId: 'c', size: 'S' }, { selector: '222', hash: 'x', issuer: 'hub', sealed: 'c2VhbGVk' });
    expect(sys.notify.notifier.sweep(3600_000)).toBe(1);
    expect(rows('P-MISSED')).toHaveLength(1);
  });

  it('retryable failures back off exponentially with full jitter, then fail over to the next preference', async () => {
    sys = await startSystem({ notify: { maxAttempts: 3 }, runtime: { backoffBaseMs: 1000, backoffMaxMs: 60_000 } });
    await sys.notify.sims.sms!.setMode('down');
    await sys.announce('P-RETRY');
    hubIssuedCode(sys, 'P-RETRY');
    const sms = () => rows('P-RETRY')[0]!;
    for (const [attempt, cap] of [
      [1, 1000],
      [2, 2000],
    ] as const) {
      await sys.until(() => sms().attempts === attempt && sms().status === 'pending', `attempt ${attempt} failed`);
      const wait = sms().nextAttemptAt - sys.clock.now();
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThanOrEqual(cap);
      expect(sms().lastError).toBe('HTTP 503: gateway unavailable');
      sys.manual.advance(cap);
    }
    await sys.until(() => rows('P-RETRY').length === 2, 'failover after the third attempt');
    expect(sms()).toMatchObject({ status: 'failed', attempts: 3, sealed: null });
    await sys.until(() => sys!.notify.sims.smtp!.messages(EMAIL).length === 1, 'the e-mail');
    expect(events('P-RETRY').filter((e) => e.startsWith('retry'))).toHaveLength(2);
    expect(events('P-RETRY')).toContain('failed: retries exhausted (3): HTTP 503: gateway unavailable');
    expect(sys.notify.health.health('sms')).toMatchObject({ attempts: 3, failures: 3, lastError: 'HTTP 503: gateway unavailable' });
  });

  it('a send interrupted by a crash goes out again with the SAME idempotency key: the gateway dedupes, one SMS', async () => {
    sys = await startSystem();
    await sys.notify.worker!.stop();
    await sys.announce('P-CRASH');
    const { code } = hubIssuedCode(sys, 'P-CRASH');
    const [row] = sys.notify.outboxStore.claimDue(sys.clock.now(), 10);
    expect(row).toMatchObject({ status: 'sending', attempts: 1 });
    // The process sent it, then died before recording the answer.
    const gateway = sys.notify.sims.sms!;
    const body = codeMessage(row!, code).body;
    const first = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: PHONE, body, idempotencyKey: row!.id }) });
    const { id: providerId } = (await first.json()) as { id: string };
    await sys.until(() => gateway.inbox(PHONE).length === 1, 'the first send is delivered');

    sys.notify.worker!.start(); // the restart: `sending` rows go back to `pending`, same id
    await sys.until(() => rows('P-CRASH')[0]!.status === 'accepted', 'sent again and recorded');
    expect(rows('P-CRASH')[0]).toMatchObject({ id: row!.id, providerId, attempts: 2 });
    expect(gateway.stats().duplicates).toBe(1);
    await gateway.idle();
    expect(gateway.inbox(PHONE)).toHaveLength(1);
  });

  it("a revoked or used code's pending message is superseded, never sent", async () => {
    sys = await startSystem();
    await sys.notify.worker!.stop();
    await sys.announce('P-REV');
    hubIssuedCode(sys, 'P-REV', { selector: '301' });
    expect((await sys.api('POST', '/v1/parcels/P-REV/revoke', { reason: 'recipient reported a stolen phone' })).status).toBe(200);
    expect(rows('P-REV')[0]).toMatchObject({ status: 'superseded', sealed: null });

    await sys.announce('P-USED');
    const { codeId } = hubIssuedCode(sys, 'P-USED', { selector: '302', compartment: 2 });
    sys.cloud.replicas.get(BANK).ledger.markUsed('P-USED', codeId, 'attempt-1', 2); // picked up before the message went out
    await sys.notify.worker!.tick();
    expect(rows('P-USED')[0]).toMatchObject({ status: 'superseded', sealed: null });
    expect(sys.notify.sims.sms!.stats().requests).toBe(0);
  });

  it('an `undelivered` receipt fails over to e-mail; the status view shows both attempts', async () => {
    sys = await startSystem();
    sys.notify.sims.sms!.markUnreachable(PHONE, 'undelivered');
    await sys.announce('P-UND');
    hubIssuedCode(sys, 'P-UND');
    await sys.until(() => rows('P-UND').length === 2 && rows('P-UND')[1]!.status === 'delivered', 'e-mail delivered after the receipt');
    expect(rows('P-UND')[0]).toMatchObject({ channel: 'sms', status: 'undelivered', lastError: 'undelivered: unreachable' });
    const status = await sys.api('GET', '/v1/parcels/P-UND', undefined, CARRIER_TOKEN);
    expect(status.body.notifications).toEqual([
      { channel: 'sms', status: 'undelivered', at: expect.any(Number), error: 'undelivered: unreachable' },
      { channel: 'email', status: 'delivered', at: expect.any(Number) },
    ]);
  });

  it('a hub-issued code for a parcel whose contact just changed waits for the hold', async () => {
    sys = await startSystem();
    await sys.announce('P-HOLD');
    expect((await sys.api('PATCH', '/v1/recipients/P-HOLD', { phone: '+4915199990000' })).status).toBe(200);
    hubIssuedCode(sys, 'P-HOLD');
    const row = rows('P-HOLD').find((r) => r.kind === 'code')!;
    expect(row.notBefore).toBe(sys.clock.now() + 600_000);
    await sys.notify.worker!.tick();
    expect(sys.notify.sims.sms!.inbox('+4915199990000')).toEqual([]);
    sys.manual.advance(600_000);
    await sys.notify.worker!.tick();
    await sys.until(() => sys!.notify.sims.sms!.inbox('+4915199990000').length === 1, 'sent after the hold');
  });

  it('channel health for support; no code or contact in clear at rest', async () => {
    sys = await startSystem();
    await sys.notify.sims.sms!.setMode('down');
    await sys.announce('P-H');
    const { code } = hubIssuedCode(sys, 'P-H');
    await sys.until(() => rows('P-H')[0]!.attempts === 1 && rows('P-H')[0]!.status === 'pending', 'a failure');
    const health = await sys.api('GET', '/v1/health/channels');
    expect(health.status).toBe(200);
    expect(health.body.channels).toEqual([
      expect.objectContaining({ channel: 'sms', attempts: 1, failures: 1, successRate: 0, lastError: 'HTTP 503: gateway unavailable' }),
      expect.objectContaining({ channel: 'email', attempts: 0, successRate: null }),
    ]);
    expect(health.body.outbox.pending.n).toBe(1);
    expect((await sys.api('GET', '/v1/health/channels', undefined, CARRIER_TOKEN)).status).toBe(403);
    expect((await sys.api('GET', '/v1/health/channels', undefined, null)).status).toBe(401);

    const db = sys.cloud.store.db;
    const dump = JSON.stringify([db.prepare('SELECT * FROM notify_outbox').all(), db.prepare('SELECT * FROM notify_outbox_events').all()]);
    expect(dump).not.toContain(code);
    expect(dump).not.toContain(code.replace('-', ''));
  });
});
