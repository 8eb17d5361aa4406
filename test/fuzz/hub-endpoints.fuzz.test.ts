/**
 * "Proof under fire", hub part: seeded random requests at every HTTP endpoint of a real hub
 * (a Johnny-Five bank on a simulated Firmata board, deposited parcels with live codes, a
 * pending deposit, technician and auditor tokens). For every answer: status < 500, an answer
 * within 5 s (plus what the request asks to wait), API.md's error shape on every 4xx, a body
 * sent as anything but JSON never accepted, and a refusal changes nothing — no ledger document,
 * no pending deposit, no lock pulse — except a door fault, which records what the door did.
 * Then: stray requests, concurrent bursts, double taps, the body limit on every POST route,
 * the throttled paths, and the built-in prototypes untouched after all of it.
 *
 * Each batch gets a fresh hub, so a batch replays alone: `CUBBY_FUZZ_SEED=<n>` and
 * `CUBBY_FUZZ_RUNS=<runs per batch>` (test/fuzz/README.md).
 */
import fc from 'fast-check';
import type { Hono } from 'hono';
import { afterAll, describe, expect, test } from 'vitest';
import { createEdgeApp } from '../../edge/app.js';
import { createHubServices } from '../../edge/hub-services.js';
import { COURIER_SCOPE } from '../../edge/services/deposit-service.js';
import { KEYPAD_SCOPE } from '../../edge/services/pickup-service.js';
import { TECH_SCOPE } from '../../edge/services/tech-auth.js';
import { DEFAULT_POLICY } from '../../edge/services/throttle.js';
import { AUDIT_PREFIX } from '../../shared/ledger/audit-log.js';
import { describeRequest, paddedJson, POLLUTION_MARKERS, requestFor, strayRequest, toRequest, type FuzzRequest } from './arbitraries.js';
import { createHubFixture, type HubFixture } from './hub-fixture.js';
import { checkAnswer, ledgerSnapshot, ledgerViolations, OutcomeTally, prototypeSnapshot, REQUEST_TIMEOUT_MS, within, type Answer } from './invariants.js';

const SEED = Number(process.env.CUBBY_FUZZ_SEED ?? 20260611);
const RUNS = Number(process.env.CUBBY_FUZZ_RUNS ?? 200);
if (!Number.isInteger(SEED) || !Number.isInteger(RUNS) || RUNS < 1) throw new Error('CUBBY_FUZZ_SEED and CUBBY_FUZZ_RUNS must be integers (runs >= 1)');

/** Refusals that may record a fact: the hub pulsed a lock and the door did not open. */
const DOOR_FACTS = new Set(['door_fault', 'no_free_compartment']);
/** A technician's open that met another open of the same door: the audit keeps what was asked, nothing else changes. */
const AUDITED_REFUSALS = new Set(['door_busy']);

const ROUTES = [
  'GET /', 'GET /kiosk/:name', 'GET /health', 'POST /api/pickup', 'POST /api/courier/deposit', 'POST /api/courier/deposit/:depositId/confirm',
  'POST /api/tech/login', 'GET /api/tech/status', 'GET /api/tech/events', 'POST /api/tech/compartments/:n/open',
  'POST /api/tech/compartments/:n/selftest', 'POST /api/tech/compartments/:n/service', 'POST /api/tech/parcels/:parcelId/relocate',
] as const;

const tally = new OutcomeTally();
const prototypesBefore = prototypeSnapshot();
const started = Date.now();

afterAll(() => {
  console.log(`hub fuzz: seed ${SEED}, ${RUNS} runs per batch, ${tally.total()} requests in ${((Date.now() - started) / 1000).toFixed(1)} s\n${tally.report()}`);
});

/** Run `fn` against a fresh hub (so every batch replays on its own), closed afterwards. */
async function withHub(fn: (f: HubFixture) => Promise<void>): Promise<void> {
  const f = await createHubFixture();
  try {
    await fn(f);
  } finally {
    await f.h.close();
  }
}

const seedOf = (batch: string): number => {
  let h = SEED | 0;
  for (const ch of batch) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
};

const routeName = (r: FuzzRequest): string =>
  r.kind.startsWith('wrong-method') ? 'stray: wrong method'
  : r.kind.startsWith('unknown-route') ? 'stray: unknown route'
  : r.route ? `${r.route.method} ${r.route.path}`
  : `${r.method} ${r.path.split('?')[0]}`;

