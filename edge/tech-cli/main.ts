import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from '../config.js';
import { ago, parseSince, progressBar, table } from './format.js';
import { HubClient, HubError } from './hub-client.js';
import { configDir, loadSession, saveSession } from './session.js';

const USAGE = `usage: cubby tech <command> --hub http://HOST:PORT [--json]
  login [--id ID] [--secret S]           log in (works with the bank offline)
  status                                 compartments, keypad, scanner, board, sync
  selftest [--doors 1,2] [--auto-close]  cycle empty doors and report faulty ones
  open N --reason "..."                  audited open
  service N --out|--in --reason "..."    take a compartment out of / back into service
  relocate PARCEL --to N                 move a parcel; its code keeps working
  events [--since 24h]                   the audit trail
  export [--out FILE]                    a support bundle (status, events; no secrets)`;

interface Status {
  bankId: string;
  board: { connected: boolean; lastSeenAt: number | null };
  keypad: { state: string; deadKeys: string[] };
  scanner: string;
  link: { online: boolean; lastSyncAt: number | null; lastContactAt: number | null; syncLagMs: number | null };
  ledger: { documents: number; storeBytes: number; liveParcels: number };
  compartments: { no: number; size: string; door: string; sensorOccupied: boolean; parcelId: string | null; inService: boolean; faults: { at: number; reason: string }[] }[];
}

interface Io {
  out(s: string): void;
  err(s: string): void;
  ask(q: string): Promise<string>;
}

const stdio: Io = {
  out: (s) => void process.stdout.write(s + '\n'),
  err: (s) => void process.stderr.write(s),
  ask: async (q) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(q);
    } finally {
      rl.close();
    }
  },
};

