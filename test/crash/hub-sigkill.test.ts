/**
 * Crash test: a real hub in a child process (`hub-child.ts`: startHub on a simulated board),
 * a stream of deposits and pickups over HTTP from here, SIGKILL at seeded-random points,
 * restart on the same SQLite file, a few rounds. Then the file is opened here and checked:
 *
 * - every deposit that was acknowledged (200 to confirm) is in the ledger with its code
 *   (the sealed code opens to the code we learned);
 * - every pickup that was acknowledged (200) is recorded as used;
 * - each code has at most one use attempt the door sensor did not refute, each parcel at most
 *   one used code and at most one `pickup` event (no code opened two doors);
 * - a deposit is never without its code, and no two unfinished parcels share a compartment.
 *
 * `CUBBY_CRASH_SEED=<n>` replays the kill points and the choice of actions (the interleaving
 * of the two client workers with the hub still varies). The seed is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { openHubStore } from '../../edge/store/hub-store.js';
import { generateSealKeyPair, open } from '../../shared/crypto/sealed-box.js';
import { codesNewestFirst, isFinished, usedAt, currentCompartment, type ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { ManualClock, SeededRandom, randomInt } from '../../shared/ports.js';
import { COURIER, TEST_BANK } from '../support/hub.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const ROUNDS = 6;
const seed = Number(process.env.CUBBY_CRASH_SEED ?? randomBytes(4).readUInt32LE(0));
console.log(`crash test seed: CUBBY_CRASH_SEED=${seed}`);
// Kill points have their own generator, so they replay exactly whatever the interleaving does to the actions'.
const killRng = new SeededRandom(seed);
const rng = new SeededRandom(seed ^ 0x5eed);
const uniform = (lo: number, hi: number) => lo + randomInt(killRng, hi - lo + 1);

const dir = mkdtempSync(join(tmpdir(), 'cubby-crash-'));
const dataFile = join(dir, 'hub.sqlite');
const keys = generateSealKeyPair();
const pepper = randomBytes(32).toString('hex');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Child {
  proc: ChildProcess;
  url: string;
  control: string;
  stderr: string[];
}

async function startChild(): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'hub-child.ts')], {
    cwd: root,
    env: { ...process.env, CUBBY_CRASH_DATA: dataFile, CUBBY_CRASH_PEPPER: pepper, CUBBY_CRASH_SEAL_KEY: keys.publicKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`hub child not ready in 15 s:\n${stderr.join('')}`)), 15_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /READY (\{.*\})\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        const info = JSON.parse(m[1]!) as { url: string; control: string };
        resolve({ proc, url: info.url, control: info.control, stderr });
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`hub child exited before ready (${code ?? signal}):\n${stderr.join('')}`));
    });
  });
}

function kill(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.proc.once('exit', () => resolve());
    child.proc.kill('SIGKILL');
  });
}

/** What the clients know, from acknowledged answers only. */
interface Parcel {
  id: string;
  size: 'S' | 'M' | 'L';
  compartment?: number;
  /** 200 to confirm. */
  depositAcked: boolean;
  code?: string;
  /** 200 to a pickup. */
  pickupAcked: boolean;
  /** 410 code_used for a pickup we never saw succeed: the hub died after recording the use. */
  usedUnacked: boolean;
  /** A worker is on it. */
  busy?: boolean;
  /** Its deposit was cut by a crash: the courier tries again (the hub may hold a pending deposit). */
  retry?: boolean;
  /** No compartment was free: the courier went away. */
  abandoned?: boolean;
}
const parcels = new Map<string, Parcel>();
let nextParcel = 0;
const stats = { deposits: 0, pickups: 0, kills: 0, lostPickups: 0, noFree: 0, doorFaults: 0, requestsCut: 0 };

class Died extends Error {}

async function call(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new Died('the hub is gone');
  }
}
const postJson = (url: string, body?: unknown) =>
  call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

async function learnCode(child: Child, p: Parcel): Promise<void> {
  const doc = (await (await call(`${child.control}/parcel/${p.id}`)).json()) as ParcelDoc | null;
  const sealed = doc && codesNewestFirst(doc)[0]?.sealed;
  if (sealed) p.code = open(String(sealed), keys);
  if (doc?.deposit) p.compartment = doc.deposit.compartment;
}

