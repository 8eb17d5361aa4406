import { iso } from '../diagnosis/causes.js';
import type { Diagnosis, Evidence } from '../diagnosis/diagnosis.js';

/** The evidence of every finding with a time and every message step, oldest first, each sentence once. */
export function timeline(d: Diagnosis): Required<Evidence>[] {
  const seen = new Set<string>();
  const out: Required<Evidence>[] = [];
  for (const f of d.findings) {
    for (const e of f.evidence) {
      if (e.at === undefined || seen.has(e.text)) continue;
      seen.add(e.text);
      out.push({ at: e.at, text: e.text });
    }
  }
  for (const n of d.notifications ?? []) {
    const detail = n.detail && n.event !== 'queued' ? ` (${n.detail})` : '';
    out.push({ at: n.at, text: `${n.kind === 'alert' ? 'alert' : 'code'} by ${n.channel} to ${n.to}: ${n.event}${detail}` });
  }
  // Stable: what happened at one moment keeps its order (the deposit before its message).
  return out.map((e, i) => ({ e, i })).sort((a, b) => a.e.at - b.e.at || a.i - b.i).map(({ e }) => e);
}

/**
 * A diagnosis as support reads it in a terminal: the verdict and its action first, then
 * what happened in time order, then every cause in DESIGN.md's order with its evidence.
 * Masked contacts only — the API never sends more.
 */
export function formatDiagnosis(d: Diagnosis): string {
  const lines: string[] = [];
  lines.push(`Parcel ${d.parcelId} at ${d.bankId}: ${d.status.replace('_', ' ')} (diagnosed ${iso(d.at)})`, '');
  lines.push(`VERDICT  ${d.verdict.cause ?? 'no fault found'}: ${d.verdict.summary}`);
  lines.push(`ACTION   ${d.verdict.action}`, '');
  const events = timeline(d);
  if (events.length) {
    lines.push('Timeline');
    for (const e of events) lines.push(`  ${iso(e.at).slice(0, 19)}  ${e.text}`);
    lines.push('');
  }
  lines.push('Causes, in order');
  for (const f of d.findings) {
    lines.push(`  ${f.holds ? '[HOLDS]' : '[ ok  ]'} ${f.cause}${f.holds ? ` -> ${f.action}` : ''}`);
    for (const e of f.evidence.filter((x) => x.at === undefined || f.holds)) lines.push(`            ${e.at !== undefined ? `${iso(e.at).slice(11, 19)}  ` : ''}${e.text}`);
  }
  return lines.join('\n');
}
