import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createCloudMqtt, type BankPresence, type CloudMqtt } from '../../cloud/mqtt/cloud-mqtt.js';
import type { HubEventMessage } from '../../cloud/mqtt/cloud-messages.js';
import { createHubMqtt, type HubMqtt } from '../../edge/mqtt/hub-mqtt.js';
import type { OpenCommand } from '../../edge/mqtt/hub-messages.js';
import { UnsafeMessageError } from '../../edge/mqtt/event-guard.js';
import { generateSigningKeyPair, signCommand } from '../../shared/crypto/signed-command.js';
import { systemClock } from '../../shared/ports.js';
import { CREDS, endQuietly, rawConnect, recordMessages, sleep, trySubscribe, waitFor } from './mqtt-test-kit.js';

/** A broker under test: where it listens and how to stop it. */
export interface BrokerUnderTest {
  url: string;
  close(): Promise<void>;
}

interface HubProbe {
  hub: HubMqtt;
  nudgesAt: number[];
  commands: OpenCommand[];
}

/**
 * The presence / last will / nudge / command / ACL flow every broker must pass, run against
 * the embedded aedes broker and a real Mosquitto. Assertions hold for both: a forbidden
 * publish is never delivered (aedes closes the connection, Mosquitto drops it), a
 * forbidden subscription never delivers another bank's messages (aedes refuses it with
 * 0x80, Mosquitto filters at delivery).
 */
