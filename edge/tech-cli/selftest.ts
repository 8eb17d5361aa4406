/**
 * `cubby tech selftest`: pulse every empty door once and judge it by its sensor.
 *
 * The hub judges the open (`POST /api/tech/compartments/:n/selftest`, one door at a time,
 * so no two lock solenoids draw current together). Closing is slow — a person, or a door's
 * own closer, takes seconds — so with `--auto-close` the tool does not wait for a door to
 * close before pulsing the next one: up to `maxOpen` doors wait to close at once, and their
 * sensors are read from `GET /api/tech/status`. Twelve doors that close after 4 s take
 * about 15 s instead of a minute.
 *
 * Without `--auto-close` a person is at the bank: the tool asks them to close each door,
 * and — for a door that never reported open — whether it opened (a door that opened with
 * its sensor still saying closed is a stuck sensor, not a jammed latch: from the board the
 * two look the same).
 */
import { progressBar } from './format.js';
import type { HubClient } from './hub-client.js';
import { HubError } from './hub-client.js';
import type { Io } from './prompt.js';
import type { Status } from './status.js';

/** A door's verdict: the hub's, plus what only a person can tell (`sensor_stuck_closed`). */
export type Verdict = 'ok' | 'jammed' | 'sensor_stuck' | 'sensor_stuck_closed' | 'no_response' | 'board_lost' | 'not_closed';

export interface DoorResult {
  compartment: number;
  verdict: Verdict;
  /** Pulse start to the sensor reporting open, ms (null when it did not). */
  ms: number | null;
  /** Why, for a person. */
  why: string;
}

export interface SelftestReport {
  tested: number;
  ok: number;
  faulty: DoorResult[];
  /** Doors not tested, and why (a parcel inside, a courier's deposit…). */
  skipped: { compartment: number; reason: string }[];
  results: DoorResult[];
}

export interface SelftestOptions {
  /** Only these doors (default: every door). */
  doors?: number[];
  /** Doors close by themselves: no prompts. */
  autoClose: boolean;
  /** How long a door may take to close after it opened, ms. */
  closeTimeoutMs: number;
  /** With `autoClose`: how many doors may stand open waiting to close at once. */
  maxOpen: number;
  /** How often the sensors are read while doors close, ms. Default 250. */
  pollMs?: number;
}

export const WHY: Record<Verdict, string> = {
  ok: 'ok',
  jammed:
    'did not report open after the lock pulse: the latch is jammed or the lock is dead — or, if the door did open, its sensor is stuck closed (look at the door)',
  sensor_stuck_closed: 'door sensor stuck closed: the door opened but the sensor still says closed',
  sensor_stuck: 'door sensor stuck open: it reported open before the lock was pulsed (or the door was not shut)',
  no_response: 'no response from the door',
  board_lost: 'no response: the board is not connected',
  not_closed: 'opened, but did not report closed again in time',
};

interface HubVerdict {
  compartment: number;
  verdict: Verdict;
  ms: number | null;
}

