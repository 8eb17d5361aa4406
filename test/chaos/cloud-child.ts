/**
 * The real cloud in its own process, for the crash tests: `startCloud` as `cubby cloud` runs it
 * (demo-seeded, SQLite in `CUBBY_CHAOS_DATA`, the embedded MQTT broker, and the notification
 * outbox with its simulators on free ports when this checkout has it). The tests SIGKILL it at
 * random points and start it again on the same data directory and ports.
 *
 * Run with `node --import tsx test/chaos/cloud-child.ts` (not the `tsx` CLI: SIGKILL must reach
 * the cloud itself). Environment: CUBBY_CHAOS_DATA (directory), CUBBY_CHAOS_PORT (HTTP, 0 = any),
 * CUBBY_CHAOS_MQTT_PORT (0 = any), CUBBY_CHAOS_NOTIFY (`0` turns the outbox off). Prints one line
 * `READY {"url":…,"mqttUrl":…,"pid":…,"notify":…}` on stdout when it serves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { combineAttachments, startCloud, type CloudAttachment, type CloudParts } from '../../cloud/main.js';
import { attachMqtt } from '../../cloud/mqtt/attach-mqtt.js';

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const notifyFile = join(root, 'cloud', 'notify', 'outbox', 'notify-system.ts');
const notifyConfigFile = join(root, 'cloud', 'notify', 'outbox', 'notify-config.ts');
const withNotify = process.env.CUBBY_CHAOS_NOTIFY !== '0' && existsSync(notifyFile) && existsSync(notifyConfigFile);

const attachers: Array<(parts: CloudParts) => CloudAttachment | Promise<CloudAttachment>> = [
  (parts) => attachMqtt(parts, { port: Number(env('CUBBY_CHAOS_MQTT_PORT')), username: 'cubby-cloud', secret: 'chaos-cloud-mqtt-secret' }),
];
if (withNotify) {
  const sys = (await import(pathToFileURL(notifyFile).href)) as { attachNotifications(p: CloudParts, c: unknown, r?: unknown): Promise<CloudAttachment> };
  const cfg = (await import(pathToFileURL(notifyConfigFile).href)) as { notifyConfig(i: Record<string, unknown>): unknown };
  const config = cfg.notifyConfig({ sims: true, smsSimPort: 0, smtpSinkPort: 0, contactHoldMs: 0 });
  attachers.push((parts) => sys.attachNotifications(parts, config, { pollMs: 200, smsDeliveryDelayMs: 0 }));
}

const cloud = await startCloud(
  {
    port: Number(env('CUBBY_CHAOS_PORT')),
    host: '127.0.0.1',
    dataDir: env('CUBBY_CHAOS_DATA'),
    demo: true,
    automergeHeapMiB: Number(process.env.CUBBY_CHAOS_HEAP_MB ?? 32),
    bankCache: 64,
  },
  { attach: combineAttachments(...attachers), log: (m) => process.stderr.write(`cloud: ${m}\n`) },
);
// The broker URL, as written into bank-1's provisioning file (the attachment does not expose it).
const provision = JSON.parse(readFileSync(join(env('CUBBY_CHAOS_DATA'), 'provision', 'bank-1.json'), 'utf8')) as { mqttUrl?: string };
process.stdout.write(`READY ${JSON.stringify({ url: cloud.url, mqttUrl: provision.mqttUrl, pid: process.pid, notify: withNotify })}\n`);
