/**
 * The hub's touchscreen and courier API (API.md "Edge hub"), through `app.request()` over
 * real services: a Johnny-Five bank on a simulated board, a temp SQLite file, a manual clock.
 * The test plays the courier's and the recipient's hands on the board, and the cloud when it
 * reads an issued code (it holds the seal key's private half).
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { codeView, codesNewestFirst } from '../../shared/ledger/parcel-doc.js';
import { str } from '../../shared/ledger/str.js';
import { waitUntil } from '../support/board.js';
import { COURIER, createTestApp, expectApiError, json, putParcelIn, takeParcelOut, type TestApp } from '../support/hub.js';

const HOUR = 3600_000;
let h: TestApp;
afterEach(async () => {
  await h?.close();
});

const pickup = (code: string) => h.post('/api/pickup', { code });
const health = async () => json(await h.get('/health')) as Promise<{ compartments: { total: number; free: number; faulty: number } }>;
const codeOf = (parcelId: string) => {
  const doc = h.store.ledger.doc(parcelId)!;
  return codeView(doc, codesNewestFirst(doc)[0]!, h.clock.now());
};
/** A code that is not `code`: same selector, another verifier. */
const wrongVerifier = (code: string) => `${code.slice(0, 3)}-${String((Number(code.slice(4)) + 1) % 1_000_000).padStart(6, '0')}`;

describe('health', () => {
  test('has the shape of API.md: bankId, online, lastSyncAt, compartments', async () => {
    h = await createTestApp();
    const res = await h.get('/health');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ bankId: 'bank-1', online: false, lastSyncAt: null, compartments: { total: 12, free: 12, faulty: 0 } });
    expect(Object.keys(body.compartments).sort()).toEqual(['faulty', 'free', 'total']);
  });
});

