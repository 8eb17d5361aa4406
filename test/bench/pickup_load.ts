/**
 * `npm run bench -- pickup_load [--seconds=15] [--connections=8]`
 *
 * The hub's pickup endpoint under load: `autocannon` POSTs to `/api/pickup` of a real hub
 * (`startHub`: HTTP on 127.0.0.1, a simulated `cubby-24` board through Johnny-Five, SQLite
 * `synchronous=FULL`, argon2id with DESIGN.md's DEFAULT parameters m=19 MiB, t=2, p=1 and a
 * pepper) holding 10,000 live codes. Reports `rps` (answered requests per second, autocannon's
 * average) and `p99_ms` (autocannon's request latency), with the status counts.
 *
 * What is measured, honestly:
 * - **Mostly wrong codes.** Each request carries a random 9-digit code; 24 right codes (for the
 *   24 compartments of the board, real DEFAULT hashes) are mixed in and open their doors once
 *   (200), later tries of them answer 410. Every request costs argon2 verifies: a wrong code
 *   is checked against the selector's newest live code(s) — here up to TWO verifies, because
 *   with 10,000 live codes each selector is shared by ten (see below); in a real bank one.
 * - **The throttle never locks out** in this bench (`freeFailures` = 10^9): under the real policy
 *   a stream of wrong codes locks the keypad after 5 failures and every later request is a
 *   cheap 429 — that would measure the throttle, not the pickup path. Failures are still
 *   counted (a durable SQLite write per wrong code).
 * - **10,000 live codes** is ten times what a bank can hold: selectors are 3 digits and unique
 *   among a bank's live codes (at most 1,000). As in the `validate` bench, the filler codes are
 *   written into the ledger directly, ten per selector, with real PHC strings from a pool of 16
 *   DEFAULT-parameter hashes of other codes (hashing 10,000 codes would take ~15 min), in
 *   compartments 101+ the board does not have. Their selectors are looked up, their hashes
 *   verified (and never match).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cryptoRandom, startHub } from '../../edge/hub-runtime.js';
import { SELECTOR_SPACE, generateCode, type PickupCode } from '../../shared/codes/format.js';
import { Argon2CodeHasher, DEFAULT_ARGON2 } from '../../shared/codes/hasher.js';
import { randomInt } from '../../shared/ports.js';
import { reserveAutomergeHeap } from '../../shared/sync/automerge-heap.js';
import { createSimulatedBank } from '../support/board.js';
import { log, round } from './run.js';

const LIVE = 10_000;
const POOL = 16;
const RIGHT = 24;

/** The part of autocannon's API used here (the package ships no types). */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function flag(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
}

export async function run(args: string[]): Promise<object> {
  const seconds = flag(args, 'seconds', 15);
  const connections = flag(args, 'connections', 8);
  const dir = mkdtempSync(join(tmpdir(), 'cubby-bench-pickup-load-'));
  const pepper = new Uint8Array(randomBytes(32));
  reserveAutomergeHeap(256);
  const sim = await createSimulatedBank({ model: 'cubby-24', openTimeoutMs: 2000, autoCloseMs: 150 });
  const hub = await startHub({
    bankId: 'bench-load',
    dataFile: join(dir, 'hub.sqlite'),
    bank: sim.bank,
    pepper,
    argon2: DEFAULT_ARGON2,
    throttlePolicy: { freeFailures: 1e9, baseLockoutMs: 0, maxLockoutMs: 0, hardLimit: 1e9, hardLockoutMs: 0 },
    integrityCheckEveryMs: 0,
  });
  try {
    const t0 = performance.now();
    const hasher = new Argon2CodeHasher(pepper, DEFAULT_ARGON2);
    const pool = await Promise.all(Array.from({ length: POOL }, () => hasher.hash(generateCode(cryptoRandom, () => false))));
    const { ledger, docs } = hub.store;
    for (let start = 0; start < LIVE - RIGHT; start += 200) {
      docs.transaction(() => {
        for (let i = start; i < Math.min(LIVE - RIGHT, start + 200); i++) {
          ledger.depositAndIssue(
            `filler-${i}`,
            { depositId: `fd${i}`, compartment: 101 + i, courierId: 'bench', size: 'S' },
            { selector: String(i % SELECTOR_SPACE).padStart(3, '0'), hash: pool[i % POOL]!, issuer: 'hub' },
          );
        }
      });
    }
    // The right codes: real hashes, in the board's compartments, the newest of their selector.
    const right: PickupCode[] = [];
    for (let c = 1; c <= RIGHT; c++) {
      const code = generateCode(cryptoRandom, () => false);
      ledger.depositAndIssue(`right-${c}`, { depositId: `rd${c}`, compartment: c, courierId: 'bench', size: 'S' }, { selector: code.selector, hash: await hasher.hash(code), issuer: 'hub' });
      right.push(code);
    }
    let live = 0;
    for (const d of ledger.all()) if (Object.values(d.codes).length) live++;
    log(`pickup_load: hub with ${live} live codes built in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${connections} connections for ${seconds} s`);

    let sentRight = 0;
    const nextCode = (): string => {
      if (sentRight < right.length && randomInt(cryptoRandom, 20) === 0) return right[sentRight++]!.display;
      return `${String(randomInt(cryptoRandom, 1000)).padStart(3, '0')}-${String(randomInt(cryptoRandom, 1_000_000)).padStart(6, '0')}`;
    };
    const result = await autocannon({
      url: `${hub.url}/api/pickup`,
      connections,
      duration: seconds,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ code: nextCode() }) }),
        },
      ],
    });
    const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count]));
    log(`pickup_load: ${result.requests.total} requests, statuses ${JSON.stringify(statuses)}, errors ${result.errors}, timeouts ${result.timeouts}`);
    return {
      bench: 'pickup_load',
      rps: round(result.requests.average, 1),
      p99_ms: round(result.latency.p99, 1),
      p50_ms: round(result.latency.p50, 1),
      requests: result.requests.total,
      statuses,
      errors: result.errors + result.timeouts,
      live_codes: live,
      right_codes_sent: sentRight,
      connections,
      seconds,
      argon2: DEFAULT_ARGON2,
      throttle: 'never locks out (bench policy: freeFailures 1e9)',
    };
  } finally {
    await hub.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
