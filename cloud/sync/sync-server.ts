import type * as A from '@automerge/automerge';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX } from '../../shared/ledger/parcel-ledger.js';
import { randomId, type Clock, type Random } from '../../shared/ports.js';
import { helloSchema, newNonce, parseControl, type SyncErrorMessage, type Welcome } from '../../shared/sync/handshake.js';
import { SyncEngine } from '../../shared/sync/sync-engine.js';
import { SyncRejected } from '../../shared/sync/sync-errors.js';
import { realTimers, SyncPeer, type SyncPeerStats, type Timers } from '../../shared/sync/sync-peer.js';
import { adoptPeerEpoch, storeEpoch } from '../../shared/sync/sync-state-store.js';
import { deriveSessionKey } from '../../shared/sync/wire.js';
import { hubPeer, type BankReplicas } from '../bank-replicas.js';
import type { CloudNotifier } from '../ports.js';
import type { CloudStore } from '../store/cloud-store.js';
import type { ParcelRegistry } from '../store/parcel-registry.js';
import { hubAuthorizer, type ParcelBankLookup } from './hub-authorizer.js';
import { SyncPresence } from './presence.js';

export interface SyncServerOptions {
  store: CloudStore;
  /** Shared with the HTTP app: a revoke there is pushed to the connected hub at once. */
  replicas: BankReplicas;
  clock: Clock;
  random: Random;
  notifier?: CloudNotifier;
  /** Upgrade path. Default `/v1/sync`. */
  path?: string;
  /** A connection that has not said hello by then is closed. Default 10 s. */
  helloTimeoutMs?: number;
  /** Largest WebSocket message accepted. Default 32 MiB. */
  maxFrameBytes?: number;
  /** Debounce of cloud-side changes before they are pushed. Default 5 ms. */
  pushDelayMs?: number;
  timers?: Timers;
  /**
   * Several cloud nodes: a hub whose bank another node serves is told where to go (`moved`),
   * and sessions of banks that move away (a node joined or came back) are closed the same way.
   */
  cluster?: BankOwnership;
  /** Connection events (never a secret). */
  log?: (msg: string) => void;
}

/** Which node serves a bank (cloud/cluster's `Cluster`). */
export interface BankOwnership {
  readonly self: { id: string };
  isAlive(node: string): boolean;
  owns(bankId: string): boolean;
  owner(bankId: string): { id: string; url: string };
  onChange(fn: () => void): () => void;
}

/** One hub's session, for tests and diagnostics. */
export interface SessionInfo {
  bankId: string;
  stats: SyncPeerStats;
  settled: boolean;
}

/** Close codes: 1008 policy violation for every refusal. */
const REFUSED = 1008;

/**
 * The cloud end of hub sync: a WebSocket endpoint on the cloud's HTTP server. A hub proves
 * its bank's device credential in `hello`, then its documents sync with the cloud's replica
 * of that bank through a `SyncPeer`; what it may write is decided by `hubAuthorizer`.
 * Also the cloud's `BankPresence` (who is online, last sync).
 */
export class SyncServer {
  readonly presence: SyncPresence;
  private readonly wss: WebSocketServer;
  private readonly path: string;
  private readonly sessions = new Map<string, { ws: WebSocket; peer: SyncPeer }>();
  private readonly timers: Timers;
  private epoch: string | undefined;

