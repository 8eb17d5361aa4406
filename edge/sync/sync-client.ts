import type * as A from '@automerge/automerge';
import WebSocket, { type RawData } from 'ws';
import type { DocSet } from '../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX, type ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { randomId, systemClock, type Clock, type Random } from '../../shared/ports.js';
import type { ChangeFeed } from '../../shared/sync/change-feed.js';
import { errorSchema, newNonce, parseControl, welcomeSchema, type Hello } from '../../shared/sync/handshake.js';
import { peerHolds } from '../../shared/sync/shared-heads.js';
import { SyncEngine } from '../../shared/sync/sync-engine.js';
import { SyncOutbox } from '../../shared/sync/sync-outbox.js';
import { realTimers, SyncPeer, type PreparedFrames, type SyncPeerStats, type Timers } from '../../shared/sync/sync-peer.js';
import { adoptPeerEpoch, storeEpoch, type SyncStateStore } from '../../shared/sync/sync-state-store.js';
import { deriveSessionKey } from '../../shared/sync/wire.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { cloudAuthorizer, isBankDoc } from './cloud-authorizer.js';

/** The cloud, as a peer in the hub's sync-state store. */
export const CLOUD_PEER = 'cloud';

/**
 * The hub's outbox for the cloud: what the cloud lacks of the bank's documents, kept encoded
 * while it is out of reach (`SyncClientOptions.outbox`). Lives as long as the hub's store.
 */
export function cloudOutbox(opts: { bankId: string; docs: DocSet; feed: ChangeFeed; states: SyncStateStore }): SyncOutbox {
  return new SyncOutbox({ docs: opts.docs, feed: opts.feed, store: opts.states, peer: CLOUD_PEER, shares: (id) => isBankDoc(opts.bankId, id) });
}

/** Message bytes of the first frame of a session (see `connect`); the others take the engine's limit. */
const FIRST_BATCH_BYTES = 128 * 1024;

export interface SyncClientOptions {
  /**
   * The cloud's sync endpoint, `ws://host:port/v1/sync`; an `http(s)://host:port` base URL gets
   * `/v1/sync` appended. Several cloud nodes: a comma-separated list — the hub tries them in
   * turn, and any node sends it on (`moved`) to the one serving its bank.
   */
  url: string;
  bankId: string;
  /** The bank's device credential (never logged). */
  secret: string;
  /** The hub's documents. */
  docs: DocSet;
  /** Sync states, in the hub's database (`SqliteSyncStateStore` on the hub's db handle). */
  states: SyncStateStore;
  /** Parcel documents from the cloud go through `ledger.receive` (selector index). Recommended. */
  ledger?: ParcelLedger;
  /**
   * Local change notifications: wrap the hub's DocStorage in `ObservedDocStorage` and pass
   * it here, so a change is pushed within `pushDelayMs`. Without a feed, changes are found by
   * the `rescanMs` scan and by `syncNow()`.
   */
  feed?: ChangeFeed;
  /**
   * Changes encoded while the cloud was out of reach (`SyncOutbox` on `docs`, `feed` and
   * `states`, peer `cloud`): the first frames of a reconnection are ready at once. Each
   * session holds it while it runs.
   */
  outbox?: SyncOutbox;
  /** Default: the system clock. */
  clock?: Clock;
  /** Nonces, epoch, jitter. Default: crypto randomness. */
  random?: Random;
  timers?: Timers;
  /** Reconnect backoff. Default 500 ms doubling to 30 s, with jitter. */
  backoff?: BackoffOptions;
  /** Debounce of local changes. Default 5 ms. */
  pushDelayMs?: number;
  /** While connected, compare every document with the cloud's known heads this often. Default 30 s. */
  rescanMs?: number;
  /** Give up a connection attempt (handshake included) after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Connection events (never the secret or document content). */
  log?: (msg: string) => void;
  /**
   * Each welcome: the cloud's clock (`serverTime`) and the hello/welcome round trip, measured
   * on the monotonic clock (`CloudCorrectedClock.observe` takes exactly these).
   */
  onServerTime?: (serverTime: number, rttMs: number) => void;
}

