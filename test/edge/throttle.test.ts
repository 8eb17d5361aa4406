/**
 * The keypad throttle (DESIGN.md "Pickup codes", SECURITY.md "Keypad throttle"): 5 free
 * failures, then 10 s doubling to a 120 s cap, 15 min from 100 consecutive failures with an
 * alarm; counted hub-wide; durable across restarts; a success ends the run. Driven with a
 * manual clock — nothing here sleeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { KEYPAD_SCOPE } from '../../edge/services/pickup-service.js';
import { DEFAULT_POLICY, Throttle, lockoutMs } from '../../edge/services/throttle.js';
import { ManualClock } from '../../shared/ports.js';
import { COURIER, createTestApp, expectApiError, json, type TestApp } from '../support/hub.js';

const SEC = 1000;
/** The waits of SECURITY.md's table, in seconds, after 1..101 consecutive failures. */
const expectedWaitS = (n: number): number => (n < 5 ? 0 : n >= 100 ? 900 : Math.min(120, 10 * 2 ** (n - 5)));

describe('policy (unit)', () => {
  test('lockoutMs follows the table: none for 1-4, 10 s at 5, doubling to 120 s, 15 min from 100', () => {
    const got = Array.from({ length: 101 }, (_, i) => lockoutMs(DEFAULT_POLICY, i + 1) / SEC);
    expect(got).toEqual(Array.from({ length: 101 }, (_, i) => expectedWaitS(i + 1)));
    expect(got.slice(0, 10)).toEqual([0, 0, 0, 0, 10, 20, 40, 80, 120, 120]);
    expect(lockoutMs(DEFAULT_POLICY, 10_000)).toBe(15 * 60 * SEC);
  });

  test("SECURITY.md's arithmetic holds for the policy: > 10 years to open any door of a full bank", () => {
    const p = 24 / 1e9; // 24 live codes of a full bank-1 in a space of 10^9
    const guessesNeeded = 1 / p;
    // The first 100 guesses cost the sum of the waits (≈ 11,070 s).
    let firstHundred = 0;
    for (let n = 1; n < DEFAULT_POLICY.hardLimit; n++) firstHundred += lockoutMs(DEFAULT_POLICY, n);
    expect(firstHundred / SEC).toBe(11_070);
    const year = 365 * 86_400;
    // A stranger alone: one guess per hard lock-out from then on.
    const aloneS = firstHundred / SEC + (guessesNeeded - 100) * (DEFAULT_POLICY.hardLockoutMs / SEC);
    expect(aloneS / year).toBeGreaterThan(1000);
    // Between recipients: 137 pickups a day each reset the run; 5 guesses per reset plus one per max wait all day.
    const perDay = 137 * DEFAULT_POLICY.freeFailures + 86_400 / (DEFAULT_POLICY.maxLockoutMs / SEC);
    expect(guessesNeeded / perDay / 365).toBeGreaterThan(80);
    // Even a 100-compartment bank stays above the 10-year goal.
    expect(1e9 / 100 / perDay / 365).toBeGreaterThan(10);
    // …and a stranger locks real recipients out for at most 120 s before 100 consecutive failures.
    expect(Math.max(...Array.from({ length: 99 }, (_, i) => lockoutMs(DEFAULT_POLICY, i + 1)))).toBe(120 * SEC);
  });

  describe('Throttle over SQLite', () => {
    let dir: string;
    let db: Database.Database;
    const open = () => openDatabase(join(dir, 'throttle.sqlite'), { synchronous: 'FULL' });
    afterEach(() => {
      if (db?.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Fail once the throttle allows it, advancing the clock through any wait; returns the outcome. */
    const failWhenAllowed = (t: Throttle, clock: ManualClock) => {
      const c = t.check('keypad');
      if (!c.allowed) clock.advance(c.retryAfterSeconds * SEC);
      expect(t.check('keypad')).toEqual({ allowed: true });
      return t.fail('keypad');
    };

    test('waits, attemptsLeft, the alarm exactly once at 100, and a success resets', () => {
      dir = mkdtempSync(join(tmpdir(), 'cubby-throttle-'));
      db = open();
      const clock = new ManualClock();
      const t = new Throttle(db, clock);
      const left: number[] = [];
      for (let n = 1; n <= 5; n++) left.push(t.fail('keypad').attemptsLeft);
      expect(left).toEqual([4, 3, 2, 1, 0]);
      expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 10 });
      clock.advance(9_999);
      expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 1 });
      clock.advance(1);
      expect(t.check('keypad')).toEqual({ allowed: true });

      const alarms: number[] = [];
      for (let n = 6; n <= 101; n++) {
        const before = clock.now();
        const f = failWhenAllowed(t, clock);
        expect(f.consecutive).toBe(n);
        expect((f.lockedUntil - clock.now()) / SEC).toBe(expectedWaitS(n));
        if (n > 6) expect(clock.now() - before).toBe(expectedWaitS(n - 1) * SEC); // we waited exactly the previous lock-out
        if (f.alarm) alarms.push(n);
      }
      expect(alarms).toEqual([100]);
      expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 900 });

      // Other scopes are separate; a success ends the run of its own scope.
      expect(t.check('courier')).toEqual({ allowed: true });
      clock.advance(900 * SEC);
      t.succeed('keypad');
      expect(t.snapshot('keypad')).toEqual({ consecutive: 0, lockedUntil: 0 });
      expect(t.fail('keypad').attemptsLeft).toBe(4);
    });

    test('a lock-out survives closing and reopening the file', () => {
      dir = mkdtempSync(join(tmpdir(), 'cubby-throttle-'));
      db = open();
      const clock = new ManualClock();
      let t = new Throttle(db, clock);
      for (let n = 0; n < 7; n++) failWhenAllowed(t, clock); // 7th: 40 s
      expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 40 });
      db.close(); // as a power cut leaves it: synchronous=FULL committed every failure
      db = open();
      t = new Throttle(db, clock);
      expect(t.check('keypad')).toEqual({ allowed: false, retryAfterSeconds: 40 });
      expect(t.snapshot('keypad').consecutive).toBe(7);
      clock.advance(40 * SEC);
      expect(t.fail('keypad').lockedUntil - clock.now()).toBe(80 * SEC);
    });
  });
});

