/**
 * "Proof under fire", cloud part (MQTT): a client holding bank-1's real device credential, on
 * the cloud's embedded broker (`startCloud` + `attachMqtt`, as `cubby cloud` runs it), sends
 * hand-written MQTT packets: PUBLISH to every kind of topic (its own, another bank's, `cmd`,
 * wildcards, `$SYS`, NUL, invalid UTF-8, huge) with junk and look-alike payloads (commands,
 * presence, events), QoS 0-3, retained or not; SUBSCRIBE to filters outside its subtree
 * (`#`, `+`, other banks, `$share/…`, wrong reserved flags); and plain garbage bytes, lengths
 * that lie, a second CONNECT.
 *
 * After every script: bank-2's hub received no command and no nudge it was not sent; the
 * cloud still sees bank-2 online on the same connection; nothing outside bank-1's subtree was
 * delivered to the intruder; no document of either bank changed. At the end the broker still
 * serves: a nudge reaches bank-2, bank-2's events reach the cloud, bank-1's real hub connects.
 *
 * `CUBBY_FUZZ_SEED=<n>`, `CUBBY_CLOUD_FUZZ_RUNS=<runs>` (test/chaos/README.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { combineAttachments, startCloud, type RunningCloud } from '../../cloud/main.js';
import { attachMqtt } from '../../cloud/mqtt/attach-mqtt.js';
import type { CloudMqtt } from '../../cloud/mqtt/cloud-mqtt.js';
import { createHubMqtt, type HubMqtt } from '../../edge/mqtt/hub-mqtt.js';
import { systemClock } from '../../shared/ports.js';
import { waitFor } from '../mqtt/mqtt-test-kit.js';
import { weirdString } from './arbitraries.js';
import { publishPacket, RawMqtt, str, subscribePacket, packet } from './cloud-mqtt-packets.js';

const SEED = Number(process.env.CUBBY_FUZZ_SEED ?? 20260611);
const RUNS = Math.max(10, Math.round(Number(process.env.CUBBY_CLOUD_FUZZ_RUNS ?? 100) / 2));
const SECRETS: Record<string, string> = { 'bank-1': 'bank-1-device-secret', 'bank-2': 'bank-2-device-secret' };

let dir: string;
let cloud: RunningCloud;
let cloudMqtt: CloudMqtt;
let brokerPort: number;
let bank2: HubMqtt;
const bank2Got = { nudges: 0, commands: 0 };
let nudgesSent = 0;
const tally = new Map<string, number>();
const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cubby-mqtt-fuzz-'));
  cloud = await startCloud(
    { port: 0, host: '127.0.0.1', dataDir: dir, demo: true, automergeHeapMiB: 0, bankCache: 8 },
    {
      attach: combineAttachments(async (parts) => {
        const a = await attachMqtt(parts, { port: 0, username: 'cubby-cloud', secret: 'cloud-secret-for-the-fuzz' });
        cloudMqtt = a.commands as CloudMqtt;
        brokerPort = Number(new URL(a.mqttUrl!).port);
        return a;
      }),
    },
  );
  await cloudMqtt.waitConnected(10_000);
  bank2 = createHubMqtt({
    url: `mqtt://127.0.0.1:${brokerPort}`,
    bankId: 'bank-2',
    secret: SECRETS['bank-2']!,
    clock: systemClock,
    reconnectPeriodMs: 100,
    onSyncNudge: () => void bank2Got.nudges++,
    onCommand: () => void bank2Got.commands++,
  });
  bank2.start();
  await bank2.waitConnected(10_000);
  await waitFor(() => cloudMqtt.presence('bank-2')?.online === true, 'bank-2 online at the cloud', 10_000);
}, 60_000);

afterAll(async () => {
  console.log(`cloud mqtt fuzz: seed ${SEED}: ${[...tally].sort().map(([k, n]) => `${k}×${n}`).join(', ')}`);
  await bank2?.stop();
  await cloud?.close();
  rmSync(dir, { recursive: true, force: true });
});

function docsSnapshot(): string {
  const out: Record<string, string[]> = {};
  for (const bankId of ['bank-1', 'bank-2']) {
    const docs = cloud.replicas.get(bankId).docs;
    for (const id of [...docs.ids()].sort()) out[`${bankId}/${id}`] = [...A.getHeads(docs.get(id)!)].sort();
  }
  return JSON.stringify(out);
}

// ---- what the intruder sends --------------------------------------------------------------

const topic: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.constantFrom(
    'cubby/banks/bank-1/presence', 'cubby/banks/bank-1/events', 'cubby/banks/bank-1/telemetry', 'cubby/banks/bank-1/x/y',
    'cubby/banks/bank-1/cmd', 'cubby/banks/bank-1/cmd/x', 'cubby/banks/bank-2/cmd', 'cubby/banks/bank-2/presence', 'cubby/banks/bank-2/events',
    'cubby/banks/+/cmd', 'cubby/banks/#', '#', '+', 'cubby/banks/bank-1/#', 'cubby/banks/bank-1/+', '$SYS/broker/x', '$share/g/cubby/banks/bank-2/cmd',
    '', '/', 'cubby/banks/bank-1', 'cubby/banks/bank-1/', 'cubby/banks/bank-1/\u0000', 'cubby//banks', 'cubby/banks/bank-2/../bank-1/events',
  ),
  weirdString,
  fc.uint8Array({ maxLength: 40 }),
  fc.integer({ min: 1000, max: 70_000 }).map((n) => 'cubby/banks/bank-1/' + 'x'.repeat(n)),
);

const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 100 }),
  fc.constantFrom(
    '{"type":"sync"}', '{"type":"open","signed":{"body":"x","sig":"y"}}', '{"state":"offline","conn":"x","reason":"connection_lost"}',
    '{"state":"online","at":1,"conn":"evil"}', '{"type":"pickup","at":1,"compartment":1,"parcelId":"P-1"}', '{"code":"123-456789"}', 'null', '', '{',
    '{"__proto__":{"polluted":1}}', '[[[[[[[[[[]]]]]]]]]]',
  ).map((s) => new Uint8Array(Buffer.from(s))),
  weirdString.map((s) => new Uint8Array(Buffer.from(s))),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) => new Uint8Array(n).fill(0x7b)),
);

type Act =
  | { t: 'publish'; topic: string | Uint8Array; payload: Uint8Array; qos: number; retain: boolean; dup: boolean }
  | { t: 'subscribe'; filters: { filter: string | Uint8Array; qos: number }[]; badFlags: boolean }
  | { t: 'garbage'; bytes: Uint8Array }
  | { t: 'lyingLength'; extra: number }
  | { t: 'reconnect' }
  | { t: 'unsubscribe'; filter: string | Uint8Array };

const act: fc.Arbitrary<Act> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('publish' as const), topic, payload, qos: fc.constantFrom(0, 1, 1, 2, 3), retain: fc.boolean(), dup: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('subscribe' as const), filters: fc.array(fc.record({ filter: topic, qos: fc.constantFrom(0, 1, 2, 3, 0x80) }), { minLength: 0, maxLength: 3 }), badFlags: fc.boolean() }) },
  fc.record({ t: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ t: fc.constant('lyingLength' as const), extra: fc.integer({ min: -10, max: 1000 }) }),
  fc.constant<Act>({ t: 'reconnect' }),
  fc.record({ t: fc.constant('unsubscribe' as const), filter: topic }),
);

function encode(a: Act): Uint8Array {
  switch (a.t) {
    case 'publish':
      return publishPacket(a);
    case 'subscribe':
      return subscribePacket({ filters: a.filters, first: a.badFlags ? 0x80 : 0x82 });
    case 'garbage':
      return a.bytes;
    case 'lyingLength': {
      const p = publishPacket({ topic: 'cubby/banks/bank-1/events', payload: Buffer.from('{"type":"x"}'), qos: 0, retain: false });
      // Rewrite the remaining length byte so it disagrees with what follows.
      const out = Buffer.from(p);
      out[1] = Math.max(0, Math.min(127, out[1]! + a.extra));
      return out;
    }
    case 'unsubscribe':
      return packet(0xa2, Buffer.concat([Buffer.from([0, 7]), str(a.filter)]));
    case 'reconnect':
      return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 30]), str('hub:bank-1:again'), str('bank-1'), str(SECRETS['bank-1']!)]));
  }
}

let intruders = 0;
const intruder = () => RawMqtt.open(brokerPort, { clientId: `hub:bank-1:fuzz-${intruders++}`, username: 'bank-1', password: SECRETS['bank-1']! });

describe('the cloud broker under a hostile bank client', () => {
  test('garbage publishes and subscribes are refused; others are untouched and still served', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(act, { minLength: 1, maxLength: 5 }), async (script) => {
        const before = docsSnapshot();
        const conn = cloudMqtt.presence('bank-2')?.conn;
        let c = await intruder();
        const all: RawMqtt[] = [c];
        for (const a of script) {
          if (c.inbound.closed) {
            c = await intruder();
            all.push(c);
          }
          c.write(encode(a));
          await c.until(() => c.inbound.closed, 15);
          count(`${a.t}${a.t === 'publish' || a.t === 'subscribe' ? '' : ''} -> ${c.inbound.closed ? 'closed' : 'open'}`);
        }
        // Whatever the intruder subscribed to, bank-2's traffic must not reach it.
        await bank2.publishEvent({ type: 'fuzz_probe', at: Date.now() });
        await cloudMqtt.nudge('bank-2');
        nudgesSent++;
        await waitFor(() => bank2Got.nudges === nudgesSent, 'the probe nudge at bank-2', 5000);
        await new Promise((r) => setTimeout(r, 20));
        for (const x of all) {
          const leaked = x.inbound.published.filter((t) => !t.startsWith('cubby/banks/bank-1/'));
          expect(leaked, `delivered to the intruder after ${JSON.stringify(script.map((s) => s.t))}`).toEqual([]);
          for (const codes of x.inbound.subacks) count(`suback ${codes.map((q) => (q === 0x80 ? 'refused' : `qos${q}`)).join(',') || 'empty'}`);
          x.close();
        }
        expect(bank2Got.commands).toBe(0);
        expect(bank2.status().ignoredCommands).toBe(0);
        expect(cloudMqtt.presence('bank-2')).toMatchObject({ online: true, conn });
        expect(bank2.status().connected).toBe(true);
        expect(docsSnapshot()).toBe(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );

    // Still serving: bank-2's events reach the cloud, bank-1's real hub connects and is seen online.
    const seen = cloudMqtt.presence('bank-2')!.lastSeenAt!;
    await new Promise((r) => setTimeout(r, 5));
    expect(await bank2.publishEvent({ type: 'after_fuzz', at: Date.now() })).toBe(true);
    await waitFor(() => (cloudMqtt.presence('bank-2')?.lastSeenAt ?? 0) > seen, 'bank-2 event at the cloud');
    const bank1 = createHubMqtt({ url: `mqtt://127.0.0.1:${brokerPort}`, bankId: 'bank-1', secret: SECRETS['bank-1']!, clock: systemClock, reconnectPeriodMs: 100, onSyncNudge: () => {}, onCommand: () => {} });
    bank1.start();
    try {
      await bank1.waitConnected(10_000);
      await waitFor(() => cloudMqtt.presence('bank-1')?.online === true, 'bank-1 online at the cloud', 10_000);
    } finally {
      await bank1.stop();
    }
    expect(cloudMqtt.status().connected).toBe(true);
  });
});
