import { z } from 'zod';
import { signedCommandSchema, type SignedCommand } from '../../shared/crypto/signed-command.js';

/**
 * What the hub sends and receives over MQTT (API.md "MQTT topics"), hub side. The topic
 * scheme and the presence message are shared with the cloud (shared/mqtt/topics.ts); the
 * commands the hub acts on are parsed here.
 */

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
