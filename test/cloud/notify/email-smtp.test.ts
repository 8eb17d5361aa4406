import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Receipt } from '../../../cloud/notify/channels/channel.js';
import { SmtpEmailChannel } from '../../../cloud/notify/channels/email-smtp.js';
import { createDevMailHandler, startSmtpSink, type SmtpSink } from '../../../cloud/notify/sim/smtp-sink.js';

describe('e-mail channel and SMTP sink', () => {
  let sink: SmtpSink;
  let channel: SmtpEmailChannel;
  const make = (extra: Partial<ConstructorParameters<typeof SmtpEmailChannel>[0]> = {}) =>
    new SmtpEmailChannel({ host: '127.0.0.1', port: sink.port, from: 'Cubby <noreply@cubby.test>', ignoreTLS: true, timeoutMs: 2000, ...extra });

  beforeEach(async () => {
    sink = await startSmtpSink();
    channel = make();
  });
  afterEach(async () => {
    await channel.close();
    await sink.close();
  });

  it('sets Message-ID from messageId and keeps subject, sender and body intact', async () => {
    const r = await channel.send({ messageId: 'att/42', to: 'Anna@Example.com', subject: 'Ihr Abholcode – Fach 3', body: 'Code: 123-456789' });
    expect(r).toEqual({ status: 'delivered', providerId: 'att/42' });
    expect(sink.messages()).toEqual([
      {
        to: 'anna@example.com',
        from: 'Cubby <noreply@cubby.test>',
        subject: 'Ihr Abholcode – Fach 3',
        text: 'Code: 123-456789',
        messageId: '<att=2f=42@cubby.test>',
        at: expect.any(Number),
      },
    ]);
    expect(channel.messageIdHeader('att/42')).toBe('<att=2f=42@cubby.test>');
    expect(channel.messageIdHeader('att=2f=42')).not.toBe(channel.messageIdHeader('att/42'));
  });

  it('a 550 for the recipient is a final failure plus an undelivered receipt (the bounce)', async () => {
    const got: Receipt[] = [];
    channel.onReceipt((r) => got.push(r));
    sink.rejectAddress('gone@example.com');
    const r = await channel.send({ messageId: 'b-1', to: 'gone@example.com', subject: 's', body: 'Code: 123-456789' });
    expect(r).toEqual({ status: 'failed', retryable: false, error: 'SMTP 550 at RCPT TO' });
    expect(got).toEqual([{ providerId: 'b-1', status: 'undelivered', error: 'SMTP 550 at RCPT TO', at: expect.any(Number) }]);
    sink.acceptAddress('gone@example.com');
    expect((await channel.send({ messageId: 'b-1', to: 'gone@example.com', subject: 's', body: 'x' })).status).toBe('delivered');
  });

  it('connection refused is retryable; the sink restarts on the same port and keeps its mail', async () => {
    const port = sink.port;
    expect((await channel.send({ messageId: 'r-1', to: 'a@example.com', subject: 's', body: 'one' })).status).toBe('delivered');
    await sink.stop();
    expect(sink.running).toBe(false);
    const down = await channel.send({ messageId: 'r-2', to: 'a@example.com', subject: 's', body: 'two' });
    expect(down).toEqual({ status: 'failed', retryable: true, error: 'SMTP connection: ECONNREFUSED' });
    await sink.start();
    expect(sink.port).toBe(port);
    expect((await channel.send({ messageId: 'r-2', to: 'a@example.com', subject: 's', body: 'two' })).status).toBe('delivered');
    expect(sink.messages().map((m) => m.text)).toEqual(['one', 'two']);
  });

  it('a server that never greets times out as retryable', async () => {
    const sockets: Socket[] = [];
    const mute = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const ch = make({ port: (mute.address() as AddressInfo).port, timeoutMs: 100 });
    const r = await ch.send({ messageId: 't-1', to: 'a@example.com', subject: 's', body: 'b' });
    expect(r).toMatchObject({ status: 'failed', retryable: true });
    expect((r as { error: string }).error).toMatch(/^SMTP connection: /);
    await ch.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => mute.close(resolve));
  });

  it('an address that is not one is final without talking to the server', async () => {
    const r = await channel.send({ messageId: 'x-1', to: 'not an address', subject: 's', body: 'b' });
    expect(r).toMatchObject({ status: 'failed', retryable: false });
  });

  it('acceptanceIsDelivery: false reports a relay 250 as accepted', async () => {
    const relay = make({ acceptanceIsDelivery: false });
    expect(await relay.send({ messageId: 'a-1', to: 'a@example.com', subject: 's', body: 'b' })).toEqual({
      status: 'accepted',
      providerId: 'a-1',
    });
    await relay.close();
  });

  it('accepts SMTP AUTH when the channel is configured with credentials', async () => {
    const authed = make({ auth: { user: 'cubby', pass: 'pw' } });
    expect((await authed.send({ messageId: 'auth-1', to: 'a@example.com', subject: 's', body: 'b' })).status).toBe('delivered');
    await authed.close();
  });

  it('serves the demo mailbox as JSON at the handler the cloud mounts on GET /v1/dev/mail', async () => {
    await channel.send({ messageId: 'd-1', to: 'a@example.com', subject: 'one', body: 'Code: 111-111111' });
    await channel.send({ messageId: 'd-2', to: 'b@example.com', subject: 'two', body: 'Code: 222-222222' });
    const app = new Hono();
    app.get('/v1/dev/mail', createDevMailHandler(sink));
    const all = (await (await app.request('/v1/dev/mail')).json()) as Array<{ to: string; text: string }>;
    expect(all.map((m) => m.to)).toEqual(['a@example.com', 'b@example.com']);
    const onlyB = (await (await app.request('/v1/dev/mail?to=B@example.com')).json()) as Array<{ text: string }>;
    expect(onlyB.map((m) => m.text)).toEqual(['Code: 222-222222']);
    sink.clear();
    expect(await (await app.request('/v1/dev/mail')).json()).toEqual([]);
    // Known Message-IDs survive clear(): a late duplicate stays hidden.
    await channel.send({ messageId: 'd-1', to: 'a@example.com', subject: 'one', body: 'Code: 111-111111' });
    expect(sink.messages()).toEqual([]);
    expect(sink.duplicates).toBe(1);
  });
});
