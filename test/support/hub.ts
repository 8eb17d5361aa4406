/**
 * Test helpers for anything that needs a whole edge hub: a provisioned bank (a courier, a
 * technician and an auditor in the cloud-authored config document), a simulated board with
 * fast timings, a temp SQLite file, and the cloud's seal key pair so a test can read an
 * issued code the way the cloud does (open the `sealed` field of the code record).
 *
 * Two shapes:
 * - {@link startTestHub}: the real runtime (`startHub`: HTTP on 127.0.0.1:0, scanner, sweep).
 * - {@link createTestApp}: `createHubServices` + `createEdgeApp`, driven with `app.request()`;
 *   `restart()` closes the store and opens the same file again (what a power cut leaves).
 *
 * ```ts
 * const h = await createTestApp({ clock: new ManualClock() });
 * const { compartment, parcelId } = await h.depositParcel('p-1', 'S');
 * const res = await h.post('/api/pickup', { code: h.readCode(parcelId) });
 * await h.close();
 * ```
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import argon2 from 'argon2';
import type { Hono } from 'hono';
import type { BankModelName } from '../../devices/bank-model.js';
import { createEdgeApp } from '../../edge/app.js';
import { startHub, type HubRuntime, type HubRuntimeOptions } from '../../edge/hub-runtime.js';
import { createHubServices, type Connectivity, type HubServices } from '../../edge/hub-services.js';
import type { ThrottlePolicy } from '../../edge/services/throttle.js';
import { openHubStore, type HubStore } from '../../edge/store/hub-store.js';
import { Argon2CodeHasher, TEST_ARGON2, type Argon2Params } from '../../shared/codes/hasher.js';
import { generateSealKeyPair, open, type SealKeyPair } from '../../shared/crypto/sealed-box.js';
import { BankConfigAuthor } from '../../shared/ledger/bank-config.js';
import type { DocSet } from '../../shared/ledger/doc-set.js';
import { codesNewestFirst } from '../../shared/ledger/parcel-doc.js';
import type { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { ManualClock, systemClock, type Clock, type Random } from '../../shared/ports.js';
import { createSimulatedBank, waitUntil, type SimulatedBank, type TestBankOptions } from './board.js';

export const TEST_BANK = 'bank-1';
export const COURIER = { id: 'courier-1', secret: 'courier-1-secret' } as const;
export const TECHNICIAN = { id: 'tech-1', secret: 'tech-1-secret' } as const;
export const AUDITOR = { id: 'auditor-1', secret: 'auditor-1-secret' } as const;

/**
 * The door-open timeout of test hubs. The board answers in ~20 ms; 250 ms (the fast bank
 * default) proved too tight on a loaded 2-core machine: a late sensor report made the hub
 * (correctly) mark a healthy door faulty and move on. Jammed-door tests wait this long.
 */
export const HUB_OPEN_TIMEOUT_MS = 750;

/** Cheap argon2id parameters for the credential hashes of tests (the PHC string carries them). */
const CREDENTIAL_ARGON2 = { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 } as const;
let credentialHashes: Promise<Record<'courier' | 'technician' | 'auditor', string>> | undefined;

function hashesOnce(): Promise<Record<'courier' | 'technician' | 'auditor', string>> {
  credentialHashes ??= Promise.all([
    argon2.hash(COURIER.secret, CREDENTIAL_ARGON2),
    argon2.hash(TECHNICIAN.secret, CREDENTIAL_ARGON2),
    argon2.hash(AUDITOR.secret, CREDENTIAL_ARGON2),
  ]).then(([courier, technician, auditor]) => ({ courier, technician, auditor }));
  return credentialHashes;
}

/**
 * Write the bank's config document as the cloud would (BankConfigAuthor): compartment sizes
 * of `bank`, one courier, one technician, one auditor. Idempotent.
 */
