/**
 * What must hold for every answer an app gives to a fuzzed request, whatever the input:
 * no 5xx, no hang, API.md's error shape on every 4xx, and (checked by the caller with
 * {@link ledgerSnapshot}) nothing changed by a refusal.
 */
import * as A from '@automerge/automerge';
import type { DocSet } from '../../shared/ledger/doc-set.js';
import { currentCompartment, isFinished, liveCode } from '../../shared/ledger/parcel-doc.js';
import type { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { describeRequest, type FuzzRequest } from './arbitraries.js';
import { str } from '../../shared/ledger/str.js';

/** Every answer must arrive within this long (plus what the request itself asks to wait). */
export const REQUEST_TIMEOUT_MS = 5_000;

/** API.md's `code`: snake_case. */
export const ERROR_CODE = /^[a-z][a-z0-9_]*$/;

/** Resolve with `p`, or reject naming `what` after `ms`: a hang is a failure, not a stuck test. */
export function within<T>(p: Promise<T> | T, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(p), timeout]).finally(() => clearTimeout(timer));
}

/** An answer, read whole. */
export interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  /** The error body's code, for 4xx answers. */
  code?: string;
  /** The parsed JSON body, when it is JSON. */
  json?: unknown;
}

/** Read `res` and throw unless it is < 500 and, if 4xx, API.md's error shape (HEAD answers have no body). */
export async function checkAnswer(req: FuzzRequest, res: Response, ms: number): Promise<Answer> {
  const text = await within(res.text(), ms, `reading the body of ${describeRequest(req)}`);
  const a: Answer = { status: res.status, contentType: res.headers.get('content-type'), text };
  const where = () => `${describeRequest(req)}\n  -> ${res.status} ${text.slice(0, 300)}`;
  if (res.status >= 500) throw new Error(`5xx answer to ${where()}`);
  if (res.status < 200) throw new Error(`unexpected status for ${where()}`);
  if (res.status >= 400 && req.method !== 'HEAD') {
    if (!a.contentType?.startsWith('application/json')) throw new Error(`error answer is not JSON (${a.contentType}): ${where()}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`error body does not parse: ${where()}`);
    }
    a.json = body;
    const e = (body as { error?: Record<string, unknown> } | null)?.error;
    const ok =
      typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 1 &&
      typeof e === 'object' && e !== null && typeof e.code === 'string' && ERROR_CODE.test(e.code) &&
      typeof e.message === 'string' && e.message.trim().length > 0;
    if (!ok) throw new Error(`not API.md's error shape: ${where()}`);
    a.code = e.code as string;
  } else if (req.method !== 'HEAD' && a.contentType?.startsWith('application/json')) {
    try {
      a.json = JSON.parse(text);
    } catch {
      throw new Error(`a JSON answer that does not parse: ${where()}`);
    }
  }
  return a;
}

/** The heads of every ledger document: equal snapshots mean no document changed. */
export function ledgerSnapshot(docs: DocSet): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const id of [...docs.ids()].sort()) out[id] = [...A.getHeads(docs.get(id)!)].sort();
  return out;
}

/**
 * The ledger's own rules, whatever the requests did: no two unfinished parcels in one
 * compartment, no pending deposit in a compartment that holds one, no selector on two live
 * codes. Returns what is broken (empty: consistent).
 */
export function ledgerViolations(ledger: ParcelLedger, pendingCompartments: Iterable<number>, now: number): string[] {
  const out: string[] = [];
  const byCompartment = new Map<number, string>();
  const bySelector = new Map<string, string>();
  for (const d of ledger.all()) {
    const c = currentCompartment(d);
    if (c !== undefined && !isFinished(d, now)) {
      const other = byCompartment.get(c);
      if (other) out.push(`parcels ${other} and ${d.parcelId} are both in compartment ${c}`);
      byCompartment.set(c, d.parcelId);
    }
    const live = liveCode(d, now);
    if (live) {
      const selector = str(live.selector);
      const other = bySelector.get(selector);
      if (other) out.push(`parcels ${other} and ${d.parcelId} both have a live code with selector ${selector}`);
      bySelector.set(selector, d.parcelId);
    }
  }
  for (const c of pendingCompartments) {
    if (byCompartment.has(c)) out.push(`a pending deposit holds compartment ${c}, where parcel ${byCompartment.get(c)} is`);
  }
  return out;
}

/** Names of own properties of the built-in prototypes, to show a pollution attempt added none. */
export function prototypeSnapshot(): Record<string, string[]> {
  const names = (o: object) => Reflect.ownKeys(o).map(String).sort();
  return {
    object: names(Object.prototype),
    array: names(Array.prototype),
    function: names(Function.prototype),
    string: names(String.prototype),
  };
}

/** Counts of answers per route and outcome, for the report and for coverage assertions. */
export class OutcomeTally {
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly times = new Map<string, number>();

  add(route: string, outcome: string, ms: number): void {
    const m = this.counts.get(route) ?? new Map<string, number>();
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
    this.counts.set(route, m);
    this.times.set(route, (this.times.get(route) ?? 0) + ms);
  }

  /** Outcomes (`200`, `401 unauthorized`, …) seen for `route`, in any batch (`tag: route` too). */
  outcomes(route: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, m] of this.counts) {
      if (name !== route && !name.endsWith(`: ${route}`)) continue;
      for (const [o, c] of m) out.set(o, (out.get(o) ?? 0) + c);
    }
    return out;
  }

  total(): number {
    let n = 0;
    for (const m of this.counts.values()) for (const c of m.values()) n += c;
    return n;
  }

  report(): string {
    const lines: string[] = [];
    for (const [route, m] of [...this.counts].sort(([a], [b]) => a.localeCompare(b))) {
      const n = [...m.values()].reduce((x, y) => x + y, 0);
      const outcomes = [...m].sort(([, a], [, b]) => b - a).map(([o, c]) => `${o}×${c}`).join(', ');
      lines.push(`${route} — ${n} requests, ${Math.round(this.times.get(route) ?? 0)} ms: ${outcomes}`);
    }
    return lines.join('\n');
  }
}
