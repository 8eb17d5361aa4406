/**
 * `npm start` as a user runs it (`bin/start.ts`: the cloud, the embedded broker, the SMS and
 * SMTP simulators, and the hubs of bank-1 and bank-2 on simulated boards, each its own process),
 * on free ports and a temp data directory instead of API.md's fixed ones — the variables
 * `CUBBY_CLOUD_PORT`, `CUBBY_MQTT_PORT`, `CUBBY_SMS_SIM_PORT`, `CUBBY_SMTP_SINK_PORT`,
 * `CUBBY_BANK_1_PORT`, `CUBBY_BANK_2_PORT` move them.
 *
 * The flow of issue 4's "done when": a parcel announced to the cloud, deposited at bank-1 (the
 * demo's simulated courier puts it in), its code delivered by SMS, revoked in the cloud — and
 * refused at bank-1 a second later. Then Ctrl-C stops every process, and a second start on the
 * same data directory still knows the parcel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'cubby-start-'));
const CARRIER = { authorization: 'Bearer demo-carrier-token', 'content-type': 'application/json' };
const SUPPORT = { authorization: 'Bearer demo-support-token', 'content-type': 'application/json' };
const JSON_BODY = { 'content-type': 'application/json' };

interface Started {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number, s: Started): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}\n--- npm start output ---\n${s.output().slice(-4000)}`);
    await sleep(100);
  }
}

function start(env: Record<string, string>): Started {
  const proc = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'bin', 'start.ts')], {
    cwd: root,
    env: { ...process.env, ...env, CUBBY_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

const running: Started[] = [];
afterAll(async () => {
  for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('runs the cloud and both banks; announce -> deposit at bank-1 -> SMS code -> revoked in the cloud -> refused at bank-1 within a second; Ctrl-C stops it all; a restart keeps the data', async () => {
    const ports = { cloud: await freePort(), mqtt: await freePort(), sms: await freePort(), smtp: await freePort(), bank1: await freePort(), bank2: await freePort() };
    const env = {
      CUBBY_CLOUD_PORT: String(ports.cloud),
      CUBBY_MQTT_PORT: String(ports.mqtt),
      CUBBY_SMS_SIM_PORT: String(ports.sms),
      CUBBY_SMTP_SINK_PORT: String(ports.smtp),
      CUBBY_BANK_1_PORT: String(ports.bank1),
      CUBBY_BANK_2_PORT: String(ports.bank2),
    };
    const cloud = `http://127.0.0.1:${ports.cloud}`;
    const bank1 = `http://127.0.0.1:${ports.bank1}`;
    const bank2 = `http://127.0.0.1:${ports.bank2}`;
    const online = (s: Started) => (url: string) =>
      until(`${url} online`, async () => ((await (await fetch(`${url}/health`)).json()) as { online: boolean }).online || undefined, 60_000, s);

    // ---- first start ------------------------------------------------------------------------
    const first = start(env);
    running.push(first);
    await online(first)(bank1);
    await online(first)(bank2);
    expect(first.output()).toContain(`bank-1 touchscreen http://127.0.0.1:${ports.bank1}/`);

    const announced = await fetch(`${cloud}/v1/parcels`, {
      method: 'POST',
      headers: CARRIER,
      body: JSON.stringify({
        parcelId: 'P-START',
        bankId: 'bank-1',
        carrier: 'demo-carrier',
        trackingNumber: 'T-START',
        size: 'S',
        recipient: { name: 'Anna', phone: '+4915112345678', preferences: ['sms'] },
      }),
    });
    expect(announced.status).toBe(201);
    const opened = (await (
      await fetch(`${bank1}/api/courier/deposit`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify({ courierId: 'courier-1', secret: 'courier-1-secret', parcelId: 'P-START', size: 'S' }) })
    ).json()) as { depositId: string; compartment: number };
    expect(opened.compartment).toBeGreaterThan(0);
    // The demo's courier puts the parcel in and the door closes by itself: then Done.
    await until(
      'the deposit is confirmed',
      async () => ((await fetch(`${bank1}/api/courier/deposit/${opened.depositId}/confirm`, { method: 'POST' })).status === 200 ? true : undefined),
      30_000,
      first,
    );
    const code = await until(
      'the code arrives by SMS',
      async () => {
        const inbox = (await (await fetch(`http://127.0.0.1:${ports.sms}/messages`)).json()) as { to: string; body: string }[];
        return /\b(\d{3}-\d{6})\b/.exec(inbox.find((m) => m.body.includes('P-START'))?.body ?? '')?.[1];
      },
      30_000,
      first,
    );

    const revoked = await fetch(`${cloud}/v1/parcels/P-START/revoke`, { method: 'POST', headers: SUPPORT, body: JSON.stringify({ reason: 'npm start test' }) });
    expect(revoked.status).toBe(200);
    await sleep(1000);
    const pickup = await fetch(`${bank1}/api/pickup`, { method: 'POST', headers: JSON_BODY, body: JSON.stringify({ code }) });
    expect([pickup.status, ((await pickup.json()) as { error: { code: string } }).error.code]).toEqual([410, 'code_revoked']);

    // ---- Ctrl-C -----------------------------------------------------------------------------
    first.proc.kill('SIGINT');
    expect(await first.exited).toBe(0);
    for (const url of [cloud, bank1, bank2]) await expect(fetch(`${url}/health`)).rejects.toThrow();

    // ---- second start: the same data --------------------------------------------------------
    const second = start(env);
    running.push(second);
    await online(second)(bank1);
    const parcel = (await (await fetch(`${cloud}/v1/parcels/P-START`, { headers: SUPPORT })).json()) as { status: string; codes: { state: string }[] };
    expect(parcel.status).toBe('deposited');
    expect(parcel.codes.map((c) => c.state)).toEqual(['revoked']);
    second.proc.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