export async function provisionBank(docs: DocSet, bankId: string, sizes: Record<string, { size: 'S' | 'M' | 'L' }>): Promise<void> {
  const h = await hashesOnce();
  const author = new BankConfigAuthor(docs);
  const doc = author.ensure(bankId, sizes);
  if (!doc.couriers[COURIER.id]) author.setCourier(bankId, COURIER.id, 'Courier One', h.courier);
  if (!doc.technicians[TECHNICIAN.id]) author.setTechnician(bankId, TECHNICIAN.id, 'Tech One', 'technician', h.technician);
  if (!doc.technicians[AUDITOR.id]) author.setTechnician(bankId, AUDITOR.id, 'Audit One', 'auditor', h.auditor);
}

/** The plaintext of the parcel's newest code, opened with the cloud's private key (as the cloud would). */
export function readSealedCode(ledger: ParcelLedger, keys: SealKeyPair, parcelId: string): string {
  const doc = ledger.doc(parcelId);
  if (!doc) throw new Error(`no parcel ${parcelId} in the ledger`);
  const newest = codesNewestFirst(doc)[0];
  if (!newest?.sealed) throw new Error(`parcel ${parcelId} has no sealed code`);
  return open(newest.sealed.toString(), keys);
}

/** Options shared by both hub shapes. */
export interface TestHubOptions {
  /** Default `cubby-12` (S 1-4, M 5-8, L 9-12). */
  model?: BankModelName;
  /** Default a `ManualClock` for `createTestApp`, the system clock for `startTestHub`. */
  clock?: Clock;
  random?: Random;
  /** Default `TEST_ARGON2`. */
  argon2?: Argon2Params;
  throttlePolicy?: ThrottlePolicy;
  codeTtlMs?: number;
  /** Default false: no seal key, as a hub with no cloud configured. */
  standalone?: boolean;
  connectivity?: () => Connectivity;
  /** Extra simulated-bank options. */
  bank?: Omit<TestBankOptions, 'model'>;
  /** Reuse this data file (default: a fresh temp dir, removed on close). */
  dataFile?: string;
  /** The bank's pepper (default: 32 fresh random bytes). Pass the old one to restart a hub. */
  pepper?: Uint8Array;
  /** The cloud's seal key pair (default: a fresh one). */
  keys?: SealKeyPair;
}

interface Common {
  bankId: string;
  sim: SimulatedBank;
  board: SimulatedBank['board'];
  keys: SealKeyPair;
  pepper: Uint8Array;
  dataFile: string;
  readCode(parcelId: string): string;
}

function sizesOf(sim: SimulatedBank): Record<string, { size: 'S' | 'M' | 'L' }> {
  return Object.fromEntries(sim.bank.statuses().map((s) => [String(s.no), { size: s.size }]));
}

