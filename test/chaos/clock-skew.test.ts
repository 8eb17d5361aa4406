/**
 * Chaos: a hub whose clock is hours ahead of or behind the cloud's (test/chaos/README.md,
 * "Clock skew"). The rule, checked here with injected clocks:
 *
 * - the hub's ledger runs on its clock corrected to the cloud's, measured at every sync
 *   handshake (`welcome.serverTime`; `CloudCorrectedClock`), so a code expires at the same
 *   moment for the hub and the cloud whoever issued it, and a remote open signed by the cloud
 *   is judged in the cloud's time; the offset survives a restart;
 * - throttle lock-outs are measured on the monotonic clock within a run (a wall clock set
 *   forward does not end them, set back does not stretch them) and, after a restart, never last
 *   longer than the failure count calls for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { DEMO } from '../../cloud/demo-seed.js';
import { RemoteOpenService } from '../../edge/remote/remote-open-service.js';
import { DEFAULT_POLICY, lockoutMs, Throttle } from '../../edge/services/throttle.js';
import { CloudCorrectedClock } from '../../edge/sync/cloud-clock.js';
import { signCommand } from '../../shared/crypto/signed-command.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { ManualClock } from '../../shared/ports.js';
import { FAKE_HASH } from '../sync/harness.js';
import { cloudServer, testHub, type CloudServer, type TestHub } from '../sync/ws-fixture.js';

const HOUR = 3600_000;

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const dir = mkdtempSync(join(tmpdir(), 'cubby-skew-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('code expiry with a skewed hub clock', () => {
  for (const skew of [-5 * HOUR, +5 * HOUR]) {
    test(`hub clock ${skew > 0 ? 'ahead' : 'behind'} by 5 h: hub and cloud agree when each code expires`, { timeout: 30_000 }, async () => {
      const cs: CloudServer = await cloudServer({ seed: 21 });
      cleanups.push(() => cs.close());
      const cloudClock = cs.cloud.clock;
      const hubBase = new ManualClock(cloudClock.now() + skew);
      const clock = new CloudCorrectedClock(hubBase, { file: join(dir, `offset-${skew}.json`) });
      const hub: TestHub = testHub('bank-1', { url: cs.url, clock, seed: 22, onServerTime: (t, rtt) => clock.observe(t, rtt) });
      cleanups.push(() => hub.close());
      for (const parcelId of ['P-hub', 'P-cloud']) {
        const res = await cs.cloud.app.request('/v1/parcels', {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ parcelId, bankId: 'bank-1', carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
        });
        expect(res.status).toBe(201);
      }
      hub.client.start();
      expect(await hub.client.syncNow(10_000)).toBe(true);
      // The handshake corrected the hub's clock to the cloud's (the round trip is a few ms of real time).
      expect(Math.abs(clock.now() - cloudClock.now())).toBeLessThan(1000);
      expect(Math.abs(clock.offsetMs() + skew)).toBeLessThan(1000);

      // A code issued by the hub, and one issued by the cloud (a resend), both with the 72 h default.
      hub.deposit('P-hub', 1, '111');
      hub.deposit('P-cloud', 2, '222');
      expect(await hub.client.syncNow(10_000)).toBe(true);
      const cloudLedger = cs.cloud.replicas.get('bank-1').ledger;
      // Support resends a while later (the same clock instant would tie the two codes' order).
      cloudClock.advance(5_000);
      hubBase.advance(5_000);
      const cloudCode = cloudLedger.issueCode('P-cloud', { selector: '223', hash: FAKE_HASH, issuer: 'cloud' });
      // Pushed to the connected hub (syncNow may answer "in sync" an instant before it lands).
      await waitFor(() => hub.ledger.doc('P-cloud')?.codes[cloudCode] !== undefined, 'the cloud-issued code at the hub');
      const issuedAt = liveCode(hub.ledger.doc('P-cloud')!, clock.now())!.issuedAt;
      expect(Math.abs(issuedAt - cloudClock.now())).toBeLessThan(1000);

      const advance = (ms: number) => {
        cloudClock.advance(ms);
        hubBase.advance(ms);
      };
      const states = () =>
        ['P-hub', 'P-cloud'].map((p) => ({
          hub: liveCode(hub.ledger.doc(p)!, clock.now()) ? 'active' : 'gone',
          cloud: liveCode(cloudLedger.doc(p)!, cloudClock.now()) ? 'active' : 'gone',
        }));
      advance(72 * HOUR - 60_000);
      expect(states()).toEqual([{ hub: 'active', cloud: 'active' }, { hub: 'active', cloud: 'active' }]);
      advance(120_000);
      expect(states()).toEqual([{ hub: 'gone', cloud: 'gone' }, { hub: 'gone', cloud: 'gone' }]);
      // Without the correction the hub would be 5 h off for the cloud's code: behind, it would
      // still take it a minute after the cloud expired it; ahead, it would have refused it a
      // minute before.
      const doc = hub.ledger.doc('P-cloud')!;
      if (skew < 0) expect(liveCode(doc, hubBase.now())).toBeDefined();
      else expect(liveCode(doc, hubBase.now() - 120_000)).toBeUndefined();
      // The expiry sweep, on the corrected clock, records both now.
      expect(hub.ledger.expire().sort()).toEqual(['P-cloud', 'P-hub']);

      // The offset is kept: a hub restarted offline still runs on cloud time.
      const again = new CloudCorrectedClock(hubBase, { file: join(dir, `offset-${skew}.json`) });
      expect(Math.abs(again.now() - cloudClock.now())).toBeLessThan(1000);
    });
  }

  test('a handshake too slow to measure, or a step under a second, does not move the clock', () => {
    const base = new ManualClock(1_000_000);
    const clock = new CloudCorrectedClock(base);
    expect(clock.observe(1_000_000 + HOUR, 6_000)).toBe(false);
    expect(clock.observe(1_000_500, 10)).toBe(false);
    expect(clock.observe(1_000_000 - HOUR, 10)).toBe(true);
    expect(clock.offsetMs()).toBe(-HOUR + 5);
  });
});

describe('remote open with a skewed hub clock', () => {
  test('judged in cloud time: refused as "issued in the future" by a hub 5 h behind on its own clock, accepted once corrected', async () => {
    const cs = await cloudServer({ seed: 23 });
    cleanups.push(() => cs.close());
    const cloudNow = cs.cloud.clock.now();
    const hubBase = new ManualClock(cloudNow - 5 * HOUR);
    const db = openDatabase(join(dir, 'remote.sqlite'));
    cleanups.push(() => void db.close());
    const opened: number[] = [];
    const service = (clock: ManualClock | CloudCorrectedClock) =>
      new RemoteOpenService({ db, clock, cloudPublicKey: cs.cloud.keys.signing.publicKey, bankId: 'bank-1', openDoor: async (n) => (opened.push(n), { opened: true }), audit: () => {} });
    const command = (nonce: string) =>
      signCommand({ type: 'open', bankId: 'bank-1', compartment: 3, reason: 'support', requestedBy: 'support:demo', nonce, issuedAt: cloudNow, expiresAt: cloudNow + 60_000 }, cs.cloud.keys.signing.privateKey);
    expect(await service(hubBase).handle(command('n-raw-000000000001'))).toMatchObject({ ok: false, refusal: 'issued_in_future' });
    const corrected = new CloudCorrectedClock(hubBase);
    corrected.observe(cloudNow, 4);
    expect(await service(corrected).handle(command('n-corrected-0000001'))).toMatchObject({ ok: true, compartment: 3 });
    expect(opened).toEqual([3]);
  });
});

describe('throttle lock-outs with a wall clock that jumps', () => {
  const policy = DEFAULT_POLICY;
  const lockOut = (t: Throttle, failures: number) => {
    for (let i = 0; i < failures; i++) t.fail('keypad');
  };

  test('within a run: set back 5 h it does not stretch, set forward 5 h it does not end early', () => {
    const db = openDatabase(join(dir, 'throttle-run.sqlite'));
    cleanups.push(() => void db.close());
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 8));
    const t = new Throttle(db, clock, policy);
    lockOut(t, policy.freeFailures);
    const wait = lockoutMs(policy, policy.freeFailures);
    const start = clock.now();
    clock.set(start - 5 * HOUR);
    expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: wait / 1000 });
    clock.set(start + 5 * HOUR);
    expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: wait / 1000 });
    clock.advance(wait - 1000);
    expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1000);
    expect(t.check('keypad')).toEqual({ allowed: true });
  });

  test('after a restart with the clock set back 5 h: never longer than the failure count calls for', () => {
    const db = openDatabase(join(dir, 'throttle-restart.sqlite'));
    cleanups.push(() => void db.close());
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 8));
    lockOut(new Throttle(db, clock, policy), policy.hardLimit);
    const hard = lockoutMs(policy, policy.hardLimit);
    clock.set(clock.now() - 5 * HOUR);
    const restarted = new Throttle(db, clock, policy);
    const check = restarted.check('keypad');
    expect(check.allowed).toBe(false);
    expect(check.allowed === false && check.retryAfterSeconds).toBe(hard / 1000);
    // Time passes from the restart on: the lock-out ends within the hard lock-out.
    clock.advance(hard);
    expect(restarted.check('keypad')).toEqual({ allowed: true });
  });
});
