import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';

/** Demo-like credentials (API.md), used against every broker. */
export const CREDS = {
  cloud: { username: 'cubby-cloud', secret: 'cubby-cloud-secret' },
  banks: { 'bank-1': 'bank-1-device-secret', 'bank-2': 'bank-2-device-secret' } as Record<string, string>,
};

/** Poll `pred` until true; throws with `what` after `timeoutMs`. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bare mqtt.js client that never reconnects (for probing the broker's rules). */
export function rawConnect(url: string, username: string, password: string, clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, username, password, clientId, reconnectPeriod: 0, connectTimeout: 3000, ...extra });
}

/** Messages received by `c`, as `topic payload` lines. */
export function recordMessages(c: MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
  return got;
}

/** Subscribe and report whether the broker granted it (false for SUBACK 0x80). */
export async function trySubscribe(c: MqttClient, filter: string): Promise<boolean> {
  try {
    const g = await c.subscribeAsync(filter, { qos: 1 });
    return g.every((x) => x.qos < 128);
  } catch {
    return false;
  }
}

/** End a client, ignoring errors (it may already be closed by the broker). */
export async function endQuietly(c: MqttClient | undefined): Promise<void> {
  if (!c) return;
  try {
    await c.endAsync(true);
  } catch {
    // already gone
  }
}

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
