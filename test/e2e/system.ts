/**
 * The whole system for notification tests: a real cloud (`startCloud`, port 0, demo off)
 * with the notification subsystem and its simulators (SMS gateway over HTTP, SMTP sink over
 * SMTP, both on port 0), and — optionally — a real hub (`startTestHub`: the edge runtime on a
 * simulated `cubby-24` board) provisioned from the cloud (its config document, pepper and
 * seal key) and syncing with it over the real WebSocket endpoint.
 *
 * Cloud and hub share one `ManualClock` by default: business time (backoff, receipt
 * timeouts, holds, expiry) moves only when a test advances it; sockets, boards and the
 * simulators' deliveries run on real timers, which tests wait for with `until()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { startCloud, type RunningCloud } from '../../cloud/main.js';
import { notifyConfig, type NotifyConfigInput } from '../../cloud/notify/outbox/notify-config.js';
import { attachNotifications, type NotifyRuntimeOptions, type NotifySystem } from '../../cloud/notify/outbox/notify-system.js';
import { openHubStore } from '../../edge/store/hub-store.js';
import { attachSync, type HubSync } from '../../edge/sync-wiring.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import { ManualClock, SeededRandom, type Clock } from '../../shared/ports.js';
import { waitUntil } from '../support/board.js';
import { seal } from '../../shared/crypto/sealed-box.js';
import { FAKE_HASH } from '../sync/harness.js';
import { AUDITOR, COURIER, TECHNICIAN, putParcelIn, startTestHub, type TestHub } from '../support/hub.js';

export const BANK = 'bank-1';
export const DEVICE_SECRET = 'bank-1-device-secret';
export const CARRIER_TOKEN = 'test-carrier-token';
export const CARRIER = 'test-carrier';
export const SUPPORT_TOKEN = 'test-support-token';
export const PHONE = '+4915112345678';
export const EMAIL = 'ada@example.com';

/** Options of {@link startSystem}. */
export interface SystemOptions {
  /** Default a ManualClock at 2026-01-05 08:00 UTC; pass the system clock for benchmarks. */
  clock?: Clock;
  /** Start a hub and sync it. Default false. */
  hub?: boolean;
  /** Notification configuration (sims on, ports 0, unless given). */
  notify?: NotifyConfigInput;
  /** Worker timings; default cheap argon2 for cloud-issued codes and a 20 ms poll. */
  runtime?: NotifyRuntimeOptions;
  /** Operational log lines of the cloud (asserted to hold no code or contact). */
  log?: string[];
  /** Reuse this data directory (a restart); default a fresh temp dir. */
  dataDir?: string;
}

