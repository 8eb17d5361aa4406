/**
 * The real hub runtime (`startHub`) on a simulated board over real HTTP: standalone operation
 * (no cloud: the default without connectivity), the QR scanner wired to pickups, the expiry
 * sweep, and a restart on the same data file.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ManualClock } from '../../shared/ports.js';
import { codesNewestFirst } from '../../shared/ledger/parcel-doc.js';
import { waitUntil } from '../support/board.js';
import { expectApiError, json, startTestHub, type TestHub } from '../support/hub.js';

let h: TestHub;
afterEach(async () => {
  await h?.close();
});

describe('startHub', () => {
  test('standalone (no connectivity): /health says offline and deposits and pickups work; the sealed code waits in the ledger', async () => {
    h = await startTestHub();
    const health = await json(await h.get('/health'));
    expect(health).toMatchObject({ bankId: 'bank-1', online: false, lastSyncAt: null, compartments: { total: 12, free: 12, faulty: 0 } });
    const d = await h.depositParcel('p-1', 'M');
    expect(h.store.ledger.view('p-1')?.status).toBe('deposited');
    const res = await h.post('/api/pickup', { code: d.code });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ compartment: d.compartment, parcelId: 'p-1' });
    expect(h.board.doorOpenLog.at(-1)).toMatchObject({ no: d.compartment, cause: 'pulse' });
    await expectApiError(await h.post('/api/pickup', { code: d.code }), 410, 'code_used');
    expect(h.store.ledger.view('p-1')?.status).toBe('picked_up');
  });

  test('with no cloud key at all the hub still takes deposits (the code is issued, hashed, and has nothing to deliver it)', async () => {
    h = await startTestHub({ standalone: true });
    const opened = await json(await h.post('/api/courier/deposit', { courierId: 'courier-1', secret: 'courier-1-secret', parcelId: 'p-1', size: 'S' }));
    h.board.placeParcel(opened.compartment);
    await waitUntil(() => h.board.lockOutput(opened.compartment) === 'locked', 'pulse over');
    h.board.close(opened.compartment);
    await waitUntil(() => h.sim.bank.status(opened.compartment).door === 'closed', 'door closed');
    expect((await h.post(`/api/courier/deposit/${opened.depositId}/confirm`)).status).toBe(200);
    const rec = codesNewestFirst(h.store.ledger.doc('p-1')!)[0]!;
    expect(rec.hash.toString()).toMatch(/^\$argon2id\$/);
    expect(rec.sealed).toBeUndefined();
  });

  test('the board\'s QR scanner opens the door; a code for another bank opens nothing', async () => {
    const log: string[] = [];
    h = await startTestHub({ log: (m) => log.push(m) });
    const d = await h.depositParcel('p-1');
    const pulses = h.board.pulseLog.length;
    expect(h.board.scan(`cubby:bank-2:${d.code}`)).toBe(true);
    await waitUntil(() => log.some((m) => m.includes('wrong_locker')), 'the hub refuses the other bank\'s QR');
    expect(h.board.scan('https://example.com/not-a-cubby-code')).toBe(true);
    await waitUntil(() => log.some((m) => m.includes('malformed_code')), 'the hub refuses a foreign barcode');
    expect(h.board.pulseLog.length).toBe(pulses);
    expect(h.board.scan(`cubby:bank-1:${d.code}`)).toBe(true);
    await waitUntil(() => h.store.audit.since(0).some((e) => e.type === 'pickup'), 'the pickup is recorded');
    expect(h.board.pulseLog.slice(pulses).map((p) => p.no)).toEqual([d.compartment]);
    expect(h.board.doorOpenLog.at(-1)).toMatchObject({ no: d.compartment, cause: 'pulse' });
    expect(h.store.ledger.view('p-1')?.status).toBe('picked_up');
    expect(h.store.audit.since(0).find((e) => e.type === 'pickup')).toMatchObject({ actor: 'recipient:qr', compartment: d.compartment });
    expect(log).toContain(`scanner pickup opened compartment ${d.compartment}`);
    expect(log.join('\n')).not.toContain(d.code);
  });

  test('the expiry sweep marks codes expired on the injected clock and raises a return-to-sender event', async () => {
    const clock = new ManualClock(Date.now());
    h = await startTestHub({ clock, sweepEveryMs: 20 });
    const d = await h.depositParcel('p-1');
    clock.advance(72 * 3600_000);
    await waitUntil(() => h.store.audit.since(0).some((e) => e.type === 'expired'), 'the sweep ran');
    expect(h.store.ledger.view('p-1')?.status).toBe('expired');
    await expectApiError(await h.post('/api/pickup', { code: d.code }), 410, 'code_expired');
  });

  test('a restart on the same data file keeps parcels and codes: the code still opens the door', async () => {
    h = await startTestHub();
    const d = await h.depositParcel('p-1');
    const { dataFile, keys, pepper } = h;
    await h.hub.close();
    h.board.dispose();
    // Same file and hub config; a new board process (the parcel is still physically there, the door closed).
    h = await startTestHub({ dataFile, keys, pepper });
    expect(h.store.ledger.view('p-1')?.status).toBe('deposited');
    expect((await json(await h.get('/health'))).compartments.free).toBe(11);
    expect(h.readCode('p-1')).toBe(d.code);
    const res = await h.post('/api/pickup', { code: d.code });
    expect(await json(res)).toEqual({ compartment: d.compartment, parcelId: 'p-1' });
    expect(h.board.doorOpenLog).toEqual([expect.objectContaining({ no: d.compartment, cause: 'pulse' })]);
  });
});
