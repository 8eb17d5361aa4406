import { afterEach, describe, expect, it } from 'vitest';
import { parseCode } from '../../../shared/codes/format.js';
import { Argon2CodeHasher, TEST_ARGON2 } from '../../../shared/codes/hasher.js';
import { codesNewestFirst, liveCode } from '../../../shared/ledger/parcel-doc.js';
import { str } from '../../../shared/ledger/str.js';
import { BANK, CARRIER_TOKEN, codeIn, EMAIL, hubIssuedCode, PHONE, startSystem, type TestSystem } from '../../e2e/system.js';

/** `POST /v1/parcels/:id/resend`: rotation (revoke + issue + notify), channel choice, rate limit, errors. */
describe('resend rotates the code', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
  });

  it('revokes the live code, issues one the hub can verify (bank pepper) and sends it', async () => {
    sys = await startSystem();
    await sys.announce('P-RS');
    const first = hubIssuedCode(sys, 'P-RS', { compartment: 4 });
    const sms = sys.notify.sims.sms!;
    await sys.until(() => sms.inbox(PHONE).length === 1, 'the first code');

    const res = await sys.api('POST', '/v1/parcels/P-RS/resend');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ parcelId: 'P-RS', replacedCodeId: first.codeId, channel: 'sms', to: '+49 ••• ••• 5678' });
    await sys.until(() => sms.inbox(PHONE).length === 2, 'the new code');
    const body = sms.inbox(PHONE)[1]!.body;
    const code = codeIn(body);
    expect(code).not.toBe(first.code);
    expect(body).toContain('compartment 4');

    const doc = sys.cloud.replicas.get(BANK).ledger.doc('P-RS')!;
    const [newest, old] = codesNewestFirst(doc);
    expect({ codeId: str(newest!.codeId), issuer: str(newest!.issuer), selector: str(newest!.selector) }).toEqual({ codeId: res.body.codeId, issuer: 'cloud', selector: code.slice(0, 3) });
    expect(newest!.sealed).toBeUndefined(); // the cloud's own codes travel only in its outbox
    expect(old!.revokedAt).toBeDefined();
    const hasher = new Argon2CodeHasher(sys.cloud.store.keys.pepper(BANK, { bytes: () => new Uint8Array(32) }), TEST_ARGON2);
    expect(await hasher.verify(newest!.hash.toString(), parseCode(code))).toBe(true);
    const audit = sys.cloud.replicas.get(BANK).audit.since(0).find((e) => e.type === 'code_issued');
    expect(audit).toMatchObject({ actor: 'cloud:support:agent-1', parcelId: 'P-RS' });
    expect(audit!.detail).toMatch(/^resend requested by cloud:support:agent-1; sent by sms to \+49 ••• ••• 5678$/);
  });

  it('the new code is the live one even when issued in the same millisecond as the old, or with the hub clock ahead', async () => {
    sys = await startSystem();
    const replica = sys.cloud.replicas.get(BANK);
    for (let i = 0; i < 12; i++) {
      const id = `P-TIE-${i}`;
      await sys.announce(id);
      const ahead = i % 2 === 1 ? 5_000 : 0; // odd: the hub's clock is 5 s ahead of the cloud's
      sys.manual.advance(ahead);
      hubIssuedCode(sys, id, { selector: String(500 + i) });
      sys.manual.set(sys.clock.now() - ahead);
      const res = await sys.api('POST', `/v1/parcels/${id}/resend`);
      expect(res.status).toBe(202);
      const doc = replica.ledger.doc(id)!;
      expect(str(liveCode(doc, sys.clock.now())?.codeId), id).toBe(res.body.codeId);
      expect(Object.values(doc.codes).filter((c) => c.revokedAt === undefined)).toHaveLength(1);
      sys.manual.advance(10_000);
    }
  });

  it('on a named channel only (no failover), even one outside the preferences', async () => {
    sys = await startSystem();
    await sys.announce('P-CH', { name: 'Ada', phone: PHONE, email: EMAIL, preferences: ['sms'] });
    hubIssuedCode(sys, 'P-CH');
    const res = await sys.api('POST', '/v1/parcels/P-CH/resend', { channel: 'email' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ channel: 'email', to: 'a•••@example.com' });
    await sys.until(() => sys!.notify.sims.smtp!.messages(EMAIL).length === 1, 'the e-mail');
    const rows = sys.notify.outboxStore.forParcel('P-CH');
    expect(rows.find((r) => r.codeId === res.body.codeId)).toMatchObject({ channel: 'email', chain: 'only' });
  });

  it('is rate-limited per parcel: the 4th within an hour is 429 throttled with retryAfterSeconds', async () => {
    sys = await startSystem();
    await sys.announce('P-TH');
    hubIssuedCode(sys, 'P-TH');
    for (let i = 0; i < 3; i++) {
      const r = await sys.api('POST', '/v1/parcels/P-TH/resend');
      expect([r.status, r.body]).toEqual([202, expect.anything()]);
      sys.manual.advance(60_000);
    }
    const throttled = await sys.api('POST', '/v1/parcels/P-TH/resend');
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toMatchObject({ code: 'throttled', retryAfterSeconds: 3600 - 180 });
    sys.manual.advance(3600_000 - 180_000);
    expect((await sys.api('POST', '/v1/parcels/P-TH/resend')).status).toBe(202);
  });

  it('says what is wrong: unknown parcel, not deposited, picked up, no such channel, wrong role', async () => {
    sys = await startSystem();
    expect((await sys.api('POST', '/v1/parcels/P-NONE/resend')).body.error.code).toBe('parcel_not_found');
    await sys.announce('P-E', { name: 'Ada', phone: PHONE, preferences: ['sms'] });
    const notYet = await sys.api('POST', '/v1/parcels/P-E/resend');
    expect([notYet.status, notYet.body.error.code]).toEqual([409, 'not_deposited']);
    const { codeId } = hubIssuedCode(sys, 'P-E');
    expect((await sys.api('POST', '/v1/parcels/P-E/resend', undefined, CARRIER_TOKEN)).status).toBe(403);
    const bad = await sys.api('POST', '/v1/parcels/P-E/resend', { channel: 'fax' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_input']);
    const noMail = await sys.api('POST', '/v1/parcels/P-E/resend', { channel: 'email' });
    expect([noMail.status, noMail.body.error.code]).toEqual([400, 'channel_unavailable']);
    expect(noMail.body.error.message).toContain('no address on file');
    const noPush = await sys.api('POST', '/v1/parcels/P-E/resend', { channel: 'push' });
    expect([noPush.status, noPush.body.error.message]).toEqual([400, 'Field "channel": push is not configured in this cloud.']);
    sys.cloud.replicas.get(BANK).ledger.markUsed('P-E', codeId, 'a1', 1);
    const done = await sys.api('POST', '/v1/parcels/P-E/resend');
    expect([done.status, done.body.error.code]).toEqual([409, 'parcel_finished']);
  });
});
