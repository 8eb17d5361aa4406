/** The notification channels: the port, its three adapters and the health tracker. */
export * from './channel.js';
export * from './sms-http.js';
export * from './email-smtp.js';
export * from './push-webhook.js';
export * from './signature.js';
export { ReceiptEmitter } from './receipt-emitter.js';
