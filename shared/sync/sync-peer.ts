import { SyncRejected } from './sync-errors.js';
import type { OutgoingBatch, ReceiveResult, SyncEngine } from './sync-engine.js';
import { openFrame, packBody, sealFrame, type Direction, type FrameBody, type PackedBody } from './wire.js';

/** Timer functions, injected so tests can drive them. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * First frames, encoded before the session key exists (see {@link SyncPeer.prepare}), one
 * batch per `next()` so the caller can stop as soon as the session starts.
 */
export class PreparedFrames {
  readonly frames: { batch: OutgoingBatch; body: PackedBody }[] = [];
  private done = false;

  constructor(private readonly engine: SyncEngine) {}

  /** Encode the next batch (at most `maxBytes` of messages). False when nothing is left. */
  next(maxBytes?: number): boolean {
    if (this.done) return false;
    const batch = this.engine.outgoing(maxBytes);
    if (!batch) {
      this.done = true;
      return false;
    }
    this.frames.push({ batch, body: packBody({ wantsReply: true, ackSeq: 0, acks: [], entries: batch.entries }) });
    return true;
  }
}

/** Counters of one session. */
export interface SyncPeerStats {
  framesSent: number;
  framesReceived: number;
  /** Bytes of binary frames, as on the wire (compressed). */
  bytesSent: number;
  bytesReceived: number;
  /** Sync messages (one per document per frame). */
  messagesSent: number;
  messagesReceived: number;
  /** Documents changed here by the peer. */
  docsReceived: number;
}

export interface SyncPeerOptions {
  engine: SyncEngine;
  /** The session key (see `deriveSessionKey`). */
  key: Buffer;
  /** This end: frames it sends travel in this direction. */
  side: Direction;
  /** Put one binary frame on the transport. */
  send(frame: Uint8Array): void;
  /** Send `{type:'error'}` to the peer and close the transport. Called at most once. */
  refuse(err: SyncRejected): void;
  timers?: Timers;
  /** Debounce of local changes before they are pushed. Default 5 ms. */
  pushDelayMs?: number;
  /** Message bytes per frame. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Largest decompressed frame body accepted. Default 64 MiB. */
  maxBodyBytes?: number;
  /** After a batch from the peer was committed. */
  onReceived?(result: ReceiveResult): void;
  /** After any authenticated frame from the peer. */
  onContact?(): void;
  /** Whenever `settled()` may have changed. */
  onProgress?(): void;
}

/**
 * One authenticated sync session over any message transport: sequence numbers and MACs,
 * batching, reply frames carrying acknowledgements, and the debounce of local changes. The
 * WebSocket server (cloud) and client (hub) are thin adapters around it.
 *
 * Every frame that carries messages asks for a reply; the reply carries the receiver's
 * acknowledgements of those messages and whatever it has to say. An exchange ends with a reply
 * that has nothing to say; `settled()` is then true on both ends.
 */
