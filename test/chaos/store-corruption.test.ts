/**
 * Chaos: a hub whose SQLite file is damaged (truncated, garbage in its header, in its pages).
 *
 * - at start: `openHubStore` / `startHub` throw `StoreCorrupted` naming the damage, never serve;
 * - while running: the periodic on-disk check (or a SQLite CORRUPT error in a request) turns
 *   `/health` to 503 `store: corrupted` and every API call to 503 `store_corrupted`; no door moves;
 * - recovery: `rebuildHubStore` moves the damaged file aside, resyncs everything from the cloud,
 *   and reports (and merges back) the facts only the damaged store held — a pickup and a deposit
 *   made while the cloud was unreachable; `startHubWithRecovery` serves 503 while the cloud is
 *   unreachable and starts on the rebuilt store once it is back.
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { startHub, type HubRuntime } from '../../edge/hub-runtime.js';
import { openHubStore, type HubStore } from '../../edge/store/hub-store.js';
import { createStoreCorruptedApp, startHubWithRecovery } from '../../edge/store/hub-recovery.js';
import { StoreCorrupted } from '../../edge/store/store-health.js';
import { rebuildHubStore } from '../../edge/store/store-rebuild.js';
import { attachSync, type HubSync } from '../../edge/sync-wiring.js';
import { generateCode } from '../../shared/codes/format.js';
import { Argon2CodeHasher, TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';
import { createSimulatedBank } from '../support/board.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { LinkProxy } from '../sync/link-proxy.js';
import { cloudServer, type CloudServer } from '../sync/ws-fixture.js';
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { str } from '../../shared/ledger/str.js';
import { freePort } from '../support/free-port.js';

const dir = mkdtempSync(join(tmpdir(), 'cubby-corrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FAKE_HASH = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
let n = 0;
const fresh = (name: string) => join(dir, `${name}-${n++}.sqlite`);

/** A closed hub store with `count` deposited parcels (and audit events), checkpointed into the main file. */
function storeWith(file: string, count: number): void {
  const s = openHubStore({ file, bankId: 'bank-1', clock: new ManualClock(), random: new SeededRandom(1) });
  for (let i = 0; i < count; i++) {
    s.ledger.depositAndIssue(`p${i}`, { depositId: `d${i}`, compartment: i + 1, courierId: 'c', size: 'S' }, { selector: String(i).padStart(3, '0'), hash: FAKE_HASH, issuer: 'hub' });
    s.audit.append({ type: 'deposit', actor: 'courier:c', parcelId: `p${i}`, compartment: i + 1 });
  }
  s.db.pragma('wal_checkpoint(TRUNCATE)');
  s.close();
}

/** Write `bytes` of `fill` at `offset` of `file` (what a failing disk or a bad write leaves). */
function scribble(file: string, offset: number, bytes: number, fill = 0x5a): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(bytes, fill), 0, bytes, offset);
  closeSync(fd);
}

const DAMAGE: Record<string, (f: string) => void> = {
  'truncated to half': (f) => truncateSync(f, Math.floor(statSync(f).size / 2 / 4096) * 4096),
  'truncated to 3 pages': (f) => truncateSync(f, 3 * 4096),
  'garbage in the header': (f) => scribble(f, 0, 100, 0x41),
  'garbage in the middle pages': (f) => scribble(f, Math.floor(statSync(f).size / 2 / 4096) * 4096, 3 * 4096),
  'zeroed page map (documents still load)': (f) => scribble(f, 4096, 4096, 0),
};

describe('a damaged store at start', () => {
  for (const [name, damage] of Object.entries(DAMAGE)) {
    test(`${name}: openHubStore throws StoreCorrupted`, () => {
      const file = fresh('start');
      storeWith(file, 60);
      damage(file);
      let thrown: unknown;
      try {
        openHubStore({ file, bankId: 'bank-1', clock: new ManualClock(), random: new SeededRandom(2) }).close();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(StoreCorrupted);
      expect((thrown as StoreCorrupted).reason.length).toBeGreaterThan(5);
      expect((thrown as StoreCorrupted)).toMatchObject({ code: 'store_corrupted', status: 503 });
    });
  }

  test('startHub throws StoreCorrupted before touching the board; the out-of-service app says so', async () => {
    const file = fresh('starthub');
    storeWith(file, 10);
    DAMAGE['garbage in the header']!(file);
    const sim = await createSimulatedBank({ model: 'cubby-12', start: false });
    cleanups.push(() => sim.close());
    await expect(startHub({ bankId: 'bank-1', dataFile: file, bank: sim.bank, pepper: randomBytes(32), argon2: TEST_ARGON2 })).rejects.toBeInstanceOf(StoreCorrupted);
    expect(sim.board.pulseLog).toEqual([]);
    const app = createStoreCorruptedApp('bank-1', new StoreCorrupted('SQLite: file is not a database'));
    const health = await app.request('/health');
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ bankId: 'bank-1', store: 'corrupted' });
    const pickup = await app.request('/api/pickup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"123-456789"}' });
    expect(pickup.status).toBe(503);
    expect(((await pickup.json()) as { error: { code: string } }).error.code).toBe('store_corrupted');
  });
});

