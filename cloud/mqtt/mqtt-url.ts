import { z } from 'zod';

/**
 * `CUBBY_MQTT_URL`: when set, the cloud uses that broker (Mosquitto, EMQX…) instead of
 * starting the embedded one, and hubs connect to it. `mqtt://`, `mqtts://`, `ws://` or
 * `wss://`; credentials never go in the URL (they are the device secret / cloud user).
 */
export const mqttUrlSchema = z
  .url()
  .refine((u) => /^(mqtts?|wss?):\/\//.test(u), 'an MQTT URL starts with mqtt://, mqtts://, ws:// or wss://')
  .refine((u) => {
    const parsed = new URL(u);
    return !parsed.username && !parsed.password;
  }, 'put no credentials in the MQTT URL');

/** The external broker URL from the environment, validated; undefined means "embedded broker". */
export function externalMqttUrl(env: Record<string, string | undefined>): string | undefined {
  const raw = env.CUBBY_MQTT_URL?.trim();
  return raw ? mqttUrlSchema.parse(raw) : undefined;
}
