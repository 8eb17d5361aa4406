/**
 * The cloud of the `load` bench, in its own process so its memory can be measured alone:
 * `startCloud` with the embedded MQTT broker, as `cubby cloud` runs it (default Automerge heap
 * reserve and bank cache), on a data directory the bench provisioned beforehand. No demo seed,
 * no notification outbox (the bench's hubs do not seal codes, so it would have nothing to send).
 *
 * Run with `node --import tsx test/bench/_load-cloud.ts`. Environment: CUBBY_LOAD_DATA,
 * CUBBY_LOAD_MQTT_PORT (0 = any). Prints `READY {"url":…,"mqttUrl":…,"pid":…}`.
 */
import { combineAttachments, startCloud, cloudConfigSchema } from '../../cloud/main.js';
import { attachMqtt } from '../../cloud/mqtt/attach-mqtt.js';

let mqttUrl = '';
const config = cloudConfigSchema.parse({ port: 0, dataDir: process.env.CUBBY_LOAD_DATA });
const cloud = await startCloud(config, {
  attach: combineAttachments(async (parts) => {
    const a = await attachMqtt(parts, { port: Number(process.env.CUBBY_LOAD_MQTT_PORT ?? 0), username: 'cubby-cloud', secret: 'load-bench-cloud-secret' });
    mqttUrl = a.mqttUrl ?? '';
    return a;
  }),
  log: (m) => process.stderr.write(`cloud: ${m}\n`),
});
process.stdout.write(`READY ${JSON.stringify({ url: cloud.url, mqttUrl, pid: process.pid })}\n`);
