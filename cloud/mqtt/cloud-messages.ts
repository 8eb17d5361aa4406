import { z } from 'zod';

/**
 * What the cloud accepts from hubs over MQTT, parsed at the boundary. The bank a message
 * belongs to comes from its topic, which the broker's ACL binds to the sender's credential;
 * a `bankId` field inside a payload is never trusted.
 */

/** A hub event (`.../events`): a JSON object with at least a type and the hub's time. */
export const hubEventSchema = z.looseObject({
  type: z.string().min(1).max(64),
  at: z.number(),
});
export type HubEventMessage = z.infer<typeof hubEventSchema>;

/** Telemetry (`.../telemetry`): any JSON object. */
export const telemetrySchema = z.record(z.string(), z.unknown());

/** Largest payload the cloud parses; anything bigger is dropped. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** Parse a payload as JSON, or undefined (too large, not JSON). */
export function parsePayload(payload: Buffer): unknown {
  if (payload.length > MAX_PAYLOAD_BYTES) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
