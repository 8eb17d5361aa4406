import { str, type Str } from './str.js';

/**
 * The Automerge document of one parcel. One document per parcel (plus a small per-bank
 * config document) keeps every change cheap and lets a hub drop finished parcels, so its
 * store and start-up time depend on live parcels, not on history (DESIGN.md rule 5).
 *
 * Every field below is a **set-once fact**: written at most once by the operation that
 * establishes it, never overwritten. State (active, used, revoked…) is *derived* from the
 * facts by `codeState()`; there is no mutable `state` field a stale replica could resurrect.
 * Facts that may legitimately happen more than once (door-open attempts, relocations) are
 * maps keyed by a random id, so concurrent writers never collide.
 *
 * String values are `Str` (an `A.ImmutableString`, one op each; DESIGN.md rule 7) except the
 * two the genesis writes: read them with `str()`, or through the helpers and views below,
 * which give plain strings. Documents written before rule 7 hold text there; both read the same.
 */
export interface ParcelDoc {
  schema: 1;
  /**
   * `parcelId` and `bankId` are written by the deterministic genesis (`DocSet.create`) and stay
   * text: the genesis must be byte-identical on every replica *and every version*, or a hub and
   * the cloud that create the same parcel (one of them before an upgrade) write two different
   * changes as actor 00000000 seq 1, which Automerge refuses to merge.
   */
  parcelId: string;
  bankId: string;
  /** Written by the cloud when a carrier announces the parcel. */
  announcement?: AnnouncementRecord;
  /** Written by the hub when the door sensor confirmed the courier closed the door. */
  deposit?: DepositRecord;
  /** Relocations by a technician or the hub; the latest `(at, id)` wins. */
  moves: Record<string, MoveRecord>;
  /** Every code ever issued for this parcel, by code id. */
  codes: Record<string, CodeRecord>;
  /** Carrier exceptions (damaged, refused, address problem), by id. */
  exceptions: Record<string, { at: number; reason: Str }>;
  /** Set when a courier took an expired parcel back for return to sender. */
  returnedAt?: number;
}

export type Size = 'S' | 'M' | 'L';

/** A carrier's announcement, as the rest of the system sees it. */
export interface Announcement {
  carrier: string;
  trackingNumber: string;
  size: Size;
  at: number;
  /** A compartment the cloud proposes; the hub disposes (DESIGN.md rule 3). */
  reservedCompartment?: number;
}

/** A deposit, as the rest of the system sees it. */
export interface DepositFact {
  depositId: string;
  compartment: number;
  courierId: string;
  size: Size;
  at: number;
}

export interface MoveFact {
  to: number;
  at: number;
  by: string;
  reason: string;
}

/** `Announcement` as stored. */
export interface AnnouncementRecord {
  carrier: Str;
  trackingNumber: Str;
  size: Str<Size>;
  at: number;
  reservedCompartment?: number;
}

/** `DepositFact` as stored. */
export interface DepositRecord {
  depositId: Str;
  compartment: number;
  courierId: Str;
  size: Str<Size>;
  at: number;
}

/** `MoveFact` as stored. */
export interface MoveRecord {
  to: number;
  at: number;
  by: Str;
  reason: Str;
}

export interface CodeRecord {
  codeId: Str;
  /** The 3-digit selector, in clear. */
  selector: Str;
  /** argon2id PHC string of the whole code, keyed with the bank's pepper. */
  hash: Str;
  issuedAt: number;
  expiresAt: number;
  issuer: Str<'hub' | 'cloud'>;
  /** The plaintext sealed to the cloud's public key, for delivery (hub-issued codes). */
  sealed?: Str;
  revokedAt?: number;
  revokeReason?: Str;
  /** Set by the expiry sweep: the parcel becomes a return-to-sender task. */
  expiredAt?: number;
  /** Door-open attempts with this code, by attempt id (written before the lock is pulsed). */
  uses: Record<string, { at: number; compartment: number }>;
  /** Attempts the door sensor did not confirm: the attempt does not consume the code. */
  openFailures: Record<string, { at: number; reason: Str }>;
}

/** The announcement as plain values. */
export function announcementOf(a: AnnouncementRecord): Announcement {
  const out: Announcement = { carrier: str(a.carrier), trackingNumber: str(a.trackingNumber), size: str(a.size), at: a.at };
  if (a.reservedCompartment !== undefined) out.reservedCompartment = a.reservedCompartment;
  return out;
}

/** The deposit as plain values. */
export function depositOf(d: DepositRecord): DepositFact {
  return { depositId: str(d.depositId), compartment: d.compartment, courierId: str(d.courierId), size: str(d.size), at: d.at };
}

/** A relocation as plain values. */
export function moveOf(m: MoveRecord): MoveFact {
  return { to: m.to, at: m.at, by: str(m.by), reason: str(m.reason) };
}

