import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCloud, type RunningCloud } from '../../../cloud/main.js';
import { signatureHeaders } from '../../../cloud/notify/channels/signature.js';
import { loadNotifyConfig, notifyConfig } from '../../../cloud/notify/outbox/notify-config.js';
import { attachNotifications, NotifySystem } from '../../../cloud/notify/outbox/notify-system.js';
import { startPushReceiverSim, type PushReceiverSim } from '../../../cloud/notify/sim/push-receiver-sim.js';
import { TEST_ARGON2 } from '../../../shared/codes/hasher.js';
import { ManualClock } from '../../../shared/ports.js';
import { hubIssuedCode, PHONE, startSystem, type TestSystem } from '../../e2e/system.js';

/** Configuration and the cloud wiring of the notification subsystem. */
describe('notification wiring', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('reads its configuration from the environment, with the defaults of API.md', () => {
    expect(loadNotifyConfig({})).toMatchObject({ sims: undefined, smsSimPort: 8025, smtpSinkPort: 2525, receiptTimeoutMs: 120_000, contactHoldMs: 600_000, maxAttempts: 5, resendsPerHour: 3 });
    expect(loadNotifyConfig({ CUBBY_NOTIFY_SIMS: '1', CUBBY_SMS_SIM_PORT: '0', CUBBY_CONTACT_HOLD_MS: '0' })).toMatchObject({ sims: true, smsSimPort: 0, contactHoldMs: 0 });
    expect(() => loadNotifyConfig({ CUBBY_SMS_GATEWAY_URL: 'not a url' })).toThrow(/smsGatewayUrl/);
    expect(() => loadNotifyConfig({ CUBBY_NOTIFY_MAX_ATTEMPTS: '0' })).toThrow(/maxAttempts/);
  });

  it('a real gateway needs its webhook secret', async () => {
    const sys = await startSystem();
    cleanup.push(() => sys.close());
    const deps = { store: sys.cloud.store, replicas: sys.cloud.replicas, keys: sys.cloud.keys, clock: sys.clock, random: { bytes: (n: number) => new Uint8Array(n) }, demo: false };
    await expect(NotifySystem.start({ ...deps, config: notifyConfig({ smsGatewayUrl: 'https://sms.example.com' }) })).rejects.toThrow(/CUBBY_SMS_WEBHOOK_SECRET/);
  });

  it('with CUBBY_DEMO=1: simulators on by default, the mailbox at /v1/dev/mail; the SMS hook checks signatures', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cubby-demo-notify-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let system: NotifySystem | undefined;
    const cloud: RunningCloud = await startCloud(
      { port: 0, host: '127.0.0.1', dataDir, demo: true, automergeHeapMiB: 0, bankCache: 8 },
      { clock: new ManualClock(), attach: async (parts) => {
        const a = await attachNotifications(parts, notifyConfig({ smsSimPort: 0, smtpSinkPort: 0 }), { codeHashParams: TEST_ARGON2 });
        system = a.system;
        return a;
      } },
    );
    cleanup.push(() => cloud.close());
    expect(system!.sims.sms).toBeDefined();
    expect(system!.sims.smtp).toBeDefined();
    const mail = await fetch(`${cloud.url}/v1/dev/mail`);
    expect([mail.status, await mail.json()]).toEqual([200, []]);
    const raw = JSON.stringify({ id: 'sms_x', status: 'delivered' });
    const forged = await fetch(`${cloud.url}/v1/hooks/sms`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders('wrong-secret', raw, Date.now()) }, body: raw });
    expect([forged.status, ((await forged.json()) as { error: { code: string } }).error.code]).toEqual([401, 'bad_signature']);
  });

  it('without the demo there is no mailbox endpoint', async () => {
    const sys = await startSystem();
    cleanup.push(() => sys.close());
    expect((await fetch(`${sys.cloud.url}/v1/dev/mail`)).status).toBe(404);
  });

  it('app push, when configured, is a channel of the preferences (signed webhook)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 8)); // the receiver checks signature times with it
    const push: PushReceiverSim = await startPushReceiverSim({ secret: 'push-secret-0123456789', clock });
    cleanup.push(() => push.close());
    const sys: TestSystem = await startSystem({ clock, notify: { pushUrl: push.pushUrl, pushSecret: 'push-secret-0123456789' } });
    cleanup.push(() => sys.close());
    await sys.announce('P-PUSH', { name: 'Ada', phone: PHONE, preferences: ['push', 'sms'] });
    const { code } = hubIssuedCode(sys, 'P-PUSH');
    await sys.until(() => push.inbox().length === 1, 'the push notification');
    expect(push.inbox()[0]).toMatchObject({ to: PHONE, subject: 'Your pickup code for parcel P-PUSH' });
    expect(push.inbox()[0]!.body).toContain(code);
    expect(sys.notify.sims.sms!.inbox()).toEqual([]);
  });
});
