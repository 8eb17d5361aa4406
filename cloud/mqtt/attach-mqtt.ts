import { randomBytes } from 'node:crypto';
import type { CloudAttachment, CloudParts } from '../main.js';
import { startBroker, type BrokerHandle } from './broker.js';
import { createCloudMqtt } from './cloud-mqtt.js';

/** MQTT settings of the cloud, from the environment. */
export interface CloudMqttSettings {
  /** An external broker (Mosquitto, EMQX…): `CUBBY_MQTT_URL`. Absent: the embedded aedes broker. */
  url?: string;
  /** Port of the embedded broker: `CUBBY_MQTT_PORT`, default 1883 (0 picks a free one). */
  port: number;
  /** The cloud's own MQTT user: `CUBBY_MQTT_CLOUD_USER` (default `cubby-cloud`). */
  username: string;
  /**
   * Its password: `CUBBY_MQTT_CLOUD_SECRET`. With the embedded broker a random one is made
   * at each start (nobody else needs it); an external broker must be configured with it.
   */
  secret: string;
}

export function mqttSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): CloudMqttSettings {
  return {
    url: env.CUBBY_MQTT_URL || undefined,
    port: env.CUBBY_MQTT_PORT ? Number(env.CUBBY_MQTT_PORT) : 1883,
    username: env.CUBBY_MQTT_CLOUD_USER || 'cubby-cloud',
    secret: env.CUBBY_MQTT_CLOUD_SECRET || randomBytes(24).toString('base64url'),
  };
}

/**
 * Plug MQTT into the cloud: start the embedded broker (device logins checked against the
 * cloud's argon2id device registry) unless an external one is configured, and connect the
 * cloud's client — the `BankCommandSender` for remote opens and `sync` nudges.
 */
export async function attachMqtt(parts: CloudParts, settings: CloudMqttSettings): Promise<CloudAttachment> {
  let broker: BrokerHandle | undefined;
  let url = settings.url;
  const clustered = parts.config.nodes.length > 1;
  if (!url && clustered) throw new Error('Several cloud nodes need one external MQTT broker: set CUBBY_MQTT_URL (each node would otherwise run its own broker and hubs would be split between them)');
  if (!url) {
    broker = await startBroker({
      port: settings.port,
      host: parts.config.host,
      verifyDevice: (bankId, secret) => parts.store.credentials.verifyDevice(bankId, secret),
      cloudUser: { username: settings.username, secret: settings.secret },
      clock: parts.clock,
    });
    url = broker.url;
  }
  const client = createCloudMqtt({
    url,
    username: settings.username,
    secret: settings.secret,
    clock: parts.clock,
    clientId: clustered ? `cloud:${parts.config.nodeId}:${randomBytes(4).toString('hex')}` : undefined,
    shareGroup: clustered ? 'cubby-cloud' : undefined,
    onPresence: (bankId, p) => parts.log(`mqtt: ${bankId} ${p.online ? 'online' : 'offline'}`),
  });
  client.start();
  parts.log(`MQTT ${broker ? 'broker (embedded)' : 'broker'} at ${url}`);
  return {
    commands: client,
    mqttUrl: url,
    async close() {
      await client.stop();
      await broker?.close();
    },
  };
}