export class SyncPeer {
  readonly stats: SyncPeerStats = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    docsReceived: 0,
  };
  private readonly timers: Timers;
  private readonly peerSide: Direction;
  private sendSeq = 0;
  private recvSeq = 0;
  /** Frames that asked for a reply, with the batch they carried. */
  private readonly awaiting = new Map<number, OutgoingBatch | null>();
  private timer: unknown;
  private closed = false;

  constructor(private readonly opts: SyncPeerOptions) {
    this.timers = opts.timers ?? realTimers;
    this.peerSide = opts.side === 'client' ? 'server' : 'client';
  }

  /**
   * Start the engine, to encode the first frames before the session exists
   * (`PreparedFrames.next`): a hub does it while the cloud checks its credential, so the work
   * overlaps the handshake. Whatever is not prepared when the session starts is sent by `start`.
   */
  static prepare(engine: SyncEngine): PreparedFrames {
    engine.start();
    return new PreparedFrames(engine);
  }

  /**
   * Start the session: look for what changed since the last one and send it (or send the
   * `prepared` frames, whose engine is already started). `probe`: ask for a reply even with
   * nothing to send.
   */
  start(probe: boolean, prepared?: PreparedFrames): void {
    if (!prepared) this.opts.engine.start();
    for (const f of prepared?.frames ?? []) this.sendFrame({ wantsReply: true, ackSeq: 0, acks: [], entries: f.batch.entries }, f.batch, f.body);
    this.flush(probe && !prepared?.frames.length);
  }

  /** A local change: pushed after the debounce. */
  changed(docId: string): void {
    if (this.closed) return;
    if (this.opts.engine.markChanged(docId)) this.schedule(this.opts.pushDelayMs ?? 5);
  }

  /** True when nothing is waiting to be sent or answered. */
  settled(): boolean {
    return !this.closed && this.awaiting.size === 0 && this.timer === undefined && this.opts.engine.isQuiet();
  }

  /** Send what is pending now. `probe`: send a frame asking for a reply even if there is nothing. */
  flush(probe = false): void {
    this.cancelTimer();
    if (this.closed) return;
    let batch = this.opts.engine.outgoing(this.opts.maxBatchBytes);
    if (batch || probe) this.sendFrame({ wantsReply: true, ackSeq: 0, acks: [], entries: batch?.entries ?? [] }, batch);
    while (batch && !this.closed) {
      batch = this.opts.engine.outgoing(this.opts.maxBatchBytes);
      if (batch) this.sendFrame({ wantsReply: true, ackSeq: 0, acks: [], entries: batch.entries }, batch);
    }
    this.opts.onProgress?.();
  }

  /** A binary frame from the peer. Refuses (and closes) on any problem, having applied nothing. */
  handleFrame(frame: Uint8Array): void {
    if (this.closed) return;
    try {
      const body = openFrame(this.opts.key, this.peerSide, this.recvSeq + 1, frame, { maxBodyBytes: this.opts.maxBodyBytes });
      this.recvSeq += 1;
      this.stats.framesReceived += 1;
      this.stats.bytesReceived += frame.length;
      this.stats.messagesReceived += body.entries.length;
      this.opts.onContact?.();
      this.process(body);
    } catch (err) {
      this.fail(err instanceof SyncRejected ? err : new SyncRejected('internal_error', 'The receiver failed to apply the frame; try again later.'));
    }
    this.opts.onProgress?.();
  }

  /** Stop: no more frames are sent or accepted. */
  close(): void {
    this.closed = true;
    this.cancelTimer();
  }

  private process(body: FrameBody): void {
    const { engine } = this.opts;
    let answered: OutgoingBatch | null = null;
    if (body.ackSeq > 0) {
      if (!this.awaiting.has(body.ackSeq)) throw new SyncRejected('protocol_error', `Reply to frame ${body.ackSeq}, which asked for none.`);
      answered = this.awaiting.get(body.ackSeq) ?? null;
      if ((answered?.entries.length ?? 0) !== body.acks.length) throw new SyncRejected('protocol_error', 'The reply does not match the frame it answers.');
      if (body.acks.length > 0 && !body.digest) throw new SyncRejected('protocol_error', 'A reply with acknowledgements and no digest.');
    } else if (body.acks.length > 0 || body.digest) {
      throw new SyncRejected('protocol_error', 'Acknowledgements outside a reply.');
    }
    // Everything of the frame is checked before anything of it is recorded.
    const result: ReceiveResult = body.entries.length
      ? engine.receive(body.entries, answered ? { batch: answered, acks: body.acks } : undefined)
      : { acks: [], digest: new Uint8Array(0), changed: [] };
    if (body.ackSeq > 0) {
      this.awaiting.delete(body.ackSeq);
      if (answered) engine.settle(answered, body.acks, body.digest);
    }
    this.stats.docsReceived += result.changed.length;
    if (result.changed.length) this.opts.onReceived?.(result);
    if (body.wantsReply) {
      const batch = engine.outgoing(this.opts.maxBatchBytes);
      const digest = result.acks.length ? { digest: result.digest } : {};
      this.sendFrame({ wantsReply: batch !== null, ackSeq: this.recvSeq, acks: result.acks, ...digest, entries: batch?.entries ?? [] }, batch);
    }
    // Whatever did not fit in the reply follows at once.
    if (engine.pending > 0) this.schedule(0);
  }

  private sendFrame(body: FrameBody, batch: OutgoingBatch | null, packed?: PackedBody): void {
    const seq = ++this.sendSeq;
    const frame = sealFrame(this.opts.key, this.opts.side, seq, packed ?? body);
    if (body.wantsReply) this.awaiting.set(seq, batch);
    this.stats.framesSent += 1;
    this.stats.bytesSent += frame.length;
    this.stats.messagesSent += body.entries.length;
    this.opts.send(frame);
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fail(err: SyncRejected): void {
    if (this.closed) return;
    this.close();
    this.opts.refuse(err);
  }
}