function tempFile(): { file: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cubby-hub-'));
  return { file: join(dir, 'hub.sqlite'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A hub built from its services, driven with `app.request()` (no server). */
export interface TestApp extends Common {
  app: Hono;
  services: HubServices;
  store: HubStore;
  clock: Clock;
  /** `clock` when it is a ManualClock (the default). */
  manual: ManualClock;
  /** POST a JSON body (or a raw string / init) to the app. */
  post(path: string, body?: unknown, init?: RequestInit): Promise<Response>;
  get(path: string, init?: RequestInit): Promise<Response>;
  /** Courier deposit through the API: open, put the parcel in, close the door, confirm. */
  depositParcel(parcelId: string, size?: 'S' | 'M' | 'L'): Promise<{ parcelId: string; compartment: number; code: string }>;
  /** Close the store and open the same file again with fresh services (the board stays). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function createTestApp(opts: TestHubOptions = {}): Promise<TestApp> {
  const sim = await createSimulatedBank({ model: opts.model ?? 'cubby-12', openTimeoutMs: HUB_OPEN_TIMEOUT_MS, ...opts.bank });
  const tmp = opts.dataFile ? { file: opts.dataFile, cleanup: () => {} } : tempFile();
  const keys = opts.keys ?? generateSealKeyPair();
  const pepper = opts.pepper ?? new Uint8Array(randomBytes(32));
  const clock = opts.clock ?? new ManualClock();
  const random = opts.random ?? { bytes: (n: number) => new Uint8Array(randomBytes(n)) };
  const hasher = new Argon2CodeHasher(pepper, opts.argon2 ?? TEST_ARGON2);

  const build = async (): Promise<{ store: HubStore; services: HubServices; app: Hono }> => {
    const store = openHubStore({ file: tmp.file, bankId: TEST_BANK, clock, random, codeTtlMs: opts.codeTtlMs });
    await provisionBank(store.docs, TEST_BANK, sizesOf(sim));
    const services = createHubServices({
      bankId: TEST_BANK,
      store,
      bank: sim.bank,
      hasher,
      clock,
      random,
      cloudSealKey: opts.standalone ? undefined : keys.publicKey,
      connectivity: opts.connectivity,
      throttlePolicy: opts.throttlePolicy,
    });
    return { store, services, app: createEdgeApp(services) };
  };

  const h = {
    bankId: TEST_BANK,
    sim,
    board: sim.board,
    keys,
    pepper,
    dataFile: tmp.file,
    clock,
    get manual(): ManualClock {
      if (!(clock instanceof ManualClock)) throw new Error('this test app runs on a real clock');
      return clock;
    },
    ...(await build()),
  } as TestApp;

  h.readCode = (parcelId) => readSealedCode(h.store.ledger, keys, parcelId);
  h.post = (path, body, init = {}) =>
    Promise.resolve(
      h.app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
        body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
        ...omit(init, 'headers'),
      }),
    );
  h.get = (path, init) => Promise.resolve(h.app.request(path, init));
  h.depositParcel = async (parcelId, size = 'S') => {
    const opened = await h.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId, size });
    if (opened.status !== 200) throw new Error(`deposit of ${parcelId}: ${opened.status} ${await opened.text()}`);
    const { compartment, depositId } = (await opened.json()) as { compartment: number; depositId: string };
    await putParcelIn(sim, compartment);
    const confirmed = await h.post(`/api/courier/deposit/${depositId}/confirm`);
    if (confirmed.status !== 200) throw new Error(`confirm of ${parcelId}: ${confirmed.status} ${await confirmed.text()}`);
    return { parcelId, compartment, code: h.readCode(parcelId) };
  };
  h.restart = async () => {
    h.store.close();
    Object.assign(h, await build());
  };
  h.close = async () => {
    h.store.close();
    await sim.close();
    tmp.cleanup();
  };
  return h;
}

/** The real runtime (`startHub`) on a simulated board, with HTTP on 127.0.0.1:0. */
export interface TestHub extends Common {
  hub: HubRuntime;
  url: string;
  store: HubStore;
  services: HubServices;
  /** POST JSON to the hub over HTTP. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  depositParcel(parcelId: string, size?: 'S' | 'M' | 'L'): Promise<{ parcelId: string; compartment: number; code: string }>;
  close(): Promise<void>;
}

export async function startTestHub(opts: TestHubOptions & Partial<Pick<HubRuntimeOptions, 'sweepEveryMs' | 'log'>> = {}): Promise<TestHub> {
  const sim = await createSimulatedBank({ model: opts.model ?? 'cubby-12', openTimeoutMs: HUB_OPEN_TIMEOUT_MS, ...opts.bank });
  const tmp = opts.dataFile ? { file: opts.dataFile, cleanup: () => {} } : tempFile();
  const keys = opts.keys ?? generateSealKeyPair();
  const pepper = opts.pepper ?? new Uint8Array(randomBytes(32));
  const hub = await startHub({
    bankId: TEST_BANK,
    dataFile: tmp.file,
    bank: sim.bank,
    pepper,
    argon2: opts.argon2 ?? TEST_ARGON2,
    clock: opts.clock ?? systemClock,
    random: opts.random,
    cloudSealKey: opts.standalone ? undefined : keys.publicKey,
    codeTtlMs: opts.codeTtlMs,
    throttlePolicy: opts.throttlePolicy,
    connectivity: opts.connectivity,
    sweepEveryMs: opts.sweepEveryMs,
    log: opts.log,
  });
  await provisionBank(hub.store.docs, TEST_BANK, sizesOf(sim));
  const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(hub.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const t: TestHub = {
    bankId: TEST_BANK,
    sim,
    board: sim.board,
    keys,
    pepper,
    dataFile: tmp.file,
    hub,
    url: hub.url,
    store: hub.store,
    services: hub.services,
    readCode: (parcelId) => readSealedCode(hub.store.ledger, keys, parcelId),
    post,
    get: (path, headers = {}) => fetch(hub.url + path, { headers }),
    async depositParcel(parcelId, size = 'S') {
      const opened = await post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId, size });
      if (opened.status !== 200) throw new Error(`deposit of ${parcelId}: ${opened.status} ${await opened.text()}`);
      const { compartment, depositId } = (await opened.json()) as { compartment: number; depositId: string };
      await putParcelIn(sim, compartment);
      const confirmed = await post(`/api/courier/deposit/${depositId}/confirm`);
      if (confirmed.status !== 200) throw new Error(`confirm of ${parcelId}: ${confirmed.status} ${await confirmed.text()}`);
      return { parcelId, compartment, code: t.readCode(parcelId) };
    },
    async close() {
      await hub.close(); // stops the bank too
      sim.board.dispose();
      tmp.cleanup();
    },
  };
  return t;
}

/** The courier's hands: put a parcel into the open compartment, close the door, wait for the sensors to say so. */
export async function putParcelIn(sim: SimulatedBank, compartment: number): Promise<void> {
  await lockReleased(sim, compartment);
  sim.board.placeParcel(compartment);
  sim.board.close(compartment);
  await waitUntil(() => {
    const s = sim.bank.status(compartment);
    return s.door === 'closed' && s.occupied;
  }, `compartment ${compartment} reports closed and occupied`);
}

/** The recipient's hands: take the parcel out of the open compartment and close the door. */
export async function takeParcelOut(sim: SimulatedBank, compartment: number): Promise<void> {
  await lockReleased(sim, compartment);
  if (sim.board.isOpen(compartment)) sim.board.removeParcel(compartment);
  sim.board.close(compartment);
  await waitUntil(() => {
    const s = sim.bank.status(compartment);
    return s.door === 'closed' && !s.occupied;
  }, `compartment ${compartment} reports closed and empty`);
}

/**
 * People are slower than a test: wait until the lock pulse has ended before touching the door
 * (a door pushed shut while its latch is still released springs open again, as on real hardware).
 */
export function lockReleased(sim: SimulatedBank, compartment: number): Promise<void> {
  return waitUntil(() => sim.board.lockOutput(compartment) !== 'released', `the lock of ${compartment} is driven locked again`);
}

function omit<T extends object, K extends keyof T>(o: T, k: K): Omit<T, K> {
  const { [k]: _drop, ...rest } = o;
  return rest;
}

/** API.md's error body. */
export interface ApiError {
  error: { code: string; message: string; [k: string]: unknown };
}

/**
 * Assert that `res` is an error of API.md's shape — `{ error: { code, message } }`, a
 * snake_case code, a sentence for a person — with the given status and code. Returns the body.
 */
export async function expectApiError(res: Response, status: number, code: string): Promise<ApiError['error']> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`expected a JSON error body, got ${res.status} ${JSON.stringify(text.slice(0, 200))}`);
  }
  assertErrorShape(body);
  const e = (body as ApiError).error;
  if (res.status !== status || e.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(body)}`);
  }
  return e;
}

/** Throws unless `body` has API.md's error shape. */
export function assertErrorShape(body: unknown): asserts body is ApiError {
  const e = (body as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  const ok =
    typeof body === 'object' &&
    body !== null &&
    Object.keys(body).length === 1 &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.code === 'string' &&
    /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(e.code) &&
    typeof e.message === 'string' &&
    e.message.trim().length > 10;
  if (!ok) throw new Error(`not an API.md error body: ${JSON.stringify(body)}`);
}

/** A response's JSON body, untyped (tests assert its shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = (res: Response): Promise<any> => res.json();
