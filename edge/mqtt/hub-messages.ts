import { z } from 'zod';
import { signedCommandSchema, type SignedCommand } from '../../shared/crypto/signed-command.js';

/**
 * What the hub sends and receives over MQTT (API.md "MQTT topics"), hub side. The cloud
 * parses the same JSON with its own schemas (`cloud/mqtt/cloud-messages.ts`); the two meet
 * only on the wire, as the contract says.
 */

/** `cubby/banks/{bankId}/{leaf}`. */
export function hubTopic(bankId: string, leaf: 'presence' | 'events' | 'telemetry' | 'cmd'): string {
  return `cubby/banks/${bankId}/${leaf}`;
}

/**
 * Retained presence. `conn` names one network connection of the hub, so that a last will
 * arriving late (a session taken over by the hub's own reconnect) is recognisable as stale.
 */
export type Presence =
  | { state: 'online'; at: number; conn: string }
  /** The last will the broker publishes when the connection dies: no time is known then. */
  | { state: 'offline'; conn: string; reason: 'connection_lost' }
  /** Published by `stop()` before a clean disconnect. */
  | { state: 'offline'; conn: string; reason: 'stopped'; at: number };

export const presenceSchema = z.object({
  state: z.enum(['online', 'offline']),
  conn: z.string().max(100).optional(),
  at: z.number().optional(),
});

/** Cloud -> hub: "sync now" (a revocation or new config is waiting). */
export interface SyncNudge {
  type: 'sync';
}
/** Cloud -> hub: a remote open, signed by the cloud; the hub verifies it (RemoteOpenService). */
export interface OpenCommand {
  type: 'open';
  signed: SignedCommand;
}
/** Commands the hub acts on. Unknown types are ignored (a newer cloud may send more). */
export type HubCommand = SyncNudge | OpenCommand;

export const hubCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sync') }),
  z.object({ type: z.literal('open'), signed: signedCommandSchema }),
]);

/**
 * An event the hub reports (door opened, fault, deposit, pickup, remote open…). Any JSON
 * object with a `type` and the time `at`; it must never carry a code, secret or hash
 * (enforced by `assertSafeToPublish`). Whether the cloud *has* an event is decided by
 * ledger sync, not by this message arriving.
 */
export interface HubMqttEvent {
  type: string;
  at: number;
  [field: string]: unknown;
}

/** Periodic health figures (free compartments, sync lag, board state…). */
export type HubTelemetry = Record<string, unknown>;
