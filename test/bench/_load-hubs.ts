/**
 * A swarm of lightweight hubs for the `load` bench, in one process: each hub is the hub's real
 * sync stack (a `DocSet` + `ParcelLedger` on an in-memory store, its own `SyncClient` WebSocket to
 * the cloud) and its own MQTT client (`createHubMqtt`, nudges wired to "sync now") — no board,
 * no HTTP server, no SQLite.
 *
 * `CUBBY_LOAD_CLOUD` is the cloud's URL, or several nodes' URLs comma-separated: each hub's
 * `SyncClient` gets the whole list (a node that does not serve the bank answers `moved`, counted
 * apart from refusals), and the carrier's and support's HTTP requests go to the nodes in turn,
 * as through a load balancer (or, `CUBBY_LOAD_API=owner`, to the node serving the bank).
 *
 * Driven over IPC by test/bench/load.ts:
 * - on start: connects its hubs (`CUBBY_LOAD_FIRST`..`CUBBY_LOAD_LAST` of `bank-<i>`), a few at a
 *   time, and sends `{type:'ready'}` once every hub has synced once and is on MQTT;
 * - `{type:'run', rate, seconds}`: a steady stream of parcels — announce (carrier, HTTP to the
 *   cloud) -> the hub has it; deposit at the hub -> the cloud acknowledged it; then a pickup at the
 *   hub -> acknowledged, or a support revoke (HTTP) -> the hub has it. Each step's latency is one
 *   sample: from the change at one side to the other side having it (hub -> cloud: until the
 *   cloud's acknowledgement reaches the hub, an upper bound of "the cloud has it");
 *   sends `{type:'measuring'}` when the measured stream starts (after the warm-up has drained)
 *   and answers `{type:'result', …}` with the parcels that completed, for the bench to check
 *   against the cloud's store;
 * - `{type:'stop'}`: disconnects and exits.
 */
import { ownerOf, parseNodeList } from '../../cloud/cluster/cluster.js';
import { createHubMqtt, type HubMqtt } from '../../edge/mqtt/hub-mqtt.js';
import { SyncClient } from '../../edge/sync/sync-client.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { randomId, randomInt, SeededRandom, systemClock } from '../../shared/ports.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { MemoryDocStorage } from '../../shared/storage/doc-storage.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import { MemorySyncStateStore } from '../../shared/sync/sync-state-store.js';
import { str } from '../../shared/ledger/str.js';

const FAKE_HASH = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const cloudUrl = env('CUBBY_LOAD_CLOUD');
const apiUrls = cloudUrl
  .split(',')
  .map((u) => u.trim())
  .filter(Boolean);
let apiTurn = 0;
/**
 * `CUBBY_LOAD_API=owner` with `CUBBY_LOAD_NODES` (the cloud's `CUBBY_CLOUD_NODES`): HTTP requests
 * go to the node that serves the parcel's bank, as a bank-aware router would.
 */
const apiOwner = process.env.CUBBY_LOAD_API === 'owner' ? parseNodeList(env('CUBBY_LOAD_NODES')) : undefined;
/** The node the next HTTP request about `bankId` goes to. */
const api = (bankId: string): string => {
  if (apiOwner) {
    const owner = ownerOf(bankId, apiOwner.map((n) => n.id));
    return apiOwner.find((n) => n.id === owner)!.url;
  }
  return apiUrls[apiTurn++ % apiUrls.length]!;
};
const mqttUrl = env('CUBBY_LOAD_MQTT');
const first = Number(env('CUBBY_LOAD_FIRST'));
const last = Number(env('CUBBY_LOAD_LAST'));
const carrier = { authorization: `Bearer ${env('CUBBY_LOAD_CARRIER_TOKEN')}`, 'content-type': 'application/json' };
const support = { authorization: `Bearer ${env('CUBBY_LOAD_SUPPORT_TOKEN')}`, 'content-type': 'application/json' };
const random = new SeededRandom(first * 7919 + 1);
reserveAutomergeHeap(Number(process.env.CUBBY_LOAD_HUB_HEAP_MB ?? 64));

