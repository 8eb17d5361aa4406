/**
 * One cloud node of the three-node test (test/chaos/cloud-cluster.test.ts), in its own process
 * so the test can SIGKILL it: `startCloud` configured from the environment exactly as
 * `cubby cloud` is (`CUBBY_DATABASE_URL`, `CUBBY_NODE_ID`, `CUBBY_CLOUD_NODES`, `CUBBY_MQTT_URL`,
 * `CUBBY_CLOUD_PORT`, `CUBBY_DATA_DIR`), with the external MQTT broker and the notification
 * outbox sending through the test's SMS gateway (`CUBBY_SMS_GATEWAY_URL`, `CUBBY_SMS_WEBHOOK_SECRET`).
 * Prints `READY {"url":…,"pid":…}` when it serves.
 *
 * Run with `node --import tsx test/chaos/cluster-node-child.ts` (SIGKILL must reach the node itself).
 */
import { combineAttachments, loadCloudConfig, startCloud } from '../../cloud/main.js';
import { attachMqtt, mqttSettingsFromEnv } from '../../cloud/mqtt/attach-mqtt.js';
import { loadNotifyConfig } from '../../cloud/notify/outbox/notify-config.js';
import { attachNotifications } from '../../cloud/notify/outbox/notify-system.js';

const config = loadCloudConfig();
const notify = loadNotifyConfig(process.env);
const node = config.nodeId;
const cloud = await startCloud(config, {
  log: (m) => process.stderr.write(`[${node}] ${m}\n`),
  attach: combineAttachments(
    (parts) => attachMqtt(parts, mqttSettingsFromEnv()),
    (parts) => attachNotifications(parts, notify, { pollMs: 100, reclaimAfterMs: Number(process.env.CUBBY_TEST_RECLAIM_MS ?? 3000) }),
  ),
});
process.stdout.write(`READY ${JSON.stringify({ url: cloud.url, pid: process.pid })}\n`);
const stop = () => void cloud.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
