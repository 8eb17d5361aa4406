/**
 * Chaos: one cloud, two hubs, real sockets through cuttable links. A seeded RNG interleaves
 * carrier announcements (cloud API), deposits and pickups (hubs), revocations (support via
 * the cloud API, and at the hubs) with cuts and heals of each hub's link. After the final
 * heal every replica must hold the same heads for every document, and the ledger's
 * invariants must hold everywhere. `CUBBY_CHAOS_SEED=<n>` replays a run's schedule of
 * operations and cuts (socket timing, hence which replica knows what when, still varies).
 */
import * as A from '@automerge/automerge';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { sameHeads, type DocSet } from '../../shared/ledger/doc-set.js';
import { codeState, liveCode, usedAt, type ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX } from '../../shared/ledger/parcel-ledger.js';
import { randomInt, SeededRandom } from '../../shared/ports.js';
import { LinkProxy } from './link-proxy.js';
import { cloudServer, testHub, type CloudServer, type TestHub } from './ws-fixture.js';
import { str } from '../../shared/ledger/str.js';

const SEED = process.env.CUBBY_CHAOS_SEED ? Number(process.env.CUBBY_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const OPS = Number(process.env.CUBBY_CHAOS_OPS ?? 300);
const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
const SIZE: Record<string, number> = { 'bank-1': 24, 'bank-2': 12 };

let cs: CloudServer | undefined;
const hubs: TestHub[] = [];
const proxies: LinkProxy[] = [];
afterAll(async () => {
  for (const h of hubs) await h.close();
  for (const p of proxies) await p.close();
  await cs?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parcelDocs(docs: DocSet): A.Doc<ParcelDoc>[] {
  return [...docs.ids()].filter((id) => id.startsWith(PARCEL_PREFIX)).map((id) => docs.get<ParcelDoc>(id)!);
}

/** The ledger's invariants on one replica; returns the number of use-after-revoke records seen. */
function checkInvariants(where: string, docs: DocSet, now: number): number {
  let usedAfterRevoke = 0;
  for (const d of parcelDocs(docs)) {
    const states = Object.values(d.codes).map((c) => [c, codeState(d, c, now)] as const);
    expect(states.filter(([, s]) => s === 'active').length, `${where} ${d.parcelId}: two active codes`).toBeLessThanOrEqual(1);
    for (const [c, s] of states) {
      if (usedAt(c) !== undefined) expect(s, `${where} ${d.parcelId}/${c.codeId}: used but ${s}`).toBe('used');
      else if (c.revokedAt !== undefined) expect(s, `${where} ${d.parcelId}/${c.codeId}: revoked but ${s}`).not.toBe('active');
      if (usedAt(c) !== undefined && c.revokedAt !== undefined) usedAfterRevoke++;
    }
  }
  return usedAfterRevoke;
}

describe('partition chaos: one cloud, two hubs', () => {
  it(`converges and keeps the ledger invariants (seed ${SEED})`, { timeout: 120_000 }, async () => {
    process.stdout.write(`partition test seed ${SEED} (replay: CUBBY_CHAOS_SEED=${SEED})\n`);
    const rng = new SeededRandom(SEED);
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[randomInt(rng, xs.length)] : undefined);
    cs = await cloudServer({ seed: SEED });
    const clock = cs.cloud.clock;
    const port = Number(new URL(cs.url).port);
    for (const bankId of ['bank-1', 'bank-2']) {
      const proxy = await LinkProxy.start(port);
      proxies.push(proxy);
      hubs.push(testHub(bankId, { url: proxy.url, clock, seed: SEED + hubs.length + 1, backoff: { initialMs: 10, maxMs: 80 }, rescanMs: 200 }));
    }
    for (const h of hubs) h.client.start();

    const ops: Record<string, number> = { announce: 0, deposit: 0, pickup: 0, revokeCloud: 0, revokeRaced: 0, revokeHub: 0, cut: 0, heal: 0, skipped: 0 };
    const announced: Record<string, string[]> = { 'bank-1': [], 'bank-2': [] };
    let n = 0;
    for (let i = 0; i < OPS; i++) {
      clock.advance(randomInt(rng, 60_000));
      const hi = randomInt(rng, 2);
      const h = hubs[hi]!;
      const proxy = proxies[hi]!;
      const roll = randomInt(rng, 100);
      if (roll < 22) {
        const bankId = pick(['bank-1', 'bank-2'])!;
        const parcelId = `P${++n}`;
        const res = await cs.cloud.app.request('/v1/parcels', {
          method: 'POST',
          headers: CARRIER,
          body: JSON.stringify({ parcelId, bankId, carrier: DEMO.carrierName, trackingNumber: `T${n}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
        });
        expect(res.status).toBe(201);
        announced[bankId]!.push(parcelId);
        ops.announce!++;
      } else if (roll < 45) {
        const occupied = h.ledger.occupancy();
        const free = Array.from({ length: SIZE[h.bankId]! }, (_, k) => k + 1).filter((c) => !occupied.has(c));
        const known = announced[h.bankId]!.filter((p) => !h.ledger.doc(p)?.deposit);
        const parcelId = randomInt(rng, 5) === 0 ? `U${++n}` : pick(known);
        const compartment = pick(free);
        const selector = pick(Array.from({ length: 1000 }, (_, k) => String(k).padStart(3, '0')).filter((s) => !h.ledger.selectorTaken(s)));
        if (!parcelId || compartment === undefined || !selector) {
          ops.skipped!++;
        } else {
          h.deposit(parcelId, compartment, selector);
          ops.deposit!++;
        }
      } else if (roll < 62) {
        const now = clock.now();
        const live = [...h.ledger.all()].filter((d) => liveCode(d, now));
        const d = pick(live);
        if (!d) ops.skipped!++;
        else {
          h.ledger.markUsed(d.parcelId, str(liveCode(d, now)!.codeId), `att-${++n}`, d.deposit!.compartment);
          ops.pickup!++;
        }
      } else if (roll < 72) {
        const now = clock.now();
        const replica = cs.cloud.replicas.get(h.bankId);
        const d = pick([...replica.ledger.all()].filter((x) => liveCode(x, now)));
        if (!d) ops.skipped!++;
        else {
          const res = await cs.cloud.app.request(`/v1/parcels/${d.parcelId}/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'chaos' }) });
          if (res.status === 409) {
            // A hub's pickup or revoke of that code was synced while the request was in flight.
            expect(((await res.json()) as { error: { code: string } }).error.code).toBe('no_live_code');
            expect(liveCode(replica.ledger.doc(d.parcelId)!, clock.now())).toBeUndefined();
            ops.revokeRaced!++;
            continue;
          }
          expect(res.status).toBe(200);
          ops.revokeCloud!++;
        }
      } else if (roll < 78) {
        const now = clock.now();
        const d = pick([...h.ledger.all()].filter((x) => liveCode(x, now)));
        if (!d) ops.skipped!++;
        else {
          h.ledger.revoke(d.parcelId, 'rotated at the hub');
          ops.revokeHub!++;
        }
      } else if (roll < 89) {
        if (proxy.isDown) proxy.heal();
        else proxy.cut();
        ops[proxy.isDown ? 'cut' : 'heal']!++;
      }
      await sleep(randomInt(rng, 12));
    }

    // Final heal: everything must converge.
    for (const p of proxies) p.heal();
    for (const h of hubs) expect(await h.client.syncNow(20_000), `${h.bankId} did not sync after the heal`).toBe(true);
    const deadline = Date.now() + 20_000;
    const identical = () =>
      hubs.every((h) => {
        const cloudDocs = cs!.cloud.replicas.get(h.bankId).docs;
        const ids = new Set([...cloudDocs.ids(), ...h.docs.ids()]);
        return [...ids].every((id) => {
          const a = cloudDocs.get(id);
          const b = h.docs.get(id);
          return a && b && sameHeads(A.getHeads(a), A.getHeads(b));
        });
      });
    while (!identical() && Date.now() < deadline) {
      await sleep(20);
      for (const h of hubs) await h.client.syncNow(5_000);
    }
    expect(identical(), 'replicas differ after the final heal').toBe(true);

    const now = clock.now();
    let usedAfterRevoke = 0;
    let docs = 0;
    for (const h of hubs) {
      usedAfterRevoke += checkInvariants(`hub ${h.bankId}`, h.docs, now);
      checkInvariants(`cloud ${h.bankId}`, cs.cloud.replicas.get(h.bankId).docs, now);
      docs += h.docs.size;
      // Announced parcels of this bank are at its hub; none of the other bank's.
      for (const p of announced[h.bankId]!) expect(h.ledger.doc(p), `${p} missing at ${h.bankId}`).toBeDefined();
      const other = h.bankId === 'bank-1' ? 'bank-2' : 'bank-1';
      for (const p of announced[other]!) expect(h.ledger.doc(p)).toBeUndefined();
    }
    const stats = hubs.map((h) => h.client.stats());
    const summary = {
      seed: SEED,
      ops,
      cuts: proxies.reduce((s, p) => s + p.cuts, 0),
      heals: proxies.reduce((s, p) => s + p.heals, 0),
      connects: stats.reduce((s, x) => s + x.connects, 0),
      docs,
      usedAfterRevoke,
      bytes: stats.reduce((s, x) => s + x.bytesSent + x.bytesReceived, 0),
      rounds: stats.reduce((s, x) => s + x.framesSent, 0),
      messages: stats.reduce((s, x) => s + x.messagesSent + x.messagesReceived, 0),
    };
    process.stdout.write(`partition summary ${JSON.stringify(summary)}\n`);
  });
});
