import * as A from '@automerge/automerge';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyCommand, type SignedCommand } from '../../shared/crypto/signed-command.js';
import { DEMO } from '../../cloud/demo-seed.js';
import type { CloudMqtt } from '../../cloud/mqtt/cloud-mqtt.js';
import type { BankCommandSender } from '../../cloud/ports.js';
import { str } from '../../shared/ledger/str.js';
import { FAKE_HASH } from '../sync/harness.js';
import { testCloud, type TestCloud } from './cloud-fixture.js';

const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}` };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}` };
const json = { 'content-type': 'application/json' };

const announcement = (over: Record<string, unknown> = {}) => ({
  parcelId: 'P-1001',
  bankId: 'bank-1',
  carrier: DEMO.carrierName,
  trackingNumber: 'TRK-1001',
  size: 'M',
  recipient: { name: 'Ada', phone: '+4915112345678', email: 'ada@example.com', preferences: ['sms', 'email'] },
  ...over,
});

/** Compile-time: the MQTT client plugs into the cloud app as its command transport as is. */
export const mqttIsACommandSender = (m: CloudMqtt): BankCommandSender => m;

let cloud: TestCloud | undefined;
afterEach(() => {
  cloud?.close();
  cloud = undefined;
});

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await cloud!.app.request(path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.body === undefined ? {} : json), ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('cloud API', () => {
  it('answers 401 without a token or with a bad one, 404 in the error shape for unknown routes', async () => {
    cloud = await testCloud();
    const none = await call('/v1/parcels/P-1');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('missing_token');
    const bad = await call('/v1/parcels/P-1', { headers: { authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('invalid_token');
    const post = await call('/v1/parcels', { body: announcement() });
    expect(post.status).toBe(401);
    const unknown = await call('/v1/nowhere', { headers: SUPPORT });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'not_found' });
  });

  it('announces a parcel (201), keeps the contact out of the CRDT, and is idempotent on retry', async () => {
    cloud = await testCloud();
    const res = await call('/v1/parcels', { headers: CARRIER, body: announcement() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ parcelId: 'P-1001', bankId: 'bank-1', status: 'announced', carrier: DEMO.carrierName, size: 'M', codes: [] });
    const doc = cloud.replicas.get('bank-1').ledger.doc('P-1001')!;
    expect(str(doc.announcement?.trackingNumber)).toBe('TRK-1001');
    const everything = JSON.stringify(A.toJS(doc));
    expect(everything).not.toContain('+4915112345678');
    expect(everything).not.toContain('ada@example.com');
    expect(cloud.store.parcels.contact('P-1001')?.phone).toBe('+4915112345678');
    expect((await call('/v1/parcels', { headers: CARRIER, body: announcement() })).status).toBe(200);
    const clash = await call('/v1/parcels', { headers: CARRIER, body: announcement({ bankId: 'bank-2' }) });
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('parcel_exists');
  });

  it('validates every body and names the field', async () => {
    cloud = await testCloud();
    const cases: [unknown, string][] = [
      [announcement({ size: 'XL' }), 'size'],
      [announcement({ parcelId: 'bad id!' }), 'parcelId'],
      [announcement({ recipient: { name: 'Ada' } }), 'recipient.phone'],
      [announcement({ recipient: { name: 'Ada', phone: '015112345678' } }), 'recipient.phone'],
      [announcement({ recipient: { name: 'Ada', email: 'not-an-address' } }), 'recipient.email'],
      [announcement({ recipient: { name: 'Ada', email: 'a@example.com', preferences: ['sms'] } }), 'recipient.preferences'],
      [announcement({ trackingNumber: undefined }), 'trackingNumber'],
    ];
    for (const [body, field] of cases) {
      const res = await call('/v1/parcels', { headers: CARRIER, body });
      expect(res.status, field).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
      expect(res.body.error.message).toContain(`"${field}"`);
    }
    expect((await call('/v1/parcels', { headers: CARRIER, body: '{"parcelId":' })).body.error.code).toBe('invalid_json');
    const unknownBank = await call('/v1/parcels', { headers: CARRIER, body: announcement({ bankId: 'bank-9' }) });
    expect([unknownBank.status, unknownBank.body.error.code]).toEqual([400, 'unknown_bank']);
    expect(unknownBank.body.error.message).toContain('"bankId"');
    const mismatch = await call('/v1/parcels', { headers: CARRIER, body: announcement({ carrier: 'someone-else' }) });
    expect([mismatch.status, mismatch.body.error.code]).toEqual([403, 'carrier_mismatch']);
    const revoke = await call('/v1/parcels/P-1001/revoke', { headers: SUPPORT, body: { reason: '' } });
    expect(revoke.status).toBe(400);
    expect(revoke.body.error.message).toContain('"reason"');
    expect(cloud.store.parcels.get('P-1001')).toBeUndefined();
  });

  it('answers 413 to an oversized body, with nothing changed', async () => {
    cloud = await testCloud();
    const res = await call('/v1/parcels', { headers: CARRIER, body: announcement({ trackingNumber: 'x'.repeat(70 * 1024) }) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(cloud.store.parcels.get('P-1001')).toBeUndefined();
  });

  it('isolates carriers; support sees every parcel; never a code, selector or hash', async () => {
    cloud = await testCloud();
    await cloud.store.credentials.addToken('other-token', { role: 'carrier', subject: 'other-carrier' }, 0);
    await call('/v1/parcels', { headers: CARRIER, body: announcement() });
    cloud.replicas.get('bank-1').ledger.depositAndIssue('P-1001', { depositId: 'd1', compartment: 12, courierId: 'courier-1', size: 'M' }, { selector: '417', hash: FAKE_HASH, issuer: 'hub' });
    const own = await call('/v1/parcels/P-1001', { headers: CARRIER });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ status: 'deposited', compartment: 12 });
    expect(own.body.codes).toHaveLength(1);
    expect(own.body.codes[0].state).toBe('active');
    const text = JSON.stringify(own.body);
    expect(text).not.toContain('argon2');
    expect(text).not.toContain('417');
    expect(text).not.toContain('selector');
    const other = await call('/v1/parcels/P-1001', { headers: { authorization: 'Bearer other-token' } });
    expect([other.status, other.body.error.code]).toEqual([404, 'parcel_not_found']);
    expect((await call('/v1/parcels/P-1001', { headers: SUPPORT })).status).toBe(200);
    expect((await call('/v1/parcels/P-nope', { headers: SUPPORT })).status).toBe(404);
  });

  it('lets support revoke the live code (audited), and nobody else', async () => {
    cloud = await testCloud();
    await call('/v1/parcels', { headers: CARRIER, body: announcement() });
    const replica = cloud.replicas.get('bank-1');
    const codeId = replica.ledger.depositAndIssue('P-1001', { depositId: 'd1', compartment: 3, courierId: 'courier-1', size: 'M' }, { selector: '001', hash: FAKE_HASH, issuer: 'hub' });
    expect((await call('/v1/parcels/P-1001/revoke', { headers: CARRIER, body: { reason: 'x' } })).status).toBe(403);
    const res = await call('/v1/parcels/P-1001/revoke', { headers: SUPPORT, body: { reason: 'recipient reported a stolen phone' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ parcelId: 'P-1001', codeId });
    expect(replica.ledger.view('P-1001')!.codes[0]!.state).toBe('revoked');
    expect(replica.audit.since(0).map((e) => e.type)).toContain('code_revoked');
    const again = await call('/v1/parcels/P-1001/revoke', { headers: SUPPORT, body: { reason: 'again' } });
    expect([again.status, again.body.error.code]).toEqual([409, 'no_live_code']);
  });

  it('nudges a bank whose sync link is down after a revoke, and not one that is connected', async () => {
    const nudged: string[] = [];
    let online = false;
    cloud = await testCloud({
      commands: { send: async () => {}, nudge: async (bankId) => void nudged.push(bankId) },
      presence: { online: () => online, lastSyncAt: () => null, lastContactAt: () => null },
    });
    await call('/v1/parcels', { headers: CARRIER, body: announcement() });
    const ledger = cloud.replicas.get('bank-1').ledger;
    ledger.depositAndIssue('P-1001', { depositId: 'd1', compartment: 3, courierId: 'courier-1', size: 'M' }, { selector: '001', hash: FAKE_HASH, issuer: 'hub' });
    await call('/v1/parcels/P-1001/revoke', { headers: SUPPORT, body: { reason: 'one' } });
    expect(nudged).toEqual(['bank-1']);
    online = true;
    ledger.issueCode('P-1001', { selector: '002', hash: FAKE_HASH, issuer: 'cloud' });
    await call('/v1/parcels/P-1001/revoke', { headers: SUPPORT, body: { reason: 'two' } });
    expect(nudged).toEqual(['bank-1']);
  });

  it('remote open: 503 without a transport; otherwise a signed, expiring, verifiable command (202)', async () => {
    cloud = await testCloud();
    const off = await call('/v1/banks/bank-1/compartments/3/open', { headers: SUPPORT, body: { reason: 'stuck parcel' } });
    expect([off.status, off.body.error.code]).toEqual([503, 'bank_unreachable']);
    cloud.close();

    const sent: { bankId: string; cmd: SignedCommand }[] = [];
    cloud = await testCloud({ commands: { send: async (bankId, cmd) => void sent.push({ bankId, cmd: cmd.signed }) } });
    const res = await call('/v1/banks/bank-1/compartments/3/open', { headers: SUPPORT, body: { reason: 'stuck parcel' } });
    expect(res.status).toBe(202);
    expect(sent).toHaveLength(1);
    const verified = verifyCommand(sent[0]!.cmd, cloud.keys.signing.publicKey);
    expect(verified.ok).toBe(true);
    if (!verified.ok) return;
    expect(verified.body).toMatchObject({ type: 'open', bankId: 'bank-1', compartment: 3, reason: 'stuck parcel', requestedBy: `support:${DEMO.supportName}`, nonce: res.body.nonce });
    expect(verified.body.expiresAt - verified.body.issuedAt).toBe(60_000);
    expect(res.body.expiresAt).toBe(verified.body.expiresAt);
    // A tampered command does not verify.
    const tampered = { ...sent[0]!.cmd, body: sent[0]!.cmd.body.replace('"compartment":3', '"compartment":4') };
    expect(verifyCommand(tampered, cloud.keys.signing.publicKey).ok).toBe(false);
    expect((await call('/v1/banks/bank-1/compartments/99/open', { headers: SUPPORT, body: { reason: 'x' } })).status).toBe(404);
    expect((await call('/v1/banks/bank-1/compartments/3/open', { headers: CARRIER, body: { reason: 'x' } })).status).toBe(403);
  });

  it('shows a bank to support: presence, faults, recent audit events', async () => {
    cloud = await testCloud();
    const replica = cloud.replicas.get('bank-1');
    replica.bankState.recordFault(7, 'door did not open');
    replica.audit.append({ type: 'door_fault', actor: 'hub', compartment: 7 });
    const res = await call('/v1/banks/bank-1', { headers: SUPPORT });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ bankId: 'bank-1', online: false, lastSyncAt: null, compartments: 24 });
    expect(res.body.faults).toEqual([expect.objectContaining({ compartment: 7, reason: 'door did not open' })]);
    expect(res.body.recentEvents[0]).toMatchObject({ type: 'door_fault', compartment: 7 });
    expect((await call('/v1/banks/bank-1', { headers: CARRIER })).status).toBe(403);
    expect((await call('/v1/banks/bank-9', { headers: SUPPORT })).status).toBe(404);
  });
});
