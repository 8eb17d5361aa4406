/**
 * "Proof under fire", cloud part (HTTP): seeded random requests at every endpoint the cloud
 * app mounts (test/fuzz/cloud-fixture.ts: parcels, revoke, banks, remote open, and — when the
 * notification subsystem is in this checkout — resend, contact change, diagnosis, channel
 * health, the SMS receipt hook and self-service), with adversarial bodies, headers, bearer
 * tokens and paths from test/fuzz/arbitraries.ts. For every answer: status < 500, an answer
 * within 5 s, API.md's error shape on every 4xx, a JSON body sent as anything else never
 * accepted, and a refusal (and every GET) changes no document of any bank, no registry row and
 * no contact. Then stray requests, concurrent bursts, the body limit, and untouched prototypes.
 *
 * `CUBBY_FUZZ_SEED=<n>`, `CUBBY_CLOUD_FUZZ_RUNS=<runs per batch>` (test/chaos/README.md).
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { signatureHeaders } from '../../cloud/notify/channels/signature.js';
import { describeRequest, paddedJson, POLLUTION_MARKERS, requestFor, strayRequest, toRequest, type FuzzRequest } from './arbitraries.js';
import { cloudSnapshot, createCloudFixture, SMS_WEBHOOK_SECRET, SUPPORT_AUTH, type CloudFixture } from './cloud-fixture.js';
import { checkAnswer, OutcomeTally, prototypeSnapshot, REQUEST_TIMEOUT_MS, within, type Answer } from './invariants.js';

const SEED = Number(process.env.CUBBY_FUZZ_SEED ?? 20260611);
const RUNS = Number(process.env.CUBBY_CLOUD_FUZZ_RUNS ?? 100);
if (!Number.isInteger(SEED) || !Number.isInteger(RUNS) || RUNS < 1) throw new Error('CUBBY_FUZZ_SEED and CUBBY_CLOUD_FUZZ_RUNS must be integers (runs >= 1)');

const tally = new OutcomeTally();
const prototypesBefore = prototypeSnapshot();
const started = Date.now();
afterAll(() => {
  console.log(`cloud fuzz: seed ${SEED}, ${RUNS} runs per batch, ${tally.total()} requests in ${((Date.now() - started) / 1000).toFixed(1)} s\n${tally.report()}`);
});

const seedOf = (batch: string): number => {
  let h = (SEED ^ 0x0c10d) | 0;
  for (const ch of batch) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
};

const routeName = (r: FuzzRequest): string =>
  r.kind.startsWith('wrong-method') ? 'stray: wrong method' : r.kind.startsWith('unknown-route') ? 'stray: unknown route' : r.route ? `${r.route.method} ${r.route.path}` : `${r.method} ${r.path}`;
const isJsonType = (type: string | undefined): boolean => (type ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';

/** A fraction of the receipts carry a valid signature, so the hook's body is reached too. */
function maybeSign(f: CloudFixture, r: FuzzRequest): FuzzRequest {
  if (r.route?.path !== '/v1/hooks/sms' || typeof r.body !== 'string' || r.body.length % 2 === 1) return r;
  return { ...r, headers: { ...r.headers, ...signatureHeaders(SMS_WEBHOOK_SECRET, r.body, f.clock.now()) } };
}

async function fire(f: CloudFixture, req: FuzzRequest): Promise<Answer> {
  const r = maybeSign(f, req);
  const before = cloudSnapshot(f);
  const t0 = performance.now();
  const res = await within(f.app.request(toRequest(r, 'http://cloud.test')), REQUEST_TIMEOUT_MS, describeRequest(r));
  const a = await checkAnswer(r, res, REQUEST_TIMEOUT_MS);
  tally.add(routeName(r), a.code ? `${a.status} ${a.code}` : String(a.status), performance.now() - t0);
  if (r.route?.bodyShape && a.status < 400 && r.route.path !== '/v1/hooks/sms' && !isJsonType(r.headers['content-type'])) {
    throw new Error(`a body sent as ${JSON.stringify(r.headers['content-type'] ?? null)} was accepted: ${describeRequest(r)}`);
  }
  if (a.status >= 400 || r.method === 'GET' || r.method === 'HEAD') {
    const after = cloudSnapshot(f);
    if (JSON.stringify(after) !== JSON.stringify(before)) {
      const changed = Object.keys({ ...before.docs, ...after.docs }).filter((id) => JSON.stringify(before.docs[id]) !== JSON.stringify(after.docs[id]));
      throw new Error(`${a.status} ${a.code ?? ''} changed the cloud (documents: ${changed.join(', ') || 'none'}; rows ${before.rows === after.rows ? 'same' : 'changed'}): ${describeRequest(r)}`);
    }
  }
  return a;
}

