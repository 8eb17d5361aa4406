import { Hono } from 'hono';
import type { Context } from 'hono';
import { createSmsReceiptHandler, SmsHttpChannel, type SmsHttpChannelOptions } from '../../../cloud/notify/channels/sms-http.js';
import { listenHttp, type RunningServer } from '../../../cloud/notify/sim/http-listen.js';
import { SmsGatewaySim, type SmsGatewaySimOptions } from '../../../cloud/notify/sim/sms-gateway-sim.js';

/** Test wiring shared by the SMS tests: a gateway sim, a real webhook server, the channel. */
export interface SmsRig {
  sim: SmsGatewaySim;
  channel: SmsHttpChannel;
  /** The cloud-side webhook server the gateway posts receipts to. */
  hook: RunningServer;
  hookUrl: string;
  stop(): Promise<void>;
}

export const SMS_SECRET = 'test-webhook-secret';

/** Start a gateway sim and a webhook server, and a channel wired to both. */
export async function startSmsRig(
  simOpts: Partial<SmsGatewaySimOptions> = {},
  channelOpts: Partial<SmsHttpChannelOptions> = {},
): Promise<SmsRig> {
  const sim = new SmsGatewaySim({ webhookSecret: SMS_SECRET, deliveryDelayMs: 5, ...simOpts });
  await sim.listen();
  // The route exists before the channel does, because the channel needs the webhook's URL.
  let handler: ((c: Context) => Promise<Response>) | undefined;
  const app = new Hono();
  app.post('/v1/hooks/sms', (c) => (handler ? handler(c) : c.json({ error: { code: 'not_ready', message: 'x' } }, 503)));
  const hook = await listenHttp(app.fetch);
  const hookUrl = `${hook.url}/v1/hooks/sms`;
  const channel = new SmsHttpChannel({
    baseUrl: sim.url,
    callbackUrl: hookUrl,
    webhookSecret: SMS_SECRET,
    timeoutMs: 2000,
    ...channelOpts,
  });
  handler = createSmsReceiptHandler(channel);
  return {
    sim,
    channel,
    hook,
    hookUrl,
    async stop() {
      await channel.close();
      await sim.close();
      await hook.close();
    },
  };
}