/** A courier deposits `p` (a new parcel, or one whose earlier attempt was cut by a crash). */
async function deposit(child: Child, p: Parcel): Promise<void> {
  const opened = await postJson(`${child.url}/api/courier/deposit`, { courierId: COURIER.id, secret: COURIER.secret, parcelId: p.id, size: p.size });
  const body = (await opened.json()) as { compartment: number; depositId: string; error?: { code: string } };
  if (opened.status === 409 && body.error?.code === 'already_deposited') {
    // The confirm of an earlier attempt committed, its answer was lost.
    p.retry = false;
    await learnCode(child, p);
    return;
  }
  if (opened.status === 409 && body.error?.code === 'no_free_compartment') {
    stats.noFree++;
    p.abandoned = true;
    p.retry = false;
    return;
  }
  if (opened.status === 409 && body.error?.code === 'door_busy') return; // try again later
  if (opened.status !== 200) throw new Error(`deposit ${p.id}: ${opened.status} ${JSON.stringify(body)}`);
  const placed = await call(`${child.control}/place/${body.compartment}`, { method: 'POST' });
  if (placed.status !== 200) throw new Error(`place ${body.compartment}: ${await placed.text()}`);
  const confirmed = await postJson(`${child.url}/api/courier/deposit/${body.depositId}/confirm`);
  if (confirmed.status !== 200) throw new Error(`confirm ${p.id}: ${confirmed.status} ${await confirmed.text()}`);
  p.depositAcked = true;
  p.retry = false;
  p.compartment = body.compartment;
  stats.deposits++;
  await learnCode(child, p);
}

async function pickup(child: Child, p: Parcel): Promise<void> {
  const res = await postJson(`${child.url}/api/pickup`, { code: p.code });
  const body = (await res.json()) as { compartment?: number; error?: { code: string } };
  if (res.status === 200) {
    p.pickupAcked = true;
    stats.pickups++;
    expect(body.compartment).toBe(p.compartment);
    await call(`${child.control}/take/${body.compartment}`, { method: 'POST' });
    return;
  }
  if (res.status === 409 && body.error?.code === 'door_fault') {
    // The hub could not confirm the open in time (a loaded machine): the code is kept; try again later.
    stats.doorFaults++;
    return;
  }
  if (res.status === 410 && body.error?.code === 'code_used') {
    // Only possible when an earlier pickup of ours was cut by a crash after the durable use record.
    p.usedUnacked = true;
    stats.lostPickups++;
    return;
  }
  throw new Error(`pickup ${p.id}: ${res.status} ${JSON.stringify(body)}`);
}

/** One client: deposits and pickups until the hub dies. Actions are drawn from the seeded RNG. */
async function worker(child: Child, stop: { dead: boolean }): Promise<void> {
  let current: Parcel | undefined;
  const busy = (p: Parcel) => ((p.busy = true), p);
  while (!stop.dead) {
    try {
      const unfinished = [...parcels.values()].find((p) => p.retry && !p.busy);
      const ready = [...parcels.values()].filter((p) => p.code && !p.pickupAcked && !p.usedUnacked && !p.busy);
      const full = [...parcels.values()].filter((p) => p.code && !p.pickupAcked && !p.usedUnacked).length >= 20;
      if (unfinished) {
        current = unfinished;
        await deposit(child, busy(unfinished)).finally(() => (unfinished.busy = false));
      } else if (ready.length > 0 && (full || randomInt(rng, 2) === 0)) {
        const p = ready[randomInt(rng, ready.length)]!;
        current = p;
        await pickup(child, busy(p)).finally(() => (p.busy = false));
      } else {
        const p: Parcel = { id: `c-${nextParcel++}`, size: (['S', 'M', 'L'] as const)[randomInt(rng, 3)]!, depositAcked: false, pickupAcked: false, usedUnacked: false };
        parcels.set(p.id, p);
        current = p;
        await deposit(child, busy(p)).finally(() => (p.busy = false));
      }
      current = undefined;
    } catch (err) {
      if (err instanceof Died) {
        stats.requestsCut++;
        // A deposit cut by the crash: the courier will try again after the restart.
        if (current && !current.depositAcked && !current.abandoned) current.retry = true;
        return;
      }
      throw err;
    }
  }
}

