import type * as A from '@automerge/automerge';
import type { AuthorizeDoc } from '../../shared/sync/sync-engine.js';

/** The kinds of document a hub shares with the cloud, for its own bank. */
export function isBankDoc(bankId: string, docId: string): boolean {
  return (
    docId.startsWith('parcel:') ||
    docId === `config:${bankId}` ||
    docId === `bankstate:${bankId}` ||
    docId.startsWith(`audit:${bankId}:`)
  );
}

/**
 * What a hub accepts from the cloud: documents of its own bank only (a parcel whose
 * `bankId` is this bank, its config, its audit days, its bank state). The cloud is the
 * authority for the config; everything else merges as CRDT facts.
 */
export function cloudAuthorizer(bankId: string): AuthorizeDoc {
  return (docId, _before, after) => {
    if (!isBankDoc(bankId, docId)) return { code: 'forbidden_document', message: `${docId} is not a document of bank ${bankId}.` };
    const doc = after as A.Doc<{ bankId?: unknown; parcelId?: unknown }> | undefined;
    if (doc && doc.bankId !== bankId) return { code: 'forbidden_document', message: `${docId} belongs to another bank.` };
    if (doc && docId.startsWith('parcel:') && doc.parcelId !== docId.slice('parcel:'.length)) {
      return { code: 'forbidden_document', message: `${docId} does not hold that parcel.` };
    }
    return undefined;
  };
}
