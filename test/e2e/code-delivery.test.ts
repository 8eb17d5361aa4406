import { afterEach, describe, expect, it } from 'vitest';
import { codeIn, EMAIL, PHONE, startSystem, type TestSystem } from './system.js';

/**
 * The promise of the system, end to end over real sockets: a real cloud (outbox worker,
 * SMS gateway simulator over HTTP, SMTP sink over SMTP) and a real hub on a simulated board,
 * syncing. The courier deposits at the hub; the code the recipient RECEIVES (read from the
 * simulator's inbox, as a phone would show it) opens the door.
 */
describe('getting the code to the person', () => {
  let sys: TestSystem | undefined;
  const log: string[] = [];
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
    for (const line of log.splice(0)) {
      expect(line).not.toMatch(/\d{3}-\d{6}/);
      expect(line).not.toContain(PHONE);
      expect(line).not.toContain(EMAIL);
    }
  });

  const pickUp = async (s: TestSystem, code: string, compartment: number) => {
    const pulses = s.hub!.board.pulseLog.length;
    const res = await s.hub!.post('/api/pickup', { code });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ compartment });
    expect(s.hub!.board.pulseLog.slice(pulses).map((p) => p.no)).toContain(compartment);
  };

  it('deposit at the hub -> SMS in the simulator inbox -> that code opens the door', async () => {
    sys = await startSystem({ hub: true, log });
    expect((await sys.announce('P-E2E-1')).status).toBe(201);
    const { compartment } = await sys.deposit('P-E2E-1');
    const sms = sys.notify.sims.sms!;
    await sys.until(() => sms.inbox(PHONE).length === 1, 'the SMS arrives');
    const body = sms.inbox(PHONE)[0]!.body;
    expect(body).toContain('Your parcel P-E2E-1 is ready at bank-1, compartment');
    const code = codeIn(body);
    expect(body).toContain(`QR: cubby:bank-1:${code}`);
    await pickUp(sys, code, compartment);

    await sys.until(() => sys!.notify.outboxStore.forParcel('P-E2E-1')[0]?.status === 'delivered', 'the delivery receipt');
    const status = await sys.api('GET', '/v1/parcels/P-E2E-1');
    expect(status.body.notifications).toEqual([expect.objectContaining({ channel: 'sms', status: 'delivered' })]);
    expect(JSON.stringify(status.body)).not.toContain(code);
    expect(sys.notify.sims.smtp!.messages()).toEqual([]);
    // Once delivered, the outbox keeps no sealed copy of the code.
    expect(sys.notify.outboxStore.forParcel('P-E2E-1')[0]!.sealed).toBeNull();
  });

  it('with the SMS gateway down, the code arrives by e-mail in the SMTP sink and opens the door', async () => {
    sys = await startSystem({ hub: true, log, notify: { maxAttempts: 2 }, runtime: { backoffBaseMs: 1000, backoffMaxMs: 1000 } });
    const sms = sys.notify.sims.sms!;
    await sms.setMode('down');
    await sys.announce('P-E2E-2');
    const { compartment } = await sys.deposit('P-E2E-2');
    const rows = () => sys!.notify.outboxStore.forParcel('P-E2E-2');
    await sys.until(() => rows()[0]?.attempts === 1 && rows()[0]?.status === 'pending', 'the first SMS attempt failed');
    sys.manual.advance(1001); // the backoff (full jitter, at most 1 s)
    await sys.until(() => rows().some((r) => r.channel === 'email'), 'failover to e-mail');
    const sink = sys.notify.sims.smtp!;
    await sys.until(() => sink.messages(EMAIL).length === 1, 'the e-mail arrives');
    const mail = sink.messages(EMAIL)[0]!;
    expect(mail.subject).toContain('P-E2E-2');
    await pickUp(sys, codeIn(mail.text), compartment);
    expect(rows().map((r) => [r.channel, r.status])).toEqual([
      ['sms', 'failed'],
      ['email', 'delivered'],
    ]);
    expect(sms.inbox()).toEqual([]);
  });
});