/** What the hub shows on `/health` and the technician tool. */
export interface SyncStatus {
  connected: boolean;
  /** Last time a session reached "both sides in sync" (this hub's clock). */
  lastSyncAt: number | null;
  /** Last time the cloud was heard from. */
  lastContactAt: number | null;
}

/** Events of the client. */
export type SyncClientEvent =
  /** A document changed by the cloud, committed (parcel documents already went through `ledger.receive`). */
  | { type: 'doc'; docId: string; doc: A.Doc<unknown> }
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  /** Both sides hold the same heads of every document. */
  | { type: 'synced' }
  /** The cloud refused us or a frame of ours (e.g. `bad_credentials`); the client keeps retrying with backoff. */
  | { type: 'refused'; code: string; message: string };

const cryptoRandom: Random = { bytes: (n) => new Uint8Array(globalThis.crypto.getRandomValues(new Uint8Array(n))) };

interface Session {
  ws: WebSocket;
  peer?: SyncPeer;
  engine?: SyncEngine;
  /** The first frames, encoded while the cloud checks the credential. */
  prepared?: PreparedFrames;
  /** The cloud sent us to this node (`moved`). */
  moved?: string;
  /** Lets go of the outbox when the session ends. */
  releaseOutbox?: () => void;
}

/**
 * The hub's sync client: connects OUT to the cloud (the hub is behind NAT), proves the
 * bank's device credential, then keeps the hub's documents in sync with the cloud's replica
 * of the bank while connected — local changes are pushed within milliseconds, the cloud's
 * (e.g. a support revoke) arrive as they happen. Reconnects with backoff after any
 * disconnect; every reconnect is incremental (sync states are persisted in `states`).
 */
export class SyncClient {
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly listeners = new Set<(e: SyncClientEvent) => void>();
  private readonly waiters = new Set<(ok: boolean) => void>();
  private readonly totals: SyncPeerStats & { connects: number } = {
    connects: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    docsReceived: 0,
  };
  private session: Session | undefined;
  private retryTimer: unknown;
  private rescanTimer: unknown;
  private running = false;
  private connected = false;
  private lastSyncAt: number | null = null;
  private lastContactAt: number | null = null;
  private unsubscribeFeed: (() => void) | undefined;
  /** The configured cloud URLs, tried in turn when one cannot be reached. */
  private readonly urls: string[];
  private urlIndex = 0;
  /** Where the last `moved` sent us; dropped when it cannot be reached. */
  private redirect: string | undefined;
  /** `moved` answers since the last session: a loop of them falls back to the backoff. */
  private moves = 0;

  constructor(private readonly opts: SyncClientOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.timers = opts.timers ?? realTimers;
    this.backoff = new Backoff(this.random, opts.backoff);
    this.urls = opts.url
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    if (this.urls.length === 0) throw new Error('SyncClient: no cloud URL');
  }

  /** The cloud node the next connection goes to. */
  get target(): string {
    return this.redirect ?? this.urls[this.urlIndex % this.urls.length]!;
  }

