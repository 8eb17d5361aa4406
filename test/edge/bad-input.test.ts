/**
 * Bad input at every hub endpoint: API.md's error shape, 4xx (never 5xx), nothing changed.
 * Hand-picked cases first, then fast-check throws arbitrary JSON and strings at each route.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EDGE_MAX_BODY_BYTES } from '../../edge/app.js';
import { TECHNICIAN, assertErrorShape, createTestApp, expectApiError, json, type TestApp } from '../support/hub.js';

let h: TestApp;
let auth: Record<string, string>;
let depositId: string;

beforeAll(async () => {
  h = await createTestApp();
  await h.depositParcel('p-1');
  // A pending deposit, so `confirm` has something real to refuse.
  const opened = await json(await h.post('/api/courier/deposit', { courierId: 'courier-1', secret: 'courier-1-secret', parcelId: 'p-2', size: 'S' }));
  depositId = opened.depositId;
  auth = { authorization: `Bearer ${(await json(await h.post('/api/tech/login', { technicianId: TECHNICIAN.id, secret: TECHNICIAN.secret }))).token}` };
});
afterAll(async () => {
  await h?.close();
});

/** Every POST route of the hub, with the headers it needs to get past authentication. */
const routes = (): { path: string; headers?: Record<string, string> }[] => [
  { path: '/api/pickup' },
  { path: '/api/courier/deposit' },
  { path: `/api/courier/deposit/${depositId}/confirm` },
  { path: '/api/tech/login' },
  { path: '/api/tech/compartments/2/open', headers: auth },
  { path: '/api/tech/compartments/2/selftest', headers: auth },
  { path: '/api/tech/compartments/2/service', headers: auth },
  { path: '/api/tech/parcels/p-1/relocate', headers: auth },
];

async function expect4xx(res: Response, what: string): Promise<void> {
  const text = await res.text();
  if (res.status >= 500 || res.status < 400) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  assertErrorShape(JSON.parse(text));
}

/** The parts of the state a bad request must not change. */
function fingerprint(): string {
  return JSON.stringify({
    pulses: h.board.pulseLog.length,
    p1: h.store.ledger.view('p-1'),
    p2: h.store.ledger.view('p-2') ?? null,
    faulty: h.store.bankState.faulty(),
  });
}

describe('bad input', () => {
  test('oversized body: 413 payload_too_large, with or without a content-length', async () => {
    const big = JSON.stringify({ code: 'x'.repeat(EDGE_MAX_BODY_BYTES) });
    for (const r of routes()) {
      await expectApiError(await h.post(r.path, big, { headers: r.headers }), 413, 'payload_too_large');
    }
    // Streamed, no length header.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const res = await h.app.request('/api/pickup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    await expectApiError(res, 413, 'payload_too_large');
  });

  test('wrong content type: 400 unsupported_content_type; broken JSON: 400 invalid_json', async () => {
    for (const r of routes()) {
      if (r.path.endsWith('/confirm')) continue; // takes no body
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
        const res = await h.app.request(r.path, { method: 'POST', headers: { ...r.headers, 'content-type': type }, body: '{"code":"123-456789"}' });
        await expectApiError(res, 400, 'unsupported_content_type');
      }
      await expectApiError(await h.post(r.path, '{"code":', { headers: r.headers }), 400, 'invalid_json');
      await expectApiError(await h.post(r.path, '', { headers: r.headers }), 400, 'invalid_json');
    }
  });

  test('unknown routes and methods: 404 in the error shape', async () => {
    await expectApiError(await h.get('/api/nope'), 404, 'not_found');
    await expectApiError(await h.post('/health', {}), 404, 'not_found');
    await expectApiError(await h.get('/api/pickup'), 404, 'not_found');
    await expectApiError(await h.get('/kiosk/..%2F..%2Fpackage.json'), 404, 'not_found');
  });

  test('hand-picked bad bodies and path parameters: 4xx with the error shape, nothing changed', async () => {
    const before = fingerprint();
    const bodies: unknown[] = [
      null, [], 'str', 0, true, {}, { code: null }, { code: 123456789 }, { code: ['123-456789'] }, { code: { $gt: '' } },
      { code: '123-456789', extra: 1 }, { qr: 42 }, { qr: 'cubby::123-456789' }, { qr: `cubby:${'b'.repeat(65)}:123-456789` },
      { courierId: '', secret: 'x', parcelId: 'p', size: 'S' }, { courierId: 'c', secret: 'x', parcelId: '../etc', size: 'S' },
      { courierId: 'c', secret: 'x', parcelId: 'p', size: 'XL' }, { technicianId: 'x'.repeat(65), secret: 'y' },
      { reason: 'ab' }, { reason: 5 }, { inService: 'yes', reason: 'long enough' }, { to: 1.5 }, { to: -1 }, { to: 1e309 }, { to: '5' },
      { closeTimeoutMs: -1 }, { closeTimeoutMs: 1e12 }, JSON.parse('{"__proto__":{"polluted":true},"code":"123-456789"}'),
    ];
    for (const r of routes()) {
      for (const b of bodies) await expect4xx(await h.post(r.path, JSON.stringify(b), { headers: r.headers }), `${r.path} ${JSON.stringify(b)}`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const paths = [
      '/api/courier/deposit/zz/confirm', '/api/courier/deposit/0123456789abcdef/confirm', '/api/courier/deposit/%00/confirm',
      '/api/tech/compartments/99999999999999999999/open', '/api/tech/compartments/-1/open', '/api/tech/compartments/1e3/open',
      '/api/tech/compartments/2.5/service', '/api/tech/parcels/%2e%2e/relocate', '/api/tech/parcels/x%20y/relocate',
    ];
    for (const p of paths) await expect4xx(await h.post(p, { reason: 'long enough', inService: true, to: 3 }, { headers: auth }), p);
    expect(fingerprint()).toBe(before);
  });

  test('fast-check: arbitrary JSON and strings at every route never get a 5xx', async () => {
    const keys = ['code', 'qr', 'courierId', 'secret', 'parcelId', 'size', 'technicianId', 'reason', 'inService', 'to', 'closeTimeoutMs'];
    const plausible = fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.jsonValue(), fc.string(), fc.stringMatching(/^[0-9 .-]{0,14}$/)), { maxKeys: 4 });
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      plausible.map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes()), body, async (r, b) => {
        const res = await h.post(r.path, b, { headers: r.headers });
        if (res.status === 200) return; // a random body may be valid (e.g. a service change)
        await expect4xx(res, `${r.path} ${b}`);
      }),
      { numRuns: 300, seed: Number(process.env.CUBBY_FC_SEED ?? 42) },
    );
  });
});
