import type { Clock, Random } from '../ports.js';
import { randomId } from '../ports.js';
import type { DocSet } from './doc-set.js';
import { istr, str, type Str } from './str.js';

/** One audited event. Never contains a pickup code. */
export interface AuditEvent {
  id: string;
  at: number;
  /** e.g. `door_opened`, `door_fault`, `deposit`, `pickup`, `tech_open`, `remote_open`, `service_out`. */
  type: string;
  /** Who caused it: `recipient`, `courier:<id>`, `tech:<id>`, `cloud:<who>`, `hub`. */
  actor: string;
  compartment?: number;
  parcelId?: string;
  detail?: string;
}

/** `AuditEvent` as stored: its strings as `Str` (DESIGN.md rule 7; older documents hold text). */
export interface AuditEventRecord {
  at: number;
  type: Str;
  actor: Str;
  compartment?: number;
  parcelId?: Str;
  detail?: Str;
}

/** One document per bank per UTC day, so old days can be dropped once the cloud has them. */
export interface AuditDayDoc {
  schema: 1;
  /** `bankId` and `day` are written by the genesis as text and stay so (see `ParcelDoc.parcelId`). */
  bankId: string;
  day: string;
  events: Record<string, AuditEventRecord>;
}

/** An event as plain values. */
export function auditEventOf(id: string, e: AuditEventRecord): AuditEvent {
  const out: AuditEvent = { id, at: e.at, type: str(e.type), actor: str(e.actor) };
  if (e.compartment !== undefined) out.compartment = e.compartment;
  if (e.parcelId !== undefined) out.parcelId = str(e.parcelId);
  if (e.detail !== undefined) out.detail = str(e.detail);
  return out;
}

export const AUDIT_PREFIX = 'audit:';
export const auditDocId = (bankId: string, day: string): string => `${AUDIT_PREFIX}${bankId}:${day}`;
const dayOf = (t: number): string => new Date(t).toISOString().slice(0, 10);

/** The bank's append-only audit trail, replicated to the cloud like the parcels. */
export class AuditLog {
  constructor(
    private readonly bankId: string,
    private readonly docs: DocSet,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  append(e: Omit<AuditEvent, 'id' | 'at'>): AuditEvent {
    const at = this.clock.now();
    const day = dayOf(at);
    const id = auditDocId(this.bankId, day);
    this.docs.create<AuditDayDoc>(id, { schema: 1, bankId: this.bankId, day, events: {} });
    const event: AuditEvent = { id: randomId(this.random, 8), at, ...e };
    const rec: AuditEventRecord = { at, type: istr(e.type), actor: istr(e.actor) };
    if (e.compartment !== undefined) rec.compartment = e.compartment;
    if (e.parcelId !== undefined) rec.parcelId = istr(e.parcelId);
    if (e.detail !== undefined) rec.detail = istr(e.detail);
    this.docs.change<AuditDayDoc>(id, e.type, (d) => {
      d.events[event.id] = rec;
    }, at);
    return event;
  }

  /** Events at or after `since`, oldest first (the last `limit` of them). */
  since(since: number, limit = 1000): AuditEvent[] {
    return this.select(since, () => true).slice(-limit);
  }

  /** The events about parcel `parcelId` at or after `since`, oldest first. */
  forParcel(parcelId: string, since: number): AuditEvent[] {
    return this.select(since, (e) => e.parcelId !== undefined && str(e.parcelId) === parcelId);
  }

  /** Events at or after `since` that `keep` accepts, oldest first; only the days from `since` on are read. */
  private select(since: number, keep: (e: AuditEventRecord) => boolean): AuditEvent[] {
    const out: AuditEvent[] = [];
    for (const id of this.docs.ids()) {
      if (!id.startsWith(`${AUDIT_PREFIX}${this.bankId}:`)) continue;
      const d = this.docs.get<AuditDayDoc>(id)!;
      if (d.day < dayOf(since)) continue;
      for (const [eid, e] of Object.entries(d.events)) if (e.at >= since && keep(e)) out.push(auditEventOf(eid, e));
    }
    return out.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  }

  /** Drop whole days older than `retentionMs` that the cloud holds. */
  prune(retentionMs: number, acknowledged: (docId: string) => boolean): number {
    const cutoff = dayOf(this.clock.now() - retentionMs);
    let n = 0;
    for (const id of [...this.docs.ids()]) {
      if (!id.startsWith(`${AUDIT_PREFIX}${this.bankId}:`)) continue;
      if (this.docs.get<AuditDayDoc>(id)!.day < cutoff && acknowledged(id)) {
        this.docs.remove(id);
        n++;
      }
    }
    return n;
  }
}