describe('deposit and pickup', () => {
  test('deposit -> confirm issues a sealed code; the code opens the right door once', async () => {
    h = await createTestApp();
    const opened = await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'M' });
    expect(opened.status).toBe(200);
    const { compartment, depositId } = await json(opened);
    expect(compartment).toBe(5); // the smallest free compartment that fits: M 5-8 on a cubby-12
    expect(depositId).toMatch(/^[a-f0-9]{16}$/);
    expect(h.board.isOpen(5)).toBe(true);
    expect((await health()).compartments.free).toBe(11); // held by the pending deposit
    expect(h.store.ledger.doc('p-1')?.deposit).toBeUndefined(); // no code before the sensors confirm

    await putParcelIn(h.sim, 5);
    const confirmed = await h.post(`/api/courier/deposit/${depositId}/confirm`);
    expect(confirmed.status).toBe(200);
    expect(await json(confirmed)).toEqual({ parcelId: 'p-1', compartment: 5, codeIssued: true });
    // A repeated confirm answers the same (the courier's tablet may retry).
    expect(await json(await h.post(`/api/courier/deposit/${depositId}/confirm`))).toEqual({ parcelId: 'p-1', compartment: 5, codeIssued: true });

    // The cloud opens the sealed code; the hub stores only the selector and an argon2id hash.
    const code = h.readCode('p-1');
    expect(code).toMatch(/^\d{3}-\d{6}$/);
    const rec = codesNewestFirst(h.store.ledger.doc('p-1')!)[0]!;
    expect(str(rec.selector)).toBe(code.slice(0, 3));
    expect(rec.hash.toString()).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(h.store.ledger.doc('p-1'))).not.toContain(code);
    for (const f of [h.dataFile, `${h.dataFile}-wal`]) {
      if (existsSync(f)) expect(readFileSync(f).includes(Buffer.from(code))).toBe(false);
    }

    const before = h.board.pulseLog.length;
    const doorsBefore = h.board.doorOpenLog.length;
    const res = await pickup(code);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ compartment: 5, parcelId: 'p-1' });
    expect(h.board.pulseLog.slice(before).map((p) => p.no)).toEqual([5]);
    expect(h.board.doorOpenLog.slice(doorsBefore)).toEqual([expect.objectContaining({ no: 5, cause: 'pulse' })]);
    expect(h.sim.bank.status(5).door).toBe('open');
    expect(codeOf('p-1').state).toBe('used');
    expect(h.store.audit.since(0).filter((e) => e.type === 'pickup')).toEqual([expect.objectContaining({ parcelId: 'p-1', compartment: 5, actor: 'recipient:keypad' })]);

    await expectApiError(await pickup(code), 410, 'code_used');
    expect(h.board.pulseLog.length).toBe(before + 1);
    // The recipient takes the parcel: the compartment is free again.
    await takeParcelOut(h.sim, 5);
    expect((await health()).compartments.free).toBe(12);
  });

  test('a code typed as 9 digits, with spaces or dots, is the same code', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const res = await pickup(` ${d.code.replace('-', '.').slice(0, 6)} ${d.code.slice(6)} `);
    expect(res.status).toBe(200);
  });

  test('two parcels, two codes: each opens only its own door, concurrently', async () => {
    h = await createTestApp();
    const [a, b] = [await h.depositParcel('p-a'), await h.depositParcel('p-b')];
    expect(a.compartment).not.toBe(b.compartment);
    const before = h.board.pulseLog.length;
    const [ra, rb] = await Promise.all([pickup(a.code), pickup(b.code)]);
    expect(await json(ra)).toEqual({ compartment: a.compartment, parcelId: 'p-a' });
    expect(await json(rb)).toEqual({ compartment: b.compartment, parcelId: 'p-b' });
    expect(h.board.pulseLog.slice(before).map((p) => p.no).sort()).toEqual([a.compartment, b.compartment].sort());
  });

  test('the same code sent twice at once opens one door once', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const before = h.board.pulseLog.length;
    const results = await Promise.all([pickup(d.code), pickup(d.code), pickup(d.code)]);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 410, 410]);
    expect(h.board.pulseLog.length).toBe(before + 1);
    const doc = h.store.ledger.doc('p-1')!;
    expect(Object.keys(codesNewestFirst(doc)[0]!.uses)).toHaveLength(1);
  });

  test('two couriers at once get two different compartments', async () => {
    h = await createTestApp();
    const body = (parcelId: string) => ({ courierId: COURIER.id, secret: COURIER.secret, parcelId, size: 'L' });
    const [a, b] = await Promise.all([h.post('/api/courier/deposit', body('p-a')), h.post('/api/courier/deposit', body('p-b'))]);
    const [ja, jb] = [await json(a), await json(b)];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(ja.compartment).not.toBe(jb.compartment);
  });

  test('a courier double-tapping Open gets one compartment, one deposit, and can confirm it', async () => {
    h = await createTestApp();
    const body = { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' };
    const [a, b] = await Promise.all([h.post('/api/courier/deposit', body), h.post('/api/courier/deposit', body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const [ja, jb] = [await json(a), await json(b)];
    expect(jb).toEqual(ja);
    expect(h.store.bankState.faulty()).toEqual([]);
    expect([...h.services.deposit.pendingCompartments()]).toEqual([ja.compartment]);
    await putParcelIn(h.sim, ja.compartment);
    expect((await h.post(`/api/courier/deposit/${ja.depositId}/confirm`)).status).toBe(200);
    expect(h.readCode('p-1')).toMatch(/^\d{3}-\d{6}$/);
  });

  test('wrong code: 401 invalid_code with attemptsLeft; a wrong verifier on a live selector counts the same', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const other = d.code.startsWith('000') ? '001-000000' : '000-000000';
    expect((await expectApiError(await pickup(other), 401, 'invalid_code')).attemptsLeft).toBe(4);
    expect((await expectApiError(await pickup(wrongVerifier(d.code)), 401, 'invalid_code')).attemptsLeft).toBe(3);
    expect(h.board.pulseLog.length).toBe(1); // the deposit's only
    expect(codeOf('p-1').state).toBe('active');
  });

  test('malformed codes: 400 malformed_code, no attempt counted, nothing hashed', async () => {
    h = await createTestApp();
    for (const code of ['', 'abc', '12345678', '1234567890', '123-45678x', '１２３４５６７８９', '123_456789']) {
      await expectApiError(await pickup(code), 400, 'malformed_code');
    }
    expect(h.services.throttle.snapshot('keypad').consecutive).toBe(0);
    expect((await expectApiError(await pickup('000-000000'), 401, 'invalid_code')).attemptsLeft).toBe(4);
  });

  test('jammed door: 409 door_fault, the code is not consumed, the fault is recorded; unjam and retry opens', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.board.jam(d.compartment);
    const pulses = h.board.pulseLog.length;
    const doors = h.board.doorOpenLog.length;
    const e = await expectApiError(await pickup(d.code), 409, 'door_fault');
    expect(e).toMatchObject({ compartment: d.compartment });
    expect(e.message).toMatch(/not used/);
    expect(h.board.pulseLog.length).toBe(pulses + 1); // the lock was pulsed…
    expect(h.board.doorOpenLog.length).toBe(doors); // …and the door stayed shut
    expect(codeOf('p-1')).toMatchObject({ state: 'active', openFailures: 1 });
    expect(await health()).toMatchObject({ compartments: { total: 12, faulty: 1 } });
    expect(h.store.bankState.condition(d.compartment).faults).toHaveLength(1);
    expect(h.store.audit.since(0).filter((ev) => ev.type === 'door_fault')).toEqual([expect.objectContaining({ compartment: d.compartment, parcelId: 'p-1' })]);
    // The throttle did not count it: the code was right.
    expect(h.services.throttle.snapshot('keypad').consecutive).toBe(0);

    h.board.unjam(d.compartment);
    const res = await pickup(d.code);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ compartment: d.compartment, parcelId: 'p-1' });
    expect(codeOf('p-1').state).toBe('used');
    expect((await health()).compartments.faulty).toBe(0); // a confirmed open clears the fault
  });

  test('door sensor stuck open: no 200 for a door that stayed locked; 409 door_fault, the code is kept', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.board.stickSensor(d.compartment, 'open');
    await waitUntil(() => h.sim.bank.status(d.compartment).door === 'open', 'the hub sees the stuck sensor');
    const pulses = h.board.pulseLog.length;
    const e = await expectApiError(await pickup(d.code), 409, 'door_fault');
    expect(e.message).toMatch(/not used/);
    expect(h.board.isOpen(d.compartment)).toBe(false); // physically still locked
    expect(h.board.pulseLog.length).toBe(pulses);
    expect(codeOf('p-1')).toMatchObject({ state: 'active', openFailures: 1 });
    expect(h.store.bankState.condition(d.compartment).faults[0]?.reason).toMatch(/sensor reported open/);
    // Repaired: the code still works.
    h.board.unstickSensor(d.compartment);
    await waitUntil(() => h.sim.bank.status(d.compartment).door === 'closed', 'the sensor follows the door again');
    expect((await pickup(d.code)).status).toBe(200);
  });

  test('door sensor stuck closed: the lock releases but nothing confirms it, so the code is NOT consumed (the conservative side)', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.board.stickSensor(d.compartment, 'closed');
    await expectApiError(await pickup(d.code), 409, 'door_fault');
    expect(h.board.doorOpenLog.at(-1)).toMatchObject({ no: d.compartment, cause: 'pulse' }); // it did open physically
    expect(codeOf('p-1')).toMatchObject({ state: 'active', openFailures: 1 });
    expect((await health()).compartments.faulty).toBe(1);
  });

  test('board cable pulled: pickup 409 door_fault (code kept), deposit 409 board_unavailable, no door marked faulty; back, it all works', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.board.pullCable();
    await waitUntil(() => !h.sim.bank.health().connected, 'the hub notices the board is gone', 5000);
    expect((await health()) as unknown).toMatchObject({ board: 'lost' });
    const e = await expectApiError(await pickup(d.code), 409, 'door_fault');
    expect(e.message).toMatch(/lost contact/);
    expect(codeOf('p-1').state).toBe('active');
    await expectApiError(
      await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-2', size: 'S' }),
      409,
      'board_unavailable',
    );
    expect(h.services.deposit.pendingCompartments().size).toBe(0);
    expect((await health()).compartments.faulty).toBe(0);
    h.board.plugCable();
    await waitUntil(() => h.sim.bank.health().connected, 'the board is back', 5000);
    expect((await pickup(d.code)).status).toBe(200);
    expect((await health()).compartments).toMatchObject({ faulty: 0, free: 11 });
  });

  test('a deposit door that does not open: marked faulty, the courier gets the next one, later couriers skip it', async () => {
    h = await createTestApp({ model: 'cubby-4' }); // 1 S, 2-3 M, 4 L
    h.board.jam(1);
    const body = (parcelId: string) => ({ courierId: COURIER.id, secret: COURIER.secret, parcelId, size: 'S' });
    const first = await h.post('/api/courier/deposit', body('p-1'));
    expect(first.status).toBe(200);
    expect((await json(first)).compartment).toBe(2);
    expect(h.board.pulseLog.map((p) => p.no)).toEqual([1, 2]);
    expect(await health()).toMatchObject({ compartments: { total: 4, faulty: 1 } });
    expect(h.store.bankState.condition(1).faults[0]?.reason).toMatch(/deposit/);
    h.board.unjam(1); // still faulty until a technician or a confirmed open clears it
    const second = await h.post('/api/courier/deposit', body('p-2'));
    expect((await json(second)).compartment).toBe(3);
  });

  test('confirm before the door is closed: 409 door_not_closed; close it and confirm again', async () => {
    h = await createTestApp();
    const opened = await json(await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' }));
    h.board.placeParcel(opened.compartment);
    await expectApiError(await h.post(`/api/courier/deposit/${opened.depositId}/confirm`), 409, 'door_not_closed');
    expect(h.store.ledger.doc('p-1')?.deposit).toBeUndefined();
    h.board.removeParcel(opened.compartment);
    await putParcelIn(h.sim, opened.compartment);
    expect((await h.post(`/api/courier/deposit/${opened.depositId}/confirm`)).status).toBe(200);
  });

  test('confirm with the compartment empty: 409 parcel_not_detected, no code issued', async () => {
    h = await createTestApp();
    const opened = await json(await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' }));
    await takeParcelOut(h.sim, opened.compartment); // closes an empty door
    const e = await expectApiError(await h.post(`/api/courier/deposit/${opened.depositId}/confirm`), 409, 'parcel_not_detected');
    expect(e.compartment).toBe(opened.compartment);
    expect(h.store.ledger.doc('p-1')?.deposit).toBeUndefined();
    expect(h.store.ledger.doc('p-1')?.codes ?? {}).toEqual({});
  });

  test('a courier who walks away without pressing Done: after 10 min the hub confirms a closed, occupied compartment, frees a closed empty one, and reports a door left open once', async () => {
    h = await createTestApp();
    const open = async (parcelId: string) => json(await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId, size: 'S' }));
    const inside = await open('p-in');
    const empty = await open('p-empty');
    const ajar = await open('p-ajar');
    await putParcelIn(h.sim, inside.compartment);
    await takeParcelOut(h.sim, empty.compartment);
    const AFTER = 10 * 60_000;
    expect((await h.services.deposit.sweepAbandoned(h.clock.now() + AFTER - 1, AFTER)).size).toBe(0); // too early: the courier may still press Done
    expect((await health()).compartments.free).toBe(9);

    h.manual.advance(AFTER);
    const done = await h.services.deposit.sweepAbandoned(h.clock.now(), AFTER);
    expect(Object.fromEntries(done)).toEqual({ [inside.depositId]: 'confirmed', [empty.depositId]: 'abandoned', [ajar.depositId]: 'door_open' });
    // The parcel that is in the locker has its code (sealed for the cloud, which sends it) and opens with it.
    expect(h.store.ledger.doc('p-in')?.deposit?.compartment).toBe(inside.compartment);
    expect((await pickup(h.readCode('p-in'))).status).toBe(200);
    // The empty one is free again; the courier's late Done is told so, and nothing was issued.
    expect(h.store.ledger.doc('p-empty')?.deposit).toBeUndefined();
    await expectApiError(await h.post(`/api/courier/deposit/${empty.depositId}/confirm`), 404, 'deposit_not_found');
    expect(h.services.deposit.pendingCompartments()).toEqual(new Set([ajar.compartment]));
    const types = (t: string) => h.store.audit.since(0).filter((e) => e.type === t);
    expect(types('deposit_auto_confirmed')).toEqual([expect.objectContaining({ parcelId: 'p-in', compartment: inside.compartment, actor: 'hub' })]);
    expect(types('deposit_abandoned')).toEqual([expect.objectContaining({ parcelId: 'p-empty', compartment: empty.compartment })]);

    // The open door is reported once, however often the sweep runs; closed with the parcel in, it is confirmed.
    await h.services.deposit.sweepAbandoned(h.clock.now(), AFTER);
    expect(types('deposit_door_left_open')).toEqual([expect.objectContaining({ parcelId: 'p-ajar', compartment: ajar.compartment })]);
    await putParcelIn(h.sim, ajar.compartment);
    expect(Object.fromEntries(await h.services.deposit.sweepAbandoned(h.clock.now(), AFTER))).toEqual({ [ajar.depositId]: 'confirmed' });
    expect(h.services.deposit.pendingCompartments().size).toBe(0);
  });

  test('deposit with a wrong courier secret or an unknown courier: 401, no door moves', async () => {
    h = await createTestApp();
    const body = { courierId: COURIER.id, secret: 'not-the-secret', parcelId: 'p-1', size: 'S' };
    await expectApiError(await h.post('/api/courier/deposit', body), 401, 'invalid_credentials');
    await expectApiError(await h.post('/api/courier/deposit', { ...body, courierId: 'courier-9' }), 401, 'invalid_credentials');
    expect(h.board.pulseLog).toHaveLength(0);
  });

  test('no free compartment of the size: 409 no_free_compartment', async () => {
    h = await createTestApp(); // three L compartments
    for (const p of ['p-1', 'p-2', 'p-3']) await h.depositParcel(p, 'L');
    const pulses = h.board.pulseLog.length;
    await expectApiError(
      await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-4', size: 'L' }),
      409,
      'no_free_compartment',
    );
    expect(h.board.pulseLog.length).toBe(pulses);
    // A smaller parcel still fits.
    expect((await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-5', size: 'S' })).status).toBe(200);
  });

  test('a parcel already deposited cannot be deposited again', async () => {
    h = await createTestApp();
    await h.depositParcel('p-1');
    await expectApiError(
      await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-1', size: 'S' }),
      409,
      'already_deposited',
    );
  });

  test('revoked code: 410 code_revoked, no door moves', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    h.store.ledger.revoke('p-1', 'support rotated it');
    const pulses = h.board.pulseLog.length;
    await expectApiError(await pickup(d.code), 410, 'code_revoked');
    expect(h.board.pulseLog.length).toBe(pulses);
  });

  test('expired code: 410 code_expired once the clock passes 72 h; just before, it opens', async () => {
    h = await createTestApp();
    const a = await h.depositParcel('p-a');
    const b = await h.depositParcel('p-b');
    h.manual.advance(72 * HOUR - 60_000);
    expect((await pickup(a.code)).status).toBe(200);
    h.manual.advance(60_000);
    await expectApiError(await pickup(b.code), 410, 'code_expired');
    expect(codeOf('p-b').state).toBe('expired');
  });

  test('QR payload: the right bank opens; another bank is refused and the code stays valid', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    await expectApiError(await h.post('/api/pickup', { qr: `cubby:bank-2:${d.code}` }), 400, 'wrong_locker');
    await expectApiError(await h.post('/api/pickup', { qr: 'not a cubby code' }), 400, 'malformed_code');
    await expectApiError(await h.post('/api/pickup', { qr: `cubby:bank-1:${d.code}`, code: d.code }), 400, 'invalid_input');
    expect(codeOf('p-1').state).toBe('active');
    const res = await h.post('/api/pickup', { qr: `cubby:bank-1:${d.code}` });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ compartment: d.compartment, parcelId: 'p-1' });
    expect(h.store.audit.since(0).find((e) => e.type === 'pickup')?.actor).toBe('recipient:qr');
  });
});
