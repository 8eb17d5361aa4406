/**
 * `npm run bench -- sync [--events=5000] [--seed=1]`: a hub offline for 72 simulated hours
 * while `events` ledger events happen on both sides (cloud: announcements, support revokes;
 * hub: deposits with issuance, pickups, revokes), then it reconnects through the real sync
 * path — WebSocket on 127.0.0.1, authenticated handshake (production argon2 parameters; the
 * cloud caches a verified device secret, so the reconnect, like a real reconnect to the same
 * cloud process, does not run argon2 again), SQLite stores with synchronous=FULL at both
 * ends — and we time until both sides are quiet with identical heads. Bytes are counted on the TCP connection (HTTP upgrade, WebSocket
 * framing and all). The same events then run through the baseline (baseline-sync.ts).
 *
 * `floor_ms` is the bare Automerge work any one-document-per-parcel design has to do for the
 * same resync, measured in the same run: encode each side's changes since the shared heads
 * (`saveSince`, the cheapest encoder) and apply them to the other side's version (the
 * cheapest apply that leaves a readable document, `applyChunk`), in memory — no transport,
 * storage, authorization or bookkeeping. It is measured on copies taken before the resync, after
 * it, so it does not warm anything up for the timed run.
 * `--profile=<file>` writes a CPU profile of the resync.
 */
