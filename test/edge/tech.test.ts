/**
 * The technician's LAN API (API.md "Edge hub"): login offline against the cloud-authored
 * config document, status, audited opens, service in/out, relocation (the code follows the
 * parcel), roles and tokens. Through `app.request()` over a real simulated board.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { TECH_TOKEN_TTL_MS } from '../../edge/services/tech-auth.js';
import { waitUntil } from '../support/board.js';
import { AUDITOR, COURIER, TECHNICIAN, createTestApp, expectApiError, json, lockReleased, putParcelIn, takeParcelOut, type TestApp } from '../support/hub.js';

let h: TestApp;
afterEach(async () => {
  await h?.close();
});

async function login(who: { id: string; secret: string } = TECHNICIAN): Promise<Record<string, string>> {
  const res = await h.post('/api/tech/login', { technicianId: who.id, secret: who.secret });
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(body.token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  expect(body.expiresAt).toBe(h.clock.now() + TECH_TOKEN_TTL_MS);
  return { authorization: `Bearer ${body.token}` };
}
const events = (type: string) => h.store.audit.since(0).filter((e) => e.type === type);
const freeCount = async () => (await json(await h.get('/health'))).compartments.free as number;

describe('technician', () => {
  test('login works offline; a wrong secret or an unknown technician is 401', async () => {
    h = await createTestApp();
    await login();
    await expectApiError(await h.post('/api/tech/login', { technicianId: TECHNICIAN.id, secret: 'nope' }), 401, 'invalid_credentials');
    await expectApiError(await h.post('/api/tech/login', { technicianId: 'tech-9', secret: TECHNICIAN.secret }), 401, 'invalid_credentials');
    // A courier's secret is not a technician's.
    await expectApiError(await h.post('/api/tech/login', { technicianId: COURIER.id, secret: COURIER.secret }), 401, 'invalid_credentials');
    expect(events('tech_login')).toHaveLength(1);
  });

  test('status: doors, sensors, faults, link and ledger sizes', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.board.jam(12);
    const auth = await login();
    await h.post('/api/tech/compartments/12/open', { reason: 'check the latch' }, { headers: auth });
    const res = await h.get('/api/tech/status', { headers: auth });
    expect(res.status).toBe(200);
    const s = await json(res);
    expect(s).toMatchObject({
      bankId: 'bank-1',
      board: { connected: true },
      link: { online: false, lastSyncAt: null, syncLagMs: null },
      ledger: { liveParcels: 1 },
    });
    expect(s.ledger.documents).toBeGreaterThan(1);
    expect(s.ledger.storeBytes).toBeGreaterThan(0);
    expect(s.compartments).toHaveLength(12);
    expect(s.compartments[d.compartment - 1]).toMatchObject({ no: d.compartment, door: 'closed', sensorOccupied: true, parcelId: 'p-1', inService: true, faults: [] });
    expect(s.compartments[11]).toMatchObject({ no: 12, size: 'L', parcelId: null, faults: [expect.objectContaining({ reason: expect.stringMatching(/no_response/) })] });
  });

  test('open: audited before the door moves, opens on the board, clears the faults of a door that opens', async () => {
    h = await createTestApp();
    const auth = await login();
    h.board.jam(3);
    const failed = await h.post('/api/tech/compartments/3/open', { reason: 'customer says it is stuck' }, { headers: auth });
    expect(await json(failed)).toEqual({ compartment: 3, opened: false, reason: 'no_response' });
    expect((await json(await h.get('/health'))).compartments.faulty).toBe(1);
    h.board.unjam(3);
    const res = await h.post('/api/tech/compartments/3/open', { reason: 'after freeing the latch' }, { headers: auth });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ compartment: 3, opened: true });
    expect(h.board.doorOpenLog.map((e) => e.no)).toEqual([3]);
    // (Same manual-clock instant: the audit log orders them by id.)
    expect(events('tech_open')).toHaveLength(2);
    expect(events('tech_open')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ compartment: 3, actor: 'tech:tech-1', detail: 'customer says it is stuck' }),
        expect.objectContaining({ compartment: 3, actor: 'tech:tech-1', detail: 'after freeing the latch' }),
      ]),
    );
    expect((await json(await h.get('/health'))).compartments.faulty).toBe(0);
    // A reason is required; compartments outside the bank are 404.
    await expectApiError(await h.post('/api/tech/compartments/3/open', {}, { headers: auth }), 400, 'invalid_input');
    await expectApiError(await h.post('/api/tech/compartments/13/open', { reason: 'nope nope' }, { headers: auth }), 404, 'no_such_compartment');
    await expectApiError(await h.post('/api/tech/compartments/0/open', { reason: 'nope nope' }, { headers: auth }), 404, 'no_such_compartment');
    await expectApiError(await h.post('/api/tech/compartments/abc/open', { reason: 'nope nope' }, { headers: auth }), 404, 'no_such_compartment');
  });

  test('service: a compartment out of service is not allocated; back in service it is', async () => {
    h = await createTestApp({ model: 'cubby-4' }); // 1 S, 2-3 M, 4 L
    const auth = await login();
    const out = await h.post('/api/tech/compartments/1/service', { inService: false, reason: 'broken hinge' }, { headers: auth });
    expect(await json(out)).toEqual({ compartment: 1, inService: false });
    expect(await freeCount()).toBe(3);
    const dep = await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' });
    expect((await json(dep)).compartment).toBe(2);
    // Service changes are ordered by (at, random id): on a manual clock, let time pass first.
    h.manual.advance(1000);
    await h.post('/api/tech/compartments/1/service', { inService: true, reason: 'hinge replaced' }, { headers: auth });
    expect(await freeCount()).toBe(3); // 1 back, 2 held by the pending deposit
    expect(events('service_out')).toHaveLength(1);
    expect(events('service_in')).toHaveLength(1);
  });

  test('relocate: the parcel moves, the same code opens the NEW compartment', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1'); // S: compartment 1
    const auth = await login();
    // The technician moves the parcel by hand: open the old door, take it out, open the new one, put it in.
    await h.post('/api/tech/compartments/1/open', { reason: 'moving p-1 to a larger box' }, { headers: auth });
    await takeParcelOut(h.sim, 1);
    await h.post('/api/tech/compartments/10/open', { reason: 'moving p-1 here' }, { headers: auth });
    await putParcelIn(h.sim, 10);
    const res = await h.post('/api/tech/parcels/p-1/relocate', { to: 10, reason: 'door 1 sticks' }, { headers: auth });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ parcelId: 'p-1', from: 1, to: 10 });
    expect(events('relocate')).toEqual([expect.objectContaining({ parcelId: 'p-1', compartment: 10, detail: 'from 1' })]);

    const before = h.board.pulseLog.length;
    const pickup = await h.post('/api/pickup', { code: d.code });
    expect(await json(pickup)).toEqual({ compartment: 10, parcelId: 'p-1' });
    expect(h.board.pulseLog.slice(before).map((p) => p.no)).toEqual([10]);
  });

  test('relocate refuses an occupied target, the same compartment, an unknown parcel', async () => {
    h = await createTestApp();
    await h.depositParcel('p-1');
    await h.depositParcel('p-2');
    const auth = await login();
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 2 }, { headers: auth }), 409, 'compartment_occupied');
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 1 }, { headers: auth }), 409, 'same_compartment');
    await expectApiError(await h.post('/api/tech/parcels/p-9/relocate', { to: 5 }, { headers: auth }), 404, 'parcel_not_found');
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 99 }, { headers: auth }), 404, 'no_such_compartment');
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 0 }, { headers: auth }), 400, 'invalid_input');
  });

  test('relocate refuses a compartment a courier is filling right now', async () => {
    h = await createTestApp({ model: 'cubby-4' });
    await h.depositParcel('p-1', 'S'); // 1
    const auth = await login();
    const pending = await json(await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-2', size: 'L' }));
    expect(pending.compartment).toBe(4);
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 4 }, { headers: auth }), 409, 'compartment_occupied');
  });

  test('self-test refuses a compartment a courier has open (no pulse, no bogus fault)', async () => {
    h = await createTestApp({ model: 'cubby-4' });
    const auth = await login();
    const pending = await json(await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' }));
    const pulses = h.board.pulseLog.length;
    await expectApiError(await h.post(`/api/tech/compartments/${pending.compartment}/selftest`, {}, { headers: auth }), 409, 'compartment_occupied');
    expect(h.board.pulseLog.length).toBe(pulses);
    expect(h.store.bankState.faulty()).toEqual([]);
    // An empty, closed, healthy compartment passes.
    expect(await json(await h.post('/api/tech/compartments/4/selftest', {}, { headers: auth }))).toMatchObject({ compartment: 4, verdict: 'ok' });
  });

  test('a pickup while a technician opens the same door: the attempt fails (code kept), the door is not marked faulty', async () => {
    h = await createTestApp({ bank: { pulseMs: 300 } }); // a long pulse: the technician's open is surely in flight
    const d = await h.depositParcel('p-1');
    const auth = await login();
    const tech = h.post(`/api/tech/compartments/${d.compartment}/open`, { reason: 'inspection' }, { headers: auth });
    await new Promise((r) => setTimeout(r, 20));
    const e = await expectApiError(await h.post('/api/pickup', { code: d.code }), 409, 'door_fault');
    expect(e.compartment).toBe(d.compartment);
    expect((await json(await tech)).opened).toBe(true);
    expect(h.store.bankState.faulty()).toEqual([]);
    expect(events('door_fault')).toEqual([]);
    expect(h.store.ledger.view('p-1')?.codes[0]).toMatchObject({ state: 'active', openFailures: 1 });
    // The technician closes the door; the recipient tries again and the door opens for them.
    await lockReleased(h.sim, d.compartment);
    h.board.close(d.compartment);
    await waitUntil(() => h.sim.bank.status(d.compartment).door === 'closed', 'door closed');
    expect((await h.post('/api/pickup', { code: d.code })).status).toBe(200);
  });

  test('an auditor reads but may not open, serve or relocate (403)', async () => {
    h = await createTestApp();
    await h.depositParcel('p-1');
    const auth = await login(AUDITOR);
    expect((await h.get('/api/tech/status', { headers: auth })).status).toBe(200);
    expect((await h.get('/api/tech/events', { headers: auth })).status).toBe(200);
    await expectApiError(await h.post('/api/tech/compartments/2/open', { reason: 'just looking' }, { headers: auth }), 403, 'forbidden');
    await expectApiError(await h.post('/api/tech/compartments/2/service', { inService: false, reason: 'just looking' }, { headers: auth }), 403, 'forbidden');
    await expectApiError(await h.post('/api/tech/parcels/p-1/relocate', { to: 5 }, { headers: auth }), 403, 'forbidden');
    expect(h.board.pulseLog).toHaveLength(1); // the deposit's
    expect(events('tech_open')).toHaveLength(0);
  });

  test('tokens: missing, malformed, forged, from another hub or expired are 401', async () => {
    h = await createTestApp();
    const auth = await login();
    const token = auth.authorization!.slice('Bearer '.length);
    const [payload, sig] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ sub: 'tech-1', role: 'technician', exp: h.clock.now() + 1e9 })).toString('base64url');
    for (const header of [undefined, 'Bearer', `Basic ${token}`, 'Bearer x.y', `Bearer ${forged}.${sig}`, `Bearer ${payload}.${sig.slice(1)}A`, `Bearer ${payload}`]) {
      const res = await h.get('/api/tech/status', { headers: header === undefined ? {} : { authorization: header } });
      await expectApiError(res, 401, 'unauthorized');
    }
    // A token survives a restart of the hub (the key is in its SQLite file)…
    await h.restart();
    expect((await h.get('/api/tech/status', { headers: auth })).status).toBe(200);
    // …but not its expiry.
    h.manual.advance(TECH_TOKEN_TTL_MS);
    await expectApiError(await h.get('/api/tech/status', { headers: auth }), 401, 'token_expired');
    // Another hub's token is not valid here.
    const other = await createTestApp();
    try {
      const res = await other.post('/api/tech/login', { technicianId: TECHNICIAN.id, secret: TECHNICIAN.secret });
      const otherToken = (await json(res)).token as string;
      await expectApiError(await h.get('/api/tech/status', { headers: { authorization: `Bearer ${otherToken}` } }), 401, 'unauthorized');
    } finally {
      await other.close();
    }
  });

  test('technician logins are throttled on their own scope: a keypad lock-out does not lock the technician out', async () => {
    h = await createTestApp();
    for (let i = 0; i < 5; i++) await h.post('/api/pickup', { code: `00${i}-000000` });
    await expectApiError(await h.post('/api/pickup', { code: '000-000000' }), 429, 'throttled');
    await login();
    for (let i = 0; i < 5; i++) await h.post('/api/tech/login', { technicianId: TECHNICIAN.id, secret: 'wrong' });
    const e = await expectApiError(await h.post('/api/tech/login', { technicianId: TECHNICIAN.id, secret: TECHNICIAN.secret }), 429, 'throttled');
    expect(e.retryAfterSeconds).toBe(10);
  });
});
