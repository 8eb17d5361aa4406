/**
 * `npm run bench -- growth [--parcels=N] [--runs=N]`
 *
 * A busy bank's year on a real SQLite file: does the hub's store size and start-up time
 * depend on the live parcels, not on history (DESIGN.md, ledger rule 5)?
 *
 * 50,000 parcels are deposited (with a code) at an even pace over 365 simulated days on a
 * 200-compartment bank; 92% are picked up after an exponential delay (mean 14 h), some
 * after a "resend my code" rotation or a door that failed to open once; 8% are never
 * collected, expire at 72 h (hourly expiry sweep) and are taken back by a courier a few
 * hours later. Every 6 h the hub prunes finished parcels older than 24 h (the cloud has
 * acknowledged everything), and once a day it vacuums the file.
 *
 * Honest shortcuts, none of which changes what is stored or loaded:
 * - Codes carry real argon2id PHC strings (DEFAULT params) from a pool of 20 hashes computed
 *   at start: hashing 50,000 codes at ~60–90 ms each would take 50–75 minutes, and this bench
 *   never verifies a code. Each code also carries a sealed copy of the same size as a real one.
 * - The store runs with synchronous=FULL as on a hub, but each simulated hour's events
 *   commit in one transaction (one fsync per hour instead of per event) so the year runs
 *   in minutes. The file's contents are the same.
 * - The time is a ManualClock; nothing sleeps.
 *
 * Then the store is closed, and `load_ms` is the median time to open the file, load every
 * document (DocSet), build the ledger's index (ParcelLedger) and answer one selector lookup,
 * i.e. to be ready to validate a code; `empty_load_ms` is the same on an empty store file.
 * Both are measured in this process after a warm-up (module loading and Node start-up are
 * not counted).
 */
import * as A from '@automerge/automerge';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { generateCode } from '../../shared/codes/format.js';
import { Argon2CodeHasher, DEFAULT_ARGON2 } from '../../shared/codes/hasher.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { currentCompartment, isFinished, liveCode, parcelStatus } from '../../shared/ledger/parcel-doc.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, SeededRandom, randomInt, type Random } from '../../shared/ports.js';
import { log, median, round } from './run.js';
import { str } from '../../shared/ledger/str.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
const COMPARTMENTS = 200;
const RETENTION = DAY;
const BANK = 'bench-bank';
const ACTOR = 'a0a0a0a0a0a0a0a0';

type Event =
  | { at: number; kind: 'deposit'; p: number }
  | { at: number; kind: 'rotate'; p: number }
  | { at: number; kind: 'pickup'; p: number; failFirst: boolean }
  | { at: number; kind: 'return'; p: number };

function flag(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
}

/** Uniform in [0, 1) from the seeded generator. */
const unit = (r: Random) => randomInt(r, 2 ** 32) / 2 ** 32;

function storeBytes(file: string): number {
  return ['', '-wal', '-shm'].reduce((n, s) => n + (existsSync(file + s) ? statSync(file + s).size : 0), 0);
}

function removeStore(file: string): void {
  for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
}

/** Open a store and get a ledger ready to validate; returns the elapsed milliseconds. */
function loadOnce(file: string, clock: ManualClock): { ms: number; docs: number } {
  const t = performance.now();
  const storage = SqliteDocStorage.open(file);
  const docs = new DocSet(storage, ACTOR);
  const ledger = new ParcelLedger({ bankId: BANK, docs, clock, random: new SeededRandom(1) });
  ledger.candidates('123');
  const ms = performance.now() - t;
  storage.close();
  // Give the documents' wasm memory back now, so one run's garbage does not slow the next.
  for (const id of [...docs.ids()]) A.free(docs.get(id)!);
  return { ms, docs: docs.size };
}

