/**
 * `npm run bench -- validate [--samples=N] [--naive-samples=N]`
 *
 * Time of one `validateCode()` call with real argon2id (DEFAULT params m=19 MiB, t=2, p=1,
 * with a pepper) as the number of live codes in one bank grows: 10, 1,000, 10,000.
 * Also: a miss (a selector no code has: one dummy verify), and a naive baseline that
 * verifies the code against every live hash (100 live codes).
 *
 * How the banks are built, honestly:
 * - Every code that is validated has its own real hash (DEFAULT params). Hashing 10,000
 *   codes at ~60–90 ms each would take 10–15 minutes, so the other live codes ("filler")
 *   carry real DEFAULT-param PHC strings from a pool of 50 hashes of other codes. Their
 *   selectors are never looked up by a measured call, so they are never verified; the
 *   ledger only ever sees well-formed hashes of the right size.
 * - A selector is 3 digits: 1,000 selectors. The ledger keeps selectors unique among live
 *   codes (generateCode() refuses a taken one), so a bank cannot hold more than 1,000 live
 *   codes. The 1,000 bank uses every selector once. The 10,000 bank is built by writing
 *   the ledger directly with each selector shared by 10 live codes — a state the ledger
 *   never creates — and validates the newest code of each measured selector (the first
 *   candidate). It measures that the lookup does not grow with the index (10 documents
 *   per selector instead of 1) and that argon2 still runs once; the 9 older codes of each
 *   selector would be rejected, which is why the selector space caps live codes per bank.
 * - The miss is measured on a separate bank of 999 live codes (with 1,000 selectors and
 *   1,000 live codes no selector is free), and compared with the hit at 1,000.
 * - Sizes and the miss are sampled round-robin in shuffled order, so background load on a
 *   shared machine falls on all of them alike.
 */
import * as A from '@automerge/automerge';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import { randomBytes } from 'node:crypto';
import { SELECTOR_SPACE, generateCode, type PickupCode } from '../../shared/codes/format.js';
import { Argon2CodeHasher, DEFAULT_ARGON2, type CodeHasher } from '../../shared/codes/hasher.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { validateCode } from '../../shared/ledger/validate.js';
import { ManualClock, SeededRandom, randomInt, type Random } from '../../shared/ports.js';
import { MemoryDocStorage } from '../../shared/storage/doc-storage.js';
import { log, median, percentile, round } from './run.js';

const csprng: Random = { bytes: (n) => randomBytes(n) };

const selectorOf = (i: number) => String(i).padStart(3, '0');

/** Counts argon2 evaluations, to check that each measured call does exactly one. */
class Counting implements CodeHasher {
  calls = 0;
  constructor(private readonly inner: CodeHasher) {}
  hash(c: PickupCode) {
    return this.inner.hash(c);
  }
  verify(h: string, c: PickupCode) {
    this.calls++;
    return this.inner.verify(h, c);
  }
  verifyDummy(c: PickupCode) {
    this.calls++;
    return this.inner.verifyDummy(c);
  }
}

interface Bank {
  name: string;
  ledger: ParcelLedger;
  /** The codes a measured call validates (real hashes). */
  probes: PickupCode[];
  samples: number[];
}

/**
 * A bank with `live` live codes. `real` codes (with their hashes) take the selectors they
 * were generated with, and are issued last so they are the newest of their selector.
 */
function buildBank(name: string, live: number, real: { code: PickupCode; hash: string }[], filler: string[], freeSelectors: string[] = []): Bank {
  const clock = new ManualClock();
  const ledger = new ParcelLedger({ bankId: 'bench-bank', docs: new DocSet(new MemoryDocStorage(), 'b0b0b0b0'), clock, random: new SeededRandom(live) });
  const realSelectors = new Set(real.map((r) => r.code.selector));
  const usable = Array.from({ length: SELECTOR_SPACE }, (_, i) => selectorOf(i)).filter((s) => !freeSelectors.includes(s));
  let n = 0;
  const issue = (selector: string, hash: string) => {
    clock.advance(1); // distinct issue times: the newest code of a selector is well defined
    ledger.depositAndIssue(`p${n}`, { depositId: `d${n}`, compartment: (n % 999) + 1, courierId: 'bench', size: 'M' }, { selector, hash, issuer: 'hub' });
    n++;
  };
  const fillerCount = live - real.length;
  const fillerSelectors = usable.filter((s) => !realSelectors.has(s) || live > SELECTOR_SPACE);
  for (let i = 0; i < fillerCount; i++) issue(fillerSelectors[i % fillerSelectors.length]!, filler[i % filler.length]!);
  for (const r of real) issue(r.code.selector, r.hash);
  return { name, ledger, probes: real.map((r) => r.code), samples: [] };
}

function flag(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
}

