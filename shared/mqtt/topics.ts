import { z } from 'zod';
import { bankIdSchema, type BankId } from '../ids.js';

/**
 * The MQTT topic scheme of API.md ("MQTT topics") and the presence message, written once for
 * both ends — the hub (edge/mqtt) and the cloud (cloud/mqtt) — and for the broker's ACL
 * (cloud/mqtt/bank-acl.ts, the Mosquitto ACL file).
 *
 *   cubby/banks/{bankId}/presence   hub -> cloud, retained, last will `offline`
 *   cubby/banks/{bankId}/events     hub -> cloud (never a code)
 *   cubby/banks/{bankId}/telemetry  hub -> cloud
 *   cubby/banks/{bankId}/cmd        cloud -> hub only
 */
export const TOPIC_ROOT = 'cubby/banks';

/** The leaves under a bank's subtree that Cubby uses. */
export type BankTopicLeaf = 'presence' | 'events' | 'telemetry' | 'cmd';

/** `cubby/banks/{bankId}/{leaf}`. */
export function bankTopic(bankId: BankId | string, leaf: BankTopicLeaf): string {
  return `${TOPIC_ROOT}/${bankId}/${leaf}`;
}

/** Split `cubby/banks/{bankId}/{leaf}` into its parts; undefined for any other topic. */
export function parseBankTopic(topic: string): { bankId: BankId; leaf: string } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const id = bankIdSchema.safeParse(parts[2]);
  if (!id.success || !parts[3]) return undefined;
  return { bankId: id.data, leaf: parts[3] };
}

/**
 * Retained presence (`.../presence`): `online` at connect, `offline` as the last will or at a
 * clean stop. `conn` names one network connection of the hub, so that a last will arriving
 * late (a session taken over by the hub's own reconnect) is recognisable as stale.
 */
export type Presence =
  | { state: 'online'; at: number; conn: string }
  /** The last will the broker publishes when the connection dies: no time is known then. */
  | { state: 'offline'; conn: string; reason: 'connection_lost' }
  /** Published by the hub's `stop()` before a clean disconnect. */
  | { state: 'offline'; conn: string; reason: 'stopped'; at: number };

/** A presence message as either end parses it (lenient: older hubs send fewer fields). */
export const presenceMessageSchema = z.object({
  state: z.enum(['online', 'offline']),
  /** Hub time of the change; absent in a last will. */
  at: z.number().optional(),
  conn: z.string().max(100).optional(),
  reason: z.string().max(100).optional(),
});
export type PresenceMessage = z.infer<typeof presenceMessageSchema>;
