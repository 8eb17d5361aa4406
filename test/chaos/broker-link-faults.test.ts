/**
 * Chaos: the MQTT broker restarted mid-run and the hub<->cloud sync links flapping, under a
 * steady stream of work. The cloud is `startCloud` (as `cubby cloud` runs it) with the embedded
 * broker started so that the test can close it and start it again on the same port; two hubs
 * (bank-1, bank-2) are their store, sync client (through a cuttable TCP link) and MQTT link
 * (`createHubMqtt`, nudges wired to "sync now"), in this process.
 *
 * While carriers announce, hubs deposit and pick up (each with an audit event and an MQTT event)
 * and support revokes, each sync link is cut and healed every few hundred ms (seeded: standing in
 * for every few seconds of a real flaky uplink), and the broker is closed and restarted.
 * Afterwards, with nothing done by hand but healing the links:
 * - presence recovers: each hub is connected to the broker, and online at the cloud (MQTT
 *   presence and sync session);
 * - nudges recover: a revocation made while a hub's sync link is down nudges it over MQTT;
 * - sync recovers: hub and cloud hold identical heads for every document;
 * - nothing lost or duplicated: every acknowledged announcement, revocation, deposit and pickup is
 *   at both ends, and each audit event is in the cloud's audit log exactly once.
 *
 * `CUBBY_CHAOS_SEED=<n>`; `CUBBY_CHAOS_FLAP_MS=<ms>` run length (default 4000).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { afterAll, expect, test } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { combineAttachments, startCloud, type RunningCloud } from '../../cloud/main.js';
import { startBroker, type BrokerHandle } from '../../cloud/mqtt/broker.js';
import { createCloudMqtt, type CloudMqtt } from '../../cloud/mqtt/cloud-mqtt.js';
import { createHubMqtt, type HubMqtt } from '../../edge/mqtt/hub-mqtt.js';
import { AuditLog } from '../../shared/ledger/audit-log.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { randomInt, SeededRandom, systemClock } from '../../shared/ports.js';
import { FAKE_HASH } from '../sync/harness.js';
import { LinkProxy } from '../sync/link-proxy.js';
import { testHub, type TestHub } from '../sync/ws-fixture.js';
import { str } from '../../shared/ledger/str.js';

const SEED = Number(process.env.CUBBY_CHAOS_SEED ?? randomBytes(4).readUInt32LE(0));
const RUN_MS = Number(process.env.CUBBY_CHAOS_FLAP_MS ?? 4000);
const rng = new SeededRandom(SEED);
const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
const SECRETS: Record<string, string> = { 'bank-1': 'bank-1-device-secret', 'bank-2': 'bank-2-device-secret' };
const SIZE: Record<string, number> = { 'bank-1': 24, 'bank-2': 12 };

interface Hub {
  t: TestHub;
  audit: AuditLog;
  mqtt: HubMqtt;
  proxy: LinkProxy;
  nudges: number;
  /** Audit event ids this hub wrote. */
  events: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'cubby-flap-'));
