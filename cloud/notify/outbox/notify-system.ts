import { randomBytes } from 'node:crypto';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { Argon2Params } from '../../../shared/codes/hasher.js';
import { dialectOf } from '../../../adapters/sql/sql-db.js';
import { liveCode } from '../../../shared/ledger/parcel-doc.js';
import { str } from '../../../shared/ledger/str.js';
import type { Clock, Random } from '../../../shared/ports.js';
import type { Timers } from '../../../shared/sync/sync-peer.js';
import type { BankReplicas } from '../../bank-replicas.js';
import { currentRows } from '../../diagnosis/causes.js';
import { DiagnosisService } from '../../diagnosis/diagnosis-service.js';
import type { AuthEnv } from '../../http/auth.js';
import type { CloudKeys } from '../../keys.js';
import type { BankPresence } from '../../ports.js';
import { bearerAuth } from '../../http/auth.js';
import type { CloudAttachment, CloudParts } from '../../main.js';
import { notifyRoutes } from '../../routes/notify-routes.js';
import { SelfService } from '../../selfservice/self-service.js';
import { selfServiceRoutes } from '../../selfservice/self-service-routes.js';
import type { CloudStore } from '../../store/cloud-store.js';
import { ChannelHealthTracker, withHealthTracking, type ChannelName, type NotificationChannel } from '../channels/channel.js';
import { SmtpEmailChannel } from '../channels/email-smtp.js';
import { PushWebhookChannel } from '../channels/push-webhook.js';
import { createSmsReceiptHandler, SmsHttpChannel } from '../channels/sms-http.js';
import { SmsGatewaySim, SmtpSink, createDevMailHandler } from '../sim/index.js';
import { CloudCodeIssuer } from './code-issuer.js';
import { ContactChangeService } from './contact-change.js';
import { DeferredIssuer } from './deferred-issuer.js';
import type { NotifyConfig } from './notify-config.js';
import { NotifyRecords } from './notify-records.js';
import { Outbox } from './outbox.js';
import { OutboxNotifier } from './outbox-notifier.js';
import { OutboxStore } from './outbox-store.js';
import { OutboxWorker } from './outbox-worker.js';
import { ResendService } from './resend.js';

/** Knobs that are not configuration: cost and timing choices of tests and benchmarks. */
export interface NotifyRuntimeOptions {
  /** argon2id cost of cloud-issued codes. Default DESIGN.md's (19 MiB, t=2). */
  codeHashParams?: Argon2Params;
  /** Worker poll interval, ms. Default 1000 (new rows wake it at once). */
  pollMs?: number;
  /** Retry backoff base and cap, ms. Defaults 5 s and 5 min. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Sends in flight. Default 8. */
  concurrency?: number;
  timers?: Timers;
  /** A send another cloud node claimed this long ago and never finished is re-queued, ms. Default 2 minutes. */
  reclaimAfterMs?: number;
  /** The SMS simulator's delay between accepting and delivering, ms. Default 10. */
  smsDeliveryDelayMs?: number;
}

/** What {@link NotifySystem.start} needs. */
export interface NotifySystemDeps {
  store: CloudStore;
  replicas: BankReplicas;
  keys: CloudKeys;
  clock: Clock;
  random: Random;
  config: NotifyConfig;
  /** `CUBBY_DEMO=1`: simulators on by default, `GET /v1/dev/mail` mounted. */
  demo: boolean;
  runtime?: NotifyRuntimeOptions;
  /** Operational messages (never a code, a contact or a secret). */
  log?: (msg: string) => void;
}

/**
 * The cloud's notification subsystem, assembled: outbox (tables in the cloud database),
 * worker, channels with health tracking, the simulators when configured, cloud-side code
 * issuance (resend, contact change), diagnosis and the self-service page. `start()` builds it
 * and starts the simulators; `attach()` (once the cloud listens, so the SMS receipt URL is
 * known) creates the channels, runs the start-up sweep and starts the worker.
 */
export class NotifySystem {
  readonly outboxStore: OutboxStore;
  readonly records: NotifyRecords;
  readonly outbox: Outbox;
  readonly notifier: OutboxNotifier;
  readonly health: ChannelHealthTracker;
  readonly issuer: CloudCodeIssuer;
  readonly contacts: ContactChangeService;
  readonly resend: ResendService;
  readonly diagnosis: DiagnosisService;
  readonly selfService: SelfService;
  readonly deferred: DeferredIssuer;
  /** The simulators this process runs (absent when real providers are configured). */
  readonly sims: { sms?: SmsGatewaySim; smtp?: SmtpSink } = {};
  /** Set by `attach()`. */
  worker: OutboxWorker | undefined;
  private readonly channelNames: Set<ChannelName>;
  private readonly channels = new Map<ChannelName, NotificationChannel>();
  private smsChannel: SmsHttpChannel | undefined;
  private presence: BankPresence | undefined;
  private readonly smsSecret: string | undefined;

