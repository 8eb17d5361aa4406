import * as A from '@automerge/automerge';
import type { Clock, Random } from '../ports.js';
import { randomId } from '../ports.js';
import { Conflict, NotFound } from '../errors.js';
import type { DocSet } from './doc-set.js';
import { istr, str } from './str.js';
import {
  announcementOf,
  codeState,
  codesNewestFirst,
  codeView,
  currentCompartment,
  depositOf,
  isFinished,
  liveCode,
  parcelStatus,
  revokedPastWindow,
  type Announcement,
  type CodeRecord,
  type CodeView,
  type DepositFact,
  type ParcelDoc,
  type ParcelStatus,
} from './parcel-doc.js';

export const PARCEL_PREFIX = 'parcel:';
export const parcelDocId = (parcelId: string): string => PARCEL_PREFIX + parcelId;
export const DEFAULT_CODE_TTL_MS = 72 * 3600_000;

/** What issuing a code needs: the hash is made outside (argon2 is async and slow). */
export interface NewCode {
  selector: string;
  hash: string;
  issuer: 'hub' | 'cloud';
  /** The plaintext sealed to the cloud's public key (hub-issued codes). */
  sealed?: string;
  /** Defaults to the ledger's TTL after now. */
  expiresAt?: number;
}

/** A parcel as the rest of the system sees it: derived, read-only. */
export interface ParcelView {
  parcelId: string;
  bankId: string;
  status: ParcelStatus;
  compartment?: number;
  announcement?: Announcement;
  deposit?: DepositFact;
  codes: CodeView[];
  exceptions: { at: number; reason: string }[];
  returnedAt?: number;
}

export interface LedgerOptions {
  bankId: string;
  docs: DocSet;
  clock: Clock;
  random: Random;
  /** Code lifetime after issuance. Default 72 h. */
  codeTtlMs?: number;
}

/**
 * The code ledger of one bank: parcels, compartments and pickup codes as one Automerge
 * document per parcel, with the operations of DESIGN.md. Every operation is one Automerge
 * change, persisted before the method returns. Pure: time and randomness are injected.
 */
export class ParcelLedger {
  readonly bankId: string;
  private readonly docs: DocSet;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly ttl: number;
  /** selector -> parcel doc ids holding a code with that selector (any state). */
  private readonly bySelector = new Map<string, Set<string>>();
  private readonly selectorsOf = new Map<string, string[]>();

  constructor(opts: LedgerOptions) {
    this.bankId = opts.bankId;
    this.docs = opts.docs;
    this.clock = opts.clock;
    this.random = opts.random;
    this.ttl = opts.codeTtlMs ?? DEFAULT_CODE_TTL_MS;
    for (const id of this.docs.ids()) if (id.startsWith(PARCEL_PREFIX)) this.reindex(id);
  }

  // ---- reads -------------------------------------------------------------------------

  doc(parcelId: string): A.Doc<ParcelDoc> | undefined {
    return this.docs.get<ParcelDoc>(parcelDocId(parcelId));
  }

  *all(): IterableIterator<A.Doc<ParcelDoc>> {
    for (const id of this.docs.ids()) {
      if (!id.startsWith(PARCEL_PREFIX)) continue;
      const d = this.docs.get<ParcelDoc>(id);
      if (d && d.bankId === this.bankId) yield d;
    }
  }

  view(parcelId: string): ParcelView | undefined {
    const doc = this.doc(parcelId);
    return doc && toView(doc, this.clock.now());
  }

  /** Compartments holding a parcel that is not finished, with the parcel. */
  occupancy(): Map<number, string> {
    const now = this.clock.now();
    const out = new Map<number, string>();
    for (const d of this.all()) {
      const c = currentCompartment(d);
      if (c !== undefined && !isFinished(d, now)) out.set(c, d.parcelId);
    }
    return out;
  }