import * as A from '@automerge/automerge';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import type { Server } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { openDatabase, SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { createCloudApp } from '../../cloud/app.js';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { generateCloudKeys } from '../../cloud/keys.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { SyncServer } from '../../cloud/sync/sync-server.js';
import { SyncClient } from '../../edge/sync/sync-client.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { DocSet, sameHeads } from '../../shared/ledger/doc-set.js';
import { ParcelLedger, parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, randomId, SeededRandom } from '../../shared/ports.js';
import { applyChunk } from '../../shared/sync/apply-chunk.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { planSyncEvents, runBaseline, type PlanEvent } from './baseline-sync.js';

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const arg = (args: string[], name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);

/** A CPU profile of this process (`--profile=<file>`: open it in Chrome DevTools). */
async function startProfiler() {
  const session = new Session();
  session.connect();
  const post = (method: string) => new Promise<unknown>((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return { stop: async () => ((await post('Profiler.stop')) as { profile: unknown }).profile };
}

/** Counts every byte through it, both ways. */
async function countingProxy(targetPort: number) {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const up = connect(targetPort, '127.0.0.1');
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('error', () => {}).on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => (bytes += d.length)).pipe(up);
    up.on('data', (d) => (bytes += d.length)).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => bytes,
    reset: () => (bytes = 0),
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

export async function run(args: string[]): Promise<object> {
  const events = arg(args, 'events', 5000);
  const seed = arg(args, 'seed', 1);
  const profileFile = args.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
  reserveAutomergeHeap(256);
  const plan = planSyncEvents({ events, seed });
  const files: string[] = [];
  const tmp = (name: string) => {
    const f = join(tmpdir(), `cubby-bench-${name}-${randomBytes(4).toString('hex')}.sqlite`);
    files.push(f);
    return f;
  };

  // ---- cloud: store, replicas, HTTP server with the sync endpoint ----------------------
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 8));
  const random = new SeededRandom(seed);
  const store = openCloudStore(tmp('cloud'), { hashParams: TEST_ARGON2 });
  const replicas = new BankReplicas({ db: store.db, clock, random });
  const admin = new BankAdmin({ store, replicas, clock, random, hashParams: TEST_ARGON2 });
  await admin.registerBank('bank-1', 'bench-device-secret', layoutOf(8, 10, 6));
  // The device credential with production argon2 parameters: the handshake costs what it costs.
  await store.credentials.setDeviceSecret('bank-1', 'bench-device-secret', clock.now());
  const sync = new SyncServer({ store, replicas, clock, random });
  const app = createCloudApp({ store, replicas, clock, random, keys: generateCloudKeys(), presence: sync.presence });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server;
  });
  sync.attach(server);
  const proxy = await countingProxy((server.address() as AddressInfo).port);
  const cloud = replicas.get('bank-1');

  // ---- hub: one SQLite file for documents and sync states -------------------------------
  const hubDb = openDatabase(tmp('hub'), { synchronous: 'FULL' });
  const hubStorage = new ObservedDocStorage(new SqliteDocStorage(hubDb));
  const hubDocs = new DocSet(hubStorage, randomId(random, 16));
  const hub = new ParcelLedger({ bankId: 'bank-1', docs: hubDocs, clock, random });
  const client = new SyncClient({
    url: proxy.url,
    bankId: 'bank-1',
    secret: 'bench-device-secret',
    docs: hubDocs,
    states: new SqliteSyncStateStore(hubDb),
    ledger: hub,
    feed: hubStorage,
    clock,
    random,
    backoff: { initialMs: 50, maxMs: 500 },
  });

  const codeOf = new Map<string, string>();
  const apply = (e: PlanEvent) => {
    if (e.kind === 'announce') {
      cloud.docs.transaction(() => {
        store.parcels.announce(e.parcelId, 'bank-1', 'demo-carrier', clock.now());
        cloud.ledger.announce(e.parcelId, { carrier: 'demo-carrier', trackingNumber: e.trackingNumber, size: e.size });
      });
    } else if (e.kind === 'deposit') {
      codeOf.set(e.parcelId, hub.depositAndIssue(e.parcelId, { depositId: e.depositId, compartment: e.compartment, courierId: 'courier-1', size: 'S' }, { selector: e.selector, hash: e.hash, issuer: 'hub' }));
    } else if (e.kind === 'use') {
      hub.markUsed(e.parcelId, codeOf.get(e.parcelId)!, e.attemptId, e.compartment);
    } else {
      (e.side === 'hub' ? hub : cloud.ledger).revoke(e.parcelId, e.reason, codeOf.get(e.parcelId));
    }
  };

  // ---- before the outage: shared history, synced ----------------------------------------
  for (const e of plan.pre) {
    clock.advance(1000);
    apply(e);
  }
  client.start();
  if (!(await client.syncNow(120_000))) throw new Error('initial sync failed');
  await client.stop();
  const headsBefore = new Map<string, A.Heads>();
  for (const docs of [hubDocs, cloud.docs]) for (const id of docs.ids()) headsBefore.set(`${docs === hubDocs ? 'h' : 'c'}:${id}`, A.getHeads(docs.get(id)!));
  log(`sync bench: ${plan.pre.length} events before the outage synced; now ${events} events during ${plan.outageMs / 3600_000} h offline`);

  // ---- the outage ------------------------------------------------------------------------
  const step = Math.floor(plan.outageMs / plan.outage.length);
  const tb = performance.now();
  for (const e of plan.outage) {
    clock.advance(step);
    apply(e);
  }
  log(`sync bench: outage events applied in ${Math.round(performance.now() - tb)} ms (hub ${hubDocs.size} docs, cloud ${cloud.docs.size} docs)`);
  let rawChangeBytes = 0;
  for (const docs of [hubDocs, cloud.docs]) {
    for (const id of docs.ids()) {
      const since = headsBefore.get(`${docs === hubDocs ? 'h' : 'c'}:${id}`) ?? [];
      for (const ch of A.getChangesSince(docs.get(id)!, since)) rawChangeBytes += ch.length;
    }
  }

  // Both sides' versions of every document that changed, for the floor measured later.
  const floorInput: { since: A.Heads; hub?: Uint8Array; cloud?: Uint8Array }[] = [];
  for (const id of new Set([...hubDocs.ids(), ...cloud.docs.ids()])) {
    const since = headsBefore.get(`h:${id}`) ?? headsBefore.get(`c:${id}`) ?? [];
    const h = hubDocs.get(id);
    const c = cloud.docs.get(id);
    const changed = (d: A.Doc<unknown> | undefined) => d !== undefined && !sameHeads(A.getHeads(d), since);
    if (changed(h) || changed(c)) floorInput.push({ since, hub: h && A.save(h), cloud: c && A.save(c) });
  }

  // ---- reconnect: timed until both sides are quiet ---------------------------------------
  const before = client.stats();
  proxy.reset();
  const t0 = performance.now();
  let handshakeMs = 0;
  const offConnected = client.on((e) => {
    if (e.type === 'connected') handshakeMs = performance.now() - t0;
  });
  const profiler = profileFile ? await startProfiler() : undefined;
  client.start();
  if (!(await client.syncNow(300_000))) throw new Error('resync did not finish');
  while (!sync.info().every((s) => s.settled)) await new Promise((r) => setImmediate(r));
  const resyncMs = performance.now() - t0;
  if (profiler) writeFileSync(profileFile!, JSON.stringify(await profiler.stop()));
  const bytesOnWire = proxy.bytes();
  offConnected();
  const after = client.stats();

  // Identical heads on both sides, for every document.
  const ids = new Set([...hubDocs.ids(), ...cloud.docs.ids()]);
  for (const id of ids) {
    const a = hubDocs.get(id);
    const b = cloud.docs.get(id);
    if (!a || !b || !sameHeads(A.getHeads(a), A.getHeads(b))) throw new Error(`not converged: ${id}`);
  }
  let fullDocBytes = 0;
  for (const id of ids) fullDocBytes += A.save(cloud.docs.get(id)!).length;
  const sample = hub.view(plan.outage.find((e) => e.kind === 'announce')!.parcelId);
  if (!sample?.announcement || !cloud.docs.has(parcelDocId(plan.outage.find((e) => e.kind === 'deposit')!.parcelId))) throw new Error('missing data after resync');

  await client.stop();
  await sync.close();
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
  hubDb.close();
  store.close();
  for (const f of files) for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true });

  const floor = automergeFloor(floorInput);
  log(`sync bench: Automerge floor of the same resync: ${floor.ms} ms (${floor.applies} documents applied)`);
  log(`sync bench: resync ${Math.round(resyncMs)} ms (handshake ${Math.round(handshakeMs)} ms), ${after.framesSent - before.framesSent} frames up, ${after.framesReceived - before.framesReceived} down, ${bytesOnWire} bytes on the wire; now the baseline`);
  const baseline = runBaseline(plan, seed, log);
  const result = {
    bench: 'sync',
    events,
    resync_ms: Math.round(resyncMs),
    round_trips: after.framesSent - before.framesSent,
    bytes_on_wire: bytesOnWire,
    raw_change_bytes: rawChangeBytes,
    full_doc_bytes: fullDocBytes,
    baseline_resync_ms: baseline.baseline_resync_ms,
    baseline_bytes_on_wire: baseline.baseline_bytes_on_wire,
    docs: ids.size,
    handshake_ms: Math.round(handshakeMs),
    frames: after.framesSent - before.framesSent + after.framesReceived - before.framesReceived,
    messages: after.messagesSent - before.messagesSent + after.messagesReceived - before.messagesReceived,
    baseline_round_trips: baseline.baseline_round_trips,
    baseline_full_doc_bytes: baseline.baseline_full_doc_bytes,
    floor_ms: floor.ms,
    floor_applies: floor.applies,
    time_target_met: resyncMs <= 0.5 * baseline.baseline_resync_ms,
    bytes_target_met: bytesOnWire <= baseline.baseline_bytes_on_wire,
  };
  return result;
}

