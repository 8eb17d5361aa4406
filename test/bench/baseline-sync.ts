/**
 * The event plan of the sync benchmark, and its BASELINE: DESIGN.md rule 7's naive design —
 * one plain Automerge document per bank, one change per event, the bare sync protocol between
 * two in-process peers (no transport, no storage). `npm run bench -- baseline-sync` runs the
 * baseline alone; `npm run bench -- sync` runs it next to the real path.
 */
import * as A from '@automerge/automerge';
import { randomId, randomInt, SeededRandom, type Random } from '../../shared/ports.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';

/** A fake but well-formed argon2id hash (the bench never verifies codes). */
export const BENCH_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

/** One ledger event of the plan. `side` says which replica makes it. */
export type PlanEvent =
  | { kind: 'announce'; side: 'cloud'; parcelId: string; trackingNumber: string; size: 'S' | 'M' | 'L' }
  | { kind: 'deposit'; side: 'hub'; parcelId: string; depositId: string; compartment: number; selector: string; hash: string }
  | { kind: 'use'; side: 'hub'; parcelId: string; attemptId: string; compartment: number }
  | { kind: 'revoke'; side: 'cloud' | 'hub'; parcelId: string; reason: string };

export interface SyncPlan {
  /** History both sides share before the outage. */
  pre: PlanEvent[];
  /** What happens while the hub is offline. */
  outage: PlanEvent[];
  /** Simulated duration of the outage. */
  outageMs: number;
}

/**
 * A seeded plan: `livePre` parcels deposited and `waitingPre` announced before the outage;
 * during it, `events` events split between the cloud (announcements, support revokes of codes
 * it knows) and the hub (deposits with issuance — of parcels announced before or during the
 * outage, the latter unknown to the hub —, pickups, revokes).
 */
export function planSyncEvents(opts: { events: number; seed: number; livePre?: number; waitingPre?: number; hours?: number }): SyncPlan {
  const rnd = new SeededRandom(opts.seed);
  const pick = <T>(xs: T[]): T => xs.splice(randomInt(rnd, xs.length), 1)[0]!;
  const pre: PlanEvent[] = [];
  const outage: PlanEvent[] = [];
  let n = 0;
  const waiting: string[] = [];
  const hubLive: { parcelId: string; compartment: number }[] = [];
  const cloudRevocable: string[] = [];
  const announce = (to: PlanEvent[]) => {
    const parcelId = `P${++n}`;
    to.push({ kind: 'announce', side: 'cloud', parcelId, trackingNumber: `TRK${1000000 + n}`, size: (['S', 'M', 'L'] as const)[randomInt(rnd, 3)]! });
    waiting.push(parcelId);
  };
  const deposit = (to: PlanEvent[], known: boolean) => {
    const parcelId = pick(waiting);
    const compartment = 1 + randomInt(rnd, 24);
    to.push({ kind: 'deposit', side: 'hub', parcelId, depositId: randomId(rnd, 8), compartment, selector: String(randomInt(rnd, 1000)).padStart(3, '0'), hash: fakeHash(rnd) });
    hubLive.push({ parcelId, compartment });
    if (known) cloudRevocable.push(parcelId);
  };
  for (let i = 0; i < (opts.livePre ?? 300) + (opts.waitingPre ?? 200); i++) announce(pre);
  for (let i = 0; i < (opts.livePre ?? 300); i++) deposit(pre, true);

  while (outage.length < opts.events) {
    const roll = randomInt(rnd, 100);
    if (roll < 30) announce(outage);
    else if (roll < 60 && waiting.length) deposit(outage, false);
    else if (roll < 88 && hubLive.length) {
      const p = hubLive.splice(randomInt(rnd, hubLive.length), 1)[0]!;
      outage.push({ kind: 'use', side: 'hub', parcelId: p.parcelId, attemptId: randomId(rnd, 8), compartment: p.compartment });
    } else if (roll < 94 && cloudRevocable.length) {
      outage.push({ kind: 'revoke', side: 'cloud', parcelId: pick(cloudRevocable), reason: 'support: recipient asked' });
    } else if (hubLive.length) {
      const p = hubLive.splice(randomInt(rnd, hubLive.length), 1)[0]!;
      outage.push({ kind: 'revoke', side: 'hub', parcelId: p.parcelId, reason: 'courier took it back' });
    }
  }
  return { pre, outage, outageMs: (opts.hours ?? 72) * 3600_000 };
}