  /** True when a live code of this bank uses `selector`. */
  selectorTaken(selector: string): boolean {
    const now = this.clock.now();
    for (const id of this.bySelector.get(selector) ?? []) {
      const d = this.docs.get<ParcelDoc>(id);
      const live = d && liveCode(d, now);
      if (live && str(live.selector) === selector) return true;
    }
    return false;
  }

  /**
   * The codes to verify for `selector`: live codes first, then the newest dead ones, at most
   * `max`. Selectors are unique among live codes, so there is one live candidate unless two
   * replicas issued concurrently; the cost of validation never depends on how many codes are live.
   */
  candidates(selector: string, max = 2): { parcelId: string; code: CodeRecord; state: ReturnType<typeof codeState> }[] {
    const now = this.clock.now();
    const found: { parcelId: string; code: CodeRecord; state: ReturnType<typeof codeState> }[] = [];
    for (const id of this.bySelector.get(selector) ?? []) {
      const d = this.docs.get<ParcelDoc>(id);
      if (!d) continue;
      for (const code of Object.values(d.codes)) {
        if (str(code.selector) === selector) found.push({ parcelId: d.parcelId, code, state: codeState(d, code, now) });
      }
    }
    found.sort(
      (a, b) =>
        Number(b.state === 'active') - Number(a.state === 'active') ||
        b.code.issuedAt - a.code.issuedAt ||
        (str(a.code.codeId) < str(b.code.codeId) ? 1 : -1),
    );
    return found.slice(0, max);
  }

  // ---- operations --------------------------------------------------------------------

  /** Cloud: a carrier announced the parcel. */
  announce(parcelId: string, a: Omit<Announcement, 'at'>): void {
    this.ensure(parcelId);
    this.change(parcelId, 'announce', (d) => {
      if (d.announcement) return;
      d.announcement = {
        carrier: istr(a.carrier),
        trackingNumber: istr(a.trackingNumber),
        size: istr(a.size),
        at: this.clock.now(),
        ...(a.reservedCompartment === undefined ? {} : { reservedCompartment: a.reservedCompartment }),
      };
    });
  }

  /** Hub: the door sensor confirmed a deposit. */
  deposit(parcelId: string, fact: Omit<DepositFact, 'at'>): void {
    this.ensure(parcelId);
    this.change(parcelId, 'deposit', (d) => this.writeDeposit(d, fact));
  }

  /**
   * Issue a code; any older live code of the parcel is revoked in the same change
   * (at most one live code per parcel). Returns the new code id.
   */
  issueCode(parcelId: string, code: NewCode): string {
    if (!this.doc(parcelId)?.deposit) throw new Conflict('not_deposited', `Parcel ${parcelId} is not in a compartment yet.`);
    const codeId = randomId(this.random, 8);
    this.change(parcelId, 'issue', (d) => this.writeCode(d, codeId, code, 'rotated'));
    return codeId;
  }

  /** Deposit and code issuance as one change: a crash leaves both or neither. */
  depositAndIssue(parcelId: string, fact: Omit<DepositFact, 'at'>, code: NewCode): string {
    this.ensure(parcelId);
    const codeId = randomId(this.random, 8);
    this.change(parcelId, 'deposit+issue', (d) => {
      this.writeDeposit(d, fact);
      this.writeCode(d, codeId, code, 'rotated');
    });
    return codeId;
  }

  /** Record a door-open attempt with `codeId` (before the lock is pulsed). */
  markUsed(parcelId: string, codeId: string, attemptId: string, compartment: number): void {
    this.change(parcelId, 'use', (d) => {
      const c = d.codes[codeId];
      if (!c) throw new NotFound(`no code ${codeId}`);
      if (!c.uses[attemptId]) c.uses[attemptId] = { at: this.clock.now(), compartment };
    });
  }

  /** The door sensor did not confirm the attempt: it does not consume the code. */
  markOpenFailed(parcelId: string, codeId: string, attemptId: string, reason: string): void {
    this.change(parcelId, 'open-failed', (d) => {
      const c = d.codes[codeId];
      if (!c) throw new NotFound(`no code ${codeId}`);
      if (!c.openFailures[attemptId]) c.openFailures[attemptId] = { at: this.clock.now(), reason: istr(reason) };
    });
  }

