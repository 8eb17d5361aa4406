/**
 * The cloud of the `load` bench, in its own process so its memory and CPU can be measured alone.
 *
 * Default: `startCloud` with the embedded MQTT broker, as `cubby cloud` runs it (default Automerge
 * heap reserve and bank cache), on a data directory the bench provisioned beforehand
 * (CUBBY_LOAD_DATA, CUBBY_LOAD_MQTT_PORT: 0 = any).
 *
 * `CUBBY_LOAD_CLUSTER=1` (`load --nodes N`): one cloud node configured from the environment
 * exactly as `cubby cloud` is — `CUBBY_DATABASE_URL`, `CUBBY_NODE_ID`, `CUBBY_CLOUD_NODES`,
 * `CUBBY_CLOUD_PORT`, `CUBBY_DATA_DIR`, and the external broker `CUBBY_MQTT_URL` with the cloud's
 * login `CUBBY_MQTT_CLOUD_SECRET`.
 *
 * No demo seed, no notification outbox (the bench's hubs do not seal codes, so it would have
 * nothing to send). Run with `node --import tsx test/bench/_load-cloud.ts`. Prints
 * `READY {"url":…,"mqttUrl":…,"pid":…}`.
 */
import './_v8-flags.js'; // first: Automerge's wasm optimized up front, as in a long-running cloud
import { combineAttachments, loadCloudConfig, startCloud, cloudConfigSchema } from '../../cloud/main.js';
import { attachMqtt, mqttSettingsFromEnv } from '../../cloud/mqtt/attach-mqtt.js';

const clustered = process.env.CUBBY_LOAD_CLUSTER === '1';
let mqttUrl = '';
const config = clustered ? loadCloudConfig() : cloudConfigSchema.parse({ port: 0, dataDir: process.env.CUBBY_LOAD_DATA });
const settings = clustered ? mqttSettingsFromEnv() : { port: Number(process.env.CUBBY_LOAD_MQTT_PORT ?? 0), username: 'cubby-cloud', secret: 'load-bench-cloud-secret' };
const cloud = await startCloud(config, {
  attach: combineAttachments(async (parts) => {
    const a = await attachMqtt(parts, settings);
    mqttUrl = a.mqttUrl ?? '';
    return a;
  }),
  log: (m) => process.stderr.write(`cloud: ${m}\n`),
});
// `load --profile=<dir>`: the bench sends SIGUSR2 when its measured window starts and again when
// it ends; the CPU profile of that window is written to <dir>/<node>.cpuprofile.
const profileDir = process.env.CUBBY_LOAD_PROFILE_DIR;
if (profileDir) {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  let profiling = false;
  process.on('SIGUSR2', () => {
    profiling = !profiling;
    if (profiling) void session.post('Profiler.start');
    else
      void session.post('Profiler.stop').then(({ profile }) => {
        writeFileSync(`${profileDir}/${config.nodeId}.cpuprofile`, JSON.stringify(profile));
        process.stderr.write(`cloud: profile written to ${profileDir}/${config.nodeId}.cpuprofile\n`);
      });
  });
}
// Statements per SQL text over the measured window (the same SIGUSR2 pair), with PostgreSQL.
{
  const { PgSyncDb } = await import('../../adapters/postgres/pg-sync-db.js');
  const { appendFileSync } = await import('node:fs');
  const db = cloud.store.db;
  if (db instanceof PgSyncDb && process.env.CUBBY_LOAD_SQL_STATS) {
    let before: Map<string, number> | undefined;
    process.on('SIGUSR2', () => {
      if (!before) {
        before = new Map(db.statements);
        return;
      }
      const rows = [...db.statements].map(([sql, n]) => [n - (before!.get(sql) ?? 0), sql] as const).filter(([n]) => n > 0).sort((a, b) => b[0] - a[0]);
      const total = rows.reduce((s, [n]) => s + n, 0);
      appendFileSync(process.env.CUBBY_LOAD_SQL_STATS!, `${config.nodeId} (${config.nodes.length || 1} node(s)): ${total} statements\n${rows.slice(0, 15).map(([n, sql]) => `  ${String(n).padStart(6)} ${sql.replace(/\s+/g, ' ').slice(0, 160)}`).join('\n')}\n`);
      before = undefined;
    });
  }
}
process.stdout.write(`READY ${JSON.stringify({ url: cloud.url, mqttUrl, pid: process.pid, node: config.nodeId })}\n`);
const stop = () => void cloud.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
