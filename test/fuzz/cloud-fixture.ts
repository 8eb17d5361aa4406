/**
 * A cloud worth fuzzing: the real `createCloudApp` over a temp SQLite file, demo-seeded with
 * cheap argon2 parameters (two banks, a carrier and a support token), parcels in every state
 * (announced, deposited with a live code, picked up, revoked, at the other bank), a command
 * transport that takes every remote open — and, when the notification subsystem is present in
 * this checkout (`cloud/notify/outbox/notify-system.ts`), its routes too (resend, contact change,
 * diagnosis, channel health, the signed SMS receipt hook, self-service), with its simulators on
 * free ports. Plus the route table for {@link requestsFor}, with valid values drawn from that
 * state so the fuzzer gets past validation into the code behind it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import type { Hono } from 'hono';
import { CLOUD_MAX_BODY_BYTES, createCloudApp } from '../../cloud/app.js';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { DEMO, DEMO_BANKS, seedDemo } from '../../cloud/demo-seed.js';
import { generateCloudKeys, type CloudKeys } from '../../cloud/keys.js';
import type { CloudParts } from '../../cloud/main.js';
import type { BankCommandSender, CloudNotifier, OpenCommand } from '../../cloud/ports.js';
import { openCloudStore, type CloudStore } from '../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';
import { FAKE_HASH } from '../sync/harness.js';
import { PROTO_KEYS, type FuzzOptions, type RouteSpec } from './arbitraries.js';

/** `authorization` values of the demo tokens. */
export const CARRIER_AUTH = `Bearer ${DEMO.carrierToken}`;
export const SUPPORT_AUTH = `Bearer ${DEMO.supportToken}`;

/** The SMS webhook secret of the fuzzed cloud (so some receipts carry a valid signature). */
export const SMS_WEBHOOK_SECRET = 'fuzz-sms-webhook-secret-0123456789';

/** Parcels of the fixture, by state. */
export const PARCELS = {
  announced: 'P-ann',
  live: 'P-live',
  live2: 'P-live2',
  pickedUp: 'P-used',
  revoked: 'P-revoked',
  otherBank: 'P-bank2',
} as const;

export interface CloudFixture {
  app: Hono;
  store: CloudStore;
  replicas: BankReplicas;
  clock: ManualClock;
  keys: CloudKeys;
  /** Remote opens the app handed to the transport. */
  sent: { bankId: string; command: OpenCommand }[];
  /** The notification subsystem's routes are mounted. */
  notify: boolean;
  routes: RouteSpec[];
  options: FuzzOptions;
  close(): Promise<void>;
}

interface NotifyModule {
  attachNotifications(parts: CloudParts, config: unknown, runtime?: unknown): Promise<{ notifier?: CloudNotifier; routes?: Hono[]; started?(c: { url: string; presence: unknown }): void | Promise<void>; close?(): Promise<void> }>;
}
interface NotifyConfigModule {
  notifyConfig(input: Record<string, unknown>): unknown;
}

/**
 * The notification subsystem, if this checkout has it (it is loaded by path so that this
 * fixture also runs where it does not exist yet).
 */
async function loadNotify(): Promise<{ sys: NotifyModule; cfg: NotifyConfigModule } | undefined> {
  const base = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'cloud', 'notify', 'outbox');
  const sysFile = join(base, 'notify-system.ts');
  const cfgFile = join(base, 'notify-config.ts');
  if (!existsSync(sysFile) || !existsSync(cfgFile)) return undefined;
  const sys = (await import(pathToFileURL(sysFile).href)) as NotifyModule;
  const cfg = (await import(pathToFileURL(cfgFile).href)) as NotifyConfigModule;
  return typeof sys.attachNotifications === 'function' && typeof cfg.notifyConfig === 'function' ? { sys, cfg } : undefined;
}

