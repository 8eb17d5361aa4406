import { describe, expect, it } from 'vitest';
import type { NotificationChannel, SendResult } from '../../../cloud/notify/channels/channel.js';
import { ChannelHealthTracker, withHealthTracking } from '../../../cloud/notify/channels/channel-health.js';
import { ManualClock } from '../../../shared/ports.js';

const T0 = Date.UTC(2026, 0, 1);

describe('ChannelHealthTracker', () => {
  it('starts empty: no rate, healthy by lack of evidence', () => {
    const t = new ChannelHealthTracker({ clock: new ManualClock(T0) });
    expect(t.health('sms')).toEqual({
      channel: 'sms',
      attempts: 0,
      successes: 0,
      failures: 0,
      recipientFailures: 0,
      windowSamples: 0,
      successRate: null,
    });
    expect(t.isHealthy('sms')).toBe(true);
    expect(t.all()).toEqual([]);
  });

  it('computes the success rate over the last N provider outcomes, with times from the clock', () => {
    const clock = new ManualClock(T0);
    const t = new ChannelHealthTracker({ clock, windowSize: 4 });
    t.recordSuccess('sms'); // T0
    clock.advance(1000);
    t.recordFailure('sms', 'HTTP 503'); // T0+1s
    clock.advance(1000);
    t.recordSuccess('sms'); // T0+2s
    expect(t.health('sms')).toMatchObject({ attempts: 3, successes: 2, failures: 1, windowSamples: 3, successRate: 2 / 3 });
    clock.advance(1000);
    for (let i = 0; i < 3; i++) t.recordFailure('sms', `timeout ${i}`); // window: S F F F
    expect(t.health('sms')).toEqual({
      channel: 'sms',
      attempts: 6,
      successes: 2,
      failures: 4,
      recipientFailures: 0,
      windowSamples: 4,
      successRate: 0.25,
      lastError: 'timeout 2',
      lastErrorAt: T0 + 3000,
      lastSuccessAt: T0 + 2000,
    });
    t.recordFailure('sms', 'timeout 3'); // window: F F F F
    expect(t.health('sms').successRate).toBe(0);
    expect(t.isHealthy('sms', 0.5, 4)).toBe(false);
    expect(t.isHealthy('sms', 0.5, 5)).toBe(true); // too few samples to judge
    expect(t.health('email').attempts).toBe(0); // channels are independent
  });

  it('keeps recipient failures (non-retryable) out of the window', () => {
    const clock = new ManualClock(T0);
    const t = new ChannelHealthTracker({ clock, windowSize: 10 });
    const results: SendResult[] = [
      { status: 'delivered', providerId: 'a' },
      { status: 'failed', retryable: false, error: 'HTTP 400: unreachable' },
      { status: 'failed', retryable: false, error: 'HTTP 400: unreachable' },
      { status: 'accepted', providerId: 'b' },
      { status: 'failed', retryable: true, error: 'HTTP 503' },
    ];
    for (const r of results) t.recordResult('sms', r);
    expect(t.health('sms')).toMatchObject({
      attempts: 5,
      successes: 2,
      failures: 3,
      recipientFailures: 2,
      windowSamples: 3,
      successRate: 2 / 3,
      lastError: 'HTTP 503',
    });
  });

  it('rejects a window smaller than 1', () => {
    expect(() => new ChannelHealthTracker({ clock: new ManualClock(), windowSize: 0 })).toThrow(RangeError);
  });

  it('withHealthTracking records every send of the wrapped channel', async () => {
    const answers: SendResult[] = [
      { status: 'failed', retryable: true, error: 'down' },
      { status: 'delivered', providerId: 'x' },
    ];
    const fake: NotificationChannel = {
      name: 'push',
      send: async () => answers.shift()!,
      onReceipt: () => () => {},
      close: async () => {},
    };
    const t = new ChannelHealthTracker({ clock: new ManualClock(T0) });
    const tracked = withHealthTracking(fake, t);
    const m = { messageId: '1', to: 'd', subject: 's', body: 'b' };
    expect(await tracked.send(m)).toEqual({ status: 'failed', retryable: true, error: 'down' });
    await tracked.send(m);
    expect(t.health('push')).toMatchObject({ attempts: 2, successes: 1, failures: 1, successRate: 0.5 });
    expect(tracked.name).toBe('push');
  });
});
