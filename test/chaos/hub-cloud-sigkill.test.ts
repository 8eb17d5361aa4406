/**
 * Crash test, both ends at once: the cloud (`cloud-child.ts`) and bank-1's hub
 * (`hub-sync-child.ts`: the hub's store and sync wiring, no board) each in a child process,
 * SIGKILLed together at seeded-random points under load (announcements and revocations at the
 * cloud, deposits and pickups at the hub), then both restarted on their files, a few rounds.
 * With both dead, their files are opened read-only and checked:
 *
 * - every write either side acknowledged (cloud 201/200, hub 200) is in that side's file;
 * - what each side's sync state says the OTHER side holds, the other side's file holds — the
 *   cloud never believes the hub has a change the hub lost, nor the hub the cloud (either
 *   belief would stop the change from ever being sent again, or let the hub prune it);
 * and at the end both converge to identical heads.
 *
 * `CUBBY_CHAOS_SEED`, `CUBBY_CHAOS_ROUNDS` (test/chaos/README.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { afterAll, expect, test } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { randomInt, SeededRandom } from '../../shared/ports.js';
import { CloudFile, HubFile, startChild, type Child } from './children.js';

const SEED = Number(process.env.CUBBY_CHAOS_SEED ?? randomBytes(4).readUInt32LE(0));
const ROUNDS = Number(process.env.CUBBY_CHAOS_ROUNDS ?? 2);
const killRng = new SeededRandom(SEED);
const rng = new SeededRandom(SEED ^ 0xb07);
const dir = mkdtempSync(join(tmpdir(), 'cubby-both-crash-'));
const hubFile = join(dir, 'hub.sqlite');
let cloud: Child<{ url: string; mqttUrl: string }> | undefined;
let hub: Child<{ control: string }> | undefined;
afterAll(async () => {
  await hub?.kill();
  await cloud?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };

async function call(url: string, init: RequestInit = { method: 'POST' }): Promise<Response | undefined> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch {
    return undefined;
  }
}

test(`SIGKILL of hub and cloud together: acknowledged writes and sync beliefs survive on both sides (seed ${SEED})`, { timeout: 240_000 }, async () => {
  process.stdout.write(`hub+cloud crash test: CUBBY_CHAOS_SEED=${SEED}, ${ROUNDS} rounds\n`);
  const cloudEnv = { CUBBY_CHAOS_DATA: join(dir, 'cloud'), CUBBY_CHAOS_PORT: '0', CUBBY_CHAOS_MQTT_PORT: '0', CUBBY_CHAOS_NOTIFY: '0' };
  cloud = await startChild('cloud-child.ts', cloudEnv);
  cloudEnv.CUBBY_CHAOS_PORT = new URL(cloud.info.url).port;
  cloudEnv.CUBBY_CHAOS_MQTT_PORT = new URL(cloud.info.mqttUrl).port;
  const url = cloud.info.url;
  const sealKey = (JSON.parse(readFileSync(join(dir, 'cloud', 'keys.json'), 'utf8')) as { seal: { publicKey: string } }).seal.publicKey;
  const hubEnv = { CUBBY_CHAOS_HUB_FILE: hubFile, CUBBY_CHAOS_CLOUD: url, CUBBY_CHAOS_BANK: 'bank-1', CUBBY_CHAOS_SECRET: 'bank-1-device-secret', CUBBY_CHAOS_SEAL_KEY: sealKey };
  hub = await startChild('hub-sync-child.ts', hubEnv);

  const announced: string[] = [];
  const deposited = new Map<string, string>(); // parcelId -> codeId (hub 200)
  const pickedUp = new Map<string, string>(); // parcelId -> attempt id (hub 200)
  const revoked: { parcelId: string; codeId: string }[] = [];
  const stats = { announce: 0, deposit: 0, pickup: 0, revoke: 0, refused: 0, cut: 0, kills: 0, beliefsChecked: 0 };
  let n = 0;
  const free = new Set(Array.from({ length: 24 }, (_, i) => i + 1));

  const oneOp = async () => {
    const roll = randomInt(rng, 100);
    if (roll < 35) {
      const parcelId = `B${++n}`;
      const res = await call(`${url}/v1/parcels`, {
        method: 'POST',
        headers: CARRIER,
        body: JSON.stringify({ parcelId, bankId: 'bank-1', carrier: DEMO.carrierName, trackingNumber: `T${n}`, size: 'S', recipient: { name: 'R', email: `r${n}@example.com` } }),
      });
      if (res?.status === 201) (announced.push(parcelId), stats.announce++);
      else if (!res) stats.cut++;
    } else if (roll < 65) {
      const waiting = announced.filter((p) => !deposited.has(p));
      if (waiting.length === 0 || free.size === 0) return;
      const parcelId = waiting[randomInt(rng, waiting.length)]!;
      const compartment = [...free][randomInt(rng, free.size)]!;
      const res = await call(`${hub!.info.control}/deposit/${parcelId}?compartment=${compartment}&selector=${String(n % 1000).padStart(3, '0')}`);
      if (res?.status === 200) {
        deposited.set(parcelId, ((await res.json()) as { codeId: string }).codeId);
        free.delete(compartment);
        stats.deposit++;
      } else if (res) stats.refused++;
      else stats.cut++;
    } else if (roll < 85) {
      const ready = [...deposited.keys()].filter((p) => !pickedUp.has(p));
      if (ready.length === 0) return;
      const parcelId = ready[randomInt(rng, ready.length)]!;
      const res = await call(`${hub!.info.control}/pickup/${parcelId}`);
      if (res?.status === 200) (pickedUp.set(parcelId, ((await res.json()) as { attempt: string }).attempt), stats.pickup++);
      else if (res) stats.refused++; // revoked at the cloud and synced
      else stats.cut++;
    } else {
      const ready = [...deposited.keys()].filter((p) => !pickedUp.has(p) && !revoked.some((r) => r.parcelId === p));
      if (ready.length === 0) return;
      const parcelId = ready[randomInt(rng, ready.length)]!;
      const res = await call(`${url}/v1/parcels/${parcelId}/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'chaos' }) });
      if (res?.status === 200) (revoked.push({ parcelId, codeId: ((await res.json()) as { codeId: string }).codeId }), stats.revoke++);
      else if (res) stats.refused++; // not synced yet (404) or no live code (409)
      else stats.cut++;
    }
  };

  for (let round = 0; round < ROUNDS; round++) {
    let dead = false;
    const workers = [0, 1].map(async () => {
      while (!dead) {
        await oneOp();
        await new Promise((r) => setTimeout(r, 2 + randomInt(rng, 12)));
      }
    });
    await new Promise((r) => setTimeout(r, 400 + randomInt(killRng, 1200)));
    await Promise.all([cloud.kill(), hub.kill()]);
    dead = true;
    stats.kills++;
    await Promise.all(workers);
    verify();
    cloud = await startChild('cloud-child.ts', cloudEnv);
    hub = await startChild('hub-sync-child.ts', hubEnv);
  }

  // Both up again: they converge.
  const until = Date.now() + 30_000;
  for (;;) {
    const c = new CloudFile(join(dir, 'cloud', 'cloud.sqlite'));
    const h = new HubFile(hubFile);
    try {
      const ids = new Set([...c.docIds('bank-1'), ...h.docIds()]);
      const differ = [...ids].filter((id) => {
        const a = c.doc('bank-1', id);
        const b = h.doc(id);
        return !a || !b || !sameHeads(A.getHeads(a), A.getHeads(b));
      });
      if (differ.length === 0) break;
      if (Date.now() > until) throw new Error(`hub and cloud did not converge: ${differ.join(', ')}`);
    } finally {
      c.close();
      h.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`hub+cloud crash summary ${JSON.stringify({ seed: SEED, ...stats })}\n`);
  expect(stats.deposit).toBeGreaterThan(0);

  function verify(): void {
    const c = new CloudFile(join(dir, 'cloud', 'cloud.sqlite'));
    const h = new HubFile(hubFile);
    try {
      for (const p of announced) expect(c.parcel(p)?.bank_id, `announcement ${p}`).toBe('bank-1');
      for (const r of revoked) expect((c.doc('bank-1', `parcel:${r.parcelId}`) as ParcelDoc | undefined)?.codes[r.codeId]?.revokedAt, `revocation ${r.parcelId}`).toBeDefined();
      for (const [p, codeId] of deposited) expect((h.doc(`parcel:${p}`) as ParcelDoc | undefined)?.codes[codeId], `deposit ${p} at the hub`).toBeDefined();
      for (const [p, attempt] of pickedUp) expect((h.doc(`parcel:${p}`) as ParcelDoc | undefined)?.codes[deposited.get(p)!]?.uses[attempt], `pickup ${p} at the hub`).toBeDefined();
      // Beliefs: what one side's sync state says the other holds, the other holds.
      for (const id of h.docIds()) {
        const believed = h.shared('cloud', id);
        if (!believed?.length) continue;
        const there = c.doc('bank-1', id);
        expect(there && A.hasHeads(there, believed), `the hub believes the cloud holds ${id}`).toBe(true);
        stats.beliefsChecked++;
      }
      for (const id of c.sharedDocIds('hub:bank-1')) {
        const believed = c.shared('hub:bank-1', id);
        if (!believed?.length) continue;
        const there = h.doc(id);
        expect(there && A.hasHeads(there, believed), `the cloud believes the hub holds ${id}`).toBe(true);
        stats.beliefsChecked++;
      }
    } finally {
      c.close();
      h.close();
    }
  }
});