  /** Revoke the parcel's live code (or a given code). Returns the revoked code id, if any. */
  revoke(parcelId: string, reason: string, codeId?: string): string | undefined {
    const doc = this.doc(parcelId);
    if (!doc) throw new NotFound(`Parcel ${parcelId} is not known here.`, 'parcel_not_found');
    const live = liveCode(doc, this.clock.now());
    const target = codeId ?? (live && str(live.codeId));
    if (!target || !doc.codes[target] || doc.codes[target].revokedAt !== undefined) return undefined;
    this.change(parcelId, 'revoke', (d) => {
      const c = d.codes[target]!;
      c.revokedAt = this.clock.now();
      c.revokeReason = istr(reason);
    });
    return target;
  }

  /**
   * Expiry sweep: record `expiredAt` on every code past its expiry — and on a parcel's newest
   * code when it was revoked and never replaced, once its pickup window is over (the parcel can
   * no longer be collected). Returns the parcels now due for return, each once.
   */
  expire(): string[] {
    const now = this.clock.now();
    const due: string[] = [];
    for (const d of [...this.all()]) {
      const newest = codesNewestFirst(d)[0];
      const stale = Object.values(d.codes).filter(
        (c) => c.expiredAt === undefined && (codeState(d, c, now) === 'expired' || (c === newest && d.deposit !== undefined && revokedPastWindow(d, c, now))),
      );
      if (stale.length === 0) continue;
      this.change(d.parcelId, 'expire', (m) => {
        for (const c of stale) m.codes[str(c.codeId)]!.expiredAt = now;
      });
      if (parcelStatus(this.doc(d.parcelId)!, now) === 'expired') due.push(d.parcelId);
    }
    return due;
  }

  /** Move a deposited parcel to another compartment; its code keeps working there. */
  relocate(parcelId: string, to: number, by: string, reason: string): void {
    const doc = this.doc(parcelId);
    if (!doc?.deposit) throw new Conflict('not_deposited', `Parcel ${parcelId} is not in a compartment.`);
    const moveId = randomId(this.random, 8);
    this.change(parcelId, 'relocate', (d) => {
      d.moves[moveId] = { to, at: this.clock.now(), by: istr(by), reason: istr(reason) };
    });
  }

  /** A carrier exception (refused, damaged, address problem). */
  addException(parcelId: string, reason: string): void {
    this.ensure(parcelId);
    const id = randomId(this.random, 8);
    this.change(parcelId, 'exception', (d) => {
      d.exceptions[id] = { at: this.clock.now(), reason: istr(reason) };
    });
  }

  /** A courier took an expired parcel back. */
  markReturned(parcelId: string): void {
    this.change(parcelId, 'returned', (d) => {
      if (d.returnedAt === undefined) d.returnedAt = this.clock.now();
    });
  }

  /** Store a version of a parcel document received from a peer (after a merge or sync). */
  receive(docId: string, doc: A.Doc<ParcelDoc>): void {
    this.docs.put(docId, doc);
    this.reindex(docId);
  }