/** The state a refusal must not change. */
function state(f: HubFixture): { ledger: Record<string, string[]>; pending: unknown[]; pulses: number } {
  return {
    ledger: ledgerSnapshot(f.h.store.docs),
    pending: f.h.store.db.prepare('SELECT * FROM pending_deposits ORDER BY deposit_id').all(),
    pulses: f.h.board.pulseLog.length,
  };
}

/** How long `r` may take: the door self-test waits up to the `closeTimeoutMs` it was sent. */
function budget(r: FuzzRequest): number {
  if (!r.route?.path.endsWith('/selftest') || typeof r.body !== 'string') return REQUEST_TIMEOUT_MS;
  try {
    const ms = (JSON.parse(r.body) as { closeTimeoutMs?: unknown }).closeTimeoutMs;
    return typeof ms === 'number' && ms > 0 && ms <= 120_000 ? REQUEST_TIMEOUT_MS + ms : REQUEST_TIMEOUT_MS;
  } catch {
    return REQUEST_TIMEOUT_MS;
  }
}

const isJsonType = (type: string | undefined): boolean => (type ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';

/** Send one request to the hub (or `opts.app` on the same store) and check every invariant. */
async function fire(f: HubFixture, r: FuzzRequest, opts: { app?: Hono; tag?: string } = {}): Promise<Answer> {
  const before = state(f);
  const t0 = performance.now();
  const res = await within((opts.app ?? f.h.app).request(toRequest(r)), budget(r), describeRequest(r));
  const a = await checkAnswer(r, res, REQUEST_TIMEOUT_MS);
  tally.add((opts.tag ?? '') + routeName(r), a.code ? `${a.status} ${a.code}` : String(a.status), performance.now() - t0);

  if (r.route?.bodyShape && a.status < 400 && !isJsonType(r.headers['content-type'])) {
    throw new Error(`a body sent as ${JSON.stringify(r.headers['content-type'] ?? null)} was accepted: ${describeRequest(r)}`);
  }
  const reads = r.method === 'GET' || r.method === 'HEAD';
  const refused = a.status >= 400;
  const doorFact = refused && a.code !== undefined && DOOR_FACTS.has(a.code) && f.h.board.pulseLog.length > before.pulses;
  if (reads || (refused && !doorFact)) {
    const after = state(f);
    if (refused && a.code !== undefined && AUDITED_REFUSALS.has(a.code)) {
      for (const id of Object.keys(after.ledger)) if (id.startsWith(AUDIT_PREFIX)) before.ledger[id] = after.ledger[id]!;
    }
    if (JSON.stringify(after) !== JSON.stringify(before)) {
      const changed = Object.keys(after.ledger).filter((id) => JSON.stringify(after.ledger[id]) !== JSON.stringify(before.ledger[id]));
      throw new Error(
        `${a.status} ${a.code ?? ''} changed the hub (ledger docs ${changed.join(', ') || 'none'}, pending ${before.pending.length}->${after.pending.length}, pulses ${before.pulses}->${after.pulses}): ${describeRequest(r)}`,
      );
    }
  }
  if (!reads) {
    const broken = ledgerViolations(f.h.store.ledger, f.h.services.deposit.pendingCompartments(), f.h.clock.now());
    if (broken.length) throw new Error(`after ${a.status} ${a.code ?? ''} to ${describeRequest(r)}:\n  ${broken.join('\n  ')}`);
  }
  return a;
}

/** Fire several at once; a refusal may see a concurrent success's change, so only 5xx, hangs and shapes count. */
async function fireAtOnce(f: HubFixture, rs: FuzzRequest[], tag: string): Promise<void> {
  const results = await Promise.all(rs.map((r) => fire(f, r, { tag }).then(() => undefined, (err: unknown) => err as Error)));
  const real = results.filter((e): e is Error => e instanceof Error && !/changed the hub/.test(e.message));
  if (real.length) throw real[0];
  const broken = ledgerViolations(f.h.store.ledger, f.h.services.deposit.pendingCompartments(), f.h.clock.now());
  if (broken.length) throw new Error(`after ${rs.map(describeRequest).join('\n  and ')}:\n  ${broken.join('\n  ')}`);
}

const route = (f: HubFixture, name: string) => {
  const r = f.routes.find((x) => `${x.method} ${x.path}` === name);
  if (!r) throw new Error(`no route ${name} in the fixture's table`);
  return r;
};

describe('every hub route under seeded random requests', () => {
  test.each(ROUTES)('%s', (name) =>
    withHub(async (f) => {
      await fc.assert(
        fc.asyncProperty(requestFor(route(f, name), f.options), async (r) => {
          await fire(f, r);
        }),
        { seed: seedOf(name), numRuns: RUNS },
      );
      // The fuzzer must get past the gates into the handlers, not only bounce off them.
      const seen = [...tally.outcomes(name).keys()];
      expect(seen.some((o) => o.startsWith('2')), `${name} never answered 2xx: ${seen.join(', ')}`).toBe(true);
    }),
  );

  test('unknown routes and wrong methods', () =>
    withHub(async (f) => {
      await fc.assert(
        fc.asyncProperty(strayRequest(f.routes, f.options), async (r) => {
          const a = await fire(f, r);
          // HEAD of a GET route is that GET without the body; OPTIONS may be answered; the rest is refused.
          if (r.method !== 'HEAD' && r.method !== 'OPTIONS') expect(a.status, describeRequest(r)).toBeGreaterThanOrEqual(400);
        }),
        { seed: seedOf('stray'), numRuns: RUNS * 2 },
      );
    }));

  test('concurrent bursts at random routes', () =>
    withHub(async (f) => {
      const any = fc.oneof(...f.routes.map((r) => requestFor(r, f.options)));
      await fc.assert(
        fc.asyncProperty(fc.array(any, { minLength: 2, maxLength: 6 }), (burst) => fireAtOnce(f, burst, 'burst: ')),
        { seed: seedOf('burst'), numRuns: RUNS },
      );
    }));

  test('concurrent bursts of well-formed requests (races between handlers)', () =>
    withHub(async (f) => {
      const any = fc.oneof(...f.routes.map((r) => requestFor(r, { ...f.options, wellFormedOnly: true })));
      await fc.assert(
        fc.asyncProperty(fc.array(any, { minLength: 2, maxLength: 6 }), (burst) => fireAtOnce(f, burst, 'well-formed burst: ')),
        { seed: seedOf('well-formed burst'), numRuns: RUNS },
      );
    }));

  test('double taps: the same request twice in a row, then twice at once', () =>
    withHub(async (f) => {
      const any = fc.oneof(...f.routes.map((r) => requestFor(r, f.options)));
      await fc.assert(
        fc.asyncProperty(any, async (r) => {
          await fire(f, r, { tag: 'tap: ' });
          await fire(f, r, { tag: 'tap: ' });
          await fireAtOnce(f, [r, r], 'tap at once: ');
        }),
        { seed: seedOf('double tap'), numRuns: RUNS },
      );
    }));

  test('coverage: authenticated handlers reached, refusals seen, parcels picked up', () => {
    for (const name of ROUTES.filter((n) => n.includes('/api/tech/') && !n.endsWith('/login'))) {
      const seen = [...tally.outcomes(name).keys()];
      expect(seen.filter((o) => o.startsWith('401')), name).toEqual(expect.arrayContaining(['401 unauthorized', '401 token_expired']));
    }
    for (const name of ROUTES.filter((n) => n.startsWith('POST /api/tech/') && !n.endsWith('/login'))) {
      expect([...tally.outcomes(name).keys()], name).toContain('403 forbidden');
    }
    expect([...tally.outcomes('POST /api/pickup').keys()]).toEqual(expect.arrayContaining(['200', '401 invalid_code', '400 malformed_code', '410 code_used']));
  });
});

describe('body size limit', () => {
  const postPaths = (f: HubFixture): { path: string; headers: Record<string, string> }[] => {
    const tech = { authorization: f.auth.technician };
    return [
      { path: '/api/pickup', headers: {} },
      { path: '/api/courier/deposit', headers: {} },
      { path: `/api/courier/deposit/${f.pendingDepositId}/confirm`, headers: {} },
      { path: '/api/tech/login', headers: {} },
      { path: '/api/tech/compartments/2/open', headers: tech },
      { path: '/api/tech/compartments/2/selftest', headers: tech },
      { path: '/api/tech/compartments/2/service', headers: tech },
      { path: '/api/tech/parcels/p-1/relocate', headers: tech },
    ];
  };

  test('413 payload_too_large on every POST route: with and without a length, as text, streamed, up to 100 KB', () =>
    withHub(async (f) => {
      const limit = f.options.maxBodyBytes;
      for (const { path, headers } of postPaths(f)) {
        for (const size of [limit + 1, limit + 1000, 100_000]) {
          const body = paddedJson(size);
          const json = { ...headers, 'content-type': 'application/json' };
          const variants: FuzzRequest[] = [
            { method: 'POST', path, headers: { ...json, 'content-length': String(size) }, body, kind: `oversized ${size} with length` },
            { method: 'POST', path, headers: json, body, kind: `oversized ${size} without length` },
            { method: 'POST', path, headers: { ...headers, 'content-type': 'text/plain' }, body, kind: `oversized ${size} as text/plain` },
          ];
          for (const r of variants) {
            const a = await fire(f, r, { tag: 'body limit: ' });
            expect([a.status, a.code], describeRequest(r)).toEqual([413, 'payload_too_large']);
          }
          const stream = new ReadableStream<Uint8Array>({
            start(c) {
              const bytes = new TextEncoder().encode(body);
              for (let o = 0; o < bytes.length; o += 4096) c.enqueue(bytes.subarray(o, o + 4096));
              c.close();
            },
          });
          const before = ledgerSnapshot(f.h.store.docs);
          const what = `${size} bytes streamed to ${path}`;
          const res = await within(f.h.app.request(`http://hub.test${path}`, { method: 'POST', headers: json, body: stream, duplex: 'half' } as RequestInit), REQUEST_TIMEOUT_MS, what);
          const a = await checkAnswer({ method: 'POST', path, headers: json, body: undefined, kind: 'streamed' }, res, REQUEST_TIMEOUT_MS);
          expect([a.status, a.code], what).toEqual([413, 'payload_too_large']);
          expect(ledgerSnapshot(f.h.store.docs), what).toEqual(before);
        }
        // Exactly at the limit is not too large (the padding is no valid body either).
        const a = await fire(f, { method: 'POST', path, headers: { ...headers, 'content-type': 'application/json' }, body: paddedJson(limit), kind: 'at the limit' }, { tag: 'body limit: ' });
        expect(a.status, `${path} at the limit`).not.toBe(413);
      }
    }));
});

describe('throttled', () => {
  test('locked-out pickup, deposit and login answer 429 throttled in the error shape and change nothing', () =>
    withHub(async (f) => {
      // A second app on the same store and bank with the production policy and every scope locked
      // out; the manual clock never moves, so the lock-out holds for the whole batch.
      const services = createHubServices({ ...f.h.services.deps, throttlePolicy: DEFAULT_POLICY });
      for (const scope of [KEYPAD_SCOPE, COURIER_SCOPE, TECH_SCOPE]) for (let i = 0; i <= DEFAULT_POLICY.freeFailures; i++) services.throttle.fail(scope);
      const app = createEdgeApp(services);
      const gated = f.routes.filter((r) => ['/api/pickup', '/api/courier/deposit', '/api/tech/login'].includes(r.path));
      let throttled = 0;
      await fc.assert(
        fc.asyncProperty(fc.oneof(...gated.map((r) => requestFor(r, f.options))), async (r) => {
          const a = await fire(f, r, { app, tag: 'throttled: ' });
          if (a.status < 400) throw new Error(`a locked-out scope let a request through: ${describeRequest(r)}`);
          if (a.code === 'throttled') {
            throttled++;
            expect((a.json as { error: { retryAfterSeconds?: unknown } }).error.retryAfterSeconds).toBeGreaterThan(0);
          }
        }),
        { seed: seedOf('throttled'), numRuns: RUNS },
      );
      expect(throttled).toBeGreaterThan(0);
    }));
});

// Last in the file: after every batch above has thrown its `__proto__` / `constructor.prototype` bodies.
test('prototype-pollution payloads left the built-in prototypes untouched', () => {
  expect(prototypeSnapshot()).toEqual(prototypesBefore);
  for (const marker of [...POLLUTION_MARKERS, 'role', 'nested']) {
    expect(({} as Record<string, unknown>)[marker], marker).toBeUndefined();
    expect(([] as unknown as Record<string, unknown>)[marker], marker).toBeUndefined();
    expect((Object.create(null) as Record<string, unknown>)[marker], marker).toBeUndefined();
  }
});
