/**
 * Crash test, cloud side: the real cloud in a child process (`cloud-child.ts`: `startCloud` with
 * the embedded broker and the notification outbox), under load from here — carriers announcing
 * parcels, support revoking codes (HTTP), two hubs depositing with sealed codes and picking up
 * (their sync clients in this process, on SQLite files) — SIGKILLed at seeded-random points and
 * started again on the same data directory and ports, a few rounds.
 *
 * After each kill, with the cloud dead, its database file is opened read-only and checked:
 * - every announcement answered 201/200 is in the registry and its parcel document;
 * - every revocation answered 200 is in the parcel document (that code's `revokedAt`);
 * - every document a hub holds as acknowledged by the cloud (the sync state that lets a hub
 *   prune) is there with at least the heads the hub recorded — the cloud never told a hub "I
 *   have it" before the commit;
 * - every such document whose newest code was live and hub-issued has its outbox row (queued
 *   in the same transaction as the document), when the outbox exists.
 * At the end, after a last restart, hubs and cloud converge to identical heads.
 *
 * `CUBBY_CHAOS_SEED=<n>` replays kill points and the choice of operations;
 * `CUBBY_CHAOS_ROUNDS=<n>` kills more often (test/chaos/README.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { afterAll, expect, test } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { seal } from '../../shared/crypto/sealed-box.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import { codesNewestFirst, liveCode, type ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { randomInt, SeededRandom, systemClock } from '../../shared/ports.js';
import { testHub, type TestHub } from '../sync/ws-fixture.js';
import { CloudFile, startChild, type Child } from './children.js';
import { str } from '../../shared/ledger/str.js';

const SEED = Number(process.env.CUBBY_CHAOS_SEED ?? randomBytes(4).readUInt32LE(0));
const ROUNDS = Number(process.env.CUBBY_CHAOS_ROUNDS ?? 3);
const killRng = new SeededRandom(SEED);
const rng = new SeededRandom(SEED ^ 0x5eed);

const dir = mkdtempSync(join(tmpdir(), 'cubby-cloud-crash-'));
const hubs: TestHub[] = [];
let cloud: Child<{ url: string; mqttUrl: string; notify: boolean }> | undefined;
afterAll(async () => {
  for (const h of hubs) await h.close();
  await cloud?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
const BANKS = [
  { bankId: 'bank-1', size: 24 },
  { bankId: 'bank-2', size: 12 },
];

interface Acked {
  announced: Map<string, string>; // parcelId -> bankId
  revoked: { parcelId: string; codeId: string }[];
  stats: Record<string, number>;
}

async function call(url: string, init: RequestInit): Promise<Response | undefined> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch {
    return undefined; // the cloud died under the request: not acknowledged
  }
}

test(`SIGKILL of the cloud under load: every acknowledged write survives (seed ${SEED})`, { timeout: 240_000 }, async () => {
  process.stdout.write(`cloud crash test: CUBBY_CHAOS_SEED=${SEED}, ${ROUNDS} rounds\n`);
  const env = { CUBBY_CHAOS_DATA: dir, CUBBY_CHAOS_PORT: '0', CUBBY_CHAOS_MQTT_PORT: '0' };
  cloud = await startChild('cloud-child.ts', env);
  // Later starts take the same ports: hubs keep their URL, as with a real restart.
  env.CUBBY_CHAOS_PORT = new URL(cloud.info.url).port;
  env.CUBBY_CHAOS_MQTT_PORT = new URL(cloud.info.mqttUrl).port;
  const url = cloud.info.url;
  const sealKey = (JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8')) as { seal: { publicKey: string } }).seal.publicKey;
  const clock = systemClock;
  for (const b of BANKS) {
    const h = testHub(b.bankId, { url, clock, seed: SEED + hubs.length + 1, backoff: { initialMs: 20, maxMs: 200 }, rescanMs: 500 });
    hubs.push(h);
    h.client.start();
  }

  const acked: Acked = { announced: new Map(), revoked: [], stats: { announce: 0, deposit: 0, pickup: 0, revoke: 0, revokeRaced: 0, lost: 0, kills: 0, docsChecked: 0, outboxChecked: 0 } };
  let n = 0;

  const oneOp = async (): Promise<void> => {
    const roll = randomInt(rng, 100);
    const hi = randomInt(rng, hubs.length);
    const h = hubs[hi]!;
    const size = BANKS[hi]!.size;
    if (roll < 35) {
      const parcelId = `C${++n}`;
      const res = await call(`${url}/v1/parcels`, {
        method: 'POST',
        headers: CARRIER,
        body: JSON.stringify({ parcelId, bankId: h.bankId, carrier: DEMO.carrierName, trackingNumber: `T${n}`, size: 'S', recipient: { name: 'R', email: `r${n}@example.com` } }),
      });
      if (res?.status === 201 || res?.status === 200) {
        acked.announced.set(parcelId, h.bankId);
        acked.stats.announce!++;
      } else if (res) throw new Error(`announce: ${res.status} ${await res.text()}`);
      else acked.stats.lost!++;
    } else if (roll < 65) {
      const occupied = h.ledger.occupancy();
      const free = Array.from({ length: size }, (_, k) => k + 1).filter((c) => !occupied.has(c));
      const waiting = [...acked.announced].filter(([p, b]) => b === h.bankId && !h.ledger.doc(p)?.deposit).map(([p]) => p);
      const selector = String(randomInt(rng, 1000)).padStart(3, '0');
      if (free.length === 0 || waiting.length === 0 || h.ledger.selectorTaken(selector)) return;
      const parcelId = waiting[randomInt(rng, waiting.length)]!;
      h.ledger.depositAndIssue(
        parcelId,
        { depositId: `d-${parcelId}`, compartment: free[randomInt(rng, free.length)]!, courierId: 'courier-1', size: 'S' },
        { selector, hash: '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', issuer: 'hub', sealed: seal(`${selector}123456`, sealKey) },
      );
      acked.stats.deposit!++;
    } else if (roll < 80) {
      const now = clock.now();
      const live = [...h.ledger.all()].filter((d) => liveCode(d, now));
      if (live.length === 0) return;
      const d = live[randomInt(rng, live.length)]!;
      h.ledger.markUsed(d.parcelId, str(liveCode(d, now)!.codeId), `att-${++n}`, d.deposit!.compartment);
      acked.stats.pickup!++;
    } else {
      const now = clock.now();
      const live = [...h.ledger.all()].filter((d) => liveCode(d, now) && h.client.acknowledged(`parcel:${d.parcelId}`));
      if (live.length === 0) return;
      const d = live[randomInt(rng, live.length)]!;
      const res = await call(`${url}/v1/parcels/${d.parcelId}/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'chaos' }) });
      if (res?.status === 200) {
        const body = (await res.json()) as { codeId: string };
        acked.revoked.push({ parcelId: d.parcelId, codeId: body.codeId });
        acked.stats.revoke!++;
      } else if (res?.status === 409) acked.stats.revokeRaced!++; // a pickup synced first
      else if (res) throw new Error(`revoke: ${res.status} ${await res.text()}`);
      else acked.stats.lost!++;
    }
  };

  for (let round = 0; round < ROUNDS; round++) {
    const killAfter = 300 + randomInt(killRng, 1200);
    let dead = false;
    const workers = [0, 1, 2].map(async () => {
      while (!dead) {
        await oneOp();
        await new Promise((r) => setTimeout(r, 3 + randomInt(rng, 15)));
      }
    });
    await new Promise((r) => setTimeout(r, killAfter));
    await cloud.kill();
    dead = true;
    acked.stats.kills!++;
    await Promise.all(workers);
    // What each hub holds as acknowledged by the cloud, now that the cloud is gone.
    const hubAcked = hubs.map((h) => ({
      h,
      docs: [...h.docs.ids()].filter((id) => h.client.acknowledged(id)).map((id) => ({ id, doc: A.clone(h.docs.get(id)!) })),
    }));
    verifyOnDisk(acked, hubAcked);
    cloud = await startChild('cloud-child.ts', env);
  }

  // After the last restart everything converges: identical heads at hub and cloud, every
  // acknowledged announcement visible through the API.
  const identical = (): boolean => {
    const file = new CloudFile(join(dir, 'cloud.sqlite'));
    try {
      return hubs.every((h) => {
        const ids = new Set([...file.docIds(h.bankId), ...h.docs.ids()]);
        return [...ids].every((id) => {
          const c = file.doc(h.bankId, id);
          const mine = h.docs.get(id);
          return c !== undefined && mine !== undefined && sameHeads(A.getHeads(c), A.getHeads(mine));
        });
      });
    } finally {
      file.close();
    }
  };
  const differences = (): string[] => {
    const file = new CloudFile(join(dir, 'cloud.sqlite'));
    const out: string[] = [];
    try {
      for (const h of hubs) {
        for (const id of new Set([...file.docIds(h.bankId), ...h.docs.ids()])) {
          const c = file.doc(h.bankId, id);
          const mine = h.docs.get(id);
          if (c && mine && sameHeads(A.getHeads(c), A.getHeads(mine))) continue;
          const short = (d: A.Doc<unknown> | undefined) => (d ? A.getHeads(d).map((x) => x.slice(0, 6)).join(',') : 'none');
          out.push(`${h.bankId} ${id}: cloud ${short(c)} hub ${short(mine)} hubHasCloud=${!!(c && mine && A.hasHeads(mine, A.getHeads(c)))} cloudHasHub=${!!(c && mine && A.hasHeads(c, A.getHeads(mine)))} acked=${h.client.acknowledged(id)}`);
        }
      }
    } finally {
      file.close();
    }
    return out;
  };
  const until = Date.now() + 30_000;
  while (!identical()) {
    if (Date.now() > until) throw new Error(`hubs and cloud did not converge after the last restart: ${differences().join('; ')}`);
    for (const h of hubs) await h.client.syncNow(5_000);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const [parcelId, bankId] of acked.announced) {
    const res = await fetch(`${cloud.info.url}/v1/parcels/${parcelId}`, { headers: SUPPORT });
    expect(res.status, `GET ${parcelId}`).toBe(200);
    expect(((await res.json()) as { bankId: string }).bankId).toBe(bankId);
  }
  for (const r of acked.revoked) {
    const view = (await (await fetch(`${cloud.info.url}/v1/parcels/${r.parcelId}`, { headers: SUPPORT })).json()) as { codes: { codeId: string; state: string; revokedAt?: number }[] };
    expect(view.codes.find((c) => c.codeId === r.codeId)?.revokedAt, `revocation of ${r.parcelId}`).toBeDefined();
  }
  process.stdout.write(`cloud crash summary ${JSON.stringify({ seed: SEED, notify: cloud.info.notify, ...acked.stats, announced: acked.announced.size, revoked: acked.revoked.length })}\n`);
  expect(acked.stats.announce).toBeGreaterThan(0);
  expect(acked.stats.docsChecked).toBeGreaterThan(0);

  function verifyOnDisk(a: Acked, hubAcked: { h: TestHub; docs: { id: string; doc: A.Doc<unknown> }[] }[]): void {
    const file = new CloudFile(join(dir, 'cloud.sqlite'));
    try {
      for (const [parcelId, bankId] of a.announced) {
        expect(file.parcel(parcelId)?.bank_id, `registry row of ${parcelId}`).toBe(bankId);
        expect(file.doc(bankId, `parcel:${parcelId}`)?.announcement, `announcement of ${parcelId}`).toBeDefined();
      }
      for (const r of a.revoked) {
        const bankId = a.announced.get(r.parcelId)!;
        expect((file.doc(bankId, `parcel:${r.parcelId}`) as ParcelDoc | undefined)?.codes[r.codeId]?.revokedAt, `revocation of ${r.parcelId}`).toBeDefined();
      }
      for (const { h, docs } of hubAcked) {
        for (const { id, doc } of docs) {
          const there = file.doc(h.bankId, id);
          expect(there && A.hasHeads(there, A.getHeads(doc)), `${h.bankId} ${id}: acknowledged to the hub, not in the cloud's file`).toBe(true);
          a.stats.docsChecked!++;
          if (cloud!.info.notify && id.startsWith('parcel:')) {
            const newest = codesNewestFirst(doc as ParcelDoc)[0];
            const live = liveCode(doc as ParcelDoc, clock.now());
            if (newest && live && str(live.codeId) === str(newest.codeId) && str(live.issuer) === 'hub' && live.sealed) {
              expect(file.outboxRows(str(live.codeId)), `outbox row for ${id}'s code`).toBeGreaterThan(0);
              a.stats.outboxChecked!++;
            }
          }
        }
      }
    } finally {
      file.close();
    }
  }
});

