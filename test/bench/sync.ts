/**
 * `npm run bench -- sync [--events=5000] [--seed=1] [--rounds=5] [--warmup=1] [--profile=<file>] [--hub-flags=<a,b>]`:
 * a hub offline for 72 simulated hours while `events` ledger events happen on both sides
 * (cloud: announcements, support revokes; hub: deposits with issuance, pickups, revokes), then
 * it reconnects through the real sync path — WebSocket on 127.0.0.1, authenticated handshake
 * (production argon2 parameters; the cloud caches a verified device secret, so the reconnect,
 * like a real reconnect to the same cloud process, does not run argon2 again), SQLite stores
 * with synchronous=FULL at both ends — and we time until both sides are quiet with identical
 * heads. Bytes are counted on the cloud's TCP connections (HTTP upgrade, WebSocket framing and
 * all). The same events then run through the baseline (baseline-sync.ts).
 *
 * **Two processes.** The cloud (this process) and the hub (`_sync-hub.ts`, a child process)
 * are two machines in production, so they run in two processes here and their work overlaps
 * as it would. The hub process lives for the whole scenario — its events before the outage,
 * the first sync, its 72 h of offline events — with its own SQLite file, `DocSet`, ledger and
 * `SyncClient`, as the hub did when both ran in this process; only the plan (derived from the
 * seed) and commands cross the IPC channel, never documents during the timed run. The clock
 * starts when this process tells the hub to reconnect and stops when the hub reports itself
 * in sync (after its last frame was answered) AND this side's session is settled; the heads
 * of every document on both sides are compared afterwards. Earlier versions ran both ends on
 * one thread, so `resync_ms` was the sum of both sides' work; the baseline is by definition
 * one in-process exchange (one thread, no transport), and stays so.
 *
 * **Rounds.** The whole scenario runs `warmup` + `rounds` times in this invocation (new stores,
 * a new hub process each time; the same seed, so sizes are identical) and the times reported
 * are the medians of the `rounds`, the resync's and the baseline's each on its own (`rounds`
 * lists every round's pair, `warmup` the rounds not counted). One round on this shared 2-core
 * machine varies by ±10 %. The warm-up round runs the resync in a process that has not done
 * one before — its JavaScript not yet optimized for it — which a cloud that has been up for
 * days never is; it is reported, not counted. The baseline runs in the same process, after
 * the resync of the same round.
 *
 * **Outboxes.** As in production, both sides keep a `SyncOutbox` while the other is out of
 * reach: each local change is encoded for the wire as it is made, so the reconnection sends at
 * once instead of encoding thousands of documents first. That work happens during the outage,
 * outside the timed resync; `outbox_encoded` and `outbox_ms` report it (both sides together).
 *
 * `floor_ms` is the bare Automerge work any one-document-per-parcel design has to do for the
 * same resync, measured in the same run on ONE thread (both sides' work added up, as the
 * baseline is): encode each side's changes since the shared heads (`saveSince`, the cheapest
 * encoder) and apply them to the other side's version (the cheapest apply that leaves a
 * readable document, `applyChunk`), in memory — no transport, storage, authorization or
 * bookkeeping. It is measured on copies taken before the resync, after it, so it does not warm
 * anything up for the timed run.
 * `--profile=<file>` writes CPU profiles of the resync: this process's to `<file>`, the hub's
 * to `<file>` with `.hub.cpuprofile`. `--hub-flags=` passes Node/V8 flags to the hub process.
 */
import './_v8-flags.js'; // first: before Automerge's wasm is compiled
import * as A from '@automerge/automerge';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { createCloudApp } from '../../cloud/app.js';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { generateCloudKeys } from '../../cloud/keys.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { SyncServer } from '../../cloud/sync/sync-server.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';
import { applyChunk } from '../../shared/sync/apply-chunk.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import type { HubDocCopy, HubInit } from './_sync-hub.js';
import { planSyncEvents, runBaseline, type PlanEvent } from './baseline-sync.js';
import { startProfiler } from './_profiler.js';
import { median } from './run.js';

const here = dirname(fileURLToPath(import.meta.url));
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const arg = (args: string[], name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);

/**
 * Counts every byte of the server's TCP connections, both ways (HTTP upgrade, WebSocket
 * framing and all), from the kernel's counters — no proxy in between: a proxy in this process
 * would hold the cloud's bytes to the hub until the cloud's event loop is free.
 */