export async function main(argv: string[], io: Io = stdio): Promise<void> {
  const [command, ...rest] = argv;
  const flags = parseArgs(rest);
  const positional = rest.filter((a, i) => !a.startsWith('--') && !(i > 0 && rest[i - 1]!.startsWith('--') && !rest[i - 1]!.includes('=') && !isBoolean(rest[i - 1]!)));
  const hub = flags.hub ?? process.env.CUBBY_HUB_URL;
  const json = flags.json === 'true';
  if (!command || !hub) {
    io.err(USAGE + '\n');
    process.exitCode = 2;
    return;
  }
  const dir = configDir();
  try {
    if (command === 'login') {
      const technicianId = flags.id ?? (await io.ask('Technician id: '));
      const secret = flags.secret ?? process.env.CUBBY_TECH_SECRET ?? (await io.ask('Secret: '));
      const r = await new HubClient(hub).request<{ token: string; expiresAt: number; role: string }>('POST', '/api/tech/login', { technicianId, secret });
      saveSession(dir, hub, { token: r.token, expiresAt: r.expiresAt, technicianId, role: r.role });
      io.out(json ? JSON.stringify({ technicianId, role: r.role, expiresAt: r.expiresAt }) : `Logged in to ${hub} as ${technicianId} (${r.role}) until ${new Date(r.expiresAt).toISOString()}.`);
      return;
    }
    const session = loadSession(dir, hub);
    if (!session) throw new HubError(401, 'not_logged_in', `Not logged in to ${hub}: run "cubby tech login --hub ${hub}" first.`);
    const client = new HubClient(hub, session.token);
    await run(command, client, flags, positional, json, io);
  } catch (err) {
    if (err instanceof HubError) {
      io.err(json ? JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n' : `error (${err.code}): ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

function isBoolean(flag: string): boolean {
  return ['--json', '--auto-close', '--out', '--in'].includes(flag) && flag !== '--out';
}

async function run(command: string, client: HubClient, flags: Record<string, string>, positional: string[], json: boolean, io: Io): Promise<void> {
  const emit = (data: unknown, text: string) => io.out(json ? JSON.stringify(data) : text);
  switch (command) {
    case 'status': {
      const s = await client.request<Status>('GET', '/api/tech/status');
      emit(s, renderStatus(s));
      return;
    }
    case 'selftest': {
      const s = await client.request<Status>('GET', '/api/tech/status');
      const wanted = flags.doors ? new Set(flags.doors.split(',').map(Number)) : undefined;
      const doors = s.compartments.filter((c) => (!wanted || wanted.has(c.no)) && !c.parcelId && !c.sensorOccupied).map((c) => c.no);
      const auto = flags['auto-close'] === 'true';
      const results: { compartment: number; verdict: string; ms: number | null }[] = [];
      for (const [i, no] of doors.entries()) {
        if (!json) io.err(`\r${progressBar(i, doors.length, `testing door ${no}   `)}`);
        let r = await client.request<{ compartment: number; verdict: string; ms: number | null }>('POST', `/api/tech/compartments/${no}/selftest`, { closeTimeoutMs: auto ? 15_000 : 0 });
        if (!auto && r.verdict === 'ok') {
          await io.ask(`\nDoor ${no} is open. Close it, then press Enter. `);
          const after = await client.request<Status>('GET', '/api/tech/status');
          if (after.compartments.find((c) => c.no === no)?.door !== 'closed') r = { ...r, verdict: 'not_closed' };
        }
        results.push(r);
      }
      if (!json) io.err(`\r${progressBar(doors.length, doors.length, 'done               ')}\n`);
      const faulty = results.filter((r) => r.verdict !== 'ok');
      const why: Record<string, string> = {
        jammed: 'jammed: the lock was pulsed but the door never reported open',
        sensor_stuck: 'sensor stuck: the door sensor does not follow the door',
        no_response: 'no response from the door',
        board_lost: 'no response: the board is not connected',
        not_closed: 'did not report closed after the test',
      };
      emit(
        { tested: results.length, faulty },
        [
          `Tested ${results.length} empty door(s): ${results.length - faulty.length} ok, ${faulty.length} faulty.`,
          ...faulty.map((f) => `  door ${f.compartment}: ${why[f.verdict] ?? f.verdict}`),
        ].join('\n'),
      );
      if (faulty.length) process.exitCode = 3;
      return;
    }
    case 'open': {
      const n = Number(positional[0]);
      if (!flags.reason) throw new HubError(400, 'reason_required', 'Say why: --reason "...".');
      const r = await client.request<{ compartment: number; opened: boolean; reason?: string }>('POST', `/api/tech/compartments/${n}/open`, { reason: flags.reason });
      emit(r, r.opened ? `Compartment ${n} is open.` : `Compartment ${n} did not open (${r.reason}); recorded as a fault.`);
      if (!r.opened) process.exitCode = 3;
      return;
    }
    case 'service': {
      const n = Number(positional[0]);
      const inService = flags.in === 'true' ? true : flags.out === 'true' ? false : undefined;
      if (inService === undefined) throw new HubError(400, 'direction_required', 'Say --out or --in.');
      if (!flags.reason) throw new HubError(400, 'reason_required', 'Say why: --reason "...".');
      const r = await client.request('POST', `/api/tech/compartments/${n}/service`, { inService, reason: flags.reason });
      emit(r, `Compartment ${n} is ${inService ? 'back in' : 'out of'} service.`);
      return;
    }
    case 'relocate': {
      const parcel = positional[0];
      const to = Number(flags.to);
      const r = await client.request<{ from: number; to: number }>('POST', `/api/tech/parcels/${encodeURIComponent(parcel ?? '')}/relocate`, { to });
      emit(r, `Parcel ${parcel} moved from compartment ${r.from} to ${r.to}; its code opens ${r.to} now.`);
      return;
    }
    case 'events': {
      const since = parseSince(flags.since ?? '24h');
      const r = await client.request<{ events: { at: number; type: string; actor: string; compartment?: number; parcelId?: string; detail?: string }[] }>('GET', `/api/tech/events?since=${since}`);
      emit(r, table(['time', 'event', 'by', 'door', 'parcel', 'detail'], r.events.map((e) => [new Date(e.at).toISOString(), e.type, e.actor, e.compartment ?? '', e.parcelId ?? '', e.detail ?? ''])));
      return;
    }
    case 'export': {
      const status = await client.request<Status>('GET', '/api/tech/status');
      const events = await client.request<{ events: unknown[] }>('GET', `/api/tech/events?since=${Date.now() - 7 * 86_400_000}`);
      const bundle = { kind: 'cubby-support-bundle', version: 1, exportedAt: new Date().toISOString(), hub: client.hub, status, events: events.events };
      const out = flags.out ?? `cubby-${status.bankId}-${Date.now()}.json`;
      writeFileSync(out, JSON.stringify(bundle, null, 2));
      emit({ file: out }, `Support bundle written to ${out} (status and 7 days of events; no secrets).`);
      return;
    }
    default:
      throw new HubError(2, 'unknown_command', `Unknown command "${command}".\n${USAGE}`);
  }
}

function renderStatus(s: Status): string {
  const rows = s.compartments.map((c) => [
    c.no,
    c.size,
    c.parcelId ? 'yes' : c.sensorOccupied ? 'sensor only!' : 'no',
    c.door,
    c.inService ? 'in' : 'OUT',
    c.faults.map((f) => f.reason).join('; ') || '-',
  ]);
  return [
    `Bank ${s.bankId}`,
    `board: ${s.board.connected ? 'connected' : 'LOST'} (last seen ${ago(s.board.lastSeenAt)})   keypad: ${s.keypad.state}${s.keypad.deadKeys.length ? ` (dead: ${s.keypad.deadKeys.join(',')})` : ''}   scanner: ${s.scanner}`,
    `cloud: ${s.link.online ? 'online' : 'offline'}   last sync ${ago(s.link.lastSyncAt)}   last contact ${ago(s.link.lastContactAt)}`,
    `ledger: ${s.ledger.documents} documents, ${(s.ledger.storeBytes / 1024).toFixed(0)} KiB, ${s.ledger.liveParcels} live parcels`,
    '',
    table(['door', 'size', 'occupied', 'sensor', 'service', 'faults'], rows),
  ].join('\n');
}
