import { afterEach, describe, expect, it } from 'vitest';
import { BANK, CARRIER, CARRIER_TOKEN, codeIn, EMAIL, hubIssuedCode, PHONE, startSystem, type TestSystem } from '../../e2e/system.js';
import { str } from '../../../shared/ledger/str.js';

const NEW = '+4915199990000';

/** Contacts at entry (`POST /v1/parcels`) and their change (`PATCH /v1/recipients/:id`). */
describe('contacts', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
  });

  it('POST /v1/parcels normalises phone (E.164) and e-mail at entry; a bad one is 400 naming the field', async () => {
    sys = await startSystem();
    const ok = await sys.announce('P-N1', { name: 'Ada', phone: '0049 151 1234 5678', email: ' Ada@Example.COM ' });
    expect(ok.status).toBe(201);
    expect(sys.cloud.store.parcels.contact('P-N1')).toMatchObject({ phone: PHONE, email: 'Ada@example.com', preferences: ['sms', 'email'] });
    for (const [recipient, field] of [
      [{ name: 'Ada', phone: '+49 151' }, 'recipient.phone'],
      [{ name: 'Ada', phone: '+1 555 0100 000' }, 'recipient.phone'],
      [{ name: 'Ada', email: 'ada@' }, 'recipient.email'],
    ] as const) {
      const res = await sys.announce('P-N2', recipient);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(`"${field}"`);
    }
  });

  it('PATCH validates and names the field; support only; unknown parcel is 404; nothing changed answers changed: []', async () => {
    sys = await startSystem();
    await sys.announce('P-V');
    for (const [body, field] of [
      [{ phone: '0151 9999 0000' }, 'phone'],
      [{ email: 'nope' }, 'email'],
      [{}, 'phone'],
      [{ phone: null, email: null }, 'phone'],
      [{ preferences: ['sms', 'email'], email: null }, 'preferences'],
    ] as const) {
      const res = await sys.api('PATCH', '/v1/recipients/P-V', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toContain(`"${field}"`);
    }
    expect((await sys.api('PATCH', '/v1/recipients/P-V', { phone: NEW }, CARRIER_TOKEN)).status).toBe(403);
    expect((await sys.api('PATCH', '/v1/recipients/P-X', { phone: NEW })).body.error.code).toBe('parcel_not_found');
    const same = await sys.api('PATCH', '/v1/recipients/P-V', { phone: '+49 151 1234 5678' });
    expect(same.body).toMatchObject({ changed: [], alerted: [] });
    expect(sys.cloud.store.parcels.contact('P-V')?.phone).toBe(PHONE);
  });

  it('a preferences-only change alerts nobody and keeps the code', async () => {
    sys = await startSystem();
    await sys.announce('P-P');
    const { codeId } = hubIssuedCode(sys, 'P-P');
    const res = await sys.api('PATCH', '/v1/recipients/P-P', { preferences: ['email', 'sms'] });
    expect(res.body).toMatchObject({ changed: ['preferences'], alerted: [], contact: { preferences: ['email', 'sms'] } });
    expect(res.body.revokedCodeId).toBeUndefined();
    const live = Object.values(sys.cloud.replicas.get(BANK).ledger.doc('P-P')!.codes).find((c) => str(c.codeId) === codeId)!;
    expect(live.revokedAt).toBeUndefined();
  });

  it('with hold 0 the new contact gets a fresh code at once; the old e-mail address gets the alert', async () => {
    sys = await startSystem({ notify: { contactHoldMs: 0 } });
    await sys.announce('P-Z');
    const first = hubIssuedCode(sys, 'P-Z');
    const sink = sys.notify.sims.smtp!;
    const res = await sys.api('PATCH', '/v1/recipients/P-Z', { email: 'new@example.org', phone: null });
    expect(res.body).toMatchObject({ changed: ['phone', 'email', 'preferences'], alerted: ['+49 ••• ••• 5678', 'a•••@example.com'], revokedCodeId: first.codeId, contact: { email: 'n•••@example.org', preferences: ['email'] } });
    await sys.until(() => sink.messages('new@example.org').length === 1, 'the new code by e-mail');
    expect(codeIn(sink.messages('new@example.org')[0]!.text)).not.toBe(first.code);
    await sys.until(() => sink.messages(EMAIL).length === 1, 'the alert to the old address');
    expect(sink.messages(EMAIL)[0]!.text).toContain('were changed');
  });

  it('the owed code survives a restart during the hold; a resend during the hold is refused', async () => {
    sys = await startSystem();
    await sys.announce('P-R');
    hubIssuedCode(sys, 'P-R');
    expect((await sys.api('PATCH', '/v1/recipients/P-R', { phone: NEW })).status).toBe(200);
    const held = await sys.api('POST', '/v1/parcels/P-R/resend');
    expect([held.status, held.body.error.code]).toEqual([409, 'contact_change_hold']);
    const { dataDir } = sys;
    const at = sys.clock.now();
    await sys.close({ keepData: true });

    sys = await startSystem({ dataDir });
    sys.manual.set(at + 600_000);
    await sys.notify.worker!.tick();
    await sys.until(() => sys!.notify.sims.sms!.inbox(NEW).length === 1, 'the new code after the restart');
    expect(sys.notify.records.deferred('P-R')).toMatchObject({ doneAt: at + 600_000 });
    expect(sys.cloud.store.parcels.get('P-R')).toMatchObject({ carrier: CARRIER });
  });
});
