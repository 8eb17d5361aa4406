/**
 * `npm start`: the whole demo system on one machine — the cloud (API, sync, MQTT broker,
 * SMS and SMTP simulators) and the hubs of `bank-1` (24 compartments) and `bank-2` (12) on
 * simulated boards, each its own process, as in the field. Data in `./data/`, picked up
 * again on the next start. Ctrl-C stops everything.
 */
import '../shared/v8-flags.js'; // first: see the module
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const dataDir = resolve(process.env.CUBBY_DATA_DIR ?? join(root, 'data'));
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const env = { ...process.env, CUBBY_DEMO: '1', CUBBY_DATA_DIR: dataDir, CUBBY_SUPERVISOR_PID: String(process.pid) };
/** API.md's ports; each can be moved with its variable (the hubs: `CUBBY_BANK_1_PORT`, `CUBBY_BANK_2_PORT`). */
const port = (name: string, dflt: number): number => {
  const v = Number(process.env[name] || dflt);
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${name} must be a port number (1-65535), got ${process.env[name]}`);
  return v;
};
const ports = {
  cloud: port('CUBBY_CLOUD_PORT', 8000),
  mqtt: port('CUBBY_MQTT_PORT', 1883),
  sms: port('CUBBY_SMS_SIM_PORT', 8025),
  smtp: port('CUBBY_SMTP_SINK_PORT', 2525),
  bank1: port('CUBBY_BANK_1_PORT', 8081),
  bank2: port('CUBBY_BANK_2_PORT', 8082),
};
const children: ChildProcess[] = [];
let stopping = false;

function run(name: string, script: string, args: string[] = []): ChildProcess {
  const child = spawn(tsx, [join(root, script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => (l.startsWith('[') ? l : `[${name}] ${l}`))
      .join('\n') + '\n';
  child.stdout!.on('data', (c: Buffer) => process.stdout.write(prefix(c)));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.on('exit', (code, signal) => {
    if (stopping) return;
    // The others keep running: a hub without its cloud is a normal state (offline), and so
    // is a cloud without hubs. Ctrl-C stops everything.
    process.stderr.write(`[${name}] exited (${signal ?? code}); the other processes keep running.\n`);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) void stop(1);
  });
  children.push(child);
  return child;
}

async function waitFor(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  process.exit(code);
}

process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

run('cloud', 'cloud/main.ts');
await waitFor(join(dataDir, 'provision', 'bank-2.json'), 60_000);
// Provisioning files are rewritten at every cloud start; give it a moment to finish both.
await new Promise((r) => setTimeout(r, 300));
run('bank-1', 'edge/main.ts', ['--bank', 'bank-1', '--port', String(ports.bank1)]);
run('bank-2', 'edge/main.ts', ['--bank', 'bank-2', '--port', String(ports.bank2)]);

process.stdout.write(`
Cubby demo is starting. Data: ${dataDir}
  cloud API          http://127.0.0.1:${ports.cloud}   (carrier token demo-carrier-token, support token demo-support-token)
  MQTT broker        mqtt://127.0.0.1:${ports.mqtt}   (user bank-1 / bank-1-device-secret)
  SMS inbox          http://127.0.0.1:${ports.sms}/messages
  e-mail inbox       http://127.0.0.1:${ports.cloud}/v1/dev/mail   (SMTP sink on 127.0.0.1:${ports.smtp})
  bank-1 touchscreen http://127.0.0.1:${ports.bank1}/   (24 compartments)
  bank-2 touchscreen http://127.0.0.1:${ports.bank2}/   (12 compartments)
  courier courier-1 / courier-1-secret, technician tech-1 / tech-1-secret
Ctrl-C stops everything.
`);