/**
 * Encode each side's changes since the shared heads and apply them to the other side's version,
 * for every document that changed, on fresh copies: the Automerge work no per-document sync can
 * skip. Only the encoding and the applying are timed.
 */
function automergeFloor(input: { since: A.Heads; hub?: Uint8Array; cloud?: Uint8Array }[]): { ms: number; applies: number } {
  const docs = input.map((d) => ({ since: d.since, hub: d.hub && A.load(d.hub), cloud: d.cloud && A.load(d.cloud) }));
  let applies = 0;
  const t0 = performance.now();
  const sent = docs.map((d) => {
    const changes = (from: A.Doc<unknown> | undefined) => (from && !sameHeads(A.getHeads(from), d.since) ? A.saveSince(from, d.since) : undefined);
    return { toCloud: changes(d.hub), toHub: changes(d.cloud) };
  });
  docs.forEach((d, i) => {
    const { toCloud, toHub } = sent[i]!;
    if (toCloud) d.cloud = d.cloud ? applyChunk(d.cloud, toCloud) : A.load(toCloud);
    if (toHub) d.hub = d.hub ? applyChunk(d.hub, toHub) : A.load(toHub);
    applies += Number(!!toCloud) + Number(!!toHub);
  });
  const ms = Math.round(performance.now() - t0);
  for (const d of docs) for (const doc of [d.hub, d.cloud]) if (doc) A.free(doc);
  return { ms, applies };
}