  constructor(private readonly opts: SyncServerOptions) {
    this.path = opts.path ?? '/v1/sync';
    this.timers = opts.timers ?? realTimers;
    this.presence = new SyncPresence(opts.store.banks, opts.clock, opts.cluster);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes ?? 32 * 1024 * 1024 });
    opts.cluster?.onChange(() => this.moveAway());
  }

  /** Close the sessions of banks another node serves now, telling each hub where to go. */
  private moveAway(): void {
    const cluster = this.opts.cluster!;
    for (const [bankId, s] of this.sessions) {
      if (cluster.owns(bankId)) continue;
      const owner = cluster.owner(bankId);
      this.opts.log?.(`sync: ${bankId} moves to ${owner.id}`);
      const msg: SyncErrorMessage = { type: 'error', code: 'moved', message: `Bank ${bankId} is served by cloud node ${owner.id}.`, location: owner.url };
      if (s.ws.readyState === s.ws.OPEN) s.ws.send(JSON.stringify(msg));
      s.ws.close(REFUSED, 'moved');
    }
  }

  /** Serve upgrades to `path` on `server` (other paths are left to other handlers). */
  attach(server: Server): this {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== this.path) return;
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    return this;
  }

  /** Sessions now open. */
  info(): SessionInfo[] {
    return [...this.sessions].map(([bankId, s]) => ({ bankId, stats: { ...s.peer.stats }, settled: s.peer.settled() }));
  }

  /** Close every session (hubs will reconnect elsewhere / later). */
  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** Handle one connection: hello, then frames. */
  accept(ws: WebSocket): void {
    const { timers } = this;
    let done = false;
    const refuse = (err: SyncRejected, location?: string) => {
      if (done) return;
      done = true;
      timers.clearTimeout(helloTimer);
      const msg: SyncErrorMessage = { type: 'error', code: err.code, message: err.message, ...(location ? { location } : {}) };
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      ws.close(REFUSED, err.code);
    };
    const helloTimer = timers.setTimeout(() => refuse(new SyncRejected('protocol_error', 'No hello in time.')), this.opts.helloTimeoutMs ?? 10_000);
    ws.once('message', (data, isBinary) => {
      timers.clearTimeout(helloTimer);
      // Anything arriving while the credential is checked is a protocol error (the hub waits for welcome).
      const early = () => refuse(new SyncRejected('protocol_error', 'Frames before welcome.'));
      ws.on('message', early);
      const hello = isBinary ? undefined : parseControl(helloSchema, text(data));
      if (!hello) return refuse(new SyncRejected('protocol_error', 'The first message must be a valid hello.'));
      void this.opts.store.credentials.verifyDevice(hello.bankId, hello.secret).then(
        (ok) => {
          ws.off('message', early);
          if (done || ws.readyState !== ws.OPEN) return;
          if (!ok || !this.opts.store.banks.get(hello.bankId)) {
            this.opts.log?.(`sync: refused a hello for ${hello.bankId} (bad credentials)`);
            return refuse(new SyncRejected('bad_credentials', 'Unknown bank or wrong device secret.'));
          }
          const cluster = this.opts.cluster;
          if (cluster && !cluster.owns(hello.bankId)) {
            const owner = cluster.owner(hello.bankId);
            return refuse(new SyncRejected('moved', `Bank ${hello.bankId} is served by cloud node ${owner.id}.`), owner.url);
          }
          done = true;
          this.open(ws, hello.bankId, hello.secret, hello.clientNonce, hello.epoch);
        },
        () => refuse(new SyncRejected('internal_error', 'The credential check failed; try again later.')),
      );
    });
    ws.on('error', () => ws.terminate());
  }

  /** An authenticated hub: welcome, then sync until the connection ends. */
  private open(ws: WebSocket, bankId: string, secret: string, clientNonce: string, hubEpoch: string): void {
    const { store, replicas, clock, random, notifier, log } = this.opts;
    // One session per bank: a newer connection (the hub reconnected before the old one timed out) wins.
    this.sessions.get(bankId)?.ws.terminate();
    const peerName = hubPeer(bankId);
    adoptPeerEpoch(store.syncStates, peerName, hubEpoch);
    this.epoch ??= storeEpoch(store.syncStates, () => randomId(random, 16));
    const pin = replicas.pin(bankId);
    const { replica } = pin;
    // This session pushes every change itself; the outbox picks up again once the hub is gone.
    const releaseOutbox = replica.outbox?.hold();
    const serverNonce = newNonce(random);
    const registry = registeredBanks(store.parcels);
    const engine = new SyncEngine({
      docs: replica.docs,
      peer: peerName,
      store: store.syncStates,
      authorize: hubAuthorizer(bankId, registry),
      outbox: replica.outbox,
      beforeBatch: (docIds) => registry.prefetch(docIds.filter((id) => id.startsWith(PARCEL_PREFIX)).map((id) => id.slice(PARCEL_PREFIX.length))),
      onDocChanged: (docId, doc) => {
        if (!docId.startsWith(PARCEL_PREFIX)) return;
        replica.ledger.receive(docId, doc as A.Doc<ParcelDoc>);
        const parcelId = docId.slice(PARCEL_PREFIX.length);
        if (registry.bankOf(parcelId) === undefined) store.parcels.noteSeen(parcelId, bankId, clock.now());
        notifier?.parcelReceived?.({ parcelId: docId.slice(PARCEL_PREFIX.length), bankId, doc: doc as A.Doc<ParcelDoc> });
      },
    });
    let wasSettled = false;
    const peer: SyncPeer = new SyncPeer({
      engine,
      key: deriveSessionKey(secret, clientNonce, serverNonce),
      side: 'server',
      timers: this.timers,
      pushDelayMs: this.opts.pushDelayMs,
      send: (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true });
      },
      refuse: (err) => {
        log?.(`sync: ${bankId} frame refused (${err.code})`);
        const msg: SyncErrorMessage = { type: 'error', code: err.code, message: err.message };
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
        ws.close(REFUSED, err.code);
      },
      onContact: () => this.presence.heard(bankId),
      onReceived: (r) => {
        for (const docId of r.changed) {
          if (!docId.startsWith(PARCEL_PREFIX)) continue;
          const doc = replica.ledger.doc(docId.slice(PARCEL_PREFIX.length));
          if (doc) notifier?.parcelChanged?.({ parcelId: doc.parcelId, bankId, doc, source: 'hub' });
        }
      },
      onProgress: () => {
        const now = peer.settled();
        if (now && !wasSettled) this.presence.insync(bankId);
        wasSettled = now;
      },
    });
    const unsubscribe = replica.storage.onChange((docId) => peer.changed(docId));
    this.sessions.set(bankId, { ws, peer });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return peer.handleFrame(bytes(data));
      // After welcome the only text a hub may send is an error before it closes.
      ws.close(1000);
    });
    ws.once('close', () => {
      unsubscribe();
      peer.close();
      releaseOutbox?.();
      pin.release();
      this.presence.disconnected(bankId);
      if (this.sessions.get(bankId)?.ws === ws) this.sessions.delete(bankId);
      log?.(`sync: ${bankId} disconnected`);
    });
    const welcome: Welcome = { type: 'welcome', v: 1, serverNonce, serverTime: clock.now(), epoch: this.epoch };
    ws.send(JSON.stringify(welcome));
    // After the welcome: the hub starts sending while the contact is recorded (a durable write).
    this.presence.connected(bankId);
    log?.(`sync: ${bankId} connected`);
    peer.start(false);
  }
}