test(`SIGKILL at random points never loses an acknowledged deposit or pickup, never opens two doors with one code (seed ${seed})`, async () => {
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const child = await startChild();
    const stop = { dead: false };
    let failure: unknown;
    const workers = [worker(child, stop), worker(child, stop)].map((w) =>
      w.catch((err: unknown) => {
        failure ??= err;
        stop.dead = true;
      }),
    );
    const killAfter = uniform(200, 2500);
    await new Promise((r) => setTimeout(r, killAfter));
    await kill(child);
    stop.dead = true;
    stats.kills++;
    await Promise.all(workers);
    if (failure) throw new Error(`${failure instanceof Error ? failure.message : String(failure)}\nhub log (tail):\n${child.stderr.join('').slice(-2000)}`);
  }
  // One more start: the hub comes up on what the last kill left, and still serves.
  const last = await startChild();
  const health = (await (await call(`${last.url}/health`)).json()) as { compartments: { total: number } };
  expect(health.compartments.total).toBe(24);
  await kill(last);
  console.log(`crash test: ${JSON.stringify(stats)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  expect(stats.deposits).toBeGreaterThan(ROUNDS);
  expect(stats.pickups).toBeGreaterThan(0);

  // Open the file as the next start would, and check.
  const store = openHubStore({ file: dataFile, bankId: TEST_BANK, clock: new ManualClock(Date.now()), random: new SeededRandom(seed) });
  try {
    const why = `(seed ${seed})`;
    for (const p of parcels.values()) {
      const doc = store.ledger.doc(p.id);
      if (p.depositAcked) {
        expect(doc?.deposit, `acknowledged deposit ${p.id} is in the ledger ${why}`).toBeDefined();
        expect(doc!.deposit!.compartment).toBe(p.compartment);
        const sealed = codesNewestFirst(doc!)[0]?.sealed;
        expect(sealed, `${p.id} has its sealed code ${why}`).toBeDefined();
        if (p.code) expect(open(String(sealed), keys), `${p.id}'s code is the one we learned ${why}`).toBe(p.code);
      }
      if (p.pickupAcked) {
        const used = Object.values(doc!.codes).filter((c) => usedAt(c) !== undefined);
        expect(used, `acknowledged pickup of ${p.id} is recorded as used ${why}`).toHaveLength(1);
        expect(store.ledger.view(p.id)?.status).toBe('picked_up');
      }
    }
    const pickupEvents = new Map<string, number>();
    for (const e of store.audit.since(0, 1e9)) if (e.type === 'pickup') pickupEvents.set(e.parcelId!, (pickupEvents.get(e.parcelId!) ?? 0) + 1);
    const occupied = new Map<number, string>();
    const now = Date.now();
    let docs = 0;
    for (const doc of store.ledger.all()) {
      docs++;
      if (doc.deposit) expect(Object.keys(doc.codes).length, `${doc.parcelId} was deposited without a code ${why}`).toBeGreaterThan(0);
      for (const c of Object.values(doc.codes)) {
        const standing = Object.keys(c.uses).filter((a) => !c.openFailures[a]);
        expect(standing.length, `code ${c.codeId} of ${doc.parcelId} has ${standing.length} standing use attempts ${why}`).toBeLessThanOrEqual(1);
        for (const a of standing) expect(c.uses[a]!.compartment).toBe(currentCompartment(doc));
      }
      const usedCodes = Object.values(doc.codes).filter((c) => usedAt(c) !== undefined).length;
      expect(usedCodes, `${doc.parcelId} used with two codes ${why}`).toBeLessThanOrEqual(1);
      const events = pickupEvents.get(doc.parcelId) ?? 0;
      expect(events, `${doc.parcelId} opened ${events} times ${why}`).toBeLessThanOrEqual(usedCodes);
      const n = currentCompartment(doc);
      if (n !== undefined && !isFinished(doc, now)) {
        expect(occupied.get(n), `compartment ${n} holds ${occupied.get(n)} and ${doc.parcelId} ${why}`).toBeUndefined();
        occupied.set(n, doc.parcelId);
      }
    }
    console.log(`crash test: ${docs} parcel documents checked`);
  } finally {
    store.close();
  }
}, 90_000);
