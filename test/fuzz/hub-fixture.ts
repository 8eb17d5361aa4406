/**
 * A hub worth fuzzing: a real simulated bank (`cubby-12`), three deposited parcels with live
 * codes, a deposit whose door is open and not yet confirmed, a provisioned courier, technician
 * and auditor, and their tokens (plus an expired one) — and the hub's route table for
 * {@link requestsFor}, with valid values drawn from that state so that the fuzzer gets past
 * validation and authentication into the code behind them.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { EDGE_MAX_BODY_BYTES } from '../../edge/app.js';
import type { ThrottlePolicy } from '../../edge/services/throttle.js';
import { AUDITOR, COURIER, TECHNICIAN, createTestApp, json, type TestApp } from '../support/hub.js';
import { PROTO_KEYS, type FuzzOptions, type RouteSpec } from './arbitraries.js';
import { str } from '../../shared/ledger/str.js';

/** Never locks out: failures are still counted, but every fuzzed attempt reaches the real check. */
export const LENIENT_THROTTLE: ThrottlePolicy = { freeFailures: 1e9, baseLockoutMs: 0, maxLockoutMs: 0, hardLimit: 1e9, hardLockoutMs: 0 };

export interface HubFixture {
  h: TestApp;
  /** Parcels deposited with a live code: id, compartment, plaintext code. */
  parcels: { parcelId: string; compartment: number; code: string }[];
  /** A deposit opened (door open, empty) and never confirmed. */
  pendingDepositId: string;
  /** The deposit id of a confirmed deposit (confirm is idempotent). */
  confirmedDepositId: string;
  /** `authorization` header values. */
  auth: { technician: string; auditor: string; expired: string };
  routes: RouteSpec[];
  options: FuzzOptions;
}

export async function createHubFixture(): Promise<HubFixture> {
  const h = await createTestApp({ throttlePolicy: LENIENT_THROTTLE });
  const parcels = [await h.depositParcel('p-1', 'S'), await h.depositParcel('p-3', 'M'), await h.depositParcel('p-4', 'L')];
  const opened = await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-2', size: 'S' });
  if (opened.status !== 200) throw new Error(`pending deposit: ${opened.status} ${await opened.text()}`);
  const pendingDepositId = ((await opened.json()) as { depositId: string }).depositId;
  const confirmedDepositId = str(h.store.ledger.doc('p-1')!.deposit!.depositId);

  const login = async (id: string, secret: string): Promise<string> => {
    const res = await h.post('/api/tech/login', { technicianId: id, secret });
    if (res.status !== 200) throw new Error(`login ${id}: ${res.status} ${await res.text()}`);
    return `Bearer ${(await json(res)).token}`;
  };
  const auth = { technician: await login(TECHNICIAN.id, TECHNICIAN.secret), auditor: await login(AUDITOR.id, AUDITOR.secret), expired: expiredToken(h) };
  // People close doors: a door the fuzzer opened shuts again (the pending deposit's stays open).
  h.board.setAutoClose(30);

  const options: FuzzOptions = {
    maxBodyBytes: EDGE_MAX_BODY_BYTES,
    credentials: { tech: [auth.technician, auth.technician, auth.technician, auth.auditor, auth.expired] },
    validCredentialShare: 0.7,
  };
  return { h, parcels, pendingDepositId, confirmedDepositId, auth, routes: hubRoutes(h, parcels, pendingDepositId, confirmedDepositId), options };
}

/**
 * A technician token for `tech-1` that expired a second ago, signed with the hub's own key (as
 * the hub itself signed it eight hours earlier).
 */
function expiredToken(h: TestApp): string {
  const row = h.store.db.prepare("SELECT value FROM hub_secrets WHERE name = 'tech_token_key'").get() as { value: Buffer };
  const payload = Buffer.from(JSON.stringify({ sub: TECHNICIAN.id, role: 'technician', exp: h.clock.now() - 1000 })).toString('base64url');
  return `Bearer ${payload}.${createHmac('sha256', row.value).update(payload).digest('base64url')}`;
}

