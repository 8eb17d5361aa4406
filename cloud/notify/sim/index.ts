/** Local provider simulators for tests and `npm start`: real HTTP and SMTP servers. */
export * from './sms-gateway-sim.js';
export * from './smtp-sink.js';
export * from './push-receiver-sim.js';
export { listenHttp, type RunningServer } from './http-listen.js';