function countingServer(server: Server) {
  const sockets = new Set<Socket>();
  const baseline = new Map<Socket, number>();
  const total = (s: Socket) => s.bytesRead + s.bytesWritten;
  server.on('connection', (s: Socket) => sockets.add(s));
  return {
    bytes: () => [...sockets].reduce((n, s) => n + total(s) - (baseline.get(s) ?? 0), 0),
    reset: () => sockets.forEach((s) => (s.destroyed ? sockets.delete(s) : baseline.set(s, total(s)))),
  };
}

/** The hub's process (`_sync-hub.ts`): one request at a time over IPC. */
function spawnHub(nodeFlags: string[]) {
  const proc = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(here, '_sync-hub.ts')], {
    cwd: join(here, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  proc.stdout!.on('data', (b: Buffer) => process.stderr.write(b));
  let exited: string | undefined;
  const pending = new Set<(m: { cmd: string; error?: string }) => void>();
  proc.on('message', (m: { cmd: string; error?: string }) => pending.forEach((p) => p(m)));
  proc.once('exit', (code, signal) => {
    exited = `the hub process exited (${code ?? signal})`;
    pending.forEach((p) => p({ cmd: '', error: exited }));
  });
  const ask = <T = Record<string, unknown>>(cmd: string, payload: object = {}) =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const p = (m: { cmd: string; error?: string }) => {
        if (m.cmd !== cmd && !(m.error && m.cmd === '')) return;
        pending.delete(p);
        if (m.error) reject(new Error(`hub ${cmd}: ${m.error}`));
        else resolve(m as T);
      };
      pending.add(p);
      proc.send({ cmd, ...payload });
    });
  const exit = () => new Promise<void>((r) => (exited ? r() : proc.once('exit', () => r())));
  return { proc, ask, exit };
}

export async function run(args: string[]): Promise<object> {
  const events = arg(args, 'events', 5000);
  const seed = arg(args, 'seed', 1);
  const rounds = Math.max(1, arg(args, 'rounds', 5));
  const warmups = Math.max(0, arg(args, 'warmup', 1));
  const profileFile = args.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
  const hubFlags = (args.find((a) => a.startsWith('--hub-flags='))?.slice('--hub-flags='.length) ?? '').split(',').filter(Boolean);
  reserveAutomergeHeap(256);
  const results: RoundResult[] = [];
  const warm: RoundResult[] = [];
  for (let r = 1 - warmups; r <= rounds; r++) {
    const name = r < 1 ? 'warm-up round' : `round ${r} of ${rounds}`;
    log(`sync bench: ${name}`);
    const res = await runRound({ events, seed, hubFlags, profileFile: r === 1 ? profileFile : undefined });
    log(`sync bench: ${name}: resync ${res.resync_ms} ms, baseline ${res.baseline_resync_ms} ms (${(res.resync_ms / res.baseline_resync_ms).toFixed(3)}x)`);
    (r < 1 ? warm : results).push(res);
  }
  const pair = (x: RoundResult) => ({ resync_ms: x.resync_ms, baseline_resync_ms: x.baseline_resync_ms, ratio: Number((x.resync_ms / x.baseline_resync_ms).toFixed(3)) });
  // Every round replays the same seeded scenario from scratch (new stores, a new hub process):
  // sizes are identical, times are taken as the median of the rounds, each side on its own.
  const mid = (k: keyof RoundResult) => median(results.map((x) => x[k] as number));
  const resyncMs = mid('resync_ms');
  const baselineMs = mid('baseline_resync_ms');
  const first = results[0]!;
  return {
    ...first,
    resync_ms: resyncMs,
    baseline_resync_ms: baselineMs,
    handshake_ms: mid('handshake_ms'),
    cloud_cpu_ms: mid('cloud_cpu_ms'),
    hub_cpu_ms: mid('hub_cpu_ms'),
    outbox_ms: mid('outbox_ms'),
    floor_ms: mid('floor_ms'),
    ratio: Number((resyncMs / baselineMs).toFixed(3)),
    rounds: results.map(pair),
    warmup: warm.map(pair),
    time_target_met: resyncMs <= 0.5 * baselineMs,
    bytes_target_met: first.bytes_on_wire <= first.baseline_bytes_on_wire,
  };
}

type RoundResult = Awaited<ReturnType<typeof runRound>>;

