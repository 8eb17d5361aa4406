import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock } from '../../shared/ports.js';
import { safeJson } from './event-guard.js';
import { hubCommandSchema, type HubMqttEvent, type HubTelemetry, type OpenCommand } from './hub-messages.js';
import { bankTopic, presenceMessageSchema, type Presence } from '../../shared/mqtt/topics.js';
import { ConnectionWaiters } from '../../shared/mqtt/connection-waiters.js';

/** Options of {@link createHubMqtt}. */
export interface HubMqttOptions {
  /** Broker URL: the cloud's embedded broker, Mosquitto, or `CUBBY_MQTT_URL`. */
  url: string;
  /** This hub's bank; also its MQTT username. */
  bankId: string;
  /** The bank's device secret (MQTT password). Never logged. */
  secret: string;
  /** Time source for presence timestamps and status. */
  clock: Clock;
  /** "Sync now": called for each `{type:'sync'}` on `.../cmd`. Must not throw. */
  onSyncNudge(): void;
  /**
   * Every other command the hub understands (today `{type:'open', signed}`), unverified:
   * pass `cmd.signed` to `RemoteOpenService.handle`. Errors are caught and counted.
   */
  onCommand(cmd: OpenCommand): void | Promise<unknown>;
  /** MQTT client id. Default `hub:{bankId}` (the embedded broker requires that prefix). */
  clientId?: string;
  /** Keepalive in seconds; the broker declares the hub gone (last will) after 1.5x. Default 20. */
  keepaliveSeconds?: number;
  /** Base delay between reconnect attempts; each attempt waits 1-2x this (jitter). Default 2000 ms. */
  reconnectPeriodMs?: number;
  /** Delay before retrying after the broker refused the credentials. Default 30,000 ms. */
  authRetryMs?: number;
  /** Time allowed for one CONNECT/CONNACK exchange. Default 10,000 ms. */
  connectTimeoutMs?: number;
}

/** What `status()` reports (for `/health` and the technician tool). */
export interface HubMqttStatus {
  connected: boolean;
  /** Last successful connect (clock ms). */
  connectedAt?: number;
  /** Last loss of the connection (clock ms). */
  disconnectedAt?: number;
  /** Successful connects since start (1 = never reconnected). */
  connects: number;
  /** Short reason of the last failure, e.g. `not_authorized`, `ECONNREFUSED`. Never a secret. */
  lastError?: string;
  nudges: number;
  commands: number;
  /** Commands on `.../cmd` that were malformed, of an unknown type, or retained. */
  ignoredCommands: number;
  /** Events/telemetry not sent because the hub was offline (sync carries the facts anyway). */
  dropped: number;
}

/** The hub's MQTT link: presence with last will, events, telemetry, and the command topic. */
export interface HubMqtt {
  /** Connect (in the background: a hub must run without a network) and keep reconnecting. */
  start(): void;
  /** Resolves once connected; rejects after `timeoutMs`. */
  waitConnected(timeoutMs?: number): Promise<void>;
  /** Publish retained `offline` presence (if connected), then disconnect cleanly. */
  stop(): Promise<void>;
  /**
   * Publish an event (QoS 1). Rejects with `UnsafeMessageError` if it looks like it carries
   * a code, secret or hash. Resolves false when offline (dropped, not queued) or the send
   * failed; true once the broker acknowledged it — which says nothing about the cloud
   * having it: the sync layer decides that by comparing ledger heads.
   */
  publishEvent(event: HubMqttEvent): Promise<boolean>;
  /** Publish telemetry (QoS 0, same guard except for nine-digit numbers). False when offline. */
  publishTelemetry(t: HubTelemetry): Promise<boolean>;
  status(): HubMqttStatus;
  /** The underlying mqtt.js client (diagnostics and tests); undefined before `start()`. */
  client(): MqttClient | undefined;
}

function errorName(err: Error & { code?: unknown }): string {
  const byConnack: Record<number, string> = {
    2: 'identifier_rejected',
    3: 'server_unavailable',
    4: 'bad_credentials',
    5: 'not_authorized',
    134: 'bad_credentials',
    135: 'not_authorized',
  };
  if (typeof err.code === 'number') return byConnack[err.code] ?? `mqtt_${err.code}`;
  if (typeof err.code === 'string') return err.code;
  return 'mqtt_error';
}