export async function runSelftest(client: HubClient, io: Io, opts: SelftestOptions, quiet: boolean): Promise<SelftestReport> {
  const pollMs = opts.pollMs ?? 250;
  const status = await client.request<Status>('GET', '/api/tech/status');
  const known = new Set(status.compartments.map((c) => c.no));
  const unknown = (opts.doors ?? []).filter((n) => !known.has(n));
  if (unknown.length) throw new HubError(404, 'no_such_compartment', `This bank has compartments 1 to ${status.compartments.length}, not ${unknown.join(', ')}.`);
  const wanted = opts.doors ? new Set(opts.doors) : undefined;
  const skipped: SelftestReport['skipped'] = [];
  const doors: number[] = [];
  for (const c of status.compartments) {
    if (wanted && !wanted.has(c.no)) continue;
    if (c.parcelId) skipped.push({ compartment: c.no, reason: `holds parcel ${c.parcelId}` });
    else if (c.sensorOccupied) skipped.push({ compartment: c.no, reason: 'its occupancy sensor sees something inside' });
    else doors.push(c.no);
  }

  const results = new Map<number, DoorResult>();
  const verdict = (compartment: number, v: Verdict, ms: number | null): void => void results.set(compartment, { compartment, verdict: v, ms, why: WHY[v] });
  const progress = (label: string): void => {
    if (!quiet && io.liveProgress) io.err(`\r${progressBar(results.size, doors.length, label.padEnd(28))}`);
  };

  /** Doors that opened and must close again: door → deadline. */
  const closing = new Map<number, number>();
  const readClosed = async (): Promise<void> => {
    const s = await client.request<Status>('GET', '/api/tech/status');
    const now = Date.now();
    for (const [no, deadline] of closing) {
      const door = s.compartments.find((c) => c.no === no)?.door;
      if (door === 'closed') verdict(no, 'ok', pending.get(no)!);
      else if (now >= deadline) verdict(no, 'not_closed', pending.get(no)!);
      else continue;
      closing.delete(no);
    }
  };
  /** Opened doors waiting to close: door → ms to open. */
  const pending = new Map<number, number | null>();
  const waitForCloses = async (until: number): Promise<void> => {
    while (closing.size > until) {
      await readClosed();
      if (closing.size > until) {
        progress(`waiting for ${[...closing.keys()].join(',')} to close`);
        await sleep(pollMs);
      }
    }
  };

  for (const no of doors) {
    if (opts.autoClose) await waitForCloses(opts.maxOpen - 1);
    progress(`testing door ${no}`);
    let r: HubVerdict;
    try {
      r = await client.request<HubVerdict>('POST', `/api/tech/compartments/${no}/selftest`, { closeTimeoutMs: 0 });
    } catch (err) {
      // Someone is using the door right now (a courier's deposit, a pickup): not a fault.
      if (err instanceof HubError && err.status === 409) {
        skipped.push({ compartment: no, reason: err.message });
        continue;
      }
      throw err;
    }
    if (r.verdict !== 'ok') {
      let v = r.verdict;
      if (v === 'jammed' && !opts.autoClose) {
        const saw = await io.ask(`\nDoor ${no} did not report open. Did it open? [y/N] `);
        if (/^y/i.test(saw.trim())) v = 'sensor_stuck_closed';
      }
      verdict(no, v, r.ms);
      continue;
    }
    pending.set(no, r.ms);
    if (opts.autoClose) {
      closing.set(no, Date.now() + opts.closeTimeoutMs);
      continue;
    }
    await io.ask(`\nDoor ${no} is open. Close it, then press Enter. `);
    closing.set(no, Date.now() + Math.min(opts.closeTimeoutMs, 2000)); // the sensor reports within moments of the door shutting
    await waitForCloses(0);
  }
  await waitForCloses(0);
  if (!quiet && io.liveProgress) io.err(`\r${progressBar(doors.length, doors.length, 'done'.padEnd(28))}\n`);

  const ordered = doors.filter((no) => results.has(no)).map((no) => results.get(no)!);
  const faulty = ordered.filter((r) => r.verdict !== 'ok');
  return { tested: ordered.length, ok: ordered.length - faulty.length, faulty, skipped: skipped.sort((a, b) => a.compartment - b.compartment), results: ordered };
}

/** The report for a person. */
export function renderSelftest(r: SelftestReport): string {
  return [
    `Tested ${r.tested} empty door(s): ${r.ok} ok, ${r.faulty.length} faulty.`,
    ...r.faulty.map((f) => `  door ${f.compartment}: ${f.why}`),
    ...(r.skipped.length ? [`Not tested: ${r.skipped.map((s) => `${s.compartment} (${s.reason})`).join('; ')}`] : []),
    ...(r.faulty.some((f) => f.verdict !== 'not_closed') ? ['The faults are recorded at the hub (see "status"); fix the door, then "service N --in" or a passing self-test clears them.'] : []),
  ].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