export async function run(args: string[]): Promise<object> {
  const parcels = flag(args, 'parcels', 50_000);
  const runs = flag(args, 'runs', 11);
  const file = join(tmpdir(), `cubby-growth-${randomBytes(6).toString('hex')}.sqlite`);
  const emptyFile = join(tmpdir(), `cubby-growth-empty-${randomBytes(6).toString('hex')}.sqlite`);
  try {
    // The year runs in its own function: none of its memory is reachable while loads are timed.
    const { live, clock } = await simulate(file, parcels);
    const bytes = storeBytes(file);
    log(`store after the year: ${(bytes / 1e6).toFixed(2)} MB on disk`);

    // --- load time ---------------------------------------------------------------------------
    SqliteDocStorage.open(emptyFile).close();
    loadOnce(file, clock); // warm-up: modules, SQLite, Automerge wasm
    loadOnce(emptyFile, clock);
    const full: number[] = [];
    const empty: number[] = [];
    for (let r = 0; r < runs; r++) {
      full.push(loadOnce(file, clock).ms);
      empty.push(loadOnce(emptyFile, clock).ms);
    }
    const loadMs = median(full);
    const emptyLoadMs = median(empty);
    log(`load_ms runs ${full.map((x) => x.toFixed(1)).join(', ')}; empty ${empty.map((x) => x.toFixed(1)).join(', ')}`);
    log(`targets: load_ms ${loadMs.toFixed(1)} <= 3 x ${emptyLoadMs.toFixed(1)} + 100 = ${(3 * emptyLoadMs + 100).toFixed(1)}; store ${(bytes / 1e6).toFixed(2)} MB < 20 MB`);
    return { bench: 'growth', parcels, live_parcels: live, store_bytes: bytes, load_ms: round(loadMs), empty_load_ms: round(emptyLoadMs) };
  } finally {
    removeStore(file);
    removeStore(emptyFile);
  }
}

