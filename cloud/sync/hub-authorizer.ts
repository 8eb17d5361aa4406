import * as A from '@automerge/automerge';
import { sameHeads } from '../../shared/ledger/doc-set.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import type { AuthorizeDoc } from '../../shared/sync/sync-engine.js';
import type { Refusal } from '../../shared/sync/sync-errors.js';

/** Where the cloud's parcel registry puts a parcel. */
export interface ParcelBankLookup {
  /** The bank a parcel was announced for (or first seen at), if known. */
  bankOf(parcelId: string): string | undefined;
}

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const forbidden = (message: string): Refusal => ({ code: 'forbidden_document', message });

/**
 * What the cloud accepts from the hub of `bankId` (DESIGN.md rule 4), document by document:
 *
 * - `parcel:<id>` — only a parcel of this bank (its `bankId` field, and the registry must not
 *   put it at another bank), and the hub must not write or alter the carrier's announcement
 *   (a cloud-authored fact);
 * - `audit:<bankId>:<day>` and `bankstate:<bankId>` — the hub's own records;
 * - `config:<bankId>` — read-only: a message that would change the cloud's version (changes
 *   the cloud does not have) is refused, an exchange of heads is fine;
 * - anything else is refused.
 */
export function hubAuthorizer(bankId: string, parcels: ParcelBankLookup): AuthorizeDoc {
  return (docId, before, after) => {
    if (docId === `config:${bankId}`) {
      const unchanged = sameHeads(before ? A.getHeads(before) : [], after ? A.getHeads(after) : []);
      return unchanged ? undefined : { code: 'read_only_document', message: `${docId} is written by the cloud only.` };
    }
    if (docId === `bankstate:${bankId}`) return ownBank(docId, after, bankId);
    if (docId.startsWith(`audit:${bankId}:`)) {
      if (!DAY.test(docId.slice(`audit:${bankId}:`.length))) return forbidden(`${docId} is not an audit document id.`);
      return ownBank(docId, after, bankId);
    }
    if (docId.startsWith('parcel:')) return parcel(docId, before, after, bankId, parcels);
    return forbidden(`A hub may not write ${docId}.`);
  };
}

function ownBank(docId: string, after: A.Doc<unknown> | undefined, bankId: string): Refusal | undefined {
  if (after && (after as { bankId?: unknown }).bankId !== bankId) return forbidden(`${docId} does not belong to bank ${bankId}.`);
  return undefined;
}

function parcel(docId: string, before: A.Doc<unknown> | undefined, after: A.Doc<unknown> | undefined, bankId: string, parcels: ParcelBankLookup): Refusal | undefined {
  const parcelId = docId.slice('parcel:'.length);
  if (!TOKEN.test(parcelId)) return forbidden(`${docId} is not a parcel document id.`);
  const registered = parcels.bankOf(parcelId);
  if (registered !== undefined && registered !== bankId) return forbidden(`Parcel ${parcelId} belongs to another bank.`);
  if (!after) return undefined;
  const doc = after as A.Doc<ParcelDoc>;
  if (doc.bankId !== bankId || doc.parcelId !== parcelId || doc.schema !== 1) {
    return forbidden(`${docId} is not a parcel of bank ${bankId}.`);
  }
  const was = (before as A.Doc<ParcelDoc> | undefined)?.announcement;
  if (!sameFacts(was, doc.announcement) || A.getConflicts(doc, 'announcement')) {
    return forbidden(`The announcement of parcel ${parcelId} is written by the cloud only.`);
  }
  return undefined;
}

/**
 * The same content in two versions of a flat record (an announcement: numbers and strings).
 * An untouched subtree is the same object in both versions when it was patched; a rebuilt
 * document has new objects, compared field by field (a string stored as text in an older
 * document equals the same string stored immutable).
 */
function sameFacts(a: object | undefined, b: object | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const x: unknown = Reflect.get(a, k);
    const y: unknown = Reflect.get(b, k);
    if (x === y) continue;
    if (A.isImmutableString(x) && A.isImmutableString(y) ? x.val !== y.val : JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}