export async function run(args: string[]): Promise<object> {
  const samples = flag(args, 'samples', 150);
  const naiveSamples = flag(args, 'naive-samples', 5);
  const hasher = new Argon2CodeHasher(randomBytes(32), DEFAULT_ARGON2);

  // --- hashes: real ones for every code we validate, a pool of 50 for the filler ------
  const t0 = performance.now();
  const REAL = 40;
  const realCodes: PickupCode[] = [];
  const taken = new Set<string>();
  while (realCodes.length < REAL) {
    const c = generateCode(csprng, (s) => taken.has(s));
    taken.add(c.selector);
    realCodes.push(c);
  }
  const fillerCodes = Array.from({ length: 50 }, () => generateCode(csprng, () => false));
  const [realHashes, filler] = await Promise.all([Promise.all(realCodes.map((c) => hasher.hash(c))), Promise.all(fillerCodes.map((c) => hasher.hash(c)))]);
  const real = realCodes.map((code, i) => ({ code, hash: realHashes[i]! }));
  log(`hashed ${REAL} probe codes + 50 filler codes with m=${DEFAULT_ARGON2.memoryCost},t=${DEFAULT_ARGON2.timeCost},p=${DEFAULT_ARGON2.parallelism} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // --- banks --------------------------------------------------------------------------
  const t1 = performance.now();
  reserveAutomergeHeap(400);
  const banks = [buildBank('10', 10, real.slice(0, 10), filler), buildBank('1000', 1000, real, filler), buildBank('10000', 10_000, real, filler)];
  // The miss bank: 999 live codes and one free selector, which no code has ever had.
  const free = [...Array.from({ length: SELECTOR_SPACE }, (_, i) => selectorOf(i))].filter((s) => !taken.has(s))[randomInt(csprng, SELECTOR_SPACE - REAL)]!;
  const missBank = buildBank('miss@999', 999, real, filler, [free]);
  const missProbe = (): PickupCode => {
    const v = String(randomInt(csprng, 1_000_000)).padStart(6, '0');
    return { selector: free, verifier: v, display: `${free}-${v}` };
  };
  missBank.probes = [missProbe()];
  log(`built banks of 10, 1,000, 10,000 and 999 live codes in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  const sel10k = banks[2]!.ledger.candidates(real[0]!.code.selector, 100).length;
  log(`10,000 bank: ${sel10k} live codes share each selector; candidates() hands validation at most 2 of them`);
  if (missBank.ledger.candidates(free).length !== 0) throw new Error('the miss selector is not free');

  // --- sampling -------------------------------------------------------------------------
  const counting = new Counting(hasher);
  const measure = async (bank: Bank, probe: PickupCode, expectKind: 'valid' | 'invalid'): Promise<number> => {
    const calls = counting.calls;
    const t = performance.now();
    const r = await validateCode(bank.ledger, counting, probe);
    const ms = performance.now() - t;
    if (r.kind !== expectKind) throw new Error(`bank ${bank.name}: expected ${expectKind}, got ${JSON.stringify(r)}`);
    if (counting.calls - calls !== 1) throw new Error(`bank ${bank.name}: ${counting.calls - calls} argon2 calls for one validation`);
    return ms;
  };
  const all = [...banks, missBank];
  for (const b of all) for (let i = 0; i < 3; i++) await measure(b, b.probes[i % b.probes.length]!, b === missBank ? 'invalid' : 'valid'); // warm-up
  const t2 = performance.now();
  for (let i = 0; i < samples; i++) {
    const order = [...all];
    for (let j = order.length - 1; j > 0; j--) {
      const k = randomInt(csprng, j + 1);
      [order[j], order[k]] = [order[k]!, order[j]!];
    }
    for (const b of order) {
      const probe = b === missBank ? missProbe() : b.probes[randomInt(csprng, b.probes.length)]!;
      b.samples.push(await measure(b, probe, b === missBank ? 'invalid' : 'valid'));
    }
    if ((i + 1) % 50 === 0) log(`  ${i + 1}/${samples} rounds (${((performance.now() - t2) / 1000).toFixed(1)} s)`);
  }

  // --- naive baseline: verify against every live hash -----------------------------------
  // What validation would cost without selectors: argon2 against each of 100 live hashes,
  // without stopping at the match (stopping early would leak the code's position by timing).
  const naiveHashes = [real[0]!.hash, ...Array.from({ length: 99 }, (_, i) => filler[i % filler.length]!)];
  const naive: number[] = [];
  for (let i = 0; i < naiveSamples; i++) {
    const probe = real[0]!.code;
    const t = performance.now();
    let found = false;
    for (const h of naiveHashes) if (await hasher.verify(h, probe)) found = true;
    naive.push(performance.now() - t);
    if (!found) throw new Error('naive baseline did not find the code');
    log(`  naive ${i + 1}/${naiveSamples}: ${naive.at(-1)!.toFixed(0)} ms`);
  }

  const p50 = banks.map((b) => median(b.samples));
  const p99 = banks.map((b) => percentile(b.samples, 99));
  const missP50 = median(missBank.samples);
  const naiveP50 = median(naive);
  log(`samples per size: ${samples}; p50 ${p50.map((x) => x.toFixed(1)).join(' / ')} ms, p99 ${p99.map((x) => x.toFixed(1)).join(' / ')} ms`);
  log(`targets: p99@10000 / p99@10 = ${(p99[2]! / p99[0]!).toFixed(2)} (<= 1.3); miss_p50 / hit_p50@1000 = ${(missP50 / p50[1]!).toFixed(2)} (0.8..1.2); naive@100 / p50@10000 = ${(naiveP50 / p50[2]!).toFixed(0)}x (>= 50x)`);
  log('notes: probes carry their own real hashes; filler codes reuse 50 real hashes; the 10,000 bank shares each selector among ~10 live codes (impossible through generateCode: max 1,000 live per bank); the miss is measured at 999 live codes.');

  return {
    bench: 'validate',
    live_codes: [10, 1000, 10000],
    p50_ms: p50.map((x) => round(x)),
    p99_ms: p99.map((x) => round(x)),
    miss_p50_ms: round(missP50),
    naive_live_codes: 100,
    naive_p50_ms: round(naiveP50, 1),
  };
}
