import * as A from '@automerge/automerge';
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { writeProvisioning } from '../../cloud/provision.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { newNonce, welcomeSchema, parseControl } from '../../shared/sync/handshake.js';
import { deriveSessionKey, sealFrame } from '../../shared/sync/wire.js';
import { SeededRandom } from '../../shared/ports.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { converged } from './harness.js';
import { cloudServer, testHub, type CloudServer, type TestHub } from './ws-fixture.js';

let cs: CloudServer | undefined;
const hubs: TestHub[] = [];
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close();
  await cs?.close();
  cs = undefined;
});

const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };

function hub(bankId: string, extra: Partial<Parameters<typeof testHub>[1]> = {}): TestHub {
  const h = testHub(bankId, { url: cs!.url, clock: cs!.cloud.clock, seed: hubs.length + 7, ...extra });
  hubs.push(h);
  return h;
}

function announce(parcelId: string, bankId = 'bank-1') {
  return cs!.cloud.app.request('/v1/parcels', {
    method: 'POST',
    headers: CARRIER,
    body: JSON.stringify({ parcelId, bankId, carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', phone: '+4915112345678' } }),
  });
}

const cloudDocs = (bankId = 'bank-1') => cs!.cloud.replicas.get(bankId).docs;
const bankDoc = (h: TestHub) => (id: string) => id.startsWith('parcel:') || id.endsWith(h.bankId) || id.includes(`:${h.bankId}:`);
const snapshot = (bankId = 'bank-1') => {
  const docs = cloudDocs(bankId);
  return new Map([...docs.ids()].map((id) => [id, Buffer.from(A.save(docs.get(id)!)).toString('base64')]));
};

describe('hub <-> cloud sync over real WebSockets', () => {
  it('converges both ways; a support revoke reaches the connected hub in well under a second', async () => {
    cs = await cloudServer();
    const h = hub('bank-1');
    for (const p of ['c1', 'c2']) expect((await announce(p)).status).toBe(201);
    h.deposit('h1', 1);
    h.deposit('c2', 2); // announced at the cloud, deposited at the hub before they ever synced
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    expect(converged(h.docs, cloudDocs(), bankDoc(h))).toBe(true);
    expect(h.ledger.view('c1')?.announcement?.trackingNumber).toBe('T-c1');
    expect(cs.cloud.replicas.get('bank-1').ledger.view('c2')).toMatchObject({ status: 'deposited', compartment: 2 });
    expect(cs.cloud.store.parcels.get('h1')).toMatchObject({ bankId: 'bank-1', carrier: null });
    expect(h.client.status()).toMatchObject({ connected: true });
    expect(h.client.acknowledged(parcelDocId('h1'))).toBe(true);
    expect(cs.sync.presence.online('bank-1')).toBe(true);

    const arrived = h.next((e) => e.type === 'doc' && e.docId === parcelDocId('h1'));
    const t0 = performance.now();
    const res = await cs.cloud.app.request('/v1/parcels/h1/revoke', { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'stolen phone' }) });
    expect(res.status).toBe(200);
    await arrived;
    const ms = performance.now() - t0;
    expect(h.ledger.view('h1')!.codes[0]!.state).toBe('revoked');
    expect(ms).toBeLessThan(1000);

    // A hub-side pickup reaches the cloud too.
    h.ledger.markUsed('c2', Object.keys(h.ledger.doc('c2')!.codes)[0]!, 'a1', 2);
    expect(await h.client.syncNow()).toBe(true);
    expect(cs.cloud.replicas.get('bank-1').ledger.view('c2')!.status).toBe('picked_up');
  });

  it('resumes after a forced disconnect, incrementally: nothing changed -> no sync messages', async () => {
    cs = await cloudServer();
    const h = hub('bank-1');
    for (let i = 0; i < 30; i++) h.deposit(`p${i}`, (i % 24) + 1, String(i).padStart(3, '0'));
    for (let i = 0; i < 30; i++) await announce(`a${i}`);
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    const first = h.client.stats();
    expect(first.messagesSent).toBeGreaterThanOrEqual(30);

    const back = h.next((e) => e.type === 'synced');
    for (const ws of (cs.sync as unknown as { wss: { clients: Set<WebSocket> } }).wss.clients) ws.terminate();
    await h.next((e) => e.type === 'disconnected');
    await back;
    const second = h.client.stats();
    expect(second.connects).toBe(2);
    expect(second.messagesSent - first.messagesSent).toBe(0);
    expect(second.messagesReceived - first.messagesReceived).toBe(0);
    expect(second.bytesSent - first.bytesSent).toBeLessThan(200); // one probe frame

    // One change on each side: only those documents travel (the revoke also wrote its audit day).
    await cs.cloud.app.request('/v1/parcels/p3/revoke', { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'x' }) });
    h.ledger.markUsed('p4', Object.keys(h.ledger.doc('p4')!.codes)[0]!, 'a1', 5);
    expect(await h.client.syncNow()).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    const third = h.client.stats();
    expect(third.messagesSent - second.messagesSent).toBe(1);
    expect(third.messagesReceived - second.messagesReceived).toBe(2);
    expect(converged(h.docs, cloudDocs(), bankDoc(h))).toBe(true);
  });

  it('a large resync leaves in a small first frame and the rest after it, and converges', async () => {
    cs = await cloudServer();
    const h = hub('bank-1');
    for (let i = 0; i < 700; i++) h.deposit(`big${i}`, (i % 24) + 1, String(i % 1000).padStart(3, '0'));
    // What the hub puts on its socket, in order (not the cloud's sockets, which are in this process too).
    const sent: { bytes: number; binary: boolean }[] = [];
    const original = WebSocket.prototype.send;
    const send = vi.spyOn(WebSocket.prototype, 'send').mockImplementation(function (this: WebSocket, ...args: Parameters<WebSocket['send']>) {
      if (!(this as unknown as { _isServer: boolean })._isServer) sent.push({ bytes: (args[0] as { length: number }).length, binary: typeof args[0] !== 'string' });
      return original.apply(this, args);
    });
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    send.mockRestore();
    expect(converged(h.docs, cloudDocs(), bankDoc(h))).toBe(true);
    // ~450 bytes of changes per parcel: well over the first frame's 128 KiB of messages, less
    // than 4 MiB: a small first frame, then all the rest.
    const frames = sent.filter((f) => f.binary);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]!.bytes).toBeLessThan(frames[1]!.bytes);
    expect(h.client.stats().messagesSent).toBeGreaterThanOrEqual(700);
  });

  it('a hub provisioned from the cloud’s file starts with the same config history (nothing to merge)', async () => {
    cs = await cloudServer();
    const dir = mkdtempSync(join(tmpdir(), 'cubby-prov-'));
    try {
      writeProvisioning(dir, { store: cs.cloud.store, replicas: cs.cloud.replicas, keys: cs.cloud.keys, random: new SeededRandom(3) }, { bankId: 'bank-1', deviceSecret: 'bank-1-device-secret' });
      const configDoc = new Uint8Array(readFileSync(join(dir, 'provision', 'bank-1.automerge')));
      const h = hub('bank-1', { configDoc });
      expect(h.docs.get<{ couriers: Record<string, unknown> }>(configDocId('bank-1'))!.couriers['courier-1']).toBeDefined();
      h.client.start();
      expect(await h.client.syncNow()).toBe(true);
      expect(sameHeads(A.getHeads(h.docs.get(configDocId('bank-1'))!), A.getHeads(cloudDocs().get(configDocId('bank-1'))!))).toBe(true);
      expect(h.client.stats().docsReceived).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a wrong secret, and bank-1’s secret claiming bank-2, at hello', async () => {
    cs = await cloudServer();
    const before = [snapshot('bank-1'), snapshot('bank-2')];
    const wrong = hub('bank-1', { secret: 'not-the-secret' });
    const claim = hub('bank-2', { secret: 'bank-1-device-secret' });
    wrong.deposit('w1', 1);
    claim.deposit('w2', 1);
    const refusals = [wrong.next((e) => e.type === 'refused'), claim.next((e) => e.type === 'refused')];
    wrong.client.start();
    claim.client.start();
    for (const r of await Promise.all(refusals)) expect(r).toMatchObject({ code: 'bad_credentials' });
    expect(wrong.client.status().connected).toBe(false);
    expect(claim.client.status().connected).toBe(false);
    expect([snapshot('bank-1'), snapshot('bank-2')]).toEqual(before);
  });

  it('refuses a hub writing to its config document; the cloud is unchanged', async () => {
    cs = await cloudServer();
    const h = hub('bank-1');
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    const before = snapshot();
    h.docs.change<{ couriers: Record<string, unknown> }>(configDocId('bank-1'), 'evil', (d) => {
      d.couriers['mallory'] = { name: 'Mallory', hash: 'x' };
    });
    const refused = await h.next((e) => e.type === 'refused');
    expect(refused).toMatchObject({ code: 'read_only_document' });
    expect(snapshot()).toEqual(before);
  });

  it('refuses a parcel document of another bank (by its bankId, or by the registry); the cloud is unchanged', async () => {
    cs = await cloudServer();
    expect((await announce('b2-parcel', 'bank-2')).status).toBe(201);
    const h = hub('bank-1');
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    const before = snapshot();

    h.docs.create(parcelDocId('foreign'), { schema: 1, parcelId: 'foreign', bankId: 'bank-2', moves: {}, codes: {}, exceptions: {} });
    expect(await h.next((e) => e.type === 'refused')).toMatchObject({ code: 'forbidden_document' });
    expect(snapshot()).toEqual(before);
    h.docs.remove(parcelDocId('foreign'));

    h.deposit('b2-parcel', 4); // a parcel the registry puts at bank-2
    expect(await h.next((e) => e.type === 'refused')).toMatchObject({ code: 'forbidden_document' });
    expect(snapshot()).toEqual(before);
    expect(snapshot('bank-2').has(parcelDocId('b2-parcel'))).toBe(true);
  });

  it('the hub refuses a document of another bank from the cloud', async () => {
    cs = await cloudServer();
    const h = hub('bank-1');
    h.client.start();
    expect(await h.client.syncNow()).toBe(true);
    const mine = new Set(h.docs.ids());
    const refused = h.next((e) => e.type === 'refused' || e.type === 'disconnected');
    cloudDocs().create(parcelDocId('odd'), { schema: 1, parcelId: 'odd', bankId: 'bank-2', moves: {}, codes: {}, exceptions: {} });
    await refused;
    expect(new Set(h.docs.ids())).toEqual(mine);
  });
});