let f: CloudFixture;
beforeEach(async () => {
  f = await createCloudFixture();
});
afterEach(async () => {
  await f.close();
});

describe('cloud HTTP fuzz', () => {
  test('every route, random and adversarial requests', { timeout: 120_000 }, async () => {
    for (const route of f.routes) {
      await fc.assert(
        fc.asyncProperty(requestFor(route, f.options), async (r) => void (await fire(f, r))),
        { seed: seedOf(`${route.method} ${route.path}`), numRuns: RUNS },
      );
    }
    // Some refusals must have been reached behind authentication, not only at the door.
    const revoke = tally.outcomes('POST /v1/parcels/:parcelId/revoke');
    expect([...revoke.keys()].some((o) => o.startsWith('400 invalid_input') || o.startsWith('409') || o.startsWith('404 parcel_not_found'))).toBe(true);
    expect([...tally.outcomes('POST /v1/parcels').keys()].some((o) => o === '201' || o === '200')).toBe(true);
  });

  test('stray requests: unknown routes, wrong methods', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(strayRequest(f.routes, f.options), async (r) => {
        const a = await fire(f, r);
        expect(a.status).toBeGreaterThanOrEqual(400);
      }),
      { seed: seedOf('stray'), numRuns: RUNS * 2 },
    );
  });

  test('concurrent bursts of well-formed and random requests', { timeout: 60_000 }, async () => {
    const any = fc.oneof(...f.routes.map((r) => requestFor(r, f.options)), ...f.routes.map((r) => requestFor(r, { ...f.options, wellFormedOnly: true })));
    await fc.assert(
      fc.asyncProperty(fc.array(any, { minLength: 2, maxLength: 6 }), async (burst) => {
        const answers = await Promise.all(
          burst.map(async (r) => {
            const res = await within(f.app.request(toRequest(maybeSign(f, r), 'http://cloud.test')), REQUEST_TIMEOUT_MS, describeRequest(r));
            const a = await checkAnswer(r, res, REQUEST_TIMEOUT_MS);
            tally.add(`burst: ${routeName(r)}`, a.code ? `${a.status} ${a.code}` : String(a.status), 0);
            return a;
          }),
        );
        expect(answers.every((a) => a.status < 500)).toBe(true);
      }),
      { seed: seedOf('bursts'), numRuns: Math.max(10, Math.round(RUNS / 2)) },
    );
  });

  test('the body limit: 413 on every body route past it, never at it', { timeout: 60_000 }, async () => {
    for (const route of f.routes.filter((r) => r.method !== 'GET')) {
      const path = route.path.replace(/:parcelId/, 'P-live').replace(/:bankId/, 'bank-1').replace(/:n/, '1');
      for (const size of [f.options.maxBodyBytes + 1, 100_000]) {
        const r: FuzzRequest = { method: route.method, path, headers: { 'content-type': 'application/json', authorization: SUPPORT_AUTH }, body: paddedJson(size), route, kind: 'oversized' };
        const a = await fire(f, r);
        expect(a.status, describeRequest(r)).toBe(413);
        expect(a.code).toBe('payload_too_large');
      }
      // The SMS receipt hook has a tighter limit of its own (16 KiB, cloud/notify/channels/sms-http.ts).
      const limit = route.path === '/v1/hooks/sms' ? 16 * 1024 : f.options.maxBodyBytes;
      const at: FuzzRequest = { method: route.method, path, headers: { 'content-type': 'application/json', authorization: SUPPORT_AUTH }, body: paddedJson(limit), route, kind: 'at-limit' };
      expect((await fire(f, at)).code, describeRequest(at)).not.toBe('payload_too_large');
    }
  });

  test('bad and missing bearer tokens never reach a handler', { timeout: 60_000 }, async () => {
    const authed = f.routes.filter((r) => r.auth);
    const noToken = authed.map((route) => requestFor(route, { ...f.options, credentials: {}, validCredentialShare: 0 }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(...noToken), async (r) => {
        const a = await fire(f, r);
        // Without a valid token: 401, or a 404/400/413 the router or body limit gives first.
        expect(a.status, describeRequest(r)).toBeGreaterThanOrEqual(400);
        if (a.status === 403) throw new Error(`a forged token got as far as the role check: ${describeRequest(r)}`);
      }),
      { seed: seedOf('tokens'), numRuns: RUNS * 2 },
    );
    expect(f.sent).toEqual([]);
  });
});

test('no prototype was polluted', () => {
  const polluted = POLLUTION_MARKERS.filter((m) => m in ({} as Record<string, unknown>));
  expect(polluted).toEqual([]);
  expect(prototypeSnapshot()).toEqual(prototypesBefore);
});
