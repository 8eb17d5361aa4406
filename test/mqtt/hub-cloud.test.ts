import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startBroker, type BrokerHandle } from '../../cloud/mqtt/broker.js';
import { createCloudMqtt, type BankPresence, type CloudMqtt } from '../../cloud/mqtt/cloud-mqtt.js';
import { BrokerUnavailable } from '../../cloud/mqtt/bank-command-sender.js';
import { createHubMqtt, type HubMqtt } from '../../edge/mqtt/hub-mqtt.js';
import { UnsafeMessageError } from '../../edge/mqtt/event-guard.js';
import { ManualClock, systemClock } from '../../shared/ports.js';
import { CREDS, endQuietly, rawConnect, sleep, waitFor } from './mqtt-test-kit.js';

/** Hub and cloud client behaviour beyond the shared flow, on the embedded broker. */
describe('hub and cloud MQTT clients', () => {
  let broker: BrokerHandle;
  let verifications: string[];
  const stops: (() => Promise<void>)[] = [];
  const raws: MqttClient[] = [];

  beforeEach(async () => {
    verifications = [];
    broker = await startBroker({
      port: 0,
      cloudUser: CREDS.cloud,
      verifyDevice: async (bankId, secret) => {
        verifications.push(bankId);
        return CREDS.banks[bankId] === secret;
      },
    });
  });
  afterEach(async () => {
    for (const r of raws.splice(0)) await endQuietly(r);
    for (const s of stops.splice(0).reverse()) await s();
    await broker.close();
  });

  const cloudFor = (over: Partial<Parameters<typeof createCloudMqtt>[0]> = {}) => {
    const c = createCloudMqtt({ url: broker.url, username: CREDS.cloud.username, secret: CREDS.cloud.secret, clock: systemClock, ...over });
    c.start();
    stops.push(() => c.stop());
    return c;
  };
  const hubFor = (over: Partial<Parameters<typeof createHubMqtt>[0]> = {}) => {
    const nudges: number[] = [];
    const h = createHubMqtt({
      url: broker.url,
      bankId: 'bank-1',
      secret: CREDS.banks['bank-1']!,
      clock: systemClock,
      reconnectPeriodMs: 50,
      onSyncNudge: () => nudges.push(Date.now()),
      onCommand: () => {},
      ...over,
    });
    h.start();
    stops.push(() => h.stop());
    return { h, nudges };
  };
  const asCloud = async () => {
    const r = await rawConnect(broker.url, CREDS.cloud.username, CREDS.cloud.secret, 'cloud:raw');
    raws.push(r);
    return r;
  };

  it('a stale last will (an older connection of the same hub) does not leave the bank offline', async () => {
    const log: BankPresence[] = [];
    const cloud = cloudFor({ onPresence: (_b, p) => log.push(p) });
    await cloud.waitConnected();
    const { h } = hubFor();
    await h.waitConnected();
    await waitFor(() => !!cloud.presence('bank-1')?.online, 'online');
    const conn = cloud.presence('bank-1')!.conn;

    // What the broker would publish late for a taken-over session.
    const raw = await asCloud();
    await raw.publishAsync('cubby/banks/bank-1/presence', JSON.stringify({ state: 'offline', conn: 'old.1', reason: 'connection_lost' }), { qos: 1, retain: true });
    await sleep(200);
    expect(cloud.presence('bank-1')).toMatchObject({ online: true, conn }); // the cloud ignored it
    expect(log.every((p) => p.online)).toBe(true);

    // And the hub corrected the retained state, so a cloud starting now sees it online.
    const late = cloudFor();
    await late.waitConnected();
    await waitFor(() => late.presence('bank-1')?.online === true, 'retained presence corrected by the hub');
  });

  it('ignores retained, malformed and unknown commands', async () => {
    const raw = await asCloud();
    await raw.publishAsync('cubby/banks/bank-1/cmd', JSON.stringify({ type: 'sync' }), { qos: 1, retain: true });
    const { h, nudges } = hubFor();
    await h.waitConnected();
    await waitFor(() => h.status().ignoredCommands === 1, 'the retained command ignored');
    for (const p of ['not json', '{"type":"reboot"}', '{"type":"open","signed":{"body":1}}']) await raw.publishAsync('cubby/banks/bank-1/cmd', p, { qos: 1 });
    await waitFor(() => h.status().ignoredCommands === 4, 'bad commands ignored');
    expect(nudges).toEqual([]);
    await raw.publishAsync('cubby/banks/bank-1/cmd', '', { qos: 1, retain: true }); // clear the retained message
  });

  it('backs off after refused credentials instead of hammering argon2, and says why', async () => {
    const { h } = hubFor({ secret: 'wrong', authRetryMs: 60_000, reconnectPeriodMs: 20 });
    await waitFor(() => h.status().lastError !== undefined, 'an error');
    await sleep(400);
    expect(h.status()).toMatchObject({ connected: false, connects: 0 });
    expect(['bad_credentials', 'not_authorized']).toContain(h.status().lastError);
    expect(verifications).toHaveLength(1);
    await expect(h.waitConnected(50)).rejects.toThrow(/not connected/);
  });

  it('telemetry reaches the cloud (nine-digit sizes allowed, codes not); lastSeenAt follows the cloud clock', async () => {
    const clock = new ManualClock();
    const got: Record<string, unknown>[] = [];
    const cloud = cloudFor({ clock, onTelemetry: (_b, t) => got.push(t) });
    await cloud.waitConnected();
    const { h } = hubFor();
    await h.waitConnected();
    await waitFor(() => !!cloud.presence('bank-1')?.online, 'online');
    clock.advance(5000);
    expect(await h.publishTelemetry({ ledgerBytes: 104_857_600, free: 7 })).toBe(true);
    await waitFor(() => got.length === 1, 'telemetry');
    expect(got[0]).toEqual({ ledgerBytes: 104_857_600, free: 7 });
    expect(cloud.presence('bank-1')!.lastSeenAt).toBe(clock.now());
    await expect(h.publishTelemetry({ lastCode: '123-456789' })).rejects.toBeInstanceOf(UnsafeMessageError);
  });

  it('the cloud refuses to send while disconnected, and rejects bad bank ids', async () => {
    const cloud = createCloudMqtt({ url: broker.url, username: CREDS.cloud.username, secret: CREDS.cloud.secret, clock: systemClock });
    await expect(cloud.nudge('bank-1')).rejects.toBeInstanceOf(BrokerUnavailable);
    cloud.start();
    stops.push(() => cloud.stop());
    await cloud.waitConnected();
    await expect(cloud.send('bank-1/#', { type: 'sync' })).rejects.toMatchObject({ code: 'invalid_bank_id' });
  });

  it('a hub started while the broker is down connects once it is up', async () => {
    const port = broker.port;
    await broker.close();
    const { h, nudges } = hubFor({ url: `mqtt://127.0.0.1:${port}` });
    await sleep(200);
    expect(h.status().connected).toBe(false);
    broker = await startBroker({ port, cloudUser: CREDS.cloud, verifyDevice: async (b, s) => CREDS.banks[b] === s });
    await h.waitConnected(5000);
    const cloud = cloudFor();
    await cloud.waitConnected();
    await waitFor(() => !!cloud.presence('bank-1')?.online, 'online after the broker came up');
    await cloud.nudge('bank-1');
    await waitFor(() => nudges.length === 1, 'nudge');
  });
});
