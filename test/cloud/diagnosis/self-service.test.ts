import { afterEach, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { EMAIL, PHONE, startSystem, type TestSystem } from '../../e2e/system.js';

/** The recipient's "where is my code?": `GET /help` and `POST /v1/self-service/diagnosis`. */
describe('self-service diagnosis', () => {
  let sys: TestSystem | undefined;
  let browser: Browser | undefined;
  afterEach(async () => {
    await browser?.close();
    browser = undefined;
    await sys?.close();
    sys = undefined;
  });
  const ask = (s: TestSystem, parcelId: string, phoneLast4: string) => s.api('POST', '/v1/self-service/diagnosis', { parcelId, phoneLast4 }, null);

  it('answers the verdict in plain words, with nothing private in it', async () => {
    sys = await startSystem({ hub: true });
    await sys.announce('P-SS');
    let res = await ask(sys, 'P-SS', '5678');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ parcelId: 'P-SS', status: 'announced', cause: 'not_deposited', message: expect.stringMatching(/^Your parcel is not in the locker yet/) });

    await sys.deposit('P-SS');
    await sys.until(() => sys!.notify.outboxStore.forParcel('P-SS')[0]?.status === 'delivered', 'delivered');
    res = await ask(sys, 'P-SS', '5678');
    expect(res.body).toMatchObject({ status: 'deposited', cause: null, message: expect.stringMatching(/^We sent your pickup code by SMS/) });
    const text = JSON.stringify(res.body);
    for (const secret of [PHONE, EMAIL, '•••', 'sms_', 'ob_', 'bank-1']) expect(text).not.toContain(secret);

    await sys.hubSync!.stop();
    await sys.until(() => !sys!.cloud.sync.presence.online('bank-1'), 'offline');
    res = await ask(sys, 'P-SS', '5678');
    expect(res.body).toMatchObject({ cause: 'locker_malfunction', message: expect.stringMatching(/^The locker is offline right now, but it checks codes by itself: the code we sent you by SMS still works/) });
  });

  it('a pair that does not match is the same 404 whatever was wrong; tries are rate-limited', async () => {
    sys = await startSystem();
    await sys.announce('P-M');
    await sys.announce('P-MAIL', { name: 'Bo', email: 'bo@example.com' });
    const answers = [await ask(sys, 'P-M', '0000'), await ask(sys, 'P-NOPE', '5678'), await ask(sys, 'P-MAIL', '5678')];
    for (const a of answers) expect([a.status, a.body.error.code]).toEqual([404, 'no_match']);
    expect(new Set(answers.map((a) => a.body.error.message)).size).toBe(1);
    const bad = await ask(sys, 'P-M', '12ab');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_input']);

    for (let i = 0; i < 4; i++) await ask(sys, 'P-M', String(1000 + i)); // 5 tries on P-M so far
    const throttled = await ask(sys, 'P-M', '5678');
    expect([throttled.status, throttled.body.error.code]).toEqual([429, 'throttled']);
    expect(throttled.body.error.retryAfterSeconds).toBeGreaterThan(0);
    sys.manual.advance(15 * 60_000);
    expect((await ask(sys, 'P-M', '5678')).status).toBe(200);
  });

  it('the /help page works in a real browser', async () => {
    sys = await startSystem();
    await sys.announce('P-WEB');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage();
    const res = await page.goto(`${sys.cloud.url}/help`);
    expect(res?.status()).toBe(200);
    await page.fill('#parcelId', 'P-WEB');
    await page.fill('#phoneLast4', '5678');
    await page.click('#go');
    await page.waitForFunction("!document.querySelector('#answer').textContent.startsWith('Checking')");
    expect(await page.textContent('#answer')).toMatch(/^Your parcel is not in the locker yet/);
    await page.fill('#phoneLast4', '9999');
    await page.click('#go');
    await page.waitForSelector('#answer.error');
    expect(await page.textContent('#answer')).toBe('No parcel matches that parcel number and phone number. Check both and try again.');
  });
});