/** Create the hub's MQTT link. Nothing happens until `start()`. */
export function createHubMqtt(opts: HubMqttOptions): HubMqtt {
  const t = {
    presence: bankTopic(opts.bankId, 'presence'),
    events: bankTopic(opts.bankId, 'events'),
    telemetry: bankTopic(opts.bankId, 'telemetry'),
    cmd: bankTopic(opts.bankId, 'cmd'),
  };
  const basePeriod = opts.reconnectPeriodMs ?? 2000;
  const jittered = () => Math.round(basePeriod * (1 + Math.random()));
  const bootId = randomBytes(4).toString('hex');
  let connNo = 1;
  const conn = () => `${bootId}.${connNo}`;
  const will = (): Buffer =>
    Buffer.from(JSON.stringify({ state: 'offline', conn: conn(), reason: 'connection_lost' } satisfies Presence));

  const st: HubMqttStatus = { connected: false, connects: 0, nudges: 0, commands: 0, ignoredCommands: 0, dropped: 0 };
  let client: MqttClient | undefined;
  let stopping = false;
  const waiters = new ConnectionWaiters();

  const publishOnline = (c: MqttClient) => {
    const p: Presence = { state: 'online', at: opts.clock.now(), conn: conn() };
    c.publishAsync(t.presence, JSON.stringify(p), { qos: 1, retain: true }).catch((e: Error) => {
      st.lastError = errorName(e);
    });
  };

  const onMessage = (c: MqttClient, topic: string, payload: Buffer, retained: boolean) => {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      json = undefined;
    }
    if (topic === t.presence) {
      // A stale last will (an older connection of ours, taken over by this one) must not
      // leave the bank marked offline: say we are online again.
      const p = presenceMessageSchema.safeParse(json);
      if (p.success && p.data.state === 'offline' && p.data.conn !== conn() && st.connected && !stopping) publishOnline(c);
      return;
    }
    if (topic !== t.cmd) return;
    const cmd = hubCommandSchema.safeParse(json);
    // A retained command would be replayed at every reconnect; commands are never retained.
    if (!cmd.success || retained) {
      st.ignoredCommands++;
      return;
    }
    if (cmd.data.type === 'sync') {
      st.nudges++;
      try {
        opts.onSyncNudge();
      } catch {
        st.lastError = 'sync_nudge_handler_failed';
      }
      return;
    }
    st.commands++;
    Promise.resolve()
      .then(() => opts.onCommand(cmd.data as OpenCommand))
      .catch(() => {
        st.lastError = 'command_handler_failed';
      });
  };

  const start = () => {
    if (client) return;
    stopping = false;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: opts.clientId ?? `hub:${opts.bankId}`,
      username: opts.bankId,
      password: opts.secret,
      clean: true, // commands expire in minutes and a reconnect triggers a sync anyway
      keepalive: opts.keepaliveSeconds ?? 20,
      reconnectPeriod: jittered(),
      reconnectOnConnackError: true,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      resubscribe: false, // we subscribe on every connect ourselves
      queueQoSZero: false,
      will: { topic: t.presence, payload: will(), qos: 1, retain: true },
    };
    const c = mqtt.connect(opts.url, options);
    client = c;
    c.on('connect', () => {
      st.connected = true;
      st.connects++;
      st.connectedAt = opts.clock.now();
      c.options.reconnectPeriod = jittered();
      publishOnline(c);
      c.subscribeAsync({ [t.cmd]: { qos: 1 }, [t.presence]: { qos: 1 } }).catch((e: Error) => {
        st.lastError = `subscribe_refused:${errorName(e)}`;
      });
      waiters.release();
    });
    c.on('reconnect', () => {
      // Runs just before mqtt.js sends the next CONNECT: give it a fresh will.
      connNo++;
      if (c.options.will) c.options.will.payload = will();
    });
    c.on('close', () => {
      if (st.connected) st.disconnectedAt = opts.clock.now();
      st.connected = false;
    });
    c.on('error', (e: Error & { code?: unknown }) => {
      st.lastError = errorName(e);
      if (e.code === 4 || e.code === 5 || e.code === 134 || e.code === 135) {
        c.options.reconnectPeriod = opts.authRetryMs ?? 30_000; // don't hammer argon2 with a wrong secret
      }
    });
    c.on('message', (topic, payload, packet) => onMessage(c, topic, payload, packet.retain));
  };

  return {
    start,
    waitConnected(timeoutMs = 10_000) {
      return waiters.wait(st.connected, timeoutMs, () => `not connected to MQTT after ${timeoutMs} ms (${st.lastError ?? 'no error yet'})`);
    },
    async stop() {
      const c = client;
      if (!c) return;
      stopping = true;
      client = undefined;
      if (c.connected) {
        const p: Presence = { state: 'offline', conn: conn(), reason: 'stopped', at: opts.clock.now() };
        await Promise.race([
          c.publishAsync(t.presence, JSON.stringify(p), { qos: 1, retain: true }).catch(() => undefined),
          new Promise((r) => setTimeout(r, 2000)),
        ]);
        await c.endAsync();
      } else {
        await c.endAsync(true);
      }
      st.connected = false;
    },
    async publishEvent(event) {
      const json = safeJson(event);
      const c = client;
      if (!c?.connected) {
        st.dropped++;
        return false;
      }
      return c.publishAsync(t.events, json, { qos: 1 }).then(
        () => true,
        () => false,
      );
    },
    async publishTelemetry(tel) {
      const json = safeJson(tel, { numbers: false });
      const c = client;
      if (!c?.connected) {
        st.dropped++;
        return false;
      }
      return c.publishAsync(t.telemetry, json, { qos: 0 }).then(
        () => true,
        () => false,
      );
    },
    status: () => ({ ...st }),
    client: () => client,
  };
}