/** One whole scenario: cloud, hub process, events, outage, the timed resync, then the baseline. */
async function runRound({ events, seed, hubFlags, profileFile }: { events: number; seed: number; hubFlags: string[]; profileFile?: string }) {
  const plan = planSyncEvents({ events, seed });
  const files: string[] = [];
  const tmp = (name: string) => {
    const f = join(tmpdir(), `cubby-bench-${name}-${randomBytes(4).toString('hex')}.sqlite`);
    files.push(f);
    return f;
  };

  // ---- cloud: store, replicas, HTTP server with the sync endpoint ----------------------
  const start = Date.UTC(2026, 0, 5, 8);
  const clock = new ManualClock(start);
  const random = new SeededRandom(seed);
  const store = openCloudStore(tmp('cloud'), { hashParams: TEST_ARGON2 });
  const replicas = new BankReplicas({ db: store.db, clock, random, syncStates: store.syncStates });
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
  const wire = countingServer(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cloud = replicas.get('bank-1');

  // ---- hub: its own process, one SQLite file for documents and sync states ---------------
  const hub = spawnHub(hubFlags);
  try {
    await hub.ask('init', { init: { file: tmp('hub'), url, bankId: 'bank-1', secret: 'bench-device-secret', events, seed, start } satisfies HubInit });

    // The cloud's events; the clock steps over every event of both sides, as the hub's does.
    const codeOf = (parcelId: string) => Object.keys(cloud.docs.get<ParcelDoc>(parcelDocId(parcelId))?.codes ?? {})[0];
    const play = (list: PlanEvent[], step: number) => {
      for (const e of list) {
        clock.advance(step);
        if (e.side !== 'cloud') continue;
        if (e.kind === 'announce') {
          cloud.docs.transaction(() => {
            store.parcels.announce(e.parcelId, 'bank-1', 'demo-carrier', clock.now());
            cloud.ledger.announce(e.parcelId, { carrier: 'demo-carrier', trackingNumber: e.trackingNumber, size: e.size });
          });
        } else if (e.kind === 'revoke') {
          cloud.ledger.revoke(e.parcelId, e.reason, codeOf(e.parcelId));
        }
      }
    };

    // ---- before the outage: shared history, synced ----------------------------------------
    play(plan.pre, 1000);
    await hub.ask('pre');
    await hub.ask('sync');
    // The hub disconnected: wait until this side saw it go, as a cloud notices a hub that went
    // offline long before 72 h have passed (its outbox only works while no session holds it).
    while (sync.info().length > 0) await new Promise((r) => setTimeout(r, 1));
    const headsBefore = new Map<string, A.Heads>();
    for (const id of cloud.docs.ids()) headsBefore.set(id, A.getHeads(cloud.docs.get(id)!));
    log(`sync bench: ${plan.pre.length} events before the outage synced; now ${events} events during ${plan.outageMs / 3600_000} h offline`);

    // ---- the outage: both sides at once ------------------------------------------------------
    const tb = performance.now();
    const hubOutage = hub.ask<{ ms: number; docs: number; rawChangeBytes: number; outbox: OutboxStats }>('outage');
    const cloudOutbox0 = { ...cloud.outbox!.stats };
    play(plan.outage, Math.floor(plan.outage.length ? plan.outageMs / plan.outage.length : 0));
    const hubDone = await hubOutage;
    const outboxes = [hubDone.outbox, { encoded: cloud.outbox!.stats.encoded - cloudOutbox0.encoded, ms: cloud.outbox!.stats.ms - cloudOutbox0.ms }];
    log(`sync bench: outage events applied in ${Math.round(performance.now() - tb)} ms (hub ${hubDone.docs} docs, cloud ${cloud.docs.size} docs)`);
    let rawChangeBytes = hubDone.rawChangeBytes;
    for (const id of cloud.docs.ids()) for (const ch of A.getChangesSince(cloud.docs.get(id)!, headsBefore.get(id) ?? [])) rawChangeBytes += ch.length;

    // Both sides' versions of every document that changed, for the floor measured later.
    const { copies } = await hub.ask<{ copies: HubDocCopy[] }>('copies');
    const hubCopy = new Map(copies.map((c) => [c.id, c]));
    const floorInput: FloorDoc[] = [];
    for (const id of new Set([...hubCopy.keys(), ...cloud.docs.ids()])) {
      const h = hubCopy.get(id);
      const c = cloud.docs.get(id);
      const since = h?.before ?? headsBefore.get(id) ?? [];
      if ((h && !sameHeads(h.heads, since)) || (c && !sameHeads(A.getHeads(c), since))) floorInput.push({ since, hub: h?.save, cloud: c && A.save(c) });
    }

    // ---- reconnect: timed until both sides are quiet ---------------------------------------
    wire.reset();
    if (profileFile) await hub.ask('profile', { file: profileFile.replace(/(\.cpuprofile)?$/, '.hub.cpuprofile') });
    const profiler = profileFile ? await startProfiler() : undefined;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const resynced = await hub.ask<HubResync>('go');
    while (!sync.info().every((s) => s.settled)) await new Promise((r) => setImmediate(r));
    const resyncMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (profiler) writeFileSync(profileFile!, JSON.stringify(await profiler.stop()));
    const bytesOnWire = wire.bytes();

    // Identical heads on both sides, for every document.
    const sampleParcel = plan.outage.find((e) => e.kind === 'announce')!.parcelId;
    const { heads, sampleOk } = await hub.ask<{ heads: Record<string, A.Heads>; sampleOk: boolean }>('check', { parcelId: sampleParcel });
    const ids = new Set([...Object.keys(heads), ...cloud.docs.ids()]);
    for (const id of ids) {
      const a = heads[id];
      const b = cloud.docs.get(id);
      if (!a || !b || !sameHeads(a, A.getHeads(b))) throw new Error(`not converged: ${id}`);
    }
    let fullDocBytes = 0;
    for (const id of ids) fullDocBytes += A.save(cloud.docs.get(id)!).length;
    if (!sampleOk || !cloud.docs.has(parcelDocId(plan.outage.find((e) => e.kind === 'deposit')!.parcelId))) throw new Error('missing data after resync');

    await hub.ask('stop');
    await hub.exit();
    await sync.close();
    await new Promise<void>((r) => server.close(() => r()));
    store.close();
    for (const f of files) for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true });

    const floor = automergeFloor(floorInput);
    log(`sync bench: Automerge floor of the same resync: ${floor.ms} ms (${floor.applies} documents applied)`);
    log(
      `sync bench: resync ${Math.round(resyncMs)} ms (hub in sync after ${Math.round(resynced.ms)} ms, handshake ${Math.round(resynced.handshakeMs)} ms), ` +
        `${resynced.framesSent} frames up, ${resynced.framesReceived} down, ${bytesOnWire} bytes on the wire; now the baseline`,
    );
    const baseline = runBaseline(plan, seed, log);
    return {
      bench: 'sync',
      events,
      resync_ms: Math.round(resyncMs),
      round_trips: resynced.framesSent,
      bytes_on_wire: bytesOnWire,
      raw_change_bytes: rawChangeBytes,
      full_doc_bytes: fullDocBytes,
      baseline_resync_ms: baseline.baseline_resync_ms,
      baseline_bytes_on_wire: baseline.baseline_bytes_on_wire,
      docs: ids.size,
      handshake_ms: Math.round(resynced.handshakeMs),
      cloud_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
      hub_cpu_ms: Math.round(resynced.cpuMs),
      frames: resynced.framesSent + resynced.framesReceived,
      messages: resynced.messagesSent + resynced.messagesReceived,
      baseline_round_trips: baseline.baseline_round_trips,
      baseline_full_doc_bytes: baseline.baseline_full_doc_bytes,
      outbox_encoded: outboxes.reduce((n, o) => n + o.encoded, 0),
      outbox_ms: Math.round(outboxes.reduce((n, o) => n + o.ms, 0)),
      floor_ms: floor.ms,
      floor_applies: floor.applies,
      time_target_met: resyncMs <= 0.5 * baseline.baseline_resync_ms,
      bytes_target_met: bytesOnWire <= baseline.baseline_bytes_on_wire,
    };
  } finally {
    if (hub.proc.exitCode === null && hub.proc.signalCode === null) hub.proc.kill();
  }
}

interface OutboxStats {
  encoded: number;
  ms: number;
}

interface HubResync {
  ms: number;
  cpuMs: number;
  handshakeMs: number;
  framesSent: number;
  framesReceived: number;
  messagesSent: number;
  messagesReceived: number;
}

interface FloorDoc {
  since: A.Heads;
  hub?: Uint8Array;
  cloud?: Uint8Array;
}

/**
 * Encode each side's changes since the shared heads and apply them to the other side's version,
 * for every document that changed, on fresh copies: the Automerge work no per-document sync can
 * skip. Only the encoding and the applying are timed.
 */
function automergeFloor(input: FloorDoc[]): { ms: number; applies: number } {
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
