import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { BadRequest } from '../../shared/errors.js';
import { bankIdSchema } from '../../shared/ids.js';
import type { Clock } from '../../shared/ports.js';
import { bankTopic, parseBankTopic, presenceMessageSchema, TOPIC_ROOT } from '../../shared/mqtt/topics.js';
import { BrokerUnavailable, type BankCommand, type BankCommandSender } from './bank-command-sender.js';
import {
  hubEventSchema,
  parsePayload,
  telemetrySchema,
  type HubEventMessage,
} from './cloud-messages.js';
import { ConnectionWaiters } from '../../shared/mqtt/connection-waiters.js';

/** What the cloud knows about one bank's MQTT link. */
export interface BankPresence {
  online: boolean;
  /** Cloud time of the last message heard from the bank (presence online, event, telemetry). */
  lastSeenAt?: number;
  /** Cloud time `online` last changed. */
  changedAt: number;
  /** The hub's connection id from its last `online`. */
  conn?: string;
}

/** Options of {@link createCloudMqtt}. */
export interface CloudMqttOptions {
  /** Broker URL (embedded broker, Mosquitto, or `CUBBY_MQTT_URL`). */
  url: string;
  /** The cloud's service account on the broker. Never logged. */
  username: string;
  secret: string;
  clock: Clock;
  /** Client id. Default `cloud:{random}` (unique, so several cloud nodes can connect). */
  clientId?: string;
  /** A bank went online or offline (stale last wills are filtered out first). */
  onPresence?(bankId: string, presence: BankPresence): void;
  /** A hub event. Best effort: sync, not this callback, is the record of what happened. */
  onEvent?(bankId: string, event: HubEventMessage): void;
  /** Telemetry; the cloud subscribes to `+/telemetry` only when this is given. */
  onTelemetry?(bankId: string, telemetry: Record<string, unknown>): void;
  /**
   * Several cloud nodes on one broker: events and telemetry are taken through the shared
   * subscription `$share/{shareGroup}/…`, so the broker hands each message to ONE node of the
   * group. Presence stays a plain subscription: every node keeps every bank's presence.
   */
  shareGroup?: string;
  /** Base delay between reconnect attempts. Default 1000 ms. */
  reconnectPeriodMs?: number;
  /** Keepalive in seconds. Default 20. */
  keepaliveSeconds?: number;
}

