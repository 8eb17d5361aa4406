import { z } from 'zod';

const flag = z
  .enum(['0', '1', 'true', 'false'])
  .optional()
  .transform((v) => (v === undefined ? undefined : v === '1' || v === 'true'));
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);

/**
 * How the cloud gets codes to people (channels, simulators, the outbox's timings), from the
 * environment, validated once. Every field is optional in the environment; defaults below.
 */
export const notifyConfigSchema = z.object({
  /**
   * Run the local SMS gateway simulator and SMTP sink in the cloud process and send through
   * them. `CUBBY_NOTIFY_SIMS=1`; default: on exactly when `CUBBY_DEMO=1`.
   */
  sims: z.union([z.boolean(), flag]).optional(),
  /** SMS simulator port. `CUBBY_SMS_SIM_PORT`, default 8025 (API.md); 0 picks a free one. */
  smsSimPort: port.default(8025),
  /** SMTP sink port. `CUBBY_SMTP_SINK_PORT`, default 2525; 0 picks a free one. */
  smtpSinkPort: port.default(2525),
  /** A real SMS gateway (same HTTP API as the simulator), instead of the simulator. `CUBBY_SMS_GATEWAY_URL`. */
  smsGatewayUrl: z.url().optional(),
  /** Secret the gateway signs receipts with. `CUBBY_SMS_WEBHOOK_SECRET`; required with a real gateway, random for the simulator. */
  smsWebhookSecret: z.string().min(16).optional(),
  /** Bearer key of the real gateway. `CUBBY_SMS_API_KEY`, optional. */
  smsApiKey: z.string().min(1).optional(),
  /** A real SMTP relay instead of the sink. `CUBBY_SMTP_HOST` / `CUBBY_SMTP_PORT` (default 587). */
  smtpHost: z.string().min(1).optional(),
  smtpPort: port.default(587),
  /** SMTP AUTH. `CUBBY_SMTP_USER` / `CUBBY_SMTP_PASS`, optional. */
  smtpUser: z.string().min(1).optional(),
  smtpPass: z.string().min(1).optional(),
  /** Sender of e-mails. `CUBBY_MAIL_FROM`, default `Cubby <noreply@cubby.local>`. */
  mailFrom: z.string().min(3).default('Cubby <noreply@cubby.local>'),
  /** App push webhook; push is a channel only when set. `CUBBY_PUSH_URL` / `CUBBY_PUSH_SECRET` (required with it). */
  pushUrl: z.url().optional(),
  pushSecret: z.string().min(16).optional(),
  /** Base URL providers call back (SMS receipts). `CUBBY_PUBLIC_URL`, default the cloud's own URL. */
  publicUrl: z.url().optional(),
  /** An accepted message with no delivery receipt after this long fails over. `CUBBY_NOTIFY_RECEIPT_TIMEOUT_MS`, default 120000. */
  receiptTimeoutMs: ms.default(120_000),
  /** Delay before a new code goes to a NEW contact. `CUBBY_CONTACT_HOLD_MS`, default 600000 (10 min); 0 allowed. */
  contactHoldMs: ms.default(600_000),
  /** Sends per message on one channel before failing over. `CUBBY_NOTIFY_MAX_ATTEMPTS`, default 5. */
  maxAttempts: z.coerce.number().int().min(1).max(50).default(5),
  /** Support resends per parcel per hour. `CUBBY_RESENDS_PER_HOUR`, default 3. */
  resendsPerHour: z.coerce.number().int().min(1).max(100).default(3),
});
export type NotifyConfig = z.output<typeof notifyConfigSchema>;
/** What a test or `startCloud` caller writes: every field optional. */
export type NotifyConfigInput = z.input<typeof notifyConfigSchema>;

/** The raw values of the environment variables above, for `notifyConfigSchema`. */
export function notifyEnv(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const v = (k: string) => env[k] || undefined;
  return {
    sims: v('CUBBY_NOTIFY_SIMS'),
    smsSimPort: v('CUBBY_SMS_SIM_PORT'),
    smtpSinkPort: v('CUBBY_SMTP_SINK_PORT'),
    smsGatewayUrl: v('CUBBY_SMS_GATEWAY_URL'),
    smsWebhookSecret: v('CUBBY_SMS_WEBHOOK_SECRET'),
    smsApiKey: v('CUBBY_SMS_API_KEY'),
    smtpHost: v('CUBBY_SMTP_HOST'),
    smtpPort: v('CUBBY_SMTP_PORT'),
    smtpUser: v('CUBBY_SMTP_USER'),
    smtpPass: v('CUBBY_SMTP_PASS'),
    mailFrom: v('CUBBY_MAIL_FROM'),
    pushUrl: v('CUBBY_PUSH_URL'),
    pushSecret: v('CUBBY_PUSH_SECRET'),
    publicUrl: v('CUBBY_PUBLIC_URL'),
    receiptTimeoutMs: v('CUBBY_NOTIFY_RECEIPT_TIMEOUT_MS'),
    contactHoldMs: v('CUBBY_CONTACT_HOLD_MS'),
    maxAttempts: v('CUBBY_NOTIFY_MAX_ATTEMPTS'),
    resendsPerHour: v('CUBBY_RESENDS_PER_HOUR'),
  };
}

/** The configuration from the environment (`cubby cloud`). Throws naming the variable's field. */
export function loadNotifyConfig(env: NodeJS.ProcessEnv = process.env): NotifyConfig {
  return notifyConfig(notifyEnv(env) as NotifyConfigInput);
}

/** Parse a config a caller wrote (tests, `startCloud` callers). Throws naming the field. */
export function notifyConfig(input: NotifyConfigInput = {}): NotifyConfig {
  const r = notifyConfigSchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`Notification configuration: ${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}
