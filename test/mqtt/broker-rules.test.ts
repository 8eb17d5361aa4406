import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startBroker, type BrokerHandle } from '../../cloud/mqtt/broker.js';
import { ManualClock } from '../../shared/ports.js';
import { CREDS, endQuietly, rawConnect, recordMessages, sleep, trySubscribe, waitFor } from './mqtt-test-kit.js';

/** The embedded broker's rules, one by one (the shared flow covers what Mosquitto also does). */
describe('embedded broker: authentication and ACL', () => {
  let broker: BrokerHandle | undefined;
  const clients: MqttClient[] = [];
  let calls: string[] = [];

  const start = async (verify?: (bankId: string, secret: string) => Promise<boolean>, clock = new ManualClock()) => {
    calls = [];
    broker = await startBroker({
      port: 0,
      cloudUser: CREDS.cloud,
      clock,
      authCache: { ttlMs: 60_000 },
      verifyDevice:
        verify ??
        (async (bankId, secret) => {
          calls.push(bankId);
          await sleep(20); // stands in for argon2
          return CREDS.banks[bankId] === secret;
        }),
    });
    return broker;
  };
  const bank = async (bankId: string, clientId = `hub:${bankId}`, extra = {}) => {
    const c = await rawConnect(broker!.url, bankId, CREDS.banks[bankId]!, clientId, extra);
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const cloudClient = async () => {
    const c = await rawConnect(broker!.url, CREDS.cloud.username, CREDS.cloud.secret, 'cloud:test');
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) await endQuietly(c);
    await broker?.close();
    broker = undefined;
  });

  it('refuses subscriptions that escape the bank subtree with SUBACK 0x80, keeping the connection', async () => {
    await start();
    const c = await bank('bank-1');
    for (const f of ['#', '+/#', 'cubby/#', 'cubby/banks/#', 'cubby/banks/+/presence', 'cubby/banks/+/+', 'cubby/banks/bank-2/#', 'cubby/banks/bank-1', '$share/g/cubby/banks/bank-1/#', '$SYS/#']) {
      expect(await trySubscribe(c, f), f).toBe(false);
    }
    for (const f of ['cubby/banks/bank-1/#', 'cubby/banks/bank-1/+', 'cubby/banks/bank-1/cmd', 'cubby/banks/bank-1/presence']) {
      expect(await trySubscribe(c, f), f).toBe(true);
    }
    expect(c.connected).toBe(true);
  });

  it('closes the connection of a bank that publishes outside its subtree or on its own cmd', async () => {
    await start();
    const watcher = await cloudClient();
    const seen = recordMessages(watcher);
    await watcher.subscribeAsync('#');
    for (const topic of ['cubby/banks/bank-2/events', 'cubby/banks/bank-1/cmd', 'cubby/banks/bank-1/cmd/x', 'cubby/other', '$SYS/x']) {
      const c = await bank('bank-1', `hub:bank-1:${clients.length}`);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      c.publish(topic, '{}', { qos: 1 });
      await closed;
    }
    const ok = await bank('bank-1', 'hub:bank-1:ok');
    await ok.publishAsync('cubby/banks/bank-1/events', '{"type":"t","at":1}', { qos: 1 });
    await waitFor(() => seen.length === 1, 'the allowed event');
    expect(seen).toEqual(['cubby/banks/bank-1/events {"type":"t","at":1}']);
    expect(ok.connected).toBe(true);
  });

  it('binds the client id to the credential (no session takeover of another bank or the cloud)', async () => {
    await start();
    await expect(bank('bank-1', 'bank-1')).rejects.toThrow(/refused/i);
    await expect(bank('bank-1', 'hub:bank-10')).rejects.toThrow(/refused/i);
    await expect(bank('bank-1', 'cloud:test')).rejects.toThrow(/refused/i);
    await expect(bank('bank-1', 'hub:bank-1:tool')).resolves.toBeDefined();
  });

  it("refuses at CONNECT a last will the bank could not publish itself", async () => {
    await start();
    const will = (topic: string) => ({ will: { topic, payload: Buffer.from('{}'), qos: 1 as const, retain: true } });
    await expect(bank('bank-1', 'hub:bank-1', will('cubby/banks/bank-2/presence'))).rejects.toThrow(/refused/i);
    await expect(bank('bank-1', 'hub:bank-1', will('cubby/banks/bank-1/cmd'))).rejects.toThrow(/refused/i);
    await expect(bank('bank-1', 'hub:bank-1', will('cubby/banks/bank-1/presence'))).resolves.toBeDefined();
  });

  it('refuses usernames that are not bank ids without asking verifyDevice', async () => {
    await start();
    for (const u of ['+', '#', 'bank-1/x', 'cubby/banks/+', '']) {
      await expect(rawConnect(broker!.url, u, 'x', `hub:${u}`)).rejects.toThrow();
    }
    expect(calls).toEqual([]);
  });

  it('caches successful verifications (one verify for a reconnect storm), never failures, and forgets on request', async () => {
    const clock = new ManualClock();
    await start(undefined, clock);
    // 8 simultaneous connects with the same credential: one verification.
    await Promise.all(Array.from({ length: 8 }, (_, i) => bank('bank-1', `hub:bank-1:${i}`)));
    await bank('bank-1', 'hub:bank-1:late');
    expect(calls).toEqual(['bank-1']);

    // Wrong secrets are checked every time.
    await expect(rawConnect(broker!.url, 'bank-1', 'guess-1', 'hub:bank-1:g')).rejects.toThrow();
    await expect(rawConnect(broker!.url, 'bank-1', 'guess-1', 'hub:bank-1:g')).rejects.toThrow();
    expect(calls).toHaveLength(3);

    clock.advance(60_001); // TTL passed
    await bank('bank-1', 'hub:bank-1:after-ttl');
    expect(calls).toHaveLength(4);
    broker!.forgetDevice('bank-1'); // e.g. the secret was rotated
    await bank('bank-1', 'hub:bank-1:after-forget');
    expect(calls).toHaveLength(5);
    expect(broker!.stats()).toMatchObject({ verifications: 5, cacheHits: 8 });
  });

  it('answers "server unavailable" when the credential check itself fails', async () => {
    await start(async () => {
      throw new Error('registry down');
    });
    const err = await rawConnect(broker!.url, 'bank-1', 'whatever', 'hub:bank-1').catch((e: { code?: number }) => e);
    expect(err).toMatchObject({ code: 3 });
  });
});