/**
 * The registry's answer of which bank a parcel is at, remembered once it has one: a parcel's
 * bank never changes once registered (rows are never deleted or moved), so a session asks the
 * database once per parcel — for a whole received batch in a few queries (`prefetch`) —
 * instead of twice per document received (the authorizer, then `noteSeen`). An unregistered
 * parcel is asked again every time (it may get registered).
 */
function registeredBanks(parcels: Pick<ParcelRegistry, 'bankOf' | 'banksOf'>): ParcelBankLookup & { prefetch(parcelIds: readonly string[]): void } {
  const known = new Map<string, string>();
  const remember = (parcelId: string, bank: string) => {
    if (known.size >= 50_000) known.clear();
    known.set(parcelId, bank);
  };
  return {
    bankOf(parcelId) {
      const hit = known.get(parcelId);
      if (hit !== undefined) return hit;
      const bank = parcels.bankOf(parcelId);
      if (bank !== undefined) remember(parcelId, bank);
      return bank;
    },
    prefetch(parcelIds) {
      const missing = parcelIds.filter((id) => !known.has(id));
      if (missing.length > 1) for (const [id, bank] of parcels.banksOf(missing)) remember(id, bank);
    },
  };
}

/** Attach a sync endpoint to the cloud's HTTP server. */
export function attachSyncServer(server: Server, opts: SyncServerOptions): SyncServer {
  return new SyncServer(opts).attach(server);
}

function bytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

function text(data: RawData): string {
  return Buffer.from(bytes(data)).toString('utf8');
}