/** A plausible argon2id PHC string with a random salt and digest (same size and entropy as real ones). */
function fakeHash(rnd: Random): string {
  const b64 = (n: number) => Buffer.from(rnd.bytes(n)).toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=19456,t=2,p=1$${b64(16)}$${b64(32)}`;
}

// ---- the baseline ---------------------------------------------------------------------

type Parcel = {
  parcelId: string;
  announcement?: { trackingNumber: string; size: string; at: number; carrier: string };
  deposit?: { depositId: string; compartment: number; at: number; courierId: string };
  codes: Record<string, { selector: string; hash: A.ImmutableString; issuedAt: number; expiresAt: number; uses: Record<string, { at: number }>; revokedAt?: number; revokeReason?: string }>;
};
type BankDoc = { bankId: string; parcels: Record<string, Parcel> };

/** Apply one event as ONE change to the bank's single document. */
function applyBaseline(doc: A.Doc<BankDoc>, e: PlanEvent, at: number, codeOf: Map<string, string>, rnd: Random): A.Doc<BankDoc> {
  return A.change(doc, { message: e.kind, time: Math.floor(at / 1000) }, (d) => {
    const p = (d.parcels[e.parcelId] ??= { parcelId: e.parcelId, codes: {} });
    if (e.kind === 'announce') p.announcement = { trackingNumber: e.trackingNumber, size: e.size, at, carrier: 'demo-carrier' };
    else if (e.kind === 'deposit') {
      const codeId = randomId(rnd, 8);
      codeOf.set(e.parcelId, codeId);
      p.deposit = { depositId: e.depositId, compartment: e.compartment, at, courierId: 'courier-1' };
      p.codes[codeId] = { selector: e.selector, hash: new A.ImmutableString(e.hash), issuedAt: at, expiresAt: at + 72 * 3600_000, uses: {} };
    } else {
      const code = p.codes[codeOf.get(e.parcelId) ?? ''];
      if (!code) return;
      if (e.kind === 'use') code.uses[e.attemptId] = { at };
      else {
        code.revokedAt = at;
        code.revokeReason = e.reason;
      }
    }
  });
}

export interface BaselineResult {
  baseline_resync_ms: number;
  baseline_bytes_on_wire: number;
  baseline_messages: number;
  baseline_round_trips: number;
  baseline_full_doc_bytes: number;
}

/** Build both replicas of the single bank document from `plan`, then time the bare sync until both are quiet. */
export function runBaseline(plan: SyncPlan, seed: number, log: (msg: string) => void = () => {}): BaselineResult {
  const rnd = new SeededRandom(seed ^ 0x5a5a);
  const codeOf = new Map<string, string>();
  let t = Date.UTC(2026, 0, 5, 8);
  let base = A.change(A.init<BankDoc>({ actor: '0000000000000000' }), (d) => {
    d.bankId = 'bank-1';
    d.parcels = {};
  });
  for (const e of plan.pre) base = applyBaseline(base, e, (t += 1000), codeOf, rnd);
  let hub = A.clone(base, { actor: 'b0b0b0b0b0b0b0b0' });
  let cloud = A.clone(base, { actor: 'c0c0c0c0c0c0c0c0' });
  const step = Math.floor(plan.outageMs / plan.outage.length);
  const built = performance.now();
  for (const e of plan.outage) {
    t += step;
    if (e.side === 'hub') hub = applyBaseline(hub, e, t, codeOf, rnd);
    else cloud = applyBaseline(cloud, e, t, codeOf, rnd);
  }
  log(`baseline: ${plan.outage.length} changes applied in ${Math.round(performance.now() - built)} ms`);

  const t0 = performance.now();
  let sh = A.initSyncState();
  let sc = A.initSyncState();
  let bytes = 0;
  let messages = 0;
  let rounds = 0;
  for (;;) {
    let m1: Uint8Array | null;
    let m2: Uint8Array | null;
    [sh, m1] = A.generateSyncMessage(hub, sh);
    if (m1) {
      bytes += m1.length;
      messages++;
      [cloud, sc] = A.receiveSyncMessage(cloud, sc, m1);
    }
    [sc, m2] = A.generateSyncMessage(cloud, sc);
    if (m2) {
      bytes += m2.length;
      messages++;
      [hub, sh] = A.receiveSyncMessage(hub, sh, m2);
    }
    if (!m1 && !m2) break;
    rounds++;
  }
  const ms = performance.now() - t0;
  if (A.getHeads(hub).sort().join() !== A.getHeads(cloud).sort().join()) throw new Error('baseline did not converge');
  return {
    baseline_resync_ms: Math.round(ms),
    baseline_bytes_on_wire: bytes,
    baseline_messages: messages,
    baseline_round_trips: rounds,
    baseline_full_doc_bytes: A.save(hub).length,
  };
}

/** `npm run bench -- baseline-sync [--events=N] [--seed=S]` */
export async function run(args: string[]): Promise<object> {
  const events = Number(args.find((a) => a.startsWith('--events='))?.slice(9) ?? 5000);
  const seed = Number(args.find((a) => a.startsWith('--seed='))?.slice(7) ?? 1);
  reserveAutomergeHeap(256);
  const plan = planSyncEvents({ events, seed });
  return { bench: 'baseline-sync', events, ...runBaseline(plan, seed, (m) => process.stderr.write(`${m}\n`)) };
}
