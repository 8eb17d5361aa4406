/**
 * The hub of the sync bench (`sync.ts`), in its own process: in production the hub and the
 * cloud are two machines, so the two ends of a resync run at the same time. This process is
 * the hub for the whole scenario — its pre-outage events, the first sync, the 72 h of offline
 * events, the resync — exactly as the in-process hub of the bench was: the hub's real SQLite
 * file (`synchronous=FULL`), `DocSet`, `ParcelLedger` and `SyncClient`, connecting to the
 * cloud through the bench's byte-counting proxy.
 *
 * Driven by the bench over IPC: each request `{ cmd, ... }` is answered `{ cmd, ...result }`
 * (or `{ cmd, error }`). Run as `node --import tsx test/bench/_sync-hub.ts` with an IPC channel.
 * Logs go to stderr; nothing is printed on stdout.
 */
import './_v8-flags.js'; // first: before Automerge's wasm is compiled
import * as A from '@automerge/automerge';
import { writeFileSync } from 'node:fs';
import { openDatabase, SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { cloudOutbox, SyncClient } from '../../edge/sync/sync-client.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, randomId, SeededRandom } from '../../shared/ports.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import type { SyncOutbox } from '../../shared/sync/sync-outbox.js';
import { planSyncEvents, type PlanEvent } from './baseline-sync.js';
import { startProfiler } from './_profiler.js';

/** What the bench sends first. */
export interface HubInit {
  file: string;
  url: string;
  bankId: string;
  secret: string;
  events: number;
  seed: number;
  /** The scenario's start (both processes run the same ManualClock steps). */
  start: number;
}

/** Per hub document: its heads before the outage (undefined: created during it), now, and its saved bytes. */
export interface HubDocCopy {
  id: string;
  before?: A.Heads;
  heads: A.Heads;
  save: Uint8Array;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const send = (msg: object) => new Promise<void>((resolve, reject) => process.send!(msg, undefined, {}, (err) => (err ? reject(err) : resolve())));

if (!process.send) throw new Error('_sync-hub.ts runs as a child with an IPC channel (see sync.ts)');

let init: HubInit;
let clock: ManualClock;
let plan: ReturnType<typeof planSyncEvents>;
let db: ReturnType<typeof openDatabase>;
let docs: DocSet;
let hub: ParcelLedger;
let client: SyncClient;
const codeOf = new Map<string, string>();
const headsBefore = new Map<string, A.Heads>();
let profiler: { stop(): Promise<unknown> } | undefined;
let outbox: SyncOutbox;

function setup(i: HubInit): object {
  init = i;
  reserveAutomergeHeap(256);
  plan = planSyncEvents({ events: i.events, seed: i.seed });
  clock = new ManualClock(i.start);
  // Not the cloud's seed: the two replicas must not share an Automerge actor.
  const random = new SeededRandom(i.seed * 7919 + 17);
  db = openDatabase(i.file, { synchronous: 'FULL' });
  const storage = new ObservedDocStorage(new SqliteDocStorage(db));
  docs = new DocSet(storage, randomId(random, 16));
  hub = new ParcelLedger({ bankId: i.bankId, docs, clock, random });
  const states = new SqliteSyncStateStore(db);
  // As edge/sync-wiring.ts wires a hub: what the cloud lacks is encoded while it is away.
  outbox = cloudOutbox({ bankId: i.bankId, docs, feed: storage, states });
  client = new SyncClient({
    url: i.url,
    bankId: i.bankId,
    secret: i.secret,
    docs,
    states,
    ledger: hub,
    feed: storage,
    outbox,
    clock,
    random,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  return { actor: docs.actor };
}

/** The hub's events of `events`, with the clock stepping over every event of both sides (as the cloud's does). */
function play(events: PlanEvent[], step: number): void {
  for (const e of events) {
    clock.advance(step);
    if (e.side !== 'hub') continue;
    if (e.kind === 'deposit') {
      codeOf.set(e.parcelId, hub.depositAndIssue(e.parcelId, { depositId: e.depositId, compartment: e.compartment, courierId: 'courier-1', size: 'S' }, { selector: e.selector, hash: e.hash, issuer: 'hub' }));
    } else if (e.kind === 'use') {
      hub.markUsed(e.parcelId, codeOf.get(e.parcelId)!, e.attemptId, e.compartment);
    } else if (e.kind === 'revoke') {
      hub.revoke(e.parcelId, e.reason, codeOf.get(e.parcelId));
    }
  }
}

const handlers: Record<string, (m: any) => Promise<object> | object> = {
  init: (m: { init: HubInit }) => setup(m.init),
  pre: () => {
    play(plan.pre, 1000);
    return {};
  },
  /** The first sync, before the outage. */
  sync: async () => {
    client.start();
    if (!(await client.syncNow(120_000))) throw new Error('initial sync failed');
    await client.stop();
    for (const id of docs.ids()) headsBefore.set(id, A.getHeads(docs.get(id)!));
    return {};
  },
  outage: async () => {
    const t = performance.now();
    const before = { ...outbox.stats };
    play(plan.outage, Math.floor(plan.outageMs / plan.outage.length));
    let rawChangeBytes = 0;
    for (const id of docs.ids()) for (const ch of A.getChangesSince(docs.get(id)!, headsBefore.get(id) ?? [])) rawChangeBytes += ch.length;
    await Promise.resolve(); // the outbox encodes in a microtask after the last change
    return { ms: Math.round(performance.now() - t), docs: docs.size, rawChangeBytes, outbox: { encoded: outbox.stats.encoded - before.encoded, ms: outbox.stats.ms - before.ms } };
  },
  /** Copies of every document for the bench's Automerge floor (outside the timed run). */
  copies: () => ({ copies: [...docs.ids()].map((id): HubDocCopy => ({ id, before: headsBefore.get(id), heads: A.getHeads(docs.get(id)!), save: A.save(docs.get(id)!) })) }),
  /** A CPU profile of the resync (`go`), written to `file`. */
  profile: async (m: { file: string }) => {
    const started = await startProfiler();
    profiler = { stop: async () => writeFileSync(m.file, JSON.stringify(await started.stop())) };
    return {};
  },
  /** The resync: from this message until this side is in sync. */
  go: async () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const before = client.stats();
    let handshakeMs = 0;
    const off = client.on((e) => {
      if (e.type === 'connected') handshakeMs = performance.now() - t0;
    });
    client.start();
    const ok = await client.syncNow(300_000);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    off();
    if (!ok) throw new Error('resync did not finish');
    const after = client.stats();
    const d = (k: keyof typeof after) => after[k] - before[k];
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, handshakeMs, framesSent: d('framesSent'), framesReceived: d('framesReceived'), messagesSent: d('messagesSent'), messagesReceived: d('messagesReceived') };
  },
  /** After the timed run: every document's heads, and whether an announcement made offline reached the hub (and the profile). */
  check: async (m: { parcelId: string }) => {
    await profiler?.stop();
    return {
      heads: Object.fromEntries([...docs.ids()].map((id) => [id, A.getHeads(docs.get(id)!)])),
      sampleOk: hub.view(m.parcelId)?.announcement !== undefined,
    };
  },
  stop: async () => {
    await client.stop();
    db.close();
    return {};
  },
};

process.on('message', (m: { cmd: string }) => {
  void (async () => {
    try {
      const handler = handlers[m.cmd];
      if (!handler) throw new Error(`unknown command ${m.cmd}`);
      await send({ cmd: m.cmd, ...(await handler(m)) });
      if (m.cmd === 'stop') process.exit(0);
    } catch (err) {
      log(`sync bench hub: ${m.cmd} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await send({ cmd: m.cmd, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