function hubRoutes(h: TestApp, parcels: HubFixture['parcels'], pendingDepositId: string, confirmedDepositId: string): RouteSpec[] {
  const compartments = h.sim.bank.compartmentCount;
  const compartment = fc.integer({ min: 1, max: compartments });
  const liveCode = fc.constantFrom(...parcels.map((p) => p.code));
  // A real selector with a wrong verifier costs one (cheap, TEST_ARGON2) verify.
  const code = fc.oneof(
    { weight: 2, arbitrary: liveCode },
    { weight: 1, arbitrary: liveCode.map((c) => c.replace('-', '')) },
    { weight: 1, arbitrary: liveCode.map((c) => ` ${c.slice(0, 3)} ${c.slice(4, 7)}.${c.slice(7)} `) },
    { weight: 3, arbitrary: fc.tuple(liveCode, fc.stringMatching(/^[0-9]{6}$/)).map(([c, v]) => `${c.slice(0, 3)}-${v}`) },
    { weight: 3, arbitrary: fc.stringMatching(/^[0-9]{3}-[0-9]{6}$/) },
  );
  const qr = fc.oneof(
    fc.tuple(fc.constantFrom('bank-1', 'bank-1', 'bank-2', 'BANK-1', 'constructor'), code).map(([b, c]) => `cubby:${b}:${c}`),
    fc.constantFrom('cubby:', 'cubby:bank-1:', 'cubby::123-456789', 'https://example.com/cubby:bank-1:123-456789'),
  );
  const courierId = fc.oneof({ weight: 6, arbitrary: fc.constant(COURIER.id) }, { weight: 1, arbitrary: fc.constantFrom('courier-2', ...PROTO_KEYS) });
  const courierSecret = fc.oneof({ weight: 4, arbitrary: fc.constant(COURIER.secret) }, { weight: 1, arbitrary: fc.constantFrom('wrong-secret', TECHNICIAN.secret) });
  const technicianId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(TECHNICIAN.id, AUDITOR.id) }, { weight: 1, arbitrary: fc.constantFrom('tech-9', COURIER.id, ...PROTO_KEYS) });
  const techSecret = fc.constantFrom(TECHNICIAN.secret, AUDITOR.secret, 'wrong-secret');
  const parcelId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...parcels.map((p) => p.parcelId)) },
    { weight: 2, arbitrary: fc.constantFrom('p-2', 'fz-1', 'fz-2', 'fz-3', 'nope', 'constructor') },
  );
  const reason = fc.oneof(fc.constantFrom('fuzzing the hub', 'door check'), fc.string({ minLength: 3, maxLength: 500 }));

  return [
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/kiosk/:name', params: { name: fc.constantFrom('index.html', 'kiosk.css', 'kiosk.js', 'i18n.js') } },
    { method: 'GET', path: '/health' },
    {
      method: 'POST',
      path: '/api/pickup',
      bodyShape: { code: { valid: code, optional: true }, qr: { valid: qr, optional: true } },
      // Exactly one of the two.
      validBody: fc.oneof({ weight: 3, arbitrary: code.map((c) => ({ code: c })) }, { weight: 1, arbitrary: qr.map((q) => ({ qr: q })) }),
    },
    {
      method: 'POST',
      path: '/api/courier/deposit',
      bodyShape: { courierId: { valid: courierId }, secret: { valid: courierSecret }, parcelId: { valid: parcelId }, size: { valid: fc.constantFrom('S', 'M', 'L') } },
    },
    {
      method: 'POST',
      path: '/api/courier/deposit/:depositId/confirm',
      params: { depositId: fc.oneof(fc.constantFrom(pendingDepositId, confirmedDepositId), fc.stringMatching(/^[a-f0-9]{16}$/)) },
    },
    { method: 'POST', path: '/api/tech/login', bodyShape: { technicianId: { valid: technicianId }, secret: { valid: techSecret } } },
    { method: 'GET', path: '/api/tech/status', auth: 'tech' },
    {
      method: 'GET',
      path: '/api/tech/events',
      auth: 'tech',
      query: fc.oneof(
        fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), fc.constantFrom(8.64e15, -8.64e15, 8.64e15 + 1, 1e16)).map((n) => `since=${n}`),
        fc.constant(`since=${h.clock.now() - 60_000}`),
        fc.constantFrom('since=', 'since=%20', 'since=0x10', 'since=1e3', 'since=-0'),
      ),
    },
    { method: 'POST', path: '/api/tech/compartments/:n/open', auth: 'tech', params: { n: compartment.map(String) }, bodyShape: { reason: { valid: reason } } },
    {
      method: 'POST',
      path: '/api/tech/compartments/:n/selftest',
      auth: 'tech',
      params: { n: compartment.map(String) },
      bodyShape: { closeTimeoutMs: { valid: fc.integer({ min: 0, max: 300 }), optional: true } },
    },
    {
      method: 'POST',
      path: '/api/tech/compartments/:n/service',
      auth: 'tech',
      params: { n: compartment.map(String) },
      bodyShape: { inService: { valid: fc.boolean() }, reason: { valid: reason } },
    },
    {
      method: 'POST',
      path: '/api/tech/parcels/:parcelId/relocate',
      auth: 'tech',
      params: { parcelId },
      bodyShape: { to: { valid: compartment }, reason: { valid: reason, optional: true } },
    },
  ];
}