/**
 * Derived state, in precedence order used > revoked > expired > superseded > active.
 * `superseded`: a newer code of the parcel exists, or the parcel was picked up with another code.
 */
export type CodeState = 'active' | 'used' | 'revoked' | 'expired' | 'superseded';

export interface CodeView {
  codeId: string;
  selector: string;
  state: CodeState;
  issuedAt: number;
  expiresAt: number;
  issuer: 'hub' | 'cloud';
  usedAt?: number;
  revokedAt?: number;
  /** A revocation and a use happened concurrently (or the use came after a revocation it had not seen). */
  usedAfterRevoke: boolean;
  openFailures: number;
}

/** The time the code was used: the earliest door-open attempt the sensor did not refute. */
export function usedAt(code: CodeRecord): number | undefined {
  let first: number | undefined;
  for (const [id, use] of Object.entries(code.uses)) {
    if (code.openFailures[id]) continue;
    if (first === undefined || use.at < first) first = use.at;
  }
  return first;
}

/** Codes of a parcel ordered newest first by `(issuedAt, codeId)` — a total order every replica agrees on. */
export function codesNewestFirst(doc: ParcelDoc): CodeRecord[] {
  return Object.values(doc.codes).sort((a, b) => b.issuedAt - a.issuedAt || (str(a.codeId) < str(b.codeId) ? 1 : -1));
}

/** The derived state of `code` in `doc` at time `now`. */
export function codeState(doc: ParcelDoc, code: CodeRecord, now: number): CodeState {
  if (usedAt(code) !== undefined) return 'used';
  if (code.revokedAt !== undefined) return 'revoked';
  if (code.expiredAt !== undefined || now >= code.expiresAt) return 'expired';
  // Only the newest code of a parcel can be live: at most one live code per parcel, even
  // when two replicas issued concurrently.
  const newest = codesNewestFirst(doc)[0];
  if (!newest || str(newest.codeId) !== str(code.codeId)) return 'superseded';
  // The parcel left with another code: a rotation concurrent with the pickup must not leave
  // a live code pointing at a compartment that is now free for the next parcel.
  if (Object.values(doc.codes).some((c) => usedAt(c) !== undefined)) return 'superseded';
  if (doc.returnedAt !== undefined) return 'expired';
  return 'active';
}

export function codeView(doc: ParcelDoc, code: CodeRecord, now: number): CodeView {
  const used = usedAt(code);
  return {
    codeId: str(code.codeId),
    selector: str(code.selector),
    state: codeState(doc, code, now),
    issuedAt: code.issuedAt,
    expiresAt: code.expiresAt,
    issuer: str(code.issuer),
    usedAt: used,
    revokedAt: code.revokedAt,
    usedAfterRevoke: used !== undefined && code.revokedAt !== undefined,
    openFailures: Object.keys(code.openFailures).length,
  };
}

export type ParcelStatus = 'announced' | 'deposited' | 'picked_up' | 'expired' | 'returned';

/** The compartment the parcel is in now: the deposit's, or the latest relocation's. */
export function currentCompartment(doc: ParcelDoc): number | undefined {
  if (!doc.deposit) return undefined;
  let best: { to: number; at: number; id: string } | undefined;
  for (const [id, m] of Object.entries(doc.moves)) {
    if (!best || m.at > best.at || (m.at === best.at && id > best.id)) best = { to: m.to, at: m.at, id };
  }
  return best ? best.to : doc.deposit.compartment;
}

/** The parcel's derived status at `now`. */
export function parcelStatus(doc: ParcelDoc, now: number): ParcelStatus {
  if (doc.returnedAt !== undefined) return 'returned';
  if (!doc.deposit) return 'announced';
  const codes = Object.values(doc.codes);
  if (codes.some((c) => usedAt(c) !== undefined)) return 'picked_up';
  const newest = codesNewestFirst(doc)[0];
  if (newest && codeState(doc, newest, now) === 'expired') return 'expired';
  // Revoked and never replaced: once its pickup window is over, nobody can collect the parcel
  // any more, so it goes back like an expired one (before that, support may still issue a new code).
  if (newest && revokedPastWindow(doc, newest, now)) return 'expired';
  return 'deposited';
}

/** `code` is revoked and its pickup window (`expiresAt`) is over. */
export function revokedPastWindow(doc: ParcelDoc, code: CodeRecord, now: number): boolean {
  return codeState(doc, code, now) === 'revoked' && now >= code.expiresAt;
}

/** The live (active) code of a parcel, if any. */
export function liveCode(doc: ParcelDoc, now: number): CodeRecord | undefined {
  const newest = codesNewestFirst(doc)[0];
  return newest && codeState(doc, newest, now) === 'active' ? newest : undefined;
}

/** True when nothing more can happen at the locker: picked up or returned. */
export function isFinished(doc: ParcelDoc, now: number): boolean {
  const s = parcelStatus(doc, now);
  return s === 'picked_up' || s === 'returned';
}