  /**
   * Drop finished parcels older than `retentionMs` that the cloud already holds
   * (`acknowledged(docId)`), so the hub's store depends on live parcels only.
   */
  prune(retentionMs: number, acknowledged: (docId: string) => boolean): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const d of [...this.all()]) {
      const id = parcelDocId(d.parcelId);
      if (!isFinished(d, now) || now - lastFactAt(d) < retentionMs || !acknowledged(id)) continue;
      this.docs.remove(id);
      this.reindex(id);
      dropped++;
    }
    return dropped;
  }

  // ---- internals ---------------------------------------------------------------------

  private ensure(parcelId: string): void {
    // Plain strings on purpose: see ParcelDoc.parcelId (the genesis never changes).
    this.docs.create<ParcelDoc>(parcelDocId(parcelId), {
      schema: 1,
      parcelId,
      bankId: this.bankId,
      moves: {},
      codes: {},
      exceptions: {},
    });
  }

  private change(parcelId: string, message: string, fn: (d: ParcelDoc) => void): void {
    const id = parcelDocId(parcelId);
    if (!this.docs.has(id)) throw new NotFound(`Parcel ${parcelId} is not known here.`, 'parcel_not_found');
    this.docs.change<ParcelDoc>(id, message, fn, this.clock.now());
    this.reindex(id);
  }

  private writeDeposit(d: ParcelDoc, fact: Omit<DepositFact, 'at'>): void {
    if (d.deposit) throw new Conflict('already_deposited', `Parcel ${d.parcelId} is already in compartment ${d.deposit.compartment}.`);
    d.deposit = {
      depositId: istr(fact.depositId),
      compartment: fact.compartment,
      courierId: istr(fact.courierId),
      size: istr(fact.size),
      at: this.clock.now(),
    };
  }

  private writeCode(d: ParcelDoc, codeId: string, code: NewCode, revokeReason: string): void {
    const now = this.clock.now();
    for (const old of Object.values(d.codes)) {
      if (codeState(d, old, now) === 'active') {
        old.revokedAt = now;
        old.revokeReason = istr(revokeReason);
      }
    }
    const rec: CodeRecord = {
      codeId: istr(codeId),
      selector: istr(code.selector),
      hash: istr(code.hash),
      // A new code must sort after every code it replaces, even within the same millisecond
      // or when an older code was stamped by a clock that runs ahead of ours.
      issuedAt: Math.max(now, ...Object.values(d.codes).map((c) => c.issuedAt + 1)),
      expiresAt: code.expiresAt ?? now + this.ttl,
      issuer: istr(code.issuer),
      uses: {},
      openFailures: {},
    };
    if (code.sealed) rec.sealed = istr(code.sealed);
    d.codes[codeId] = rec;
  }

  private reindex(docId: string): void {
    for (const s of this.selectorsOf.get(docId) ?? []) {
      const set = this.bySelector.get(s);
      set?.delete(docId);
      if (set?.size === 0) this.bySelector.delete(s);
    }
    const d = this.docs.get<ParcelDoc>(docId);
    if (!d || d.bankId !== this.bankId) {
      this.selectorsOf.delete(docId);
      return;
    }
    const sels = [...new Set(Object.values(d.codes).map((c) => str(c.selector)))];
    this.selectorsOf.set(docId, sels);
    for (const s of sels) {
      let set = this.bySelector.get(s);
      if (!set) this.bySelector.set(s, (set = new Set()));
      set.add(docId);
    }
  }
}

function lastFactAt(d: ParcelDoc): number {
  let t = d.deposit?.at ?? 0;
  for (const c of Object.values(d.codes)) {
    for (const v of [c.issuedAt, c.revokedAt, c.expiredAt, ...Object.values(c.uses).map((u) => u.at)]) {
      if (v !== undefined && v > t) t = v;
    }
  }
  return Math.max(t, d.returnedAt ?? 0);
}

export function toView(doc: A.Doc<ParcelDoc>, now: number): ParcelView {
  return {
    parcelId: doc.parcelId,
    bankId: doc.bankId,
    status: parcelStatus(doc, now),
    compartment: currentCompartment(doc),
    announcement: doc.announcement ? announcementOf(doc.announcement) : undefined,
    deposit: doc.deposit ? depositOf(doc.deposit) : undefined,
    codes: codesNewestFirst(doc).map((c) => codeView(doc, c, now)),
    // Ties broken by id: the key order of an Automerge map differs between a document built
    // by local changes and the same document loaded or merged.
    exceptions: Object.entries(doc.exceptions)
      .sort(([ia, a], [ib, b]) => a.at - b.at || (ia < ib ? -1 : ia > ib ? 1 : 0))
      .map(([, e]) => ({ at: e.at, reason: str(e.reason) })),
    returnedAt: doc.returnedAt,
  };
}
