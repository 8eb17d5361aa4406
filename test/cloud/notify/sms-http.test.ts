import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import type { Receipt } from '../../../cloud/notify/channels/channel.js';
import { signatureHeaders } from '../../../cloud/notify/channels/signature.js';
import { createSmsReceiptHandler, SmsHttpChannel } from '../../../cloud/notify/channels/sms-http.js';
import { ManualClock } from '../../../shared/ports.js';
import { SMS_SECRET, startSmsRig, type SmsRig } from './harness.js';

const TO = '+4915112345678';
const msg = (messageId: string, body = 'Ihr Code: 123-456789') => ({ messageId, to: TO, subject: '', body });

describe('SMS receipt webhook', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const setup = () => {
    const channel = new SmsHttpChannel({ baseUrl: 'http://127.0.0.1:9', callbackUrl: 'http://x/', webhookSecret: SMS_SECRET, clock });
    const got: Receipt[] = [];
    channel.onReceipt((r) => got.push(r));
    const app = new Hono();
    app.post('/v1/hooks/sms', createSmsReceiptHandler(channel));
    const post = (raw: string, headers: Record<string, string>) =>
      app.request('/v1/hooks/sms', { method: 'POST', body: raw, headers: { 'content-type': 'application/json', ...headers } });
    return { channel, got, post };
  };

  it('emits a correctly signed receipt with the clock time', async () => {
    const { got, post } = setup();
    const raw = JSON.stringify({ id: 'sms_1', status: 'undelivered', error: 'unreachable' });
    const res = await post(raw, signatureHeaders(SMS_SECRET, raw, clock.now()));
    expect(res.status).toBe(200);
    expect(got).toEqual([{ providerId: 'sms_1', status: 'undelivered', error: 'unreachable', at: clock.now() }]);
  });

  it('refuses a wrong, missing or stale signature with 401 in the API error shape', async () => {
    const { got, post } = setup();
    const raw = JSON.stringify({ id: 'sms_1', status: 'delivered' });
    const wrongSecret = await post(raw, signatureHeaders('not-the-secret', raw, clock.now()));
    expect(wrongSecret.status).toBe(401);
    const body = (await wrongSecret.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_signature');
    expect(body.error.message).toMatch(/secret/);

    const tampered = await post(raw.replace('delivered', 'failed'), signatureHeaders(SMS_SECRET, raw, clock.now()));
    expect(tampered.status).toBe(401);
    expect((await post(raw, {})).status).toBe(401);
    const stale = await post(raw, signatureHeaders(SMS_SECRET, raw, clock.now() - 10 * 60_000));
    expect(stale.status).toBe(401);
    expect(got).toEqual([]);
  });

  it('refuses invalid JSON and a wrong shape with 400, and a huge body with 413', async () => {
    const { got, post } = setup();
    for (const raw of ['{not json', JSON.stringify({ id: 'x', status: 'read' }), JSON.stringify([1])]) {
      const res = await post(raw, signatureHeaders(SMS_SECRET, raw, clock.now()));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_receipt' } });
    }
    const huge = JSON.stringify({ id: 'x', status: 'delivered', error: 'e'.repeat(20_000) });
    expect((await post(huge, signatureHeaders(SMS_SECRET, huge, clock.now()))).status).toBe(413);
    expect(got).toEqual([]);
  });
});

