import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PushWebhookChannel } from '../../../cloud/notify/channels/push-webhook.js';
import { computeSignature, signatureHeaders, verifySignature } from '../../../cloud/notify/channels/signature.js';
import { startPushReceiverSim, type PushReceiverSim } from '../../../cloud/notify/sim/push-receiver-sim.js';
import { ManualClock } from '../../../shared/ports.js';

const SECRET = 'push-secret';
const msg = (messageId: string) => ({ messageId, to: 'device-1', subject: 'Ihr Paket', body: 'Code: 123-456789' });

describe('signature', () => {
  const now = Date.UTC(2026, 0, 1, 12);
  it('verifies its own headers and refuses tampering, another secret, staleness and absence', () => {
    const raw = '{"a":1}';
    const h = signatureHeaders(SECRET, raw, now);
    const check = (over: Partial<Parameters<typeof verifySignature>[0]>) =>
      verifySignature({ secret: SECRET, rawBody: raw, signature: h['x-cubby-signature'], timestamp: h['x-cubby-timestamp'], nowMs: now, ...over });
    expect(h['x-cubby-signature']).toBe(computeSignature(SECRET, now / 1000, raw));
    expect(h['x-cubby-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(check({})).toBeNull();
    expect(check({ rawBody: '{"a":2}' })).toBe('bad_signature');
    expect(check({ secret: 'other' })).toBe('bad_signature');
    expect(check({ signature: 'sha256=00' })).toBe('bad_signature');
    expect(check({ nowMs: now + 6 * 60_000 })).toBe('stale_timestamp');
    expect(check({ timestamp: 'yesterday' })).toBe('stale_timestamp');
    expect(check({ signature: undefined })).toBe('missing_signature');
  });
});

describe('push channel against the receiver simulator', () => {
  let sim: PushReceiverSim;
  beforeEach(async () => {
    sim = await startPushReceiverSim({ secret: SECRET, slowMs: 300 });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('delivers synchronously with the subject, and the receiver dedupes by messageId', async () => {
    const ch = new PushWebhookChannel({ url: sim.pushUrl, secret: SECRET });
    expect(await ch.send(msg('p-1'))).toEqual({ status: 'delivered', providerId: 'p-1' });
    expect(await ch.send(msg('p-1'))).toEqual({ status: 'delivered', providerId: 'p-1' });
    expect(sim.inbox()).toEqual([{ messageId: 'p-1', to: 'device-1', subject: 'Ihr Paket', body: 'Code: 123-456789', at: expect.any(Number) }]);
    expect(sim.stats()).toMatchObject({ delivered: 1, duplicates: 1 });
  });

  it('a wrong secret or a skewed clock is refused with 401 (retryable: our configuration, not the recipient)', async () => {
    const wrong = new PushWebhookChannel({ url: sim.pushUrl, secret: 'nope' });
    expect(await wrong.send(msg('p-2'))).toEqual({ status: 'failed', retryable: true, error: 'HTTP 401: bad_signature' });
    const skewed = new PushWebhookChannel({ url: sim.pushUrl, secret: SECRET, clock: new ManualClock(Date.now() - 3_600_000) });
    expect(await skewed.send(msg('p-3'))).toEqual({ status: 'failed', retryable: true, error: 'HTTP 401: stale_timestamp' });
    expect(sim.inbox()).toEqual([]);
    expect(sim.stats().badSignatures).toBe(2);
  });

  it('refuses a body signed for another body', async () => {
    const raw = JSON.stringify(msg('p-4'));
    const res = await fetch(sim.pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signatureHeaders(SECRET, raw.replace('device-1', 'device-2'), Date.now()) },
      body: raw,
    });
    expect(res.status).toBe(401);
    expect(sim.inbox()).toEqual([]);
  });

  it('an unknown device is final; slow beyond the timeout and down are retryable', async () => {
    const ch = new PushWebhookChannel({ url: sim.pushUrl, secret: SECRET, timeoutMs: 50 });
    sim.makeUnreachable('device-1');
    expect(await ch.send(msg('p-5'))).toEqual({ status: 'failed', retryable: false, error: 'HTTP 410: unknown_target' });
    sim.makeReachable('device-1');
    sim.setMode('slow');
    expect(await ch.send(msg('p-6'))).toEqual({ status: 'failed', retryable: true, error: 'timeout after 50 ms' });
    sim.setMode('down');
    expect(await ch.send(msg('p-7'))).toMatchObject({ status: 'failed', retryable: true, error: 'HTTP 503: push service unavailable' });
  });

  it('answers a closed port with a retryable network error', async () => {
    const url = sim.pushUrl;
    await sim.close();
    const ch = new PushWebhookChannel({ url, secret: SECRET });
    const r = await ch.send(msg('p-8'));
    expect(r).toMatchObject({ status: 'failed', retryable: true });
    expect((r as { error: string }).error).toMatch(/^network error: ECONNREFUSED/);
  });

  it('can be driven over HTTP by another process', async () => {
    const base = sim.pushUrl.replace(/\/push$/, '');
    const res = await fetch(`${base}/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'down', unreachable: ['device-9'] }),
    });
    expect(await res.json()).toEqual({ mode: 'down', unreachable: ['device-9'] });
    const ch = new PushWebhookChannel({ url: sim.pushUrl, secret: SECRET });
    expect((await ch.send(msg('p-9'))).status).toBe('failed');
    sim.setMode('up');
    await ch.send(msg('p-9'));
    expect(((await (await fetch(`${base}/messages`)).json()) as unknown[]).length).toBe(1);
  });
});