export async function createCloudFixture(opts: { withNotify?: boolean } = {}): Promise<CloudFixture> {
  const file = join(tmpdir(), `cubby-cloud-fuzz-${randomBytes(6).toString('hex')}.sqlite`);
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 8));
  const random = new SeededRandom(20260611);
  const store = openCloudStore(file, { hashParams: TEST_ARGON2 });
  const replicas = new BankReplicas({ db: store.db, clock, random });
  const keys = generateCloudKeys();
  const admin = new BankAdmin({ store, replicas, clock, random, hashParams: TEST_ARGON2 });
  await seedDemo({ store, replicas, admin, now: clock.now() });

  const sent: CloudFixture['sent'] = [];
  const commands: BankCommandSender = {
    send: async (bankId, command) => void sent.push({ bankId, command }),
    nudge: async () => {},
  };

  let notifier: CloudNotifier | undefined;
  let extraRoutes: Hono[] = [];
  let closeNotify: (() => Promise<void>) | undefined;
  const notifyMod = opts.withNotify === false ? undefined : await loadNotify();
  if (notifyMod) {
    const config = notifyMod.cfg.notifyConfig({ sims: true, smsSimPort: 0, smtpSinkPort: 0, smsWebhookSecret: SMS_WEBHOOK_SECRET, contactHoldMs: 0 });
    const parts: CloudParts = {
      config: { port: 0, host: '127.0.0.1', dataDir: tmpdir(), demo: false, automergeHeapMiB: 0, bankCache: 64, nodeId: 'local', nodes: [], deadAfterMs: 4000, forward: true },
      store,
      replicas,
      keys,
      clock,
      random,
      log: () => {},
    };
    const att = await notifyMod.sys.attachNotifications(parts, config, { codeHashParams: TEST_ARGON2, pollMs: 60_000, smsDeliveryDelayMs: 0 });
    notifier = att.notifier;
    extraRoutes = att.routes ?? [];
    await att.started?.({ url: 'http://127.0.0.1:9', presence: undefined });
    closeNotify = att.close;
  }

  const app = createCloudApp({ store, replicas, clock, random, keys, commands, notifier, routes: extraRoutes }) as unknown as Hono;

  // Parcels in every state, announced through the API as a carrier would.
  const announce = async (parcelId: string, bankId: string) => {
    const res = await app.request('/v1/parcels', {
      method: 'POST',
      headers: { authorization: CARRIER_AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ parcelId, bankId, carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'Ada', phone: '+4915112345678', email: 'ada@example.com' } }),
    });
    if (res.status !== 201) throw new Error(`announce ${parcelId}: ${res.status} ${await res.text()}`);
  };
  for (const p of [PARCELS.announced, PARCELS.live, PARCELS.live2, PARCELS.pickedUp, PARCELS.revoked]) await announce(p, 'bank-1');
  await announce(PARCELS.otherBank, 'bank-2');
  // Deposits and codes as bank-1's hub would have synced them.
  const b1 = replicas.get('bank-1').ledger;
  const deposit = (ledger: typeof b1, parcelId: string, compartment: number, selector: string) =>
    ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector, hash: FAKE_HASH, issuer: 'hub' });
  deposit(b1, PARCELS.live, 1, '101');
  deposit(b1, PARCELS.live2, 2, '102');
  const used = deposit(b1, PARCELS.pickedUp, 3, '103');
  b1.markUsed(PARCELS.pickedUp, used, 'att-1', 3);
  deposit(b1, PARCELS.revoked, 4, '104');
  b1.revoke(PARCELS.revoked, 'fixture');
  deposit(replicas.get('bank-2').ledger, PARCELS.otherBank, 1, '201');
  if (!liveCode(b1.doc(PARCELS.live)!, clock.now())) throw new Error('fixture: no live code');

  const parcelIds = fc.constantFrom(...Object.values(PARCELS), 'P-unknown', ...PROTO_KEYS.slice(0, 3));
  const bankIds = fc.constantFrom(...DEMO_BANKS.map((b) => b.bankId), 'bank-9', 'constructor');
  const reason = fc.oneof(fc.constantFrom('fuzz', 'stolen phone', ' '), fc.string({ maxLength: 30 }));
  const phone = fc.constantFrom('+4915112345678', '+4915199998888', '+1 202 555 0143', '0151 1234', '');
  const email = fc.constantFrom('ada@example.com', 'bob@example.org', 'not-an-email', '');
  const prefs = fc.subarray(['sms', 'email', 'push'], { minLength: 1 });
  const routes: RouteSpec[] = [
    {
      method: 'POST',
      path: '/v1/parcels',
      auth: 'carrier',
      bodyShape: {
        parcelId: { valid: fc.oneof(parcelIds, fc.stringMatching(/^F-[a-z0-9]{1,8}$/)) },
        bankId: { valid: bankIds },
        carrier: { valid: fc.constantFrom(DEMO.carrierName, 'other-carrier') },
        trackingNumber: { valid: fc.stringMatching(/^TRK-[0-9]{1,6}$/) },
        size: { valid: fc.constantFrom('S', 'M', 'L') },
        recipient: {
          valid: fc.record({ name: fc.constantFrom('Ada', 'Bob'), phone, email, preferences: prefs }, { requiredKeys: ['name'] }),
        },
      },
    },
    { method: 'GET', path: '/v1/parcels/:parcelId', auth: 'any', params: { parcelId: parcelIds } },
    { method: 'POST', path: '/v1/parcels/:parcelId/revoke', auth: 'support', params: { parcelId: parcelIds }, bodyShape: { reason: { valid: reason } } },
    { method: 'GET', path: '/v1/banks/:bankId', auth: 'support', params: { bankId: bankIds } },
    {
      method: 'POST',
      path: '/v1/banks/:bankId/compartments/:n/open',
      auth: 'support',
      params: { bankId: bankIds, n: fc.constantFrom('1', '12', '24', '25', '0') },
      bodyShape: { reason: { valid: reason } },
    },
  ];
  if (notifyMod) {
    routes.push(
      { method: 'GET', path: '/v1/parcels/:parcelId/diagnosis', auth: 'support', params: { parcelId: parcelIds } },
      { method: 'POST', path: '/v1/parcels/:parcelId/resend', auth: 'support', params: { parcelId: parcelIds }, bodyShape: { channel: { valid: fc.constantFrom('sms', 'email', 'push'), optional: true } } },
      {
        method: 'PATCH',
        path: '/v1/recipients/:parcelId',
        auth: 'support',
        params: { parcelId: parcelIds },
        bodyShape: { phone: { valid: fc.option(phone), optional: true }, email: { valid: fc.option(email), optional: true }, preferences: { valid: prefs, optional: true } },
      },
      { method: 'GET', path: '/v1/health/channels', auth: 'support' },
      {
        method: 'POST',
        path: '/v1/hooks/sms',
        bodyShape: { id: { valid: fc.string({ minLength: 1, maxLength: 20 }) }, status: { valid: fc.constantFrom('delivered', 'failed', 'undelivered') }, error: { valid: fc.string({ maxLength: 20 }), optional: true } },
      },
      { method: 'GET', path: '/help' },
      { method: 'POST', path: '/v1/self-service/diagnosis', bodyShape: { parcelId: { valid: parcelIds }, phoneLast4: { valid: fc.constantFrom('5678', '0000', '12a4') } } },
    );
  }
  const options: FuzzOptions = {
    maxBodyBytes: CLOUD_MAX_BODY_BYTES,
    credentials: {
      carrier: [CARRIER_AUTH, CARRIER_AUTH, SUPPORT_AUTH],
      support: [SUPPORT_AUTH, SUPPORT_AUTH, CARRIER_AUTH],
      any: [CARRIER_AUTH, SUPPORT_AUTH],
    },
    validCredentialShare: 0.75,
  };
  return {
    app,
    store,
    replicas,
    clock,
    keys,
    sent,
    notify: notifyMod !== undefined,
    routes,
    options,
    async close() {
      await closeNotify?.();
      store.close();
      for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
    },
  };
}

/**
 * What a refusal must not change: the Automerge heads of every document of every bank (in
 * memory and as stored), the parcel registry and the contacts. Rows only: cheap enough to take
 * around every request of a small fixture.
 */
export function cloudSnapshot(f: Pick<CloudFixture, 'store' | 'replicas'>): { docs: Record<string, string[]>; rows: string } {
  const docs: Record<string, string[]> = {};
  for (const bank of DEMO_BANKS) {
    const d = f.replicas.get(bank.bankId).docs;
    for (const id of [...d.ids()].sort()) docs[`${bank.bankId}/${id}`] = [...A.getHeads(d.get(id)!)].sort();
  }
  const h = createHash('sha256');
  for (const [table, order] of [['bank_doc_chunks', '1, 2, 3'], ['parcels', '1'], ['contacts', '1'], ['devices', '1'], ['api_tokens', '1']] as const) {
    for (const row of f.store.db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).iterate() as Iterable<Record<string, unknown>>) {
      for (const v of Object.values(row)) h.update(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
      h.update('\n');
    }
  }
  return { docs, rows: h.digest('hex') };
}
