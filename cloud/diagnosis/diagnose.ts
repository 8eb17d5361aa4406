import {
  channelOrPreferences,
  codeGenerationFailed,
  currentRows,
  iso,
  lockerMalfunction,
  notDeposited,
  notificationOutage,
  recentContactChange,
  unreachableContact,
} from './causes.js';
import type { Cause, Diagnosis, Finding, ParcelFacts, Verdict } from './diagnosis.js';

/** One sentence per cause, for the verdict. */
export const CAUSE_SUMMARY: Record<Cause, string> = {
  not_deposited: 'The parcel is not in the locker (yet).',
  code_generation_failed: 'The parcel is in the locker but has no valid code.',
  notification_outage: 'A message provider is failing.',
  unreachable_contact: 'The recipient cannot be reached at the contact on file.',
  channel_or_preferences: 'The code did not get through on the preferred channels.',
  recent_contact_change: 'The contact was changed recently: a redirected code (takeover) is possible.',
  locker_malfunction: 'The locker has a fault or is offline.',
};

/**
 * Walk every cause of DESIGN.md's table, in its order, over the facts of one parcel; the
 * first cause that holds is the verdict. Pure: the same facts give the same diagnosis.
 */
export function diagnose(f: ParcelFacts): Diagnosis {
  const findings: Finding[] = [
    notDeposited(f),
    codeGenerationFailed(f),
    notificationOutage(f),
    unreachableContact(f),
    channelOrPreferences(f),
    recentContactChange(f),
    lockerMalfunction(f),
  ];
  const rows = new Map(f.rows.map((r) => [r.id, r]));
  const notifications = f.events.flatMap((e) => {
    const r = rows.get(e.rowId);
    return r ? [{ at: e.at, kind: r.kind, channel: r.channel, to: r.destinationMasked, event: e.event, detail: e.detail }] : [];
  });
  return { parcelId: f.parcelId, bankId: f.bankId, at: f.now, status: f.status, findings, verdict: verdict(f, findings), notifications };
}

function verdict(f: ParcelFacts, findings: Finding[]): Verdict {
  if (f.status === 'picked_up') {
    const used = f.codes.find((c) => c.usedAt !== undefined);
    return { cause: null, summary: `Picked up${used?.usedAt ? ` at ${iso(used.usedAt)}` : ''}.`, action: 'nothing to do' };
  }
  const first = findings.find((x) => x.holds);
  if (first) {
    const lead = first.evidence.find((e) => e.at !== undefined) ?? first.evidence[0];
    return { cause: first.cause, summary: `${CAUSE_SUMMARY[first.cause]}${lead ? ` ${capital(lead.text)}.` : ''}`, action: first.action };
  }
  const rows = currentRows(f);
  const done = rows.find((r) => r.status === 'delivered' || r.status === 'accepted');
  if (done) {
    const how = done.status === 'delivered' ? 'delivered' : 'accepted by the provider';
    return {
      cause: null,
      summary: `No problem found: the code was ${how} by ${done.channel} to ${done.destinationMasked} at ${iso(done.deliveredAt ?? done.sentAt ?? done.updatedAt)}.`,
      action: `ask the recipient to check their ${done.channel === 'email' ? 'e-mail' : done.channel} messages; a resend rotates the code`,
    };
  }
  const queued = rows.find((r) => r.status === 'pending' || r.status === 'sending');
  if (queued) {
    return { cause: null, summary: `The code is queued for ${queued.channel} to ${queued.destinationMasked}, due ${iso(Math.max(queued.nextAttemptAt, queued.notBefore))}.`, action: 'wait: it is on its way' };
  }
  return { cause: null, summary: 'No problem found.', action: 'a resend rotates the code and sends it again' };
}

const capital = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