/** A year of the bank on `file`; returns the live parcels at the end and the clock. */
async function simulate(file: string, parcels: number): Promise<{ live: number; clock: ManualClock }> {
  const rng = new SeededRandom(2026);

  // --- hashes: 20 real DEFAULT-param PHC strings, reused -------------------------------
  const hasher = new Argon2CodeHasher(randomBytes(32), DEFAULT_ARGON2);
  const pool = await Promise.all(Array.from({ length: 20 }, () => hasher.hash(generateCode(rng, () => false))));
  // A sealed box of a 10-character code: 32-byte ephemeral key + nonce + ciphertext + tag, base64.
  const sealed = () => Buffer.from(rng.bytes(32 + 12 + 10 + 16)).toString('base64');
  log(`pool of ${pool.length} argon2id hashes (${pool[0]!.length} chars each), m=${DEFAULT_ARGON2.memoryCost},t=${DEFAULT_ARGON2.timeCost},p=${DEFAULT_ARGON2.parallelism}`);

  // --- the year's events ----------------------------------------------------------------
  const start = Date.UTC(2026, 0, 1);
  const events: Event[] = [];
  const gap = YEAR / parcels;
  let plannedPickups = 0;
  for (let p = 0; p < parcels; p++) {
    const at = Math.floor(start + p * gap + unit(rng) * gap);
    events.push({ at, kind: 'deposit', p });
    if (unit(rng) < 0.92) {
      plannedPickups++;
      const delay = Math.min(70 * HOUR, Math.max(60_000, -Math.log(1 - unit(rng)) * 14 * HOUR));
      const failFirst = unit(rng) < 0.01;
      if (unit(rng) < 0.03) events.push({ at: at + Math.floor(delay / 2), kind: 'rotate', p });
      events.push({ at: at + Math.floor(delay), kind: 'pickup', p, failFirst });
    } else {
      events.push({ at: at + 72 * HOUR + Math.floor((2 + unit(rng) * 22) * HOUR), kind: 'return', p });
    }
  }
  const end = start + YEAR;
  events.sort((a, b) => a.at - b.at);

  // --- simulate --------------------------------------------------------------------------
  const storage = SqliteDocStorage.open(file);
  const clock = new ManualClock(start);
  const docs = new DocSet(storage, ACTOR);
  const ledger = new ParcelLedger({ bankId: BANK, docs, clock, random: rng });
  const stats = { deposited: 0, refused: 0, pickedUp: 0, rotated: 0, openFailures: 0, expiredDue: 0, returned: 0, pruned: 0, peakDocs: 0 };
  const issue = () => {
    const code = generateCode(rng, (s) => ledger.selectorTaken(s));
    return { selector: code.selector, hash: pool[randomInt(rng, pool.length)]!, issuer: 'hub' as const, sealed: sealed() };
  };

  const t0 = performance.now();
  let i = 0;
  let attempt = 0;
  for (let hour = start + HOUR; hour <= end + 4 * DAY; hour += HOUR) {
    if (hour > end && i >= events.length) break;
    docs.transaction(() => {
      for (; i < events.length && events[i]!.at < hour; i++) {
        const e = events[i]!;
        if (e.at > end) continue; // the year is over: leave the rest live
        clock.set(e.at);
        const pid = `parcel-${e.p}`;
        const doc = ledger.doc(pid);
        switch (e.kind) {
          case 'deposit': {
            const taken = ledger.occupancy();
            let compartment = 0;
            for (let c = 1; c <= COMPARTMENTS; c++) if (!taken.has(c)) {
              compartment = c;
              break;
            }
            if (compartment === 0) {
              stats.refused++;
              break;
            }
            ledger.depositAndIssue(pid, { depositId: `d-${e.p}`, compartment, courierId: 'courier-1', size: 'M' }, issue());
            stats.deposited++;
            break;
          }
          case 'rotate':
            if (doc && liveCode(doc, clock.now())) {
              ledger.issueCode(pid, issue());
              stats.rotated++;
            }
            break;
          case 'pickup': {
            const live = doc && liveCode(doc, clock.now());
            if (!live) break;
            const compartment = currentCompartment(doc)!;
            if (e.failFirst) {
              const a = `att-${attempt++}`;
              ledger.markUsed(pid, str(live.codeId), a, compartment);
              ledger.markOpenFailed(pid, str(live.codeId), a, 'sensor did not confirm');
              stats.openFailures++;
            }
            ledger.markUsed(pid, str(live.codeId), `att-${attempt++}`, compartment);
            stats.pickedUp++;
            break;
          }
          case 'return':
            if (doc && parcelStatus(doc, clock.now()) === 'expired') {
              ledger.markReturned(pid);
              stats.returned++;
            }
            break;
        }
      }
      clock.set(Math.min(hour, end));
      stats.expiredDue += ledger.expire().length;
      if ((hour - start) % (6 * HOUR) === 0) stats.pruned += ledger.prune(RETENTION, () => true);
    });
    stats.peakDocs = Math.max(stats.peakDocs, docs.size);
    if ((hour - start) % DAY === 0) storage.vacuum();
    if ((hour - start) % (30 * DAY) === 0) {
      log(`  day ${(hour - start) / DAY}: ${stats.deposited} deposited, ${docs.size} docs held, ${(storage.sizeBytes() / 1e6).toFixed(2)} MB, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (hour >= end) break;
  }
  clock.set(end);
  stats.pruned += ledger.prune(RETENTION, () => true);
  storage.vacuum();
  const simSeconds = (performance.now() - t0) / 1000;
  const all = [...ledger.all()];
  const live = all.filter((d) => !isFinished(d, clock.now())).length;
  const docCount = docs.size;
  storage.close();
  for (const id of [...docs.ids()]) A.free(docs.get(id)!);
  log(`simulated ${parcels} parcels in ${simSeconds.toFixed(0)} s: ${JSON.stringify(stats)} (pickups planned ${plannedPickups})`);
  log(`end of the year: ${docCount} documents in the store (${live} live parcels, ${docCount - live} finished within retention)`);
  return { live, clock };
}
