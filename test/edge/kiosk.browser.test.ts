/**
 * The kiosk in real Chromium (playwright-core, Debian's /usr/bin/chromium) against a real hub
 * (`startHub` on a simulated board driven by Johnny-Five): a courier deposits through courier
 * mode, the recipient types the code (read as the cloud would) on the on-screen keypad and
 * the door opens on the board and on the screen; then wrong codes, then the throttle with its
 * countdown. Screenshots go to test/artifacts/kiosk-*.png (git-ignored).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { COURIER, putParcelIn, startTestHub, type TestHub } from '../support/hub.js';

const CHROMIUM = '/usr/bin/chromium';
const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

let h: TestHub;
let browser: Browser;
let page: Page;
const pageErrors: Error[] = [];

const MISSING = `Chromium is not installed at ${CHROMIUM}: the kiosk browser test needs it. Install it with: apt-get install -y chromium`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return; // the test itself fails, with MISSING (never a skip)
  mkdirSync(artifacts, { recursive: true });
  const now = () => Date.now();
  h = await startTestHub({ model: 'cubby-4', connectivity: () => ({ online: true, lastSyncAt: now(), lastContactAt: now() }) });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const ctx = await browser.newContext({ viewport: { width: 1080, height: 1920 }, locale: 'en-GB' });
  // Poll /health often; keep outcomes on screen until the next action.
  await ctx.addInitScript({ content: 'window.CUBBY_KIOSK_HEALTH_MS = 300; window.CUBBY_KIOSK_RESET_MS = 60000;' });
  page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e));
  await page.goto(h.url + '/');
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const tid = (id: string) => page.getByTestId(id);
const message = async () => ((await tid('message').textContent()) ?? '').replace(/\s+/g, ' ').trim();
const outcome = (key: string) => page.waitForSelector(`[data-testid=message][data-outcome="${key}"]`, { timeout: 8000 });
const shot = (name: string) => page.screenshot({ path: join(artifacts, `kiosk-${name}.png`) });

/** Type a code on the on-screen keypad and press OK; resolves with the hub's HTTP status. */
async function typeCode(code: string): Promise<number> {
  for (const d of code.replace(/\D/g, '')) await tid(`key-${d}`).click();
  const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/pickup')), tid('key-ok').click()]);
  return res.status();
}

test('courier deposit, keypad pickup opens the door, wrong code, throttle countdown', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  await page.waitForFunction("document.querySelector('[data-testid=bank-id]')?.textContent?.includes('bank-1')");
  await page.waitForSelector('[data-testid=offline-banner]', { state: 'hidden' });

  // The courier, in courier mode.
  await tid('courier-mode').click();
  await tid('courier-id').fill(COURIER.id);
  await tid('courier-secret').fill(COURIER.secret);
  await tid('parcel-id').fill('parcel-42');
  await tid('parcel-size').selectOption('M');
  await tid('courier-submit').click();
  await outcome('deposit_open');
  const open = h.sim.bank.statuses().filter((s) => s.door === 'open');
  expect(open).toHaveLength(1);
  const n = open[0]!.no;
  expect(await message()).toContain(`compartment ${n}`);
  await shot('courier-open');
  // The courier's hands.
  await putParcelIn(h.sim, n);
  await tid('courier-done').click();
  await outcome('deposited');
  await shot('courier-deposited');
  await tid('courier-mode').click();

  // The cloud reads the code; the recipient types it.
  const code = h.readCode('parcel-42');
  const pulses = h.board.pulseLog.length;
  expect(await typeCode(code)).toBe(200);
  await outcome('opened');
  expect(await message()).toContain(`Compartment ${n} is open`);
  expect(h.board.pulseLog.slice(pulses).map((p) => p.no)).toEqual([n]);
  expect(h.board.doorOpenLog.at(-1)).toMatchObject({ no: n, cause: 'pulse' });
  expect(h.sim.bank.status(n).door).toBe('open');
  expect(await tid('code-display').textContent()).not.toContain(code.slice(4)); // the code is off the screen
  await shot('opened');

  // A wrong code: attempts left.
  const wrong = (i: number) => `${code.startsWith('9') ? '1' : '9'}${String(i).padStart(2, '0')}-${String(123_456 + i)}`;
  expect(await typeCode(wrong(0))).toBe(401);
  await outcome('invalid_code');
  expect(await message()).toContain('4 attempts left');
  await shot('invalid-code');

  // More wrong codes: the hub throttles and the screen counts down.
  for (let i = 1; i <= 4; i++) {
    expect(await typeCode(wrong(i))).toBe(401);
    await outcome('invalid_code');
  }
  expect(await message()).toContain('Wrong code');
  expect(await typeCode(wrong(5))).toBe(429);
  await outcome('throttled');
  const countdown = tid('countdown');
  const first = await countdown.textContent();
  expect(first).toMatch(/^0:(10|0\d)$/);
  expect(await message()).toMatch(/Too many attempts — try again in 0:\d\d/);
  expect(await tid('key-1').isDisabled()).toBe(true);
  // The countdown ticks.
  await page.waitForFunction(`document.querySelector('[data-testid=countdown]')?.textContent !== ${JSON.stringify(first)}`, undefined, { timeout: 3000 });
  await shot('throttled');
  await page.setViewportSize({ width: 1920, height: 1080 });
  await outcome('throttled');
  await page.screenshot({ path: join(artifacts, 'kiosk-throttled-landscape.png') });
  expect(h.board.pulseLog.length).toBe(pulses + 1); // nothing but the one good pickup moved a lock
  expect(pageErrors).toEqual([]);
}, 60_000);