describe('through POST /api/pickup', () => {
  let h: TestApp;
  afterEach(async () => {
    await h?.close();
  });
  const pickup = (code: string) => h.post('/api/pickup', { code });
  /** Nine-digit codes with different selectors, none of them the live one. */
  const strangerCodes = (live: string) =>
    Array.from({ length: 200 }, (_, i) => `${String((i * 7 + 1) % 1000).padStart(3, '0')}-${String(i * 4099).padStart(6, '0')}`).filter(
      (c) => c.slice(0, 3) !== live.slice(0, 3),
    );

  test('5 free failures, then 429 with retryAfterSeconds — even for the right code — and no door moves', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const wrong = strangerCodes(d.code);
    for (let i = 0; i < 5; i++) {
      expect((await expectApiError(await pickup(wrong[i]!), 401, 'invalid_code')).attemptsLeft).toBe(4 - i);
    }
    const pulses = h.board.pulseLog.length;
    expect((await expectApiError(await pickup(d.code), 429, 'throttled')).retryAfterSeconds).toBe(10);
    expect((await expectApiError(await h.post('/api/pickup', { qr: `cubby:bank-1:${d.code}` }), 429, 'throttled')).retryAfterSeconds).toBe(10);
    expect(h.board.pulseLog.length).toBe(pulses);
    h.manual.advance(4_000);
    expect((await expectApiError(await pickup(wrong[5]!), 429, 'throttled')).retryAfterSeconds).toBe(6);
    h.manual.advance(6_000);
    expect((await expectApiError(await pickup(wrong[5]!), 401, 'invalid_code')).attemptsLeft).toBe(0);
    expect((await expectApiError(await pickup(d.code), 429, 'throttled')).retryAfterSeconds).toBe(20);
    // Couriers have their own scope: the keypad lock-out does not stop a deposit.
    expect((await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId: 'p-2', size: 'S' })).status).toBe(200);
  });

  test('hub-wide: rotating selectors (and the live selector with a wrong verifier) does not help', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const wrong = strangerCodes(d.code);
    const liveWrong = `${d.code.slice(0, 3)}-${String((Number(d.code.slice(4)) + 1) % 1e6).padStart(6, '0')}`;
    for (const c of [wrong[0]!, liveWrong, wrong[1]!, wrong[2]!]) await expectApiError(await pickup(c), 401, 'invalid_code');
    expect((await expectApiError(await pickup(wrong[3]!), 401, 'invalid_code')).attemptsLeft).toBe(0);
    // Every selector is refused now, live or not.
    for (const c of [wrong[4]!, wrong[50]!, liveWrong, d.code]) await expectApiError(await pickup(c), 429, 'throttled');
    expect(h.services.throttle.snapshot(KEYPAD_SCOPE).consecutive).toBe(5);
  });

  test('a lock-out survives a restart of the hub (store closed, same file reopened)', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const wrong = strangerCodes(d.code);
    for (let i = 0; i < 5; i++) await pickup(wrong[i]!);
    h.manual.advance(10 * SEC);
    await pickup(wrong[5]!); // 6th: 20 s
    h.manual.advance(5 * SEC);
    await h.restart();
    expect((await expectApiError(await pickup(d.code), 429, 'throttled')).retryAfterSeconds).toBe(15);
    h.manual.advance(15 * SEC);
    // A success ends the run: the next stranger starts again with 5 free attempts.
    expect((await pickup(d.code)).status).toBe(200);
    expect((await expectApiError(await pickup(wrong[6]!), 401, 'invalid_code')).attemptsLeft).toBe(4);
  });

  test('100 consecutive failures: 15 min lock-outs and one keypad_lockout alarm in the audit log', async () => {
    h = await createTestApp();
    const d = await h.depositParcel('p-1');
    const wrong = strangerCodes(d.code);
    let longest = 0;
    for (let n = 1; n <= 101; n++) {
      let res = await pickup(wrong[n % wrong.length]!);
      if (res.status === 429) {
        const wait = (await json(res)).error.retryAfterSeconds as number;
        if (n <= 100) longest = Math.max(longest, wait);
        h.manual.advance(wait * SEC);
        res = await pickup(wrong[n % wrong.length]!);
      }
      await expectApiError(res, 401, 'invalid_code');
    }
    expect(longest).toBe(120); // no stranger locks recipients out for more than 2 minutes before the hard limit
    expect((await expectApiError(await pickup(d.code), 429, 'throttled')).retryAfterSeconds).toBe(900);
    const alarms = h.store.audit.since(0).filter((e) => e.type === 'keypad_lockout');
    expect(alarms).toEqual([expect.objectContaining({ actor: 'hub', detail: '100 consecutive wrong codes' })]);
    expect(JSON.stringify(alarms)).not.toContain(d.code);
    // After the wait the recipient gets in, and the run is over.
    h.manual.advance(900 * SEC);
    expect((await pickup(d.code)).status).toBe(200);
    expect(h.services.throttle.snapshot(KEYPAD_SCOPE).consecutive).toBe(0);
  });
});