class Hub {
  readonly storage = new ObservedDocStorage(new MemoryDocStorage());
  readonly docs: DocSet;
  readonly ledger: ParcelLedger;
  readonly states = new MemorySyncStateStore();
  readonly client: SyncClient;
  readonly mqtt: HubMqtt;
  synced = false;
  /** Refusals of the sync handshake or of a frame, but `moved`. */
  refused = 0;
  /** `moved` answers: sent on to the node that serves the bank (expected with several nodes). */
  moved = 0;
  /** Waiters for a condition on a document, checked on every document the cloud changes. */
  readonly waiters = new Set<() => void>();
  nextCompartment = 1;
  nextSelector = 0;

  constructor(readonly bankId: string) {
    this.docs = new DocSet(this.storage, randomId(random, 16));
    this.ledger = new ParcelLedger({ bankId, docs: this.docs, clock: systemClock, random });
    this.client = new SyncClient({
      url: cloudUrl,
      bankId,
      secret: `${bankId}-secret`,
      docs: this.docs,
      states: this.states,
      ledger: this.ledger,
      feed: this.storage,
      clock: systemClock,
      random,
      backoff: { initialMs: 500, maxMs: 5000 },
      connectTimeoutMs: 60_000,
      rescanMs: 60_000,
    });
    this.client.on((e) => {
      if (e.type === 'synced') this.synced = true;
      if (e.type === 'refused') {
        if (e.code === 'moved') this.moved++;
        else this.refused++;
      }
      if (e.type === 'doc') for (const w of [...this.waiters]) w();
    });
    this.mqtt = createHubMqtt({
      url: mqttUrl,
      bankId,
      secret: `${bankId}-secret`,
      clock: systemClock,
      reconnectPeriodMs: 2000,
      connectTimeoutMs: 60_000,
      onSyncNudge: () => void this.client.syncNow().catch(() => false),
      onCommand: () => {},
    });
  }

  start(): void {
    this.client.start();
    this.mqtt.start();
  }

  /** Resolves when `pred` holds after a document from the cloud (or now); rejects after `ms`. */
  until(pred: () => boolean, ms: number): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error('timeout'));
      }, ms);
      this.waiters.add(check);
    });
  }
}

const hubs: Hub[] = [];
for (let i = first; i <= last; i++) hubs.push(new Hub(`bank-${i}`));

/** Acknowledgements from the cloud arrive with frames, not documents: poll them. */
const acks = new Set<{ hub: Hub; docId: string; resolve: () => void }>();
setInterval(() => {
  for (const a of [...acks]) {
    if (a.hub.client.acknowledged(a.docId)) {
      acks.delete(a);
      a.resolve();
    }
  }
}, 5).unref();
function acknowledged(hub: Hub, docId: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const entry = { hub, docId, resolve: () => (clearTimeout(timer), resolve()) };
    const timer = setTimeout(() => (acks.delete(entry), reject(new Error('timeout'))), ms);
    acks.add(entry);
  });
}

const send = (m: unknown) => process.send!(m);