/** A JSON answer. */
export interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface TestSystem {
  cloud: RunningCloud;
  notify: NotifySystem;
  clock: Clock;
  /** `clock` as a ManualClock (throws for another clock). */
  manual: ManualClock;
  hub?: TestHub;
  hubSync?: HubSync;
  /** Call the cloud API over HTTP; `token` defaults to support's. */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<Answer>;
  /** Announce a parcel as the carrier. */
  announce(parcelId: string, recipient?: Record<string, unknown>): Promise<Answer>;
  /** Courier deposit at the hub (open, put in, close, confirm); resolves once the cloud holds the code. */
  deposit(parcelId: string, size?: 'S' | 'M' | 'L'): Promise<{ compartment: number }>;
  /** Wait (real time) until `cond` holds. */
  until(cond: () => boolean, what: string, ms?: number): Promise<void>;
  /** The data directory (keys, database). */
  dataDir: string;
  /** Stop everything; `keepData` leaves the data directory for a restart. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startSystem(opts: SystemOptions = {}): Promise<TestSystem> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'cubby-system-'));
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 5, 8));
  const random = new SeededRandom(Math.floor(Math.random() * 2 ** 31));
  let notify: NotifySystem | undefined;
  const config = { port: 0, host: '127.0.0.1', dataDir, demo: false, automergeHeapMiB: 0, bankCache: 8 };
  const cloud = await startCloud(config, {
    clock,
    log: (m) => opts.log?.push(m),
    attach: async (parts) => {
      const a = await attachNotifications(parts, notifyConfig({ sims: true, smsSimPort: 0, smtpSinkPort: 0, ...opts.notify }), {
        codeHashParams: TEST_ARGON2,
        pollMs: 20,
        ...opts.runtime,
      });
      notify = a.system;
      return a;
    },
  });
  const now = clock.now();
  await cloud.store.credentials.addToken(CARRIER_TOKEN, { role: 'carrier', subject: CARRIER }, now);
  await cloud.store.credentials.addToken(SUPPORT_TOKEN, { role: 'support', subject: 'agent-1' }, now);
  const admin = new BankAdmin({ store: cloud.store, replicas: cloud.replicas, clock, random, hashParams: TEST_ARGON2 });
  await admin.registerBank(BANK, DEVICE_SECRET, layoutOf(8, 10, 6));
  await admin.setCourier(BANK, COURIER.id, 'Courier One', COURIER.secret);
  await admin.setTechnician(BANK, TECHNICIAN.id, 'Tech One', 'technician', TECHNICIAN.secret);
  await admin.setTechnician(BANK, AUDITOR.id, 'Audit One', 'auditor', AUDITOR.secret);

  let hub: TestHub | undefined;
  let hubSync: HubSync | undefined;
  if (opts.hub) {
    // Provision the hub as `cubby edge` does: the cloud-authored config document (same history).
    const file = join(dataDir, 'hub.sqlite');
    const pre = openHubStore({ file, bankId: BANK, clock, random });
    pre.docs.put(configDocId(BANK), A.load(A.save(cloud.replicas.get(BANK).docs.get(configDocId(BANK))!)));
    pre.close();
    hub = await startTestHub({ dataFile: file, keys: cloud.keys.seal, pepper: cloud.store.keys.pepper(BANK, random), model: 'cubby-24', clock });
    hubSync = attachSync({ cloudUrl: cloud.url, bankId: BANK, secret: DEVICE_SECRET, store: hub.store, clock });
    await waitUntil(() => cloud.sync.presence.online(BANK), 'the hub is connected', 10_000);
  }

  const api = async (method: string, path: string, body?: unknown, token: string | null = SUPPORT_TOKEN): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(cloud.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const sys: TestSystem = {
    cloud,
    notify: notify!,
    clock,
    get manual(): ManualClock {
      if (!(clock instanceof ManualClock)) throw new Error('this system runs on another clock');
      return clock;
    },
    hub,
    hubSync,
    api,
    announce: (parcelId, recipient = { name: 'Ada', phone: PHONE, email: EMAIL, preferences: ['sms', 'email'] }) =>
      api('POST', '/v1/parcels', { parcelId, bankId: BANK, carrier: CARRIER, trackingNumber: `T-${parcelId}`, size: 'S', recipient }, CARRIER_TOKEN),
    async deposit(parcelId, size = 'S') {
      if (!hub) throw new Error('no hub in this system');
      const opened = await hub.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId, size });
      if (opened.status !== 200) throw new Error(`deposit of ${parcelId}: ${opened.status} ${await opened.text()}`);
      const { compartment, depositId } = (await opened.json()) as { compartment: number; depositId: string };
      await putParcelIn(hub.sim, compartment);
      const confirmed = await hub.post(`/api/courier/deposit/${depositId}/confirm`);
      if (confirmed.status !== 200) throw new Error(`confirm of ${parcelId}: ${confirmed.status} ${await confirmed.text()}`);
      await sys.until(() => Object.keys(cloud.replicas.get(BANK).ledger.doc(parcelId)?.codes ?? {}).length > 0, `the cloud holds the code of ${parcelId}`);
      return { compartment };
    },
    until: (cond, what, ms = 20_000) => waitUntil(cond, what, ms),
    dataDir,
    async close(o = {}) {
      await hubSync?.stop();
      await hub?.close();
      await cloud.close();
      if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return sys;
}

/** The pickup code in a message body (`123-456789`). */
export function codeIn(body: string): string {
  const m = /code (\d{3}-\d{6})/.exec(body);
  if (!m) throw new Error('no pickup code in the message');
  return m[1]!;
}

/**
 * A hub-issued code as the sync server commits it, without a hub: the deposit and the code
 * (sealed to the cloud's key) written to the cloud's replica, the registry noting the parcel
 * and the notifier's in-transaction hook, in ONE transaction — what `SyncServer` does for a
 * document a hub sent. Returns the plaintext (the test plays the recipient's phone).
 */
export function hubIssuedCode(s: TestSystem, parcelId: string, opts: { compartment?: number; selector?: string; fail?: boolean } = {}): { code: string; codeId: string } {
  const replica = s.cloud.replicas.get(BANK);
  const selector = opts.selector ?? String(100 + Math.floor(Math.random() * 900));
  const code = `${selector}-${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
  const codeId = replica.docs.transaction(() => {
    const id = replica.ledger.depositAndIssue(
      parcelId,
      { depositId: `d-${parcelId}`, compartment: opts.compartment ?? 1, courierId: COURIER.id, size: 'S' },
      { selector, hash: FAKE_HASH, issuer: 'hub', sealed: seal(code, s.cloud.keys.seal.publicKey) },
    );
    s.cloud.store.parcels.noteSeen(parcelId, BANK, s.clock.now());
    s.notify.notifier.parcelReceived({ parcelId, bankId: BANK, doc: replica.ledger.doc(parcelId)! });
    if (opts.fail) throw new Error('the commit fails');
    return id;
  });
  return { code, codeId };
}
