import { generateCode } from '../../../shared/codes/format.js';
import { Argon2CodeHasher, DEFAULT_ARGON2, type Argon2Params } from '../../../shared/codes/hasher.js';
import { seal } from '../../../shared/crypto/sealed-box.js';
import { Conflict, NotFound } from '../../../shared/errors.js';
import { codeState, codesNewestFirst, currentCompartment, isFinished, liveCode, type ParcelDoc } from '../../../shared/ledger/parcel-doc.js';
import { DEFAULT_CODE_TTL_MS, parcelDocId } from '../../../shared/ledger/parcel-ledger.js';
import { istr, str } from '../../../shared/ledger/str.js';
import { randomId, type Clock, type Random } from '../../../shared/ports.js';
import type { BankReplicas } from '../../bank-replicas.js';
import type { CloudStore } from '../../store/cloud-store.js';
import type { ChannelName } from '../channels/channel.js';
import type { Outbox } from './outbox.js';
import type { OutboxRow } from './outbox-store.js';

/** What {@link CloudCodeIssuer} needs. */
export interface CloudCodeIssuerDeps {
  store: CloudStore;
  replicas: BankReplicas;
  outbox: Outbox;
  /** The cloud's X25519 public key: a cloud-issued code is sealed to it for the outbox. */
  sealPublicKey: string;
  clock: Clock;
  random: Random;
  /** argon2id cost of cloud-issued codes. Default DESIGN.md's (19 MiB, t=2). */
  hashParams?: Argon2Params;
}

/** One issuance request. */
export interface IssueRequest {
  bankId: string;
  parcelId: string;
  /** Audit actor, e.g. `cloud:support:agent-7`. */
  actor: string;
  /** Why (audited; the old code's rows are superseded with it). */
  reason: string;
  /** Deliver on this channel only. */
  only?: ChannelName;
  /** Hold: the message is not sent before this time. */
  notBefore?: number;
  /** More writes in the same transaction, once the code exists. */
  within?: (codeId: string, row: OutboxRow | undefined) => void;
}

/** What an issuance did. */
export interface Issued {
  codeId: string;
  /** The first outbox row, absent when no channel can reach the recipient. */
  row?: OutboxRow;
  /** The code it replaced. */
  replaced?: string;
}

/**
 * Cloud-side code issuance (resend, contact change): a code from `generateCode` with the
 * bank's live selectors, hashed with argon2id and the bank's pepper from the cloud key
 * store (so the hub verifies it offline like its own), written to the parcel document (the
 * hub gets it with the next sync) — replacing the live code in the same change — and queued
 * in the outbox sealed to the cloud's own key, all in ONE transaction. The plaintext exists
 * only inside this call.
 */
export class CloudCodeIssuer {
  private readonly hashers = new Map<string, Argon2CodeHasher>();

  constructor(private readonly deps: CloudCodeIssuerDeps) {}

  /** Throws `NotFound` / `Conflict` (`not_deposited`, `parcel_finished`) when there is nothing to issue for. */
  check(bankId: string, parcelId: string): void {
    const doc = this.deps.replicas.get(bankId).ledger.doc(parcelId);
    if (!doc) throw new NotFound(`No parcel ${parcelId} is known to you.`, 'parcel_not_found');
    if (!doc.deposit) throw new Conflict('not_deposited', `Parcel ${parcelId} is not in a compartment yet; its code is sent when the courier deposits it.`);
    if (isFinished(doc, this.deps.clock.now())) throw new Conflict('parcel_finished', `Parcel ${parcelId} was already picked up or returned; there is nothing to open.`);
  }

  async issue(req: IssueRequest): Promise<Issued> {
    const { replicas, random } = this.deps;
    const replica = replicas.get(req.bankId);
    this.check(req.bankId, req.parcelId);
    const hasher = this.hasher(req.bankId);
    for (let tries = 0; tries < 5; tries++) {
      const code = generateCode(random, (s) => replica.ledger.selectorTaken(s));
      const hash = await hasher.hash(code);
      const sealed = seal(code.display, this.deps.sealPublicKey);
      const done = this.commit(req, code.selector, hash, sealed);
      if (done) return done;
    }
    throw new Conflict('no_free_selector', `Bank ${req.bankId} has no free code selector right now; try again in a minute.`);
  }