  private constructor(private readonly deps: NotifySystemDeps) {
    const { store, replicas, keys, clock, random, config } = deps;
    const sims = config.sims ?? deps.demo;
    this.channelNames = new Set<ChannelName>([
      ...(sims || config.smsGatewayUrl ? (['sms'] as const) : []),
      ...(sims || config.smtpHost ? (['email'] as const) : []),
      ...(config.pushUrl ? (['push'] as const) : []),
    ]);
    if (config.smsGatewayUrl && !config.smsWebhookSecret) throw new Error('CUBBY_SMS_WEBHOOK_SECRET is required with CUBBY_SMS_GATEWAY_URL');
    if (config.pushUrl && !config.pushSecret) throw new Error('CUBBY_PUSH_SECRET is required with CUBBY_PUSH_URL');
    this.smsSecret = config.smsWebhookSecret ?? (this.channelNames.has('sms') ? randomBytes(24).toString('base64url') : undefined);
    const wake = () => this.worker?.wake();
    this.outboxStore = new OutboxStore(store.db, store.node);
    this.records = new NotifyRecords(store.db, store.node);
    this.health = new ChannelHealthTracker({ clock });
    this.outbox = new Outbox({ store: this.outboxStore, contacts: store.parcels, clock, random, channels: () => this.channelNames, maxAttempts: config.maxAttempts, onQueued: wake });
    const log = deps.log;
    this.notifier = new OutboxNotifier({ store, replicas, outbox: this.outbox, records: this.records, clock, holdMs: config.contactHoldMs, log });
    this.issuer = new CloudCodeIssuer({ store, replicas, outbox: this.outbox, sealPublicKey: keys.seal.publicKey, clock, random, hashParams: deps.runtime?.codeHashParams });
    this.contacts = new ContactChangeService({ store, replicas, outbox: this.outbox, records: this.records, clock, random, holdMs: config.contactHoldMs, onChanged: wake });
    this.resend = new ResendService({ store, outbox: this.outbox, records: this.records, issuer: this.issuer, clock, perHour: config.resendsPerHour, onQueued: wake });
    this.deferred = new DeferredIssuer({ records: this.records, issuer: this.issuer, clock, log });
    this.diagnosis = new DiagnosisService({
      store,
      replicas,
      outboxStore: this.outboxStore,
      outbox: this.outbox,
      records: this.records,
      health: this.health,
      channels: () => this.channelNames,
      clock,
      presence: () => this.presence,
      settings: { receiptTimeoutMs: config.receiptTimeoutMs },
    });
    this.selfService = new SelfService({ store, clock, diagnose: (id) => this.diagnosis.diagnose(id), deliveredBy: (id) => this.deliveredBy(id) });
  }

  /** Build the subsystem and start the simulators it is configured for. */
  static async start(deps: NotifySystemDeps): Promise<NotifySystem> {
    const sys = new NotifySystem(deps);
    const { config, clock } = deps;
    if (config.sims ?? deps.demo) {
      if (!config.smsGatewayUrl) {
        const sms = new SmsGatewaySim({ webhookSecret: sys.smsSecret!, clock, deliveryDelayMs: deps.runtime?.smsDeliveryDelayMs });
        await sms.listen(config.smsSimPort);
        sys.sims.sms = sms;
      }
      if (!config.smtpHost) {
        const smtp = new SmtpSink({ port: config.smtpSinkPort, clock });
        await smtp.start().catch(async (err: Error) => {
          await sys.sims.sms?.close();
          throw err;
        });
        sys.sims.smtp = smtp;
      }
    }
    return sys;
  }

  /** The channels this cloud sends on. */
  channelSet(): ReadonlySet<ChannelName> {
    return this.channelNames;
  }

  /** The API of the subsystem, to mount on the cloud app (support routes use `auth`). */
  routes(auth: MiddlewareHandler<AuthEnv>): Hono<AuthEnv> {
    const smtp = this.sims.smtp;
    const app = notifyRoutes(
      {
        resend: this.resend,
        contacts: this.contacts,
        diagnosis: this.diagnosis,
        health: () => ({ channels: [...this.channelNames].map((ch) => this.health.health(ch)), outbox: this.outboxStore.counts() }),
        smsReceipts: () => (this.smsChannel ? this.smsHandler : undefined),
        ...(this.deps.demo && smtp ? { devMail: createDevMailHandler(smtp) } : {}),
      },
      auth,
    );
    app.route('/', selfServiceRoutes(this.selfService) as unknown as Hono<AuthEnv>);
    return app;
  }

  private smsHandler: (c: Context) => Promise<Response> = async () => new Response(null, { status: 503 });

