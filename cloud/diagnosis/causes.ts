import type { Cause, Evidence, Finding, ParcelFacts, RowFacts } from './diagnosis.js';

/** `2026-01-05 08:00:00 UTC`. */
export const iso = (t: number): string => `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/** A duration for people: `45 s`, `12 min`, `3 h`, `2 d`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

const finding = (cause: Cause, holds: boolean, evidence: Evidence[], action = ''): Finding => ({ cause, holds, evidence, action: holds ? action : '' });

/** Code rows of the parcel's newest code (the one that matters now). */
export function currentRows(f: ParcelFacts): RowFacts[] {
  const current = f.codes[0];
  return current ? f.rows.filter((r) => r.kind === 'code' && r.codeId === current.codeId) : [];
}

function failedEvent(f: ParcelFacts, r: RowFacts): string | undefined {
  return [...f.events].reverse().find((e) => e.rowId === r.id && e.event === 'failed')?.detail ?? undefined;
}

/** A row the recipient's side refused: undelivered receipt, or a non-retryable rejection. */
export function isUnreachable(f: ParcelFacts, r: RowFacts): boolean {
  return r.status === 'undelivered' || (r.status === 'failed' && (failedEvent(f, r) ?? '').startsWith('rejected'));
}

function delivered(rows: RowFacts[]): RowFacts | undefined {
  return rows.find((r) => r.status === 'delivered');
}

const checkThere = (d: RowFacts): string =>
  `the code was delivered by ${d.channel} to ${d.destinationMasked} at ${iso(d.deliveredAt ?? d.updatedAt)}: ask the recipient to look there`;

/** 1. Not deposited yet (or taken back), carrier exceptions. */
export function notDeposited(f: ParcelFacts): Finding {
  const ev: Evidence[] = [];
  if (f.announcement) ev.push({ at: f.announcement.at, text: `announced by ${f.announcement.carrier} (tracking ${f.announcement.trackingNumber})` });
  for (const e of f.exceptions) ev.push({ at: e.at, text: `carrier exception: ${e.reason}` });
  if (f.deposit) ev.push({ at: f.deposit.at, text: `deposited in compartment ${f.deposit.compartment}` });
  else ev.push({ text: `no deposit recorded by the locker${f.bank.lastSyncAt !== null ? ` as of its last sync (${iso(f.bank.lastSyncAt)})` : ' (it never synced)'}` });
  if (f.returnedAt !== undefined) ev.push({ at: f.returnedAt, text: 'taken back by a courier: returned to sender' });
  const attempt = f.deposit ? undefined : lastDepositAttempt(f);
  if (attempt) ev.push(...attempt.evidence);
  const holds = !f.deposit || f.returnedAt !== undefined;
  const lastException = f.exceptions[f.exceptions.length - 1];
  let action = 'wait for deposit: the code is sent the moment the courier closes the door';
  if (f.returnedAt !== undefined) action = 'contact the carrier: the parcel was returned to sender';
  else if (lastException) action = `contact the carrier about its exception ("${lastException.reason}"); wait for deposit`;
  else if (attempt) action = attempt.action;
  else if (!f.bank.online) action += ' (the locker is offline: a deposit made there shows up here when it reconnects)';
  return finding('not_deposited', holds, ev, action);
}

/**
 * The last time a courier opened a door for the parcel, and how it ended, from the locker's
 * events (the parcel is not deposited, so it did not end with a deposit).
 */
function lastDepositAttempt(f: ParcelFacts): { evidence: Evidence[]; action: string } | undefined {
  const opened = [...f.lockerEvents].reverse().find((e) => e.type === 'deposit_door_opened');
  if (!opened) return undefined;
  const after = f.lockerEvents.filter((e) => e.at >= opened.at && e.compartment === opened.compartment);
  const n = opened.compartment;
  const evidence: Evidence[] = [{ at: opened.at, text: `a courier opened compartment ${n} for this parcel` }];
  const abandoned = after.find((e) => e.type === 'deposit_abandoned');
  if (abandoned) {
    evidence.push({ at: abandoned.at, text: `compartment ${n} was found closed and empty: the courier left without the parcel, the deposit was cancelled` });
    return { evidence, action: `contact the carrier: its courier opened compartment ${n} but did not leave the parcel` };
  }
  const leftOpen = after.find((e) => e.type === 'deposit_door_left_open');
  if (leftOpen) {
    evidence.push({ at: leftOpen.at, text: `compartment ${n} was still open when the deposit should have been finished` });
    return { evidence, action: `send someone to close compartment ${n}: the parcel gets its code once the door is closed with the parcel inside` };
  }
  evidence.push({ text: 'the courier has not finished the deposit yet' });
  return { evidence, action: 'wait for deposit: the code is sent once the door is closed with the parcel inside (the locker finishes it by itself 10 min after the door opened)' };
}

/** 2. Deposited, but no usable code. */
export function codeGenerationFailed(f: ParcelFacts): Finding {
  if (!f.deposit) return finding('code_generation_failed', false, [{ text: 'no code is due before the deposit' }]);
  const newest = f.codes[0];
  const live = f.codes.find((c) => c.state === 'active');
  const used = f.codes.find((c) => c.usedAt !== undefined);
  if (used) return finding('code_generation_failed', false, [{ at: used.usedAt, text: `code used: picked up at ${iso(used.usedAt!)}` }]);
  if (live) return finding('code_generation_failed', false, [{ at: live.issuedAt, text: `live code issued by the ${live.issuer}, valid until ${iso(live.expiresAt)}` }]);
  const owed = f.deferred && f.deferred.doneAt === null ? f.deferred : undefined;
  if (owed) return finding('code_generation_failed', false, [{ at: owed.createdAt, text: `a new code is due at ${iso(owed.dueAt)} (hold after a contact change)` }]);
  if (!newest) {
    return finding('code_generation_failed', true, [{ at: f.deposit.at, text: `deposited at ${iso(f.deposit.at)}, but no code was ever issued` }], 'resend: it issues a new code and sends it');
  }
  if (newest.state === 'expired') {
    return finding('code_generation_failed', true, [{ at: newest.expiresAt, text: `the code expired at ${iso(newest.expiresAt)}` }], 'resend to issue a new code, or let the parcel go back to the sender');
  }
  const when = newest.revokedAt ?? newest.issuedAt;
  return finding('code_generation_failed', true, [{ at: when, text: `the last code is ${newest.state} (since ${iso(when)}) and no newer code exists` }], 'resend: it issues a new code and sends it');
}

/** 3. A provider is failing: retries, exhausted retries, messages stuck, channel health. */
export function notificationOutage(f: ParcelFacts): Finding {
  const rows = currentRows(f);
  const ev: Evidence[] = [];
  const failing = new Set<string>();
  for (const r of rows) {
    const retries = f.events.filter((e) => e.rowId === r.id && e.event === 'retry');
    const exhausted = (failedEvent(f, r) ?? '').startsWith('retries exhausted');
    if (retries.length > 0 || exhausted) {
      failing.add(r.channel);
      const tail = r.status === 'pending' ? `; next try at ${iso(r.nextAttemptAt)}` : exhausted ? '; retries exhausted' : '';
      ev.push({ at: (retries[retries.length - 1] ?? { at: r.updatedAt }).at, text: `${r.channel} to ${r.destinationMasked}: ${r.attempts} attempt(s), provider answered "${r.lastError ?? 'nothing'}"${tail}` });
    }
    const due = Math.max(r.nextAttemptAt, r.notBefore);
    if (r.status === 'pending' && f.now - due > f.settings.stuckPendingMs) {
      failing.add(r.channel);
      ev.push({ at: due, text: `${r.channel} message due since ${iso(due)} and still not sent: the outbox is not getting through` });
    }
    if (r.status === 'sending' && r.claimedAt !== null && f.now - r.claimedAt > f.settings.stuckPendingMs) {
      failing.add(r.channel);
      ev.push({ at: r.claimedAt, text: `${r.channel} send started at ${iso(r.claimedAt)} never finished` });
    }
  }
  for (const h of f.health) {
    if (h.windowSamples < 5 || (h.successRate ?? 1) >= 0.5) continue;
    // A channel down for everybody matters here when this parcel's message is on it (or would be).
    const affected = rows.some((r) => r.channel === h.channel && r.status !== 'delivered' && r.status !== 'accepted');
    if (!affected && !f.usableChannels.includes(h.channel)) continue;
    if (affected) failing.add(h.channel);
    ev.push({ at: h.lastErrorAt, text: `${h.channel} health: ${Math.round((h.successRate ?? 0) * 100)}% of the last ${h.windowSamples} sends taken by the provider; last error "${h.lastError ?? '-'}"` });
  }
  const d = delivered(rows);
  const other = f.usableChannels.find((ch) => !failing.has(ch));
  let action = other ? `resend on another channel: ${other}` : 'wait: the outbox keeps retrying; check the provider status';
  if (d && !failing.has(d.channel)) action = `nothing to resend: ${checkThere(d)}`;
  return finding('notification_outage', failing.size > 0, ev, action);
}

/** 4. The number or address on file cannot be reached (rejected, undelivered). */
export function unreachableContact(f: ParcelFacts): Finding {
  const rows = currentRows(f).filter((r) => isUnreachable(f, r));
  const ev = rows.map((r) => ({ at: r.updatedAt, text: `${r.channel} to ${r.destinationMasked} ${r.status === 'undelivered' ? 'undelivered' : 'rejected'}: "${r.lastError ?? '-'}"` }));
  const fields = [...new Set(rows.map((r) => (r.channel === 'email' ? 'e-mail address' : 'phone number')))].join(' and ');
  const d = delivered(currentRows(f));
  const action = `correct the contact and rotate: PATCH /v1/recipients/${f.parcelId} with the right ${fields}; a new code follows${d ? ` (meanwhile ${checkThere(d)})` : ''}`;
  return finding('unreachable_contact', rows.length > 0, ev, action);
}

/** 5. Channels and preferences: nothing usable, accepted but never delivered, every preference tried. */
export function channelOrPreferences(f: ParcelFacts): Finding {
  if (!f.contact) {
    return finding('channel_or_preferences', true, [{ text: 'the cloud holds no contact for the recipient' }], `correct the contact and rotate: add one with PATCH /v1/recipients/${f.parcelId}`);
  }
  const ev: Evidence[] = [{ text: `preferences ${f.contact.preferences.join(' > ') || '(none)'}; usable here: ${f.usableChannels.join(', ') || 'none'}` }];
  let holds = f.usableChannels.length === 0;
  for (const ch of f.contact.preferences.filter((p) => !f.usableChannels.includes(p))) {
    ev.push({ text: `${ch} is preferred but ${f.configuredChannels.includes(ch) ? 'there is no address for it' : 'not configured in this cloud'}` });
  }
  const rows = currentRows(f);
  for (const r of rows) {
    if (r.status === 'accepted' && r.sentAt !== null && f.now - r.sentAt >= f.settings.receiptTimeoutMs) {
      holds = true;
      const fo = r.failoverAt !== null ? `; failed over at ${iso(r.failoverAt)}` : '';
      ev.push({ at: r.sentAt, text: `${r.channel} to ${r.destinationMasked} accepted by the provider at ${iso(r.sentAt)}, no delivery receipt after ${span(f.now - r.sentAt)}${fo}` });
    }
  }
  const live = f.codes.find((c) => c.state === 'active');
  const open = rows.some((r) => r.status === 'pending' || r.status === 'sending' || r.status === 'delivered' || (r.status === 'accepted' && r.failoverAt === null));
  if (live && rows.length > 0 && !open && f.usableChannels.every((ch) => rows.some((r) => r.channel === ch))) {
    holds = true;
    ev.push({ text: 'every preferred channel was tried for the live code; none delivered it' });
  }
  if (live && f.deposit && rows.length === 0 && f.usableChannels.length > 0 && f.now - live.issuedAt > f.settings.stuckPendingMs && !f.deferred?.dueAt) {
    holds = true;
    ev.push({ at: live.issuedAt, text: 'the live code was never queued for delivery' });
  }
  const d = delivered(rows);
  const c = f.contact;
  const reachable = f.configuredChannels.filter((ch) => (ch === 'sms' ? !!c.phone : ch === 'email' ? !!c.email : !!(c.phone ?? c.email)));
  const tried = (ch: string) => rows.some((r) => r.channel === ch);
  const untried = f.usableChannels.find((ch) => !tried(ch)) ?? reachable.find((ch) => !tried(ch));
  let action = untried
    ? `resend on another channel: ${untried}`
    : `correct the preferences and rotate: add another phone number or e-mail address (PATCH /v1/recipients/${f.parcelId})`;
  if (d) action = `nothing to resend: ${checkThere(d)}; fix the preferences if the first channel keeps failing`;
  return finding('channel_or_preferences', holds, ev, action);
}

/** 6. A recent change of phone or e-mail: a redirected code (account takeover) is possible. */
export function recentContactChange(f: ParcelFacts): Finding {
  const recent = f.contactChanges.filter((c) => f.now - c.at <= f.settings.takeoverWindowMs);
  const ev: Evidence[] = recent.map((c) => ({
    at: c.at,
    text: `${c.fields.map((k) => `${k} ${c.before[k]} -> ${c.after[k]}`).join('; ')} by ${c.actor}`,
  }));
  for (const a of f.rows.filter((r) => r.kind === 'alert' && recent.some((c) => r.createdAt >= c.at))) {
    ev.push({ at: a.updatedAt, text: `old contact alerted by ${a.channel} (${a.destinationMasked}): ${a.status}` });
  }
  if (f.deferred && recent.length > 0) {
    ev.push(f.deferred.doneAt === null
      ? { at: f.deferred.createdAt, text: `new code for the new contact due at ${iso(f.deferred.dueAt)}` }
      : { at: f.deferred.doneAt, text: `new code for the new contact issued at ${iso(f.deferred.doneAt)}` });
  }
  const holds = recent.some((c) => c.fields.includes('phone') || c.fields.includes('email'));
  return finding('recent_contact_change', holds, ev, 'verify the recipient first: if they did not make the change (takeover), restore the old contact and rotate; otherwise the new code goes to the new contact');
}

/** 7. The locker: door faults, out of service, failed opens, offline or long unsynced. */
export function lockerMalfunction(f: ParcelFacts): Finding {
  const ev: Evidence[] = [];
  const n = f.compartment;
  let door = false;
  for (const fault of f.bank.faults) {
    door = true;
    ev.push({ at: fault.at, text: `compartment ${n}: ${fault.reason}` });
  }
  if (n !== undefined && !f.bank.inService) {
    door = true;
    ev.push({ text: `compartment ${n} is out of service${f.bank.serviceReason ? `: ${f.bank.serviceReason}` : ''}` });
  }
  const live = f.codes.find((c) => c.state === 'active');
  if (live && live.openFailures > 0) {
    door = true;
    ev.push({ text: `${live.openFailures} door-open attempt(s) with the live code failed at the locker (the code was not used up)` });
  }
  const sync = f.bank.lastSyncAt;
  if (!f.bank.online) {
    ev.push({ at: f.bank.lastContactAt ?? undefined, text: `the locker is offline; last contact ${f.bank.lastContactAt !== null ? `${span(f.now - f.bank.lastContactAt)} ago` : 'never'}, last sync ${sync !== null ? `${span(f.now - sync)} ago` : 'never'}` });
  } else if (sync === null) {
    ev.push({ text: 'the locker is connected but has not completed a sync yet' });
  } else {
    // A connected hub with nothing to exchange stays "in sync" without a newer timestamp.
    ev.push({ at: sync, text: `the locker is online (last completed sync ${span(f.now - sync)} ago)` });
  }
  const holds = door || !f.bank.online;
  let action: string;
  if (door && f.bank.online) action = `relocate / remote open: open compartment ${n} remotely (POST /v1/banks/${f.bankId}/compartments/${n}/open) or have a technician relocate the parcel`;
  else if (door) action = 'relocate / remote open is not possible while the locker is offline: send a technician to relocate the parcel';
  else action = `the locker is offline: codes issued now reach it when it reconnects; send a technician if it stays offline (relocate / remote open needs it online)`;
  return finding('locker_malfunction', holds, ev, action);
}