describe('SMS channel against the gateway simulator', () => {
  let rig: SmsRig | undefined;
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it('blackhole: accepted, but nothing arrives and no receipt comes', async () => {
    rig = await startSmsRig();
    const got: Receipt[] = [];
    rig.channel.onReceipt((r) => got.push(r));
    await rig.sim.setMode('blackhole');
    const r = await rig.channel.send(msg('bh-1'));
    expect(r.status).toBe('accepted');
    await rig.sim.idle();
    await new Promise((res) => setTimeout(res, 30));
    expect(rig.sim.inbox()).toEqual([]);
    expect(got).toEqual([]);
    expect(await rig.channel.send(msg('bh-1'))).toEqual(r); // the key is remembered
  });

  it('slow: a short timeout gives a retryable failure; the late original and the retry make one SMS', async () => {
    rig = await startSmsRig({ slowMs: 300 }, { timeoutMs: 50 });
    await rig.sim.setMode('slow');
    const r = await rig.channel.send(msg('slow-1'));
    expect(r).toMatchObject({ status: 'failed', retryable: true, error: 'timeout after 50 ms' });
    await rig.sim.setMode('up');
    const retry = await rig.channel.send(msg('slow-1'));
    expect(retry.status).toBe('accepted');
    await rig.sim.idle();
    expect(rig.sim.inbox().map((m) => m.body)).toEqual(['Ihr Code: 123-456789']);
    expect(rig.sim.stats().duplicates).toBe(1);
  });

  it('delivers the receipt for an accepted SMS through the real webhook', async () => {
    rig = await startSmsRig();
    const got: Receipt[] = [];
    rig.channel.onReceipt((r) => got.push(r));
    const r = await rig.channel.send(msg('ok-1'));
    await rig.sim.idle();
    expect(r.status).toBe('accepted');
    expect(got).toEqual([expect.objectContaining({ providerId: (r as { providerId: string }).providerId, status: 'delivered' })]);
    expect(rig.sim.stats()).toMatchObject({ receiptsSent: 1, receiptFailures: 0 });
  });

  it('a gateway with the wrong webhook secret gets 401 and nothing is emitted', async () => {
    rig = await startSmsRig({ webhookSecret: 'other', receiptAttempts: 1 });
    const got: Receipt[] = [];
    rig.channel.onReceipt((r) => got.push(r));
    await rig.channel.send(msg('sec-1'));
    await rig.sim.idle();
    expect(got).toEqual([]);
    expect(rig.sim.stats().receiptFailures).toBe(1);
  });

  it('maps gateway refusals: unreachable and malformed numbers are final, bad API key and 5xx are retryable', async () => {
    rig = await startSmsRig({ apiKey: 'k1' }, { apiKey: 'k1' });
    rig.sim.markUnreachable(TO);
    expect(await rig.channel.send(msg('u-1'))).toEqual({ status: 'failed', retryable: false, error: 'HTTP 400: unreachable' });
    rig.sim.markReachable(TO);
    expect((await rig.channel.send(msg('u-1'))).status).toBe('accepted');
    expect(await rig.channel.send({ ...msg('n-1'), to: '0151 123' })).toMatchObject({ status: 'failed', retryable: false });
    expect(await rig.channel.send(msg('u-1', 'another body'))).toMatchObject({
      status: 'failed',
      retryable: false,
      error: 'HTTP 409: idempotency_key_reused',
    });
    const wrongKey = new SmsHttpChannel({ baseUrl: rig.sim.url, callbackUrl: rig.hookUrl, webhookSecret: SMS_SECRET, apiKey: 'nope' });
    expect(await wrongKey.send(msg('k-1'))).toEqual({ status: 'failed', retryable: true, error: 'HTTP 401: unauthorized' });
    await rig.sim.setMode('down');
    expect(await rig.channel.send(msg('d-1'))).toMatchObject({ status: 'failed', retryable: true, error: 'HTTP 503: gateway unavailable' });
  });

  it('reports a refused connection as retryable', async () => {
    rig = await startSmsRig({ refuseConnections: true });
    await rig.sim.setMode('down');
    const r = await rig.channel.send(msg('c-1'));
    expect(r).toMatchObject({ status: 'failed', retryable: true });
    expect((r as { error: string }).error).toMatch(/ECONNREFUSED/);
  });

  it('can be driven over HTTP by another process: /control, GET and DELETE /messages', async () => {
    rig = await startSmsRig();
    const control = (body: unknown) =>
      fetch(`${rig!.sim.url}/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await (await control({ mode: 'down', unreachable: ['+4915199999999'] })).json()).toEqual({
      mode: 'down',
      unreachable: ['+4915199999999'],
    });
    await new Promise((res) => setImmediate(res));
    expect((await rig.channel.send(msg('h-1'))).status).toBe('failed');
    await control({ mode: 'up' });
    await new Promise((res) => setImmediate(res));
    expect((await rig.channel.send(msg('h-1'))).status).toBe('accepted');
    await rig.sim.idle();
    const inbox = (await (await fetch(`${rig.sim.url}/messages?to=${encodeURIComponent(TO)}`)).json()) as unknown[];
    expect(inbox).toEqual([{ id: expect.any(String), to: TO, body: 'Ihr Code: 123-456789', at: expect.any(Number) }]);
    expect((await fetch(`${rig.sim.url}/messages`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await fetch(`${rig.sim.url}/messages`)).json()).toEqual([]);
    expect((await control({ mode: 'sideways' })).status).toBe(400);
  });
});