export function describeBrokerContract(name: string, start: () => Promise<BrokerUnderTest>): void {
  describe(`MQTT flow against ${name}`, () => {
    let broker: BrokerUnderTest;
    let cloud: CloudMqtt;
    const presence: { bankId: string; p: BankPresence }[] = [];
    const events: { bankId: string; e: HubEventMessage }[] = [];
    const hubs: Record<string, HubProbe> = {};
    const extra: MqttClient[] = [];

    const startHub = async (bankId: string): Promise<HubProbe> => {
      const probe: HubProbe = { nudgesAt: [], commands: [], hub: undefined as unknown as HubMqtt };
      probe.hub = createHubMqtt({
        url: broker.url,
        bankId,
        secret: CREDS.banks[bankId]!,
        clock: systemClock,
        reconnectPeriodMs: 100,
        onSyncNudge: () => probe.nudgesAt.push(performance.now()),
        onCommand: (cmd) => void probe.commands.push(cmd),
      });
      probe.hub.start();
      await probe.hub.waitConnected(5000);
      return probe;
    };
    const intruder = async (suffix: string) => {
      const c = await rawConnect(broker.url, 'bank-1', CREDS.banks['bank-1']!, `hub:bank-1:${suffix}`);
      extra.push(c);
      return c;
    };
    const bank1Presence = () => presence.filter((x) => x.bankId === 'bank-1').map((x) => x.p);

    beforeAll(async () => {
      broker = await start();
      cloud = createCloudMqtt({
        url: broker.url,
        username: CREDS.cloud.username,
        secret: CREDS.cloud.secret,
        clock: systemClock,
        onPresence: (bankId, p) => presence.push({ bankId, p }),
        onEvent: (bankId, e) => events.push({ bankId, e }),
      });
      cloud.start();
      await cloud.waitConnected(5000);
      hubs['bank-1'] = await startHub('bank-1');
      hubs['bank-2'] = await startHub('bank-2');
    });

    afterAll(async () => {
      for (const c of extra) await endQuietly(c);
      for (const h of Object.values(hubs)) await h.hub.stop();
      await cloud?.stop();
      await broker?.close();
    });

    it('the cloud sees both hubs online; a later cloud client learns it from the retained presence', async () => {
      await waitFor(() => !!cloud.presence('bank-1')?.online && !!cloud.presence('bank-2')?.online, 'both banks online');
      const late = createCloudMqtt({ url: broker.url, username: CREDS.cloud.username, secret: CREDS.cloud.secret, clock: systemClock });
      late.start();
      try {
        await late.waitConnected(5000);
        await waitFor(() => !!late.presence('bank-1')?.online, 'retained presence at a late subscriber');
      } finally {
        await late.stop();
      }
    });

    it('a nudge from the cloud reaches the hub well under a second (measured)', async () => {
      const h = hubs['bank-1']!;
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const before = h.nudgesAt.length;
        const t0 = performance.now();
        await cloud.nudge('bank-1');
        await waitFor(() => h.nudgesAt.length > before, 'nudge at the hub', 2000);
        latencies.push(h.nudgesAt[before]! - t0);
      }
      latencies.sort((a, b) => a - b);
      console.log(`[${name}] nudge latency over 10: median ${latencies[5]!.toFixed(2)} ms, max ${latencies[9]!.toFixed(2)} ms`);
      expect(hubs['bank-2']!.nudgesAt).toHaveLength(0); // a nudge goes to its bank only
    });

    it('a signed open command round-trips to the hub unchanged', async () => {
      const key = generateSigningKeyPair();
      const now = Date.now();
      const signed = signCommand(
        { type: 'open', bankId: 'bank-1', compartment: 7, reason: 'test', requestedBy: 'support-1', nonce: 'nonce-0123456789abcdef', issuedAt: now, expiresAt: now + 60_000 },
        key.privateKey,
      );
      await cloud.send('bank-1', { type: 'open', signed });
      await waitFor(() => hubs['bank-1']!.commands.length === 1, 'open command at the hub');
      expect(hubs['bank-1']!.commands[0]).toEqual({ type: 'open', signed });
    });

    it('events reach the cloud under their bank; an event carrying a code is refused before it leaves', async () => {
      const at = Date.now();
      expect(await hubs['bank-2']!.hub.publishEvent({ type: 'door_opened', at, compartment: 3 })).toBe(true);
      await waitFor(() => events.some((x) => x.bankId === 'bank-2' && x.e.type === 'door_opened'), 'event at the cloud');
      await expect(hubs['bank-2']!.hub.publishEvent({ type: 'pickup', at, note: 'code 123-456789' })).rejects.toBeInstanceOf(UnsafeMessageError);
      await expect(hubs['bank-2']!.hub.publishEvent({ type: 'pickup', at, code: 'x' })).rejects.toBeInstanceOf(UnsafeMessageError);
      await sleep(100);
      expect(events.filter((x) => x.e.type === 'pickup')).toHaveLength(0);
    });

    it('a wrong password or an unknown bank is refused', async () => {
      await expect(rawConnect(broker.url, 'bank-1', 'wrong-secret', 'hub:bank-1:w')).rejects.toThrow(/refused/i);
      await expect(rawConnect(broker.url, 'bank-9', 'bank-9-device-secret', 'hub:bank-9')).rejects.toThrow(/refused/i);
      await expect(rawConnect(broker.url, CREDS.cloud.username, 'nope', 'cloud:w')).rejects.toThrow(/refused/i);
    });

    it("bank-1 cannot publish on bank-2's topics", async () => {
      const before = cloud.presence('bank-2');
      const c = await intruder('pub-other');
      c.on('error', () => {});
      c.publish('cubby/banks/bank-2/events', JSON.stringify({ type: 'forged', at: Date.now() }), { qos: 0 });
      const c2 = await intruder('pub-other-presence');
      c2.on('error', () => {});
      c2.publish('cubby/banks/bank-2/presence', JSON.stringify({ state: 'offline', conn: 'forged' }), { qos: 0, retain: true });
      await sleep(300);
      expect(events.filter((x) => x.e.type === 'forged')).toHaveLength(0);
      expect(cloud.presence('bank-2')).toEqual(before);
    });

    it('a bank cannot send itself commands (only the cloud publishes on .../cmd)', async () => {
      const h = hubs['bank-1']!;
      const nudges = h.nudgesAt.length;
      const c = await intruder('pub-cmd');
      c.on('error', () => {});
      c.publish('cubby/banks/bank-1/cmd', JSON.stringify({ type: 'sync' }), { qos: 0 });
      await sleep(300);
      expect(h.nudgesAt.length).toBe(nudges);
    });

    it('wildcard subscriptions never deliver another bank’s messages; its own subtree works', async () => {
      const c = await intruder('sub');
      const got = recordMessages(c);
      for (const f of ['#', 'cubby/#', 'cubby/banks/+/cmd', 'cubby/banks/+/events', 'cubby/+/bank-2/#']) await trySubscribe(c, f);
      expect(await trySubscribe(c, 'cubby/banks/bank-1/#')).toBe(true);
      const n2 = hubs['bank-2']!.nudgesAt.length;
      await cloud.nudge('bank-2');
      await hubs['bank-2']!.hub.publishEvent({ type: 'door_closed', at: Date.now(), compartment: 1 });
      await cloud.nudge('bank-1');
      await waitFor(() => got.some((l) => l.startsWith('cubby/banks/bank-1/cmd')), 'own command at the bank-1 subscriber');
      await waitFor(() => hubs['bank-2']!.nudgesAt.length > n2, 'bank-2 nudge delivered to bank-2');
      await sleep(100);
      expect(got.filter((l) => !l.startsWith('cubby/banks/bank-1/'))).toEqual([]);
    });

    it("killing the hub's socket makes the broker publish the last will; the hub reconnects by itself", async () => {
      const h = hubs['bank-1']!;
      const firstConn = cloud.presence('bank-1')!.conn;
      const seen = bank1Presence().length;
      (h.hub.client()!.stream as { destroy(): void }).destroy();
      await waitFor(() => bank1Presence().slice(seen).some((p) => !p.online), 'offline (last will) at the cloud');
      await waitFor(() => !!cloud.presence('bank-1')?.online && cloud.presence('bank-1')!.conn !== firstConn, 'online again with a new connection');
      expect(h.hub.status().connects).toBeGreaterThanOrEqual(2);
      // The reconnected hub still gets nudges.
      const n = h.nudgesAt.length;
      await cloud.nudge('bank-1');
      await waitFor(() => h.nudgesAt.length > n, 'nudge after reconnect');
    });

    it('stop() publishes offline presence before disconnecting', async () => {
      await hubs['bank-2']!.hub.stop();
      await waitFor(() => cloud.presence('bank-2')?.online === false, 'bank-2 offline');
      expect(hubs['bank-2']!.hub.status().connected).toBe(false);
      expect(await hubs['bank-2']!.hub.publishEvent({ type: 'door_opened', at: Date.now() })).toBe(false);
    });
  });
}