describe('damage found while running', () => {
  test('the on-disk check marks the store corrupted: /health 503, pickups 503 store_corrupted, no door moves', async () => {
    const file = fresh('running');
    const sim = await createSimulatedBank({ model: 'cubby-12' });
    const pepper = randomBytes(32);
    const damages: StoreCorrupted[] = [];
    const hub = await startHub({ bankId: 'bank-1', dataFile: file, bank: sim.bank, pepper, argon2: TEST_ARGON2, integrityCheckEveryMs: 0, onStoreCorrupted: (e) => damages.push(e) });
    cleanups.push(async () => {
      await hub.close();
      await sim.close();
    });
    const code = await depositWithCode(hub, pepper, 'p-run', 2);
    for (let i = 0; i < 40; i++) hub.store.audit.append({ type: 'filler', actor: 'hub', detail: 'x'.repeat(500) });
    hub.store.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(hub.checkStore()).toBeUndefined();
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);

    scribble(file, 4096, 4096, 0);
    expect(hub.checkStore()).toMatch(/ptrmap|malformed|page/i);
    expect(damages).toHaveLength(1);
    const health = await fetch(`${hub.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ store: 'corrupted' });
    const pulses = sim.board.pulseLog.length;
    const res = await fetch(`${hub.url}/api/pickup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('store_corrupted');
    expect(sim.board.pulseLog.length).toBe(pulses);
  });

  test('a SQLite CORRUPT error inside a request answers 503 store_corrupted and flips the store', async () => {
    const file = fresh('request');
    const sim = await createSimulatedBank({ model: 'cubby-12' });
    const pepper = randomBytes(32);
    const hub = await startHub({ bankId: 'bank-1', dataFile: file, bank: sim.bank, pepper, argon2: TEST_ARGON2, integrityCheckEveryMs: 0 });
    cleanups.push(async () => {
      await hub.close();
      await sim.close();
    });
    const code = await depositWithCode(hub, pepper, 'p-req', 3);
    // What better-sqlite3 throws when a page it reads is malformed.
    hub.store.ledger.markUsed = () => {
      throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    };
    const res = await fetch(`${hub.url}/api/pickup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('store_corrupted');
    expect(hub.store.health.corrupted?.reason).toMatch(/malformed/);
    expect((await fetch(`${hub.url}/health`)).status).toBe(503);
  });
});

/** A parcel with a real (test-cost) code, written as the deposit service would; returns the code. */
async function depositWithCode(hub: HubRuntime | { store: HubStore }, pepper: Uint8Array, parcelId: string, compartment: number): Promise<string> {
  const hasher = new Argon2CodeHasher(pepper, TEST_ARGON2);
  const code = generateCode(new SeededRandom(compartment), (s) => hub.store.ledger.selectorTaken(s));
  hub.store.ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector: code.selector, hash: await hasher.hash(code), issuer: 'hub' });
  return code.display;
}

describe('rebuilding from the cloud', () => {
  let cs: CloudServer;
  const announce = async (parcelId: string) => {
    const res = await cs.cloud.app.request('/v1/parcels', {
      method: 'POST',
      headers: CARRIER,
      body: JSON.stringify({ parcelId, bankId: 'bank-1', carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
    });
    expect(res.status).toBe(201);
  };

  /**
   * A hub that synced P-1..P-3 with the cloud, then, offline, picked up P-1 and took P-4 in,
   * while support revoked P-2's code at the cloud. Returns the (closed) store file.
   */
  async function hubWithOfflineHistory(pepper: Uint8Array): Promise<{ file: string; clock: ManualClock; p1Code: string }> {
    cs = await cloudServer({ seed: 3 });
    cleanups.push(() => cs.close());
    for (const p of ['P-1', 'P-2', 'P-3', 'P-4']) await announce(p);
    const file = fresh('rebuild');
    const clock = cs.cloud.clock;
    const store = openHubStore({ file, bankId: 'bank-1', clock, random: new SeededRandom(4) });
    store.docs.put(configDocId('bank-1'), A.clone(cs.cloud.replicas.get('bank-1').docs.get(configDocId('bank-1'))!));
    const sync: HubSync = attachSync({ cloudUrl: cs.url, bankId: 'bank-1', secret: 'bank-1-device-secret', store, clock, backoff: { initialMs: 10, maxMs: 50 } });
    const p1Code = await depositWithCode({ store }, pepper, 'P-1', 1);
    await depositWithCode({ store }, pepper, 'P-2', 2);
    await depositWithCode({ store }, pepper, 'P-3', 3);
    for (const p of ['P-1', 'P-2', 'P-3']) store.audit.append({ type: 'deposit', actor: 'courier:courier-1', parcelId: p });
    expect(await sync.client.syncNow(10_000)).toBe(true);
    await sync.stop();
    // Offline now.
    clock.advance(60_000);
    const p1 = store.ledger.doc('P-1')!;
    store.ledger.markUsed('P-1', str(liveCode(p1, clock.now())!.codeId), 'attempt-offline', 1);
    store.audit.append({ type: 'pickup', actor: 'recipient:keypad', parcelId: 'P-1', compartment: 1 });
    await depositWithCode({ store }, pepper, 'P-4', 4);
    store.audit.append({ type: 'deposit', actor: 'courier:courier-1', parcelId: 'P-4' });
    const revoke = await cs.cloud.app.request('/v1/parcels/P-2/revoke', { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'phone stolen' }) });
    expect(revoke.status).toBe(200);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    return { file, clock, p1Code };
  }

  const rebuild = (file: string, clock: ManualClock, cloudUrl = cs.url, timeoutMs = 15_000) =>
    rebuildHubStore({
      file,
      bankId: 'bank-1',
      cloudUrl,
      secret: 'bank-1-device-secret',
      clock,
      random: new SeededRandom(9),
      timeoutMs,
      backoff: { initialMs: 20, maxMs: 100 },
    });

  test('readable damage: the offline pickup and deposit are reported, merged back, and reach the cloud', { timeout: 60_000 }, async () => {
    const pepper = randomBytes(32);
    const { file, clock } = await hubWithOfflineHistory(pepper);
    DAMAGE['zeroed page map (documents still load)']!(file);
    expect(() => openHubStore({ file, bankId: 'bank-1', clock, random: new SeededRandom(5) })).toThrow(StoreCorrupted);

    const report = await rebuild(file, clock);
    expect(existsSync(report.movedTo)).toBe(true);
    expect(report.salvage).toMatchObject({ opened: true, unreadable: [], partial: [] });
    const facts = report.onlyInDamagedStore.map((f) => `${f.fact} ${f.parcelId ?? ''}`.trim()).sort();
    expect(facts).toEqual(['audit:deposit P-4', 'audit:pickup P-1', 'code_issued P-4', 'deposit P-4', 'pickup P-1'].sort());
    expect(report.lost).toEqual([]);

    // The rebuilt store: sound, everything the cloud has (P-2 revoked there), plus the offline facts.
    const store = openHubStore({ file, bankId: 'bank-1', clock, random: new SeededRandom(6) });
    cleanups.push(() => store.close());
    const now = clock.now();
    expect(store.ledger.view('P-1')?.status).toBe('picked_up');
    expect(store.ledger.view('P-2')?.codes[0]?.state).toBe('revoked');
    expect(store.ledger.view('P-4')?.status).toBe('deposited');
    expect(liveCode(store.ledger.doc('P-3')!, now)).toBeDefined();
    expect(store.audit.since(0).some((e) => e.type === 'store_rebuilt')).toBe(true);
    for (const id of cs.cloud.replicas.get('bank-1').docs.ids()) {
      const cloudDoc = cs.cloud.replicas.get('bank-1').docs.get(id)!;
      expect(A.hasHeads(store.docs.get(id)!, A.getHeads(cloudDoc)), `${id} missing cloud changes`).toBe(true);
    }
    // Its first sync takes the merged facts to the cloud.
    const sync = attachSync({ cloudUrl: cs.url, bankId: 'bank-1', secret: 'bank-1-device-secret', store, clock, backoff: { initialMs: 10, maxMs: 50 } });
    cleanups.push(() => sync.stop());
    expect(await sync.client.syncNow(10_000)).toBe(true);
    const cloudLedger = cs.cloud.replicas.get('bank-1').ledger;
    expect(cloudLedger.view('P-1')?.status).toBe('picked_up');
    expect(cloudLedger.view('P-4')?.status).toBe('deposited');
    const cloudDocs = cs.cloud.replicas.get('bank-1').docs;
    for (const id of store.docs.ids()) expect(sameHeads(A.getHeads(store.docs.get(id)!), A.getHeads(cloudDocs.get(id)!)), id).toBe(true);
  });

  test('unreadable damage: rebuilt from the cloud alone, the report says nothing could be read', { timeout: 60_000 }, async () => {
    const pepper = randomBytes(32);
    const { file, clock } = await hubWithOfflineHistory(pepper);
    DAMAGE['garbage in the header']!(file);
    const report = await rebuild(file, clock);
    expect(report.salvage.opened).toBe(false);
    expect(report.onlyInDamagedStore).toEqual([]);
    const store = openHubStore({ file, bankId: 'bank-1', clock, random: new SeededRandom(7) });
    cleanups.push(() => store.close());
    expect(store.ledger.view('P-1')?.status).toBe('deposited'); // the offline pickup is gone with the file
    expect(store.ledger.doc('P-4')?.deposit).toBeUndefined(); // announced at the cloud, never deposited there
    expect(store.docs.has(configDocId('bank-1'))).toBe(true);
  });

  test('partly readable damage: every reported fact is real, the store holds all the cloud has', { timeout: 60_000 }, async () => {
    const pepper = randomBytes(32);
    const { file, clock } = await hubWithOfflineHistory(pepper);
    DAMAGE['truncated to half']!(file);
    const report = await rebuild(file, clock);
    const real = new Set(['audit:deposit P-4', 'audit:pickup P-1', 'code_issued P-4', 'deposit P-4', 'pickup P-1']);
    for (const f of report.onlyInDamagedStore) expect(real.has(`${f.fact} ${f.parcelId ?? ''}`.trim()), JSON.stringify(f)).toBe(true);
    const store = openHubStore({ file, bankId: 'bank-1', clock, random: new SeededRandom(8) });
    cleanups.push(() => store.close());
    for (const id of cs.cloud.replicas.get('bank-1').docs.ids()) expect(store.docs.has(id), id).toBe(true);
  });

  test('startHubWithRecovery: 503 while the cloud is unreachable, then rebuilt and serving', { timeout: 60_000 }, async () => {
    const pepper = randomBytes(32);
    const { file, clock, p1Code } = await hubWithOfflineHistory(pepper);
    DAMAGE['zeroed page map (documents still load)']!(file);
    const proxy = await LinkProxy.start(Number(new URL(cs.url).port));
    cleanups.push(() => proxy.close());
    proxy.cut();
    const sim = await createSimulatedBank({ model: 'cubby-12' });
    cleanups.push(() => sim.close());
    const port = await freePort();
    const logs: string[] = [];
    let damagedServed = 0;
    const recovery = startHubWithRecovery({
      start: () => startHub({ bankId: 'bank-1', dataFile: file, bank: sim.bank, pepper, argon2: TEST_ARGON2, clock, port, integrityCheckEveryMs: 0 }),
      rebuild: () => rebuild(file, clock, proxy.url, 1_000),
      serveDamaged: async (damage) => {
        damagedServed++;
        const server = serve({ fetch: createStoreCorruptedApp('bank-1', damage).fetch, port, hostname: '127.0.0.1' }) as Server;
        await new Promise<void>((r) => server.once('listening', () => r()));
        return () =>
        new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
      },
      retryMs: 100,
      log: (m) => logs.push(m),
    });
    // Out of service while the cloud cannot be reached.
    await waitUntilAsync(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 503, 'the damaged app');
    const refused = await fetch(`http://127.0.0.1:${port}/api/pickup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: p1Code }) });
    expect(refused.status).toBe(503);
    await waitUntilAsync(async () => logs.some((l) => l.includes('rebuild failed')), 'a failed rebuild while the cloud is unreachable');
    proxy.heal();
    const { hub, report } = await recovery;
    cleanups.push(() => hub.close());
    expect(damagedServed).toBe(1);
    expect(report?.onlyInDamagedStore.some((f) => f.fact === 'pickup' && f.parcelId === 'P-1')).toBe(true);
    // Serving again, from the rebuilt store: P-1 was picked up offline (kept), P-2 revoked at the cloud.
    expect((await fetch(`${hub.url}/health`)).status).toBe(200);
    const used = await fetch(`${hub.url}/api/pickup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: p1Code }) });
    expect(used.status).toBe(410);
    expect(((await used.json()) as { error: { code: string } }).error.code).toBe('code_used');
    expect(hub.store.ledger.view('P-2')?.codes[0]?.state).toBe('revoked');
  });
});

async function waitUntilAsync(pred: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