  /**
   * One transaction: the code in the parcel document (replacing the live one), its outbox
   * row, the audit event. Undefined when the selector was taken meanwhile (hash again).
   */
  private commit(req: IssueRequest, selector: string, hash: string, sealed: string): Issued | undefined {
    const { replicas, outbox, clock } = this.deps;
    const replica = replicas.get(req.bankId);
    return replica.docs.transaction((): Issued | undefined => {
      // The hash took a while: another issuance may have taken the selector, or the parcel left.
      this.check(req.bankId, req.parcelId);
      if (replica.ledger.selectorTaken(selector)) return undefined;
      const now = clock.now();
      const doc = replica.ledger.doc(req.parcelId)!;
      const replaced = str(liveCode(doc, now)?.codeId);
      const expiresAt = this.expiryFor(doc, now);
      const newestAt = Math.max(-Infinity, ...Object.values(doc.codes).map((c) => c.issuedAt));
      const codeId =
        newestAt < now
          ? replica.ledger.issueCode(req.parcelId, { selector, hash, issuer: 'cloud', expiresAt })
          : this.issueAfter(req.bankId, req.parcelId, { selector, hash, expiresAt }, newestAt + 1, now);
      for (const old of Object.keys(doc.codes)) outbox.supersedeCode(old, req.reason);
      const row = outbox.enqueueCode({
        parcelId: req.parcelId,
        bankId: req.bankId,
        codeId,
        sealed,
        expiresAt,
        compartment: currentCompartment(doc),
        notBefore: req.notBefore,
        only: req.only,
      });
      replica.audit.append({
        type: 'code_issued',
        actor: req.actor,
        parcelId: req.parcelId,
        detail: `${req.reason}; ${row ? `sent by ${row.channel} to ${row.destinationMasked}` : 'no channel can reach the recipient'}`,
      });
      req.within?.(codeId, row);
      return { codeId, row, replaced };
    });
  }

  /**
   * `ParcelLedger.issueCode` stamps the new code with the clock, and codes are ordered by
   * (issuedAt, codeId): when the newest code carries the same or a LATER time — the same
   * millisecond, or a hub clock ahead of the cloud's — the new code would sort below it and
   * be born superseded, leaving the parcel with no live code. Then the same change is written
   * here with `issuedAt` one millisecond after the newest code (the ledger's rule otherwise:
   * the live code revoked as `rotated` in the same change).
   */
  private issueAfter(bankId: string, parcelId: string, code: { selector: string; hash: string; expiresAt: number }, issuedAt: number, now: number): string {
    const replica = this.deps.replicas.get(bankId);
    const codeId = randomId(this.deps.random, 8);
    const docId = parcelDocId(parcelId);
    const doc = replica.docs.change<ParcelDoc>(
      docId,
      'issue',
      (d) => {
        for (const old of Object.values(d.codes)) {
          if (codeState(d, old, now) !== 'active') continue;
          old.revokedAt = now;
          old.revokeReason = istr('rotated');
        }
        d.codes[codeId] = {
          codeId: istr(codeId),
          selector: istr(code.selector),
          hash: istr(code.hash),
          issuedAt,
          expiresAt: code.expiresAt,
          issuer: istr('cloud'),
          uses: {},
          openFailures: {},
        };
      },
      now,
    );
    replica.ledger.receive(docId, doc); // reindex the selector
    return codeId;
  }

  /**
   * A new code keeps the parcel's deadline (72 h after deposit by default): the expiry of the
   * newest code when it lies ahead, else the deposit's deadline, else a fresh TTL from now.
   */
  private expiryFor(doc: ParcelDoc, now: number): number {
    const newest = codesNewestFirst(doc)[0];
    if (newest && newest.expiresAt > now) return newest.expiresAt;
    const fromDeposit = (doc.deposit?.at ?? now) + DEFAULT_CODE_TTL_MS;
    return fromDeposit > now ? fromDeposit : now + DEFAULT_CODE_TTL_MS;
  }

  private hasher(bankId: string): Argon2CodeHasher {
    let h = this.hashers.get(bankId);
    if (!h) {
      h = new Argon2CodeHasher(this.deps.store.keys.pepper(bankId, this.deps.random), this.deps.hashParams ?? DEFAULT_ARGON2);
      this.hashers.set(bankId, h);
    }
    return h;
  }
}