  /** Connect, and stay connected (reconnecting with backoff) until `stop()`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeFeed = this.opts.feed?.onChange((docId) => {
      const s = this.session;
      if (s?.peer) s.peer.changed(docId);
      else s?.engine?.markChanged(docId); // prepared before the welcome: sent with the first flush
    });
    this.connect();
  }

  /** Disconnect and stop reconnecting. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribeFeed?.();
    this.unsubscribeFeed = undefined;
    this.cancel('retryTimer');
    const ws = this.session?.ws;
    if (ws && ws.readyState !== ws.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'hub stopping');
        this.timers.setTimeout(() => (ws.terminate(), resolve()), 1000);
      });
    }
    this.resolveWaiters(false);
  }

  status(): SyncStatus {
    return { connected: this.connected, lastSyncAt: this.lastSyncAt, lastContactAt: this.lastContactAt };
  }

  /**
   * Sync now: push what is pending and wait until both sides are in sync (connecting at once
   * if disconnected). Resolves false if that did not happen within `timeoutMs`.
   */
  syncNow(timeoutMs = 10_000): Promise<boolean> {
    if (!this.running) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const finish = (ok: boolean) => {
        if (settled) return;
        settled = true;
        this.waiters.delete(finish);
        this.timers.clearTimeout(timer);
        resolve(ok);
      };
      const timer = this.timers.setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(finish);
      const { engine, peer } = this.session ?? {};
      if (peer && engine) {
        engine.rescan();
        peer.flush(true);
      } else if (!this.session) {
        this.cancel('retryTimer');
        this.connect();
      }
    });
  }

  /** True when the cloud is known to hold every change of `docId` (the hub may prune it). */
  acknowledged(docId: string): boolean {
    return peerHolds(this.opts.states, CLOUD_PEER, docId, this.opts.docs.get(docId));
  }

  /** Subscribe to events; returns unsubscribe. */
  on(listener: (e: SyncClientEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Counters summed over every session, plus the current one. */
  stats(): SyncPeerStats & { connects: number } {
    const out = { ...this.totals };
    const cur = this.session?.peer?.stats;
    if (cur) for (const k of Object.keys(cur) as (keyof SyncPeerStats)[]) out[k] += cur[k];
    return out;
  }

  // ---- connection ----------------------------------------------------------------------

  private connect(): void {
    if (!this.running || this.session) return;
    const { bankId, secret, states, log } = this.opts;
    const ws = new WebSocket(syncUrl(this.target), { handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000, maxPayload: 32 * 1024 * 1024 });
    const session: Session = { ws };
    this.session = session;
    this.totals.connects += 1;
    const clientNonce = newNonce(this.random);
    const connectTimer = this.timers.setTimeout(() => ws.terminate(), this.opts.connectTimeoutMs ?? 10_000);
    let helloAt = 0;
    ws.on('open', () => {
      const epoch = storeEpoch(states, () => randomId(this.random, 16));
      const hello: Hello = { type: 'hello', v: 1, bankId: bankId as Hello['bankId'], secret, clientNonce, epoch };
      helloAt = performance.now();
      ws.send(JSON.stringify(hello));
      // The cloud now checks the credential (argon2, ~0.1-0.2 s, unless it verified it recently):
      // find and encode what to send meanwhile, one batch per turn of the event loop, until the
      // welcome arrives (`begin` sends what is ready and the rest follows). The first batch is
      // small, so that after a quick welcome the cloud starts on it while the rest is encoded.
      // Nothing counts as sent until the session acknowledges it. (A welcome arriving during a
      // batch waits for it; the clock sample's error is half that wait, far below its 1 s step.)
      session.releaseOutbox = this.opts.outbox?.hold();
      const engine = this.engine();
      const prepared = SyncPeer.prepare(engine);
      session.engine = engine;
      session.prepared = prepared;
      const step = (maxBytes?: number) => {
        if (session.prepared !== prepared || this.session !== session) return;
        if (prepared.next(maxBytes)) this.timers.setTimeout(() => step(), 0);
      };
      step(FIRST_BATCH_BYTES);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (session.peer) session.peer.handleFrame(toBytes(data));
        else ws.terminate();
        return;
      }
      const textMsg = Buffer.from(toBytes(data)).toString('utf8');
      const err = parseControl(errorSchema, textMsg);
      if (err) {
        log?.(`sync: the cloud refused (${err.code}): ${err.message}`);
        if (err.code === 'bad_credentials') this.backoff.exhaust();
        if (err.code === 'moved' && err.location) {
          session.moved = err.location;
          this.redirect = err.location;
          this.moves += 1;
        }
        this.emit({ type: 'refused', code: err.code, message: err.message });
        return;
      }
      const welcome = session.peer ? undefined : parseControl(welcomeSchema, textMsg);
      if (!welcome) return ws.terminate();
      this.timers.clearTimeout(connectTimer);
      try {
        this.opts.onServerTime?.(welcome.serverTime, performance.now() - helloAt);
      } catch {
        // the clock's trouble is not the session's
      }
      adoptPeerEpoch(states, CLOUD_PEER, welcome.epoch);
      this.begin(session, deriveSessionKey(secret, clientNonce, welcome.serverNonce));
    });
    ws.on('error', () => {
      // 'close' follows; the reason is logged there.
    });
    ws.on('close', (code, reason) => {
      this.timers.clearTimeout(connectTimer);
      this.end(session, `${code}${reason.length ? ` ${reason.toString()}` : ''}`);
    });
  }

  /** The engine of one session with the cloud. */
  private engine(): SyncEngine {
    const { docs, states, bankId, ledger } = this.opts;
    return new SyncEngine({
      docs,
      peer: CLOUD_PEER,
      store: states,
      authorize: cloudAuthorizer(bankId),
      shares: (id) => isBankDoc(bankId, id),
      outbox: this.opts.outbox,
      onDocChanged: (docId, doc) => {
        if (ledger && docId.startsWith(PARCEL_PREFIX)) ledger.receive(docId, doc as A.Doc<ParcelDoc>);
      },
    });
  }

  /** Authenticated: run the sync session. */
  private begin(session: Session, key: Buffer): void {
    const { docs, bankId } = this.opts;
    this.lastContactAt = this.clock.now();
    const prepared = session.engine ? session.prepared : undefined;
    const engine = session.engine ?? this.engine();
    const { ws } = session;
    let wasSettled = false;
    const peer: SyncPeer = new SyncPeer({
      engine,
      key,
      side: 'client',
      timers: this.timers,
      pushDelayMs: this.opts.pushDelayMs,
      send: (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true });
      },
      refuse: (err) => {
        this.opts.log?.(`sync: refused a frame from the cloud (${err.code})`);
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }));
        ws.close(1008, err.code);
      },
      onContact: () => (this.lastContactAt = this.clock.now()),
      onReceived: (r) => {
        for (const docId of r.changed) this.emit({ type: 'doc', docId, doc: docs.get(docId)! });
      },
      onProgress: () => {
        const now = peer.settled();
        const was = wasSettled;
        wasSettled = now;
        if (!now || was) return;
        this.lastSyncAt = this.clock.now();
        this.backoff.reset();
        this.emit({ type: 'synced' });
        this.resolveWaiters(true);
      },
    });
    session.engine = engine;
    session.peer = peer;
    this.connected = true;
    this.opts.log?.(`sync: connected to the cloud as ${bankId}`);
    this.emit({ type: 'connected' });
    this.scheduleRescan();
    session.prepared = undefined;
    peer.start(true, prepared);
  }

  private end(session: Session, reason: string): void {
    session.releaseOutbox?.();
    if (this.session !== session) return;
    if (!session.peer && !session.moved) {
      // Never got a session from this node (down, unreachable): forget a redirect to it and
      // try the next configured one.
      if (this.redirect) this.redirect = undefined;
      else this.urlIndex += 1;
    }
    if (session.peer) this.moves = 0;
    if (session.peer) {
      const s = session.peer.stats;
      for (const k of Object.keys(s) as (keyof SyncPeerStats)[]) this.totals[k] += s[k];
      session.peer.close();
    }
    this.session = undefined;
    this.cancel('rescanTimer');
    if (this.connected) {
      this.connected = false;
      this.opts.log?.(`sync: disconnected (${reason})`);
      this.emit({ type: 'disconnected', reason });
    }
    if (!this.running) return;
    // Sent on to the node that serves the bank: go there now (a few hops at most, then back off).
    const delay = session.moved && this.moves <= 3 ? 0 : this.backoff.next();
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private scheduleRescan(): void {
    const every = this.opts.rescanMs ?? 30_000;
    this.rescanTimer = this.timers.setTimeout(() => {
      this.rescanTimer = undefined;
      const { engine, peer } = this.session ?? {};
      if (!engine || !peer) return;
      engine.rescan();
      peer.flush();
      this.scheduleRescan();
    }, every);
  }

  private cancel(which: 'retryTimer' | 'rescanTimer'): void {
    if (this[which] === undefined) return;
    this.timers.clearTimeout(this[which]);
    this[which] = undefined;
  }

  private resolveWaiters(ok: boolean): void {
    for (const w of [...this.waiters]) w(ok);
  }

  private emit(e: SyncClientEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure never breaks sync.
      }
    }
  }
}

/** `http://h:p` -> `ws://h:p/v1/sync`; a ws(s) URL is used as given. */
export function syncUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === 'ws:' || u.protocol === 'wss:') return u.toString();
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/$/, '')}/v1/sync`;
  return u.toString();
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