  /** The cloud listens at `publicUrl`: create the channels, queue what was missed, start the worker. */
  attach(opts: { publicUrl: string; presence?: BankPresence }): void {
    const { config, clock, random, keys, replicas } = this.deps;
    this.presence = opts.presence;
    const base = (config.publicUrl ?? opts.publicUrl).replace(/\/+$/, '');
    if (this.channelNames.has('sms')) {
      this.smsChannel = new SmsHttpChannel({
        baseUrl: config.smsGatewayUrl ?? this.sims.sms!.url,
        callbackUrl: `${base}/v1/hooks/sms`,
        webhookSecret: this.smsSecret!,
        apiKey: config.smsApiKey,
        clock,
      });
      this.smsHandler = createSmsReceiptHandler(this.smsChannel);
      this.channels.set('sms', withHealthTracking(this.smsChannel, this.health));
    }
    if (this.channelNames.has('email')) {
      const relay = config.smtpHost !== undefined;
      const email = new SmtpEmailChannel({
        host: relay ? config.smtpHost! : '127.0.0.1',
        port: relay ? config.smtpPort : this.sims.smtp!.port,
        from: config.mailFrom,
        ignoreTLS: !relay,
        requireTLS: relay,
        ...(config.smtpUser && config.smtpPass ? { auth: { user: config.smtpUser, pass: config.smtpPass } } : {}),
        acceptanceIsDelivery: !relay,
        clock,
      });
      this.channels.set('email', withHealthTracking(email, this.health));
    }
    if (this.channelNames.has('push')) {
      this.channels.set('push', withHealthTracking(new PushWebhookChannel({ url: config.pushUrl!, secret: config.pushSecret!, clock }), this.health));
    }
    const rt = this.deps.runtime ?? {};
    const multiWriter = dialectOf(this.deps.store.db) === 'postgres';
    this.worker = new OutboxWorker({
      store: this.outboxStore,
      outbox: this.outbox,
      channels: this.channels,
      sealKeys: keys.seal,
      clock,
      random,
      timers: rt.timers,
      isLive: (row) => {
        // Several nodes on one database: the row may be claimed by a node other than the one
        // that received the hub's change; read the document as stored, not a cached copy.
        if (multiWriter) replicas.refresh(row.bankId, `parcel:${row.parcelId}`);
        const doc = replicas.get(row.bankId).ledger.doc(row.parcelId);
        return !!doc && str(liveCode(doc, clock.now())?.codeId) === row.codeId;
      },
      pollMs: rt.pollMs,
      concurrency: rt.concurrency,
      backoffBaseMs: rt.backoffBaseMs,
      backoffMaxMs: rt.backoffMaxMs,
      reclaimAfterMs: rt.reclaimAfterMs,
      receiptTimeoutMs: config.receiptTimeoutMs,
      chores: [async () => void (await this.deferred.runDue())],
      log: this.deps.log,
    });
    const { sms, smtp } = this.sims;
    if (sms) this.deps.log?.(`notifications: SMS gateway simulator on ${sms.url} (inbox ${sms.url}/messages)`);
    if (smtp) this.deps.log?.(`notifications: SMTP sink on 127.0.0.1:${smtp.port}${this.deps.demo ? ` (mailbox ${base}/v1/dev/mail)` : ''}`);
    this.deps.log?.(`notifications: channels ${[...this.channelNames].join(', ') || 'none'}; outbox worker started`);
    const swept = this.notifier.sweep(7 * 24 * 3600_000);
    if (swept > 0) this.deps.log?.(`outbox: start-up sweep queued ${swept} code(s) that had no message`);
    this.worker.start();
  }

  /** Stop the worker (waiting for sends in flight), close the channels and the simulators. */
  async close(): Promise<void> {
    await this.worker?.stop();
    for (const ch of this.channels.values()) await ch.close();
    await this.sims.sms?.close();
    await this.sims.smtp?.close();
  }

  /** The channel that delivered the parcel's newest code, if one did. */
  private deliveredBy(parcelId: string): ChannelName | undefined {
    const rows = currentRows(this.diagnosis.facts(parcelId));
    return rows.find((r) => r.status === 'delivered')?.channel;
  }
}

/** The attachment of {@link attachNotifications}, with the subsystem for tests and tools. */
export interface NotifyAttachment extends CloudAttachment {
  system: NotifySystem;
}

/**
 * Plug the notification subsystem into `startCloud` (`CloudExtensions.attach`): its
 * notifier hooks, its routes, its start once the cloud listens, its close.
 */
export async function attachNotifications(parts: CloudParts, config: NotifyConfig, runtime?: NotifyRuntimeOptions): Promise<NotifyAttachment> {
  const system = await NotifySystem.start({
    store: parts.store,
    replicas: parts.replicas,
    keys: parts.keys,
    clock: parts.clock,
    random: parts.random,
    config,
    demo: parts.config.demo,
    runtime,
    log: parts.log,
  });
  return {
    system,
    notifier: system.notifier,
    routes: [system.routes(bearerAuth(parts.store.credentials)) as unknown as Hono],
    started: ({ url, presence }) => system.attach({ publicUrl: url, presence }),
    close: () => system.close(),
  };
}