/** The cloud's MQTT client: bank presence and events in, commands and nudges out. */
export interface CloudMqtt extends BankCommandSender {
  /** Connect in the background and keep reconnecting. */
  start(): void;
  /** Resolves once connected and subscribed; rejects after `timeoutMs`. */
  waitConnected(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  /** What is known of one bank (undefined if it was never heard of). */
  presence(bankId: string): BankPresence | undefined;
  /** Every bank heard of. */
  banks(): ReadonlyMap<string, BankPresence>;
  status(): { connected: boolean; ignoredMessages: number; lastError?: string };
}

/**
 * Create the cloud's MQTT client. Subscribes to `cubby/banks/+/presence` and `+/events`
 * (QoS 1), keeps per-bank presence, and implements {@link BankCommandSender} by publishing
 * QoS 1 on `cubby/banks/{bankId}/cmd`.
 *
 * MQTT is the nudge and telemetry path, not the record: whether an event was *delivered*
 * is decided by the sync layer comparing ledger heads, never by a QoS 1 acknowledgement,
 * and a message lost while the cloud was disconnected is recovered by the next sync.
 * Several cloud nodes share the event stream through `shareGroup` (`$share/…`, supported by
 * Mosquitto ≥ 1.6, EMQX, VerneMQ, HiveMQ), so each event is handled once.
 */
export function createCloudMqtt(opts: CloudMqttOptions): CloudMqtt {
  const banks = new Map<string, BankPresence>();
  const st = { connected: false, ignoredMessages: 0, lastError: undefined as string | undefined };
  let client: MqttClient | undefined;
  let subscribed = false;
  const waiters = new ConnectionWaiters();

  const seen = (bankId: string) => {
    const now = opts.clock.now();
    const b = banks.get(bankId);
    if (b) b.lastSeenAt = now;
    else banks.set(bankId, { online: false, lastSeenAt: now, changedAt: now });
  };

  const onPresence = (bankId: string, json: unknown) => {
    const p = presenceMessageSchema.safeParse(json);
    if (!p.success) return void st.ignoredMessages++;
    const now = opts.clock.now();
    const prev = banks.get(bankId);
    if (p.data.state === 'offline') {
      // A will from an older connection, arriving after the hub already reconnected.
      if (prev?.online && prev.conn && p.data.conn && prev.conn !== p.data.conn) return;
      const next: BankPresence = {
        online: false,
        lastSeenAt: prev?.lastSeenAt,
        changedAt: prev && !prev.online ? prev.changedAt : now,
        conn: prev?.conn,
      };
      banks.set(bankId, next);
      opts.onPresence?.(bankId, { ...next });
      return;
    }
    const next: BankPresence = {
      online: true,
      lastSeenAt: now,
      changedAt: prev?.online ? prev.changedAt : now,
      conn: p.data.conn,
    };
    banks.set(bankId, next);
    opts.onPresence?.(bankId, { ...next });
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const where = parseBankTopic(topic);
    const json = parsePayload(payload);
    if (!where || json === undefined) return void st.ignoredMessages++;
    if (where.leaf === 'presence') return onPresence(where.bankId, json);
    if (where.leaf === 'events') {
      const e = hubEventSchema.safeParse(json);
      if (!e.success) return void st.ignoredMessages++;
      seen(where.bankId);
      opts.onEvent?.(where.bankId, e.data);
      return;
    }
    if (where.leaf === 'telemetry') {
      const t = telemetrySchema.safeParse(json);
      if (!t.success) return void st.ignoredMessages++;
      seen(where.bankId);
      opts.onTelemetry?.(where.bankId, t.data);
      return;
    }
    st.ignoredMessages++;
  };

  const send = async (bankId: string, cmd: BankCommand): Promise<void> => {
    if (!bankIdSchema.safeParse(bankId).success) throw new BadRequest('That is not a valid bank id.', 'invalid_bank_id');
    const c = client;
    if (!c?.connected) throw new BrokerUnavailable();
    try {
      await c.publishAsync(bankTopic(bankId, 'cmd'), JSON.stringify(cmd), { qos: 1, retain: false });
    } catch {
      throw new BrokerUnavailable();
    }
  };

  return {
    start() {
      if (client) return;
      const c = mqtt.connect(opts.url, {
        protocolVersion: 4,
        clientId: opts.clientId ?? `cloud:${randomBytes(6).toString('hex')}`,
        username: opts.username,
        password: opts.secret,
        clean: true,
        keepalive: opts.keepaliveSeconds ?? 20,
        reconnectPeriod: opts.reconnectPeriodMs ?? 1000,
        reconnectOnConnackError: true,
        resubscribe: false,
      });
      client = c;
      c.on('connect', () => {
        st.connected = true;
        const shared = opts.shareGroup ? `$share/${opts.shareGroup}/` : '';
        const subs: Record<string, { qos: 0 | 1 }> = {
          [`${TOPIC_ROOT}/+/presence`]: { qos: 1 },
          [`${shared}${TOPIC_ROOT}/+/events`]: { qos: 1 },
        };
        if (opts.onTelemetry) subs[`${shared}${TOPIC_ROOT}/+/telemetry`] = { qos: 0 };
        c.subscribeAsync(subs).then(
          () => {
            subscribed = true;
            waiters.release();
          },
          (e: Error) => {
            st.lastError = `subscribe_refused: ${e.message}`;
          },
        );
      });
      c.on('close', () => {
        st.connected = false;
        subscribed = false;
      });
      c.on('error', (e: Error & { code?: unknown }) => {
        st.lastError = typeof e.code === 'number' ? `connack_${e.code}` : String(e.code ?? 'mqtt_error');
      });
      c.on('message', (topic, payload) => onMessage(topic, payload));
    },
    waitConnected(timeoutMs = 10_000) {
      return waiters.wait(st.connected && subscribed, timeoutMs, () => `cloud MQTT not connected after ${timeoutMs} ms (${st.lastError ?? 'no error yet'})`);
    },
    async stop() {
      const c = client;
      client = undefined;
      if (c) await c.endAsync(!c.connected);
      st.connected = false;
    },
    send,
    nudge: (bankId) => send(bankId, { type: 'sync' }),
    presence: (bankId) => {
      const b = banks.get(bankId);
      return b ? { ...b } : undefined;
    },
    banks: () => banks,
    status: () => ({ ...st }),
  };
}
