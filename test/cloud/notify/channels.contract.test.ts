import { notificationChannelContract } from '../../contracts/notification-channel.contract.js';
import { SmtpEmailChannel } from '../../../cloud/notify/channels/email-smtp.js';
import { PushWebhookChannel } from '../../../cloud/notify/channels/push-webhook.js';
import { startPushReceiverSim } from '../../../cloud/notify/sim/push-receiver-sim.js';
import { startSmtpSink } from '../../../cloud/notify/sim/smtp-sink.js';
import { startSmsRig } from './harness.js';

const phone = (i: number): string => `+4915112345${String(i).padStart(3, '0')}`;

for (const variant of [
  { label: '503 when down, unreachable rejected at send', refuseConnections: false, unreachable: 'reject' as const },
  { label: 'refuses connections when down, unreachable -> undelivered receipt', refuseConnections: true, unreachable: 'undelivered' as const },
]) {
  notificationChannelContract(`sms over HTTP gateway sim (${variant.label})`, async () => {
    const rig = await startSmsRig({ refuseConnections: variant.refuseConnections, unreachableBehaviour: variant.unreachable });
    return {
      channel: rig.channel,
      recipient: phone,
      inbox: async () => rig.sim.inbox(),
      goDown: () => rig.sim.setMode('down'),
      goUp: () => rig.sim.setMode('up'),
      makeUnreachable: async (to) => rig.sim.markUnreachable(to),
      settle: () => rig.sim.idle(),
      teardown: () => rig.stop(),
    };
  });
}

notificationChannelContract('email over SMTP to the sink', async () => {
  const sink = await startSmtpSink();
  const channel = new SmtpEmailChannel({
    host: '127.0.0.1',
    port: sink.port,
    from: 'Cubby <noreply@cubby.test>',
    ignoreTLS: true,
    timeoutMs: 2000,
  });
  return {
    channel,
    recipient: (i) => `anna${i}@example.com`,
    inbox: async () => sink.messages().map((m) => ({ to: m.to, body: m.text })),
    goDown: () => sink.stop(),
    goUp: async () => {
      await sink.start();
    },
    makeUnreachable: async (to) => sink.rejectAddress(to),
    settle: async () => {},
    teardown: async () => {
      await channel.close();
      await sink.close();
    },
  };
});

notificationChannelContract('push over signed webhook to the receiver sim', async () => {
  const sim = await startPushReceiverSim({ secret: 'push-secret' });
  const channel = new PushWebhookChannel({ url: sim.pushUrl, secret: 'push-secret', timeoutMs: 2000 });
  return {
    channel,
    recipient: (i) => `device-${i}`,
    inbox: async () => sim.inbox(),
    goDown: async () => sim.setMode('down'),
    goUp: async () => sim.setMode('up'),
    makeUnreachable: async (to) => sim.makeUnreachable(to),
    settle: async () => {},
    teardown: async () => {
      await channel.close();
      await sim.close();
    },
  };
});