let cloud: RunningCloud | undefined;
let broker: BrokerHandle | undefined;
let cloudMqtt: CloudMqtt | undefined;
const hubs: Hub[] = [];
afterAll(async () => {
  for (const h of hubs) {
    await h.mqtt.stop();
    await h.t.close();
    await h.proxy.close();
  }
  await cloud?.close();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test(`broker restart and flapping links: presence, nudges and sync recover; nothing lost or duplicated (seed ${SEED})`, { timeout: 120_000 }, async () => {
  process.stdout.write(`broker/link chaos: CUBBY_CHAOS_SEED=${SEED}\n`);
  const mqttEvents = new Map<string, number>();
  let brokerPort = 0;
  let verifyDevice: (bankId: string, secret: string) => Promise<boolean> = async () => false;
  const startEmbedded = async (port: number) =>
    startBroker({ port, cloudUser: { username: 'cubby-cloud', secret: 'flap-cloud-secret' }, verifyDevice: (b, s) => verifyDevice(b, s) });
  cloud = await startCloud(
    { port: 0, host: '127.0.0.1', dataDir: dir, demo: true, automergeHeapMiB: 0, bankCache: 8 },
    {
      attach: combineAttachments(async (parts) => {
        // The embedded broker of attachMqtt, kept in hand so the test can restart it.
        verifyDevice = (b, s) => parts.store.credentials.verifyDevice(b, s);
        broker = await startEmbedded(0);
        brokerPort = broker.port;
        cloudMqtt = createCloudMqtt({
          url: broker.url,
          username: 'cubby-cloud',
          secret: 'flap-cloud-secret',
          clock: parts.clock,
          reconnectPeriodMs: 100,
          onEvent: (bankId, e) => {
            const key = `${bankId}/${String(e.eventId)}`;
            mqttEvents.set(key, (mqttEvents.get(key) ?? 0) + 1);
          },
        });
        cloudMqtt.start();
        return { commands: cloudMqtt, mqttUrl: broker.url, close: () => cloudMqtt!.stop() };
      }),
    },
  );
  await cloudMqtt!.waitConnected(10_000);
  const cloudPort = Number(new URL(cloud.url).port);
  for (const bankId of ['bank-1', 'bank-2']) {
    const proxy = await LinkProxy.start(cloudPort);
    const t = testHub(bankId, { url: proxy.url, clock: systemClock, secret: SECRETS[bankId], seed: SEED + hubs.length + 1, backoff: { initialMs: 20, maxMs: 150 }, rescanMs: 300 });
    const hub: Hub = { t, audit: new AuditLog(bankId, t.docs, systemClock, new SeededRandom(SEED + 7 + hubs.length)), proxy, nudges: 0, events: [], mqtt: undefined as unknown as HubMqtt };
    hub.mqtt = createHubMqtt({
      url: `mqtt://127.0.0.1:${brokerPort}`,
      bankId,
      secret: SECRETS[bankId]!,
      clock: systemClock,
      reconnectPeriodMs: 100,
      keepaliveSeconds: 5,
      onSyncNudge: () => {
        hub.nudges++;
        void t.client.syncNow(5_000);
      },
      onCommand: () => {},
    });
    hubs.push(hub);
    t.client.start();
    hub.mqtt.start();
  }
  for (const h of hubs) await h.mqtt.waitConnected(10_000);

  // ---- the run: steady work, flapping links, a broker restart in the middle -----------------
  const acked = { announced: new Map<string, string>(), revoked: [] as { parcelId: string; codeId: string; bankId: string }[] };
  const stats = { announce: 0, deposit: 0, pickup: 0, revoke: 0, revokeRaced: 0, flaps: 0, mqttPublished: 0, mqttDropped: 0 };
  let n = 0;
  let running = true;
  const hubEvent = async (h: Hub, type: string, parcelId: string, compartment: number) => {
    const e = h.audit.append({ type, actor: 'chaos', parcelId, compartment });
    h.events.push(e.id);
    // The hub's event guard refuses any run of 9 digits (a code could hide in it), which a
    // random hex id sometimes has: send the id with its digits spelled as letters.
    const eventId = e.id.replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]!);
    if (await h.mqtt.publishEvent({ type, at: e.at, eventId, parcelId, compartment })) stats.mqttPublished++;
    else stats.mqttDropped++;
  };
  const work = async () => {
    while (running) {
      const h = hubs[randomInt(rng, hubs.length)]!;
      const roll = randomInt(rng, 100);
      if (roll < 30) {
        const parcelId = `F${++n}`;
        const res = await fetch(`${cloud!.url}/v1/parcels`, {
          method: 'POST',
          headers: CARRIER,
          body: JSON.stringify({ parcelId, bankId: h.t.bankId, carrier: DEMO.carrierName, trackingNumber: `T${n}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
        });
        expect(res.status).toBe(201);
        acked.announced.set(parcelId, h.t.bankId);
        stats.announce++;
      } else if (roll < 60) {
        const occupied = h.t.ledger.occupancy();
        const free = Array.from({ length: SIZE[h.t.bankId]! }, (_, k) => k + 1).filter((c) => !occupied.has(c));
        const waiting = [...acked.announced].filter(([p, b]) => b === h.t.bankId && !h.t.ledger.doc(p)?.deposit).map(([p]) => p);
        const selector = String(randomInt(rng, 1000)).padStart(3, '0');
        if (free.length && waiting.length && !h.t.ledger.selectorTaken(selector)) {
          const parcelId = waiting[randomInt(rng, waiting.length)]!;
          const compartment = free[randomInt(rng, free.length)]!;
          h.t.ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector, hash: FAKE_HASH, issuer: 'hub' });
          await hubEvent(h, 'deposit', parcelId, compartment);
          stats.deposit++;
        }
      } else if (roll < 80) {
        const now = systemClock.now();
        const live = [...h.t.ledger.all()].filter((d) => liveCode(d, now));
        if (live.length) {
          const d = live[randomInt(rng, live.length)]!;
          h.t.ledger.markUsed(d.parcelId, str(liveCode(d, now)!.codeId), `att-${++n}`, d.deposit!.compartment);
          await hubEvent(h, 'pickup', d.parcelId, d.deposit!.compartment);
          stats.pickup++;
        }
      } else {
        const now = systemClock.now();
        const replica = cloud!.replicas.get(h.t.bankId);
        const live = [...replica.ledger.all()].filter((d) => liveCode(d, now));
        if (live.length) {
          const d = live[randomInt(rng, live.length)]!;
          const res = await fetch(`${cloud!.url}/v1/parcels/${d.parcelId}/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'chaos' }) });
          if (res.status === 200) {
            acked.revoked.push({ parcelId: d.parcelId, codeId: ((await res.json()) as { codeId: string }).codeId, bankId: h.t.bankId });
            stats.revoke++;
          } else {
            expect(res.status).toBe(409); // a pickup reached the cloud first
            stats.revokeRaced++;
          }
        }
      }
      await sleep(5 + randomInt(rng, 20));
    }
  };
  const flap = async (h: Hub) => {
    while (running) {
      await sleep(150 + randomInt(rng, 350));
      if (h.proxy.isDown) h.proxy.heal();
      else h.proxy.cut();
      stats.flaps++;
    }
  };
  const workers = [work(), work(), ...hubs.map(flap)];
  await sleep(RUN_MS * 0.35);
  await broker!.close();
  await sleep(RUN_MS * 0.25);
  broker = await startEmbedded(brokerPort);
  await sleep(RUN_MS * 0.4);
  running = false;
  await Promise.all(workers);
  for (const h of hubs) h.proxy.heal();

  // ---- recovery, on their own ---------------------------------------------------------------
  for (const h of hubs) await h.mqtt.waitConnected(15_000);
  await cloudMqtt!.waitConnected(15_000);
  await waitFor(() => hubs.every((h) => cloudMqtt!.presence(h.t.bankId)?.online === true), 'MQTT presence online again at the cloud');
  await waitFor(() => hubs.every((h) => cloud!.sync.presence.online(h.t.bankId)), 'sync sessions back');

  // A revocation while bank-1's sync link is down reaches it by an MQTT nudge once the link is back.
  const h1 = hubs[0]!;
  const parcelId = `F${++n}`;
  expect((await fetch(`${cloud.url}/v1/parcels`, { method: 'POST', headers: CARRIER, body: JSON.stringify({ parcelId, bankId: 'bank-1', carrier: DEMO.carrierName, trackingNumber: 'T-nudge', size: 'S', recipient: { name: 'R', email: 'r@example.com' } }) })).status).toBe(201);
  acked.announced.set(parcelId, 'bank-1');
  const occupied = h1.t.ledger.occupancy();
  let free = Array.from({ length: 24 }, (_, k) => k + 1).filter((c) => !occupied.has(c));
  if (free.length === 0) {
    // A fast run filled all 24 compartments (revoked parcels stay until returned): a courier takes one back.
    const [compartment, taken] = [...occupied][0]!;
    h1.t.ledger.markReturned(taken);
    free = [compartment];
  }
  h1.t.ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment: free[0]!, courierId: 'courier-1', size: 'S' }, { selector: freeSelector(h1.t), hash: FAKE_HASH, issuer: 'hub' });
  await waitFor(() => !!cloud!.replicas.get('bank-1').ledger.doc(parcelId)?.deposit, 'the deposit at the cloud');
  h1.proxy.cut();
  await waitFor(() => !cloud!.sync.presence.online('bank-1'), 'bank-1 offline at the cloud');
  const nudgesBefore = h1.nudges;
  const rv = await fetch(`${cloud.url}/v1/parcels/${parcelId}/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'nudge check' }) });
  expect(rv.status).toBe(200);
  const { codeId } = (await rv.json()) as { codeId: string };
  acked.revoked.push({ parcelId, codeId, bankId: 'bank-1' });
  await waitFor(() => h1.nudges > nudgesBefore, 'the nudge at bank-1 over the restarted broker', 10_000);
  h1.proxy.heal();
  await waitFor(() => h1.t.ledger.doc(parcelId)?.codes[codeId]?.revokedAt !== undefined, 'the revocation at bank-1');

  // Sync: identical heads everywhere.
  const identical = () =>
    hubs.every((h) => {
      const cloudDocs = cloud!.replicas.get(h.t.bankId).docs;
      return [...new Set([...cloudDocs.ids(), ...h.t.docs.ids()])].every((id) => {
        const a = cloudDocs.get(id);
        const b = h.t.docs.get(id);
        return a && b && sameHeads(A.getHeads(a), A.getHeads(b));
      });
    });
  await waitFor(async () => {
    if (identical()) return true;
    for (const h of hubs) await h.t.client.syncNow(2_000);
    return identical();
  }, 'identical heads at hubs and cloud');

  // Nothing lost: acknowledged writes at both ends.
  for (const [p, bankId] of acked.announced) {
    const h = hubs.find((x) => x.t.bankId === bankId)!;
    expect(h.t.ledger.doc(p)?.announcement, `${p} announced, at its hub`).toBeDefined();
  }
  for (const r of acked.revoked) {
    const h = hubs.find((x) => x.t.bankId === r.bankId)!;
    expect(h.t.ledger.doc(r.parcelId)?.codes[r.codeId]?.revokedAt, `revocation of ${r.parcelId} at its hub`).toBeDefined();
  }
  // Nothing duplicated: each audit event exactly once in the cloud's audit log, none unknown.
  for (const h of hubs) {
    const atCloud = cloud.replicas.get(h.t.bankId).audit.since(0, 1e6).filter((e) => e.actor === 'chaos');
    const ids = atCloud.map((e) => e.id);
    expect(new Set(ids).size, `${h.t.bankId}: duplicate audit events`).toBe(ids.length);
    expect(ids.sort()).toEqual([...h.events].sort());
    const perParcel = new Map<string, number>();
    for (const e of atCloud) perParcel.set(`${e.type}/${e.parcelId}`, (perParcel.get(`${e.type}/${e.parcelId}`) ?? 0) + 1);
    expect([...perParcel.values()].every((c) => c === 1), `${h.t.bankId}: a deposit or pickup recorded twice`).toBe(true);
  }
  const mqttDup = [...mqttEvents.values()].filter((c) => c > 1).length;
  process.stdout.write(
    `broker/link summary ${JSON.stringify({ seed: SEED, ...stats, announced: acked.announced.size, revoked: acked.revoked.length, mqttEventsAtCloud: mqttEvents.size, mqttDuplicates: mqttDup, hubMqttConnects: hubs.map((h) => h.mqtt.status().connects), syncConnects: hubs.map((h) => h.t.client.stats().connects) })}\n`,
  );
  expect(stats.flaps).toBeGreaterThan(4);
  expect(hubs.every((h) => h.mqtt.status().connects >= 2)).toBe(true); // the broker restart was lived through
});

function freeSelector(t: TestHub): string {
  for (let s = 0; s < 1000; s++) {
    const sel = String(s).padStart(3, '0');
    if (!t.ledger.selectorTaken(sel)) return sel;
  }
  throw new Error('no free selector');
}