async function connectAll(): Promise<void> {
  const batch = Number(process.env.CUBBY_LOAD_CONNECT_BATCH ?? 20);
  for (let i = 0; i < hubs.length; i += batch) {
    for (const h of hubs.slice(i, i + batch)) h.start();
    await new Promise((r) => setTimeout(r, 50));
  }
  const until = Date.now() + 600_000;
  while (!hubs.every((h) => h.synced && h.mqtt.status().connected)) {
    if (Date.now() > until) throw new Error(`hubs not ready: ${hubs.filter((h) => !h.synced).length} not synced, ${hubs.filter((h) => !h.mqtt.status().connected).length} not on MQTT`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(rate: number, seconds: number, warmup: number): Promise<void> {
  // JIT, connection pools, caches: not measured — but its failures are failures.
  const w = warmup > 0 ? await stream(rate, warmup, 'W') : undefined;
  send({ type: 'measuring' });
  send({ type: 'result', ...(await stream(rate, seconds, 'L')), warmupErrors: w?.errors ?? [], warmupErrorCount: w?.errorCount ?? 0 });
}

async function stream(rate: number, seconds: number, prefix: string) {
  const samples = { hubToCloud: [] as number[], cloudToHub: [] as number[] };
  const errors: string[] = [];
  let events = 0;
  let n = 0;
  const timeout = Number(process.env.CUBBY_LOAD_STEP_TIMEOUT_MS ?? 20_000);
  const refusedBefore = hubs.reduce((s, h) => s + h.refused, 0);
  const movedBefore = hubs.reduce((s, h) => s + h.moved, 0);
  /** Parcels whose three steps completed, and how they ended: checked in the cloud's store. */
  const completed: { bankId: string; parcelId: string; end: 'used' | 'revoked' }[] = [];
  const disconnectsBefore = hubs.reduce((s, h) => s + h.client.stats().connects, 0);
  const pipelines: Promise<void>[] = [];

  const pipeline = async (hub: Hub, parcelId: string): Promise<void> => {
    const step = async (dir: 'hubToCloud' | 'cloudToHub', what: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      try {
        await fn();
      } catch (err) {
        errors.push(`${what} ${parcelId}: ${(err as Error).message}`);
        throw err;
      }
      samples[dir].push(performance.now() - t0);
      events++;
    };
    try {
      await step('cloudToHub', 'announce', async () => {
        const res = await fetch(`${api(hub.bankId)}/v1/parcels`, {
          method: 'POST',
          headers: carrier,
          body: JSON.stringify({ parcelId, bankId: hub.bankId, carrier: 'load-carrier', trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
        });
        if (res.status !== 201) throw new Error(`announce answered ${res.status}`);
        await hub.until(() => hub.ledger.doc(parcelId)?.announcement !== undefined, timeout);
      });
      const selector = String(hub.nextSelector++ % 1000).padStart(3, '0');
      const compartment = (hub.nextCompartment++ % 24) + 1;
      await step('hubToCloud', 'deposit', async () => {
        hub.ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector, hash: FAKE_HASH, issuer: 'hub' });
        await acknowledged(hub, `parcel:${parcelId}`, timeout);
      });
      const code = liveCode(hub.ledger.doc(parcelId)!, systemClock.now())!;
      if (randomInt(random, 2) === 0) {
        await step('hubToCloud', 'pickup', async () => {
          hub.ledger.markUsed(parcelId, str(code.codeId), randomId(random, 8), compartment);
          await acknowledged(hub, `parcel:${parcelId}`, timeout);
        });
        completed.push({ bankId: hub.bankId, parcelId, end: 'used' });
      } else {
        await step('cloudToHub', 'revoke', async () => {
          const res = await fetch(`${api(hub.bankId)}/v1/parcels/${parcelId}/revoke`, { method: 'POST', headers: support, body: JSON.stringify({ reason: 'load' }) });
          if (res.status !== 200) throw new Error(`revoke answered ${res.status}`);
          await hub.until(() => hub.ledger.doc(parcelId)?.codes[str(code.codeId)]?.revokedAt !== undefined, timeout);
        });
        completed.push({ bankId: hub.bankId, parcelId, end: 'revoked' });
      }
    } catch {
      // counted in errors
    }
  };

  // Three events per parcel: start rate/3 parcels a second, spread evenly.
  const started = performance.now();
  const perParcelMs = 3000 / rate;
  let next = started;
  while (performance.now() - started < seconds * 1000) {
    const hub = hubs[randomInt(random, hubs.length)]!;
    pipelines.push(pipeline(hub, `${prefix}${first}-${n++}`));
    next += perParcelMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(pipelines);
  const drained = (performance.now() - started) / 1000;
  const refused = hubs.reduce((s, h) => s + h.refused, 0) - refusedBefore;
  const reconnects = hubs.reduce((s, h) => s + h.client.stats().connects, 0) - disconnectsBefore;
  const moved = hubs.reduce((s, h) => s + h.moved, 0) - movedBefore;
  if (refused > 0) errors.push(`${refused} sync refusal(s)`);
  return { samples, events, errors: errors.slice(0, 20), errorCount: errors.length, seconds: elapsed, drainedSeconds: drained, parcels: n, reconnects, moved, completed, rssMb: process.memoryUsage().rss / 1048576 };
}

process.on('message', (m: { type: string; rate?: number; seconds?: number; warmup?: number }) => {
  if (m.type === 'run') {
    run(m.rate!, m.seconds!, m.warmup ?? 0).catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
  } else if (m.type === 'stop') {
    void Promise.all(hubs.map((h) => Promise.race([Promise.all([h.client.stop(), h.mqtt.stop()]), new Promise((r) => setTimeout(r, 2000))]))).then(() => process.exit(0));
  }
});

connectAll().then(
  () => send({ type: 'ready', hubs: hubs.length, moved: hubs.reduce((s, h) => s + h.moved, 0), refused: hubs.reduce((s, h) => s + h.refused, 0), rssMb: process.memoryUsage().rss / 1048576 }),
  (err: Error) => send({ type: 'error', message: err.stack ?? err.message }),
);
