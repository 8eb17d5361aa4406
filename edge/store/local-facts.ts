import * as A from '@automerge/automerge';
import type { AuditDayDoc } from '../../shared/ledger/audit-log.js';
import { AUDIT_PREFIX } from '../../shared/ledger/audit-log.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX } from '../../shared/ledger/parcel-ledger.js';
import { str } from '../../shared/ledger/str.js';

/** One fact a damaged store held that the cloud's copy did not (never a code or a hash). */
export interface LocalFact {
  docId: string;
  parcelId?: string;
  /** e.g. `deposit`, `code_issued`, `pickup`, `open_failed`, `revoked`, `relocated`, `exception`, `returned`, `audit:<type>`, `changes`. */
  fact: string;
  at?: number;
  compartment?: number;
  /** `changes`: how many Automerge changes. */
  changes?: number;
}

/**
 * The facts of `local` that `cloud` (the cloud's version of the same document, or undefined
 * when the cloud never had it) lacks, in the ledger's own terms: a deposit, a code issued, a
 * door-open attempt, a revocation, an audit event… For other documents, the number of changes.
 */
export function factsOnlyIn(docId: string, local: A.Doc<unknown>, cloud: A.Doc<unknown> | undefined): LocalFact[] {
  if (cloud && A.hasHeads(cloud, A.getHeads(local))) return [];
  if (docId.startsWith(PARCEL_PREFIX)) return parcelFacts(docId, local as A.Doc<ParcelDoc>, cloud as A.Doc<ParcelDoc> | undefined);
  if (docId.startsWith(AUDIT_PREFIX)) {
    const mine = (local as A.Doc<AuditDayDoc>).events ?? {};
    const theirs = (cloud as A.Doc<AuditDayDoc> | undefined)?.events ?? {};
    return Object.entries(mine)
      .filter(([id]) => !(id in theirs))
      .map(([, e]) => ({ docId, fact: `audit:${str(e.type)}`, at: e.at, parcelId: str(e.parcelId), compartment: e.compartment }));
  }
  const base = cloud ?? A.init();
  const merged = A.merge(A.clone(base), local);
  return [{ docId, fact: 'changes', changes: A.getChanges(base, merged).length }];
}

function parcelFacts(docId: string, local: A.Doc<ParcelDoc>, cloud: A.Doc<ParcelDoc> | undefined): LocalFact[] {
  const parcelId = local.parcelId;
  const out: LocalFact[] = [];
  const add = (fact: string, at?: number, compartment?: number) => out.push({ docId, parcelId, fact, at, compartment });
  if (local.deposit && !cloud?.deposit) add('deposit', local.deposit.at, local.deposit.compartment);
  for (const [codeId, c] of Object.entries(local.codes ?? {})) {
    const theirs = cloud?.codes?.[codeId];
    if (!theirs) add('code_issued', c.issuedAt);
    for (const [attempt, u] of Object.entries(c.uses ?? {})) if (!theirs?.uses?.[attempt]) add('pickup', u.at, u.compartment);
    for (const [attempt, f] of Object.entries(c.openFailures ?? {})) if (!theirs?.openFailures?.[attempt]) add('open_failed', f.at);
    if (c.revokedAt !== undefined && theirs?.revokedAt === undefined) add('revoked', c.revokedAt);
    if (c.expiredAt !== undefined && theirs?.expiredAt === undefined) add('expired', c.expiredAt);
  }
  for (const [id, m] of Object.entries(local.moves ?? {})) if (!cloud?.moves?.[id]) add('relocated', m.at, m.to);
  for (const [id, e] of Object.entries(local.exceptions ?? {})) if (!cloud?.exceptions?.[id]) add('exception', e.at);
  if (local.returnedAt !== undefined && cloud?.returnedAt === undefined) add('returned', local.returnedAt);
  return out;
}