describe('the cloud refuses bad frames of an authenticated hub, and applies nothing', () => {
  /** A hand-driven hub connection: hello, welcome, then whatever frames the test sends. */
  async function rogue(url: string) {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/sync`);
    await new Promise((r) => ws.once('open', r));
    const random = new SeededRandom(99);
    const clientNonce = newNonce(random);
    ws.send(JSON.stringify({ type: 'hello', v: 1, bankId: 'bank-1', secret: 'bank-1-device-secret', clientNonce, epoch: 'abcdefabcdefabcd' }));
    const welcome = await new Promise<ReturnType<typeof welcomeSchema.parse>>((resolve) =>
      ws.on('message', (d, bin) => {
        const w = bin ? undefined : parseControl(welcomeSchema, d.toString());
        if (w) resolve(w);
      }),
    );
    const key = deriveSessionKey('bank-1-device-secret', clientNonce, welcome.serverNonce);
    const errors: { code: string }[] = [];
    ws.on('message', (d, bin) => {
      if (!bin) errors.push(JSON.parse(d.toString()) as { code: string });
    });
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    return { ws, key, errors, closed };
  }

  const validChange = () => {
    let d = A.init<Record<string, unknown>>();
    d = A.change(d, (x) => {
      x.schema = 1;
      x.parcelId = 'rogue';
      x.bankId = 'bank-1';
    });
    const [, msg] = A.generateSyncMessage(d, { ...A.initSyncState(), theirHeads: [], theirHave: [{ lastSync: [], bloom: new Uint8Array() }], theirNeed: [] } as A.SyncState);
    return msg!;
  };

  const cases: [string, (r: Awaited<ReturnType<typeof rogue>>) => void][] = [
    ['replayed_frame', (r) => {
      const f = sealFrame(r.key, 'client', 1, { wantsReply: false, ackSeq: 0, acks: [], entries: [] });
      r.ws.send(f);
      r.ws.send(f);
    }],
    ['bad_mac', (r) => {
      const f = Buffer.from(sealFrame(r.key, 'client', 1, { wantsReply: true, ackSeq: 0, acks: [], entries: [{ docId: 'parcel:rogue', message: validChange() }] }));
      f[f.length - 3]! ^= 0x10;
      r.ws.send(f);
    }],
    ['malformed_sync_message', (r) => {
      r.ws.send(sealFrame(r.key, 'client', 1, { wantsReply: true, ackSeq: 0, acks: [], entries: [{ docId: 'parcel:rogue', message: new Uint8Array([0x42, 0xff, 0x00, 0x13, 0x37]) }] }));
    }],
    ['malformed_frame', (r) => r.ws.send(Buffer.from([1, 2, 3]))],
  ];

  for (const [code, act] of cases) {
    it(`${code}`, async () => {
      cs = await cloudServer();
      const before = snapshot();
      const r = await rogue(cs.url);
      act(r);
      await r.closed;
      expect(r.errors.map((e) => e.code)).toEqual([code]);
      expect(snapshot()).toEqual(before);
      expect(cs.cloud.store.parcels.get('rogue')).toBeUndefined();
    });
  }
});
