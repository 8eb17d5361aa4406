/**
 * `cubby tech <command> --hub URL`: the field technician's laptop tool. It talks only to the
 * hub on the bank's LAN (never to the cloud), so everything works with the bank offline.
 * Results go to stdout (`--json`: one JSON document), prompts, progress and errors to
 * stderr (`--json`: `{ "error": { code, message, … } }`); the exit code says what happened
 * (see {@link EXIT}).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compartmentArg, countArg, parseCommandLine, USAGE, UsageError, type Parsed } from './args.js';
import { parseSince, table } from './format.js';
import { HubClient, HubError, normalizeHubUrl } from './hub-client.js';
import { NoAnswer, processIo, type Io } from './prompt.js';
import { renderSelftest, runSelftest } from './selftest.js';
import { configDir, loadSession, removeSession, saveSession, type Saved } from './session.js';
import { renderStatus, type Status } from './status.js';
import type { AuditEvent } from '../../shared/ledger/audit-log.js';

/** Exit codes (also in {@link USAGE}). */
export const EXIT = {
  ok: 0,
  /** The hub refused (not found, conflict, bad input…), or the laptop failed its part (writing the bundle). */
  refused: 1,
  usage: 2,
  /** A door did not open, or a self-test found faulty doors. */
  faults: 3,
  /** Not logged in, session expired, wrong secret, not allowed (auditor), throttled. */
  denied: 4,
  unreachable: 5,
} as const;

export async function main(argv: string[], io: Io = processIo(), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let json = argv.includes('--json');
  let hub = '';
  let session: Saved | undefined;
  try {
    const p = parseCommandLine(argv);
    json = p.flags.json === true;
    if (p.help) {
      io.out(USAGE);
      return;
    }
    const rawHub = (p.flags.hub as string | undefined) ?? env.CUBBY_HUB_URL;
    if (!rawHub) throw new UsageError('Say which hub: --hub http://HOST:PORT (or set CUBBY_HUB_URL).');
    try {
      hub = normalizeHubUrl(rawHub);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const dir = configDir(env);
    if (p.command === 'login') return await login(p, hub, dir, json, io, env);
    if (p.command === 'logout') {
      const had = removeSession(dir, hub);
      io.out(json ? JSON.stringify({ hub, loggedOut: had }) : had ? `Logged out of ${hub}.` : `Not logged in to ${hub}.`);
      return;
    }
    const saved = loadSession(dir, hub);
    if (!('session' in saved)) {
      const why = saved.missing === 'expired' ? `Your session at ${hub} has expired` : `Not logged in to ${hub}`;
      throw new HubError(401, saved.missing === 'expired' ? 'token_expired' : 'not_logged_in', `${why}: run "cubby tech login --hub ${hub}" first.`);
    }
    session = saved.session;
    await run(p, new HubClient(hub, session.token), json, io);
  } catch (err) {
    process.exitCode = report(err, { json, hub, session, io });
  } finally {
    io.close();
  }
}

async function login(p: Parsed, hub: string, dir: string, json: boolean, io: Io, env: NodeJS.ProcessEnv): Promise<void> {
  const technicianId = ((p.flags.id as string | undefined) ?? (await io.ask('Technician id: '))).trim();
  if (!technicianId) throw new UsageError('Give your technician id (--id ID).');
  if (p.flags.secret !== undefined && !json) io.err('warning: a secret given with --secret shows in the process list and shell history; leave it out to be asked for it.\n');
  const secret = (p.flags.secret as string | undefined) ?? env.CUBBY_TECH_SECRET ?? (await io.askSecret(`Secret for ${technicianId}: `));
  if (!secret) throw new UsageError('The secret is empty.');
  const r = await new HubClient(hub).request<{ token: string; expiresAt: number; role: string }>('POST', '/api/tech/login', { technicianId, secret });
  saveSession(dir, hub, { token: r.token, expiresAt: r.expiresAt, technicianId, role: r.role });
  io.out(
    json
      ? JSON.stringify({ hub, technicianId, role: r.role, expiresAt: r.expiresAt })
      : `Logged in to ${hub} as ${technicianId} (${r.role}) until ${new Date(r.expiresAt).toISOString()}.${r.role === 'auditor' ? ' Auditors can read status, events and export only.' : ''}`,
  );
}

async function run(p: Parsed, client: HubClient, json: boolean, io: Io): Promise<void> {
  const { flags, positionals } = p;
  const emit = (data: unknown, text: string) => io.out(json ? JSON.stringify(data) : text);
  const reason = (): string => {
    const r = typeof flags.reason === 'string' ? flags.reason.trim() : '';
    if (r.length < 3) throw new UsageError('Say why, in a few words: --reason "...".');
    return r;
  };
  switch (p.command) {
    case 'status': {
      const s = await client.request<Status>('GET', '/api/tech/status');
      emit(s, renderStatus(s));
      return;
    }
    case 'selftest': {
      const doors = typeof flags.doors === 'string' ? flags.doors.split(',').map((d) => compartmentArg(d.trim(), '--doors')) : undefined;
      const report = await runSelftest(
        client,
        io,
        {
          doors,
          autoClose: flags['auto-close'] === true,
          closeTimeoutMs: countArg(flags['close-timeout'], 'close-timeout', 15, 120) * 1000,
          maxOpen: countArg(flags['max-open'], 'max-open', 4, 64),
        },
        json,
      );
      emit(report, renderSelftest(report));
      if (report.faulty.length) process.exitCode = EXIT.faults;
      return;
    }
    case 'open': {
      const n = compartmentArg(positionals[0], 'The compartment');
      const r = await client.request<{ compartment: number; opened: boolean; ms?: number; reason?: string }>('POST', `/api/tech/compartments/${n}/open`, { reason: reason() });
      emit(r, r.opened ? `Compartment ${n} is open.` : `Compartment ${n} did not open (${r.reason}); recorded as a fault.`);
      if (!r.opened) process.exitCode = EXIT.faults;
      return;
    }
    case 'service': {
      const n = compartmentArg(positionals[0], 'The compartment');
      if (flags.in === flags.out) throw new UsageError('Say either --out (take it out of service) or --in (back in service).');
      const inService = flags.in === true;
      const r = await client.request('POST', `/api/tech/compartments/${n}/service`, { inService, reason: reason() });
      emit(r, `Compartment ${n} is ${inService ? 'back in service (its faults are cleared)' : 'out of service: no new parcels go in'}.`);
      return;
    }
    case 'relocate': {
      const parcel = positionals[0]!;
      const to = compartmentArg(flags.to, '--to');
      const body = typeof flags.reason === 'string' ? { to, reason: reason() } : { to };
      const r = await client.request<{ parcelId: string; from: number; to: number }>('POST', `/api/tech/parcels/${encodeURIComponent(parcel)}/relocate`, body);
      // The hub records the move; the parcel has to be there too.
      const s = await client.request<Status>('GET', '/api/tech/status');
      const target = s.compartments.find((c) => c.no === r.to);
      const warning = target && !target.sensorOccupied ? `warning: compartment ${r.to}'s occupancy sensor sees no parcel. Put ${parcel} in before you leave.` : undefined;
      emit({ ...r, ...(warning ? { warning } : {}) }, [`Parcel ${parcel} moved from compartment ${r.from} to ${r.to}; its code opens ${r.to} now.`, ...(warning ? [warning] : [])].join('\n'));
      return;
    }
    case 'events': {
      let since: number;
      try {
        since = parseSince(typeof flags.since === 'string' ? flags.since : '24h');
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const r = await client.request<{ events: AuditEvent[] }>('GET', `/api/tech/events?since=${since}`);
      emit(
        r,
        r.events.length
          ? table(['time', 'event', 'by', 'door', 'parcel', 'detail'], r.events.map((e) => [new Date(e.at).toISOString(), e.type, e.actor, e.compartment ?? '', e.parcelId ?? '', e.detail ?? '']))
          : `No events since ${new Date(since).toISOString()}.`,
      );
      return;
    }
    case 'export': {
      const status = await client.request<Status>('GET', '/api/tech/status');
      const events = await client.request<{ events: AuditEvent[] }>('GET', `/api/tech/events?since=${Date.now() - 7 * 86_400_000}`);
      // What the hub's technician API answers holds no secrets: no tokens, hashes, codes or pepper.
      const bundle = { kind: 'cubby-support-bundle', version: 1, exportedAt: new Date().toISOString(), hub: client.hub, status, events: events.events };
      const out = typeof flags.out === 'string' ? flags.out : `cubby-${status.bankId}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
      try {
        mkdirSync(dirname(resolve(out)), { recursive: true });
        writeFileSync(out, JSON.stringify(bundle, null, 2) + '\n');
      } catch (err) {
        throw new LocalError('cannot_write', `Cannot write the bundle to ${out} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
      }
      emit({ file: out, events: events.events.length }, `Support bundle written to ${out} (status and ${events.events.length} events of 7 days; no secrets).`);
      return;
    }
    case 'login':
    case 'logout':
      return; // handled before a session is needed
  }
}

/** Something failed on the laptop (not at the hub): exit code 1. */
class LocalError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Say what went wrong (stderr) and pick the exit code. */
function report(err: unknown, ctx: { json: boolean; hub: string; session?: Saved; io: Io }): number {
  const { json, io } = ctx;
  const say = (code: string, message: string, extra: Record<string, unknown> = {}): void =>
    io.err(json ? JSON.stringify({ error: { code, message, ...extra } }) + '\n' : `error (${code}): ${message}\n`);
  if (err instanceof UsageError) {
    say('usage', err.message);
    if (!json) io.err(`\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (err instanceof NoAnswer) {
    say('no_answer', err.message);
    return EXIT.usage;
  }
  if (err instanceof LocalError) {
    say(err.code, err.message);
    return EXIT.refused;
  }
  if (!(err instanceof HubError)) throw err;
  const login = `cubby tech login --hub ${ctx.hub}`;
  let message = err.message;
  if (err.status === 429 && typeof err.details.retryAfterSeconds === 'number') {
    const at = new Date(Date.now() + err.details.retryAfterSeconds * 1000).toISOString();
    message = `Too many failed attempts at this hub: it refuses logins for ${err.details.retryAfterSeconds} s more (until ${at}). Check the id and secret, then try again.`;
  } else if (err.code === 'token_expired' || (err.status === 401 && err.code === 'unauthorized')) {
    message = `${err.message} Run "${login}".`;
  } else if (err.status === 403 && ctx.session) {
    message = `${err.message} You are logged in as ${ctx.session.technicianId} (${ctx.session.role}).`;
  }
  say(err.code, message, { status: err.status, ...err.details });
  if (err.status === 0) return EXIT.unreachable;
  if (err.status === 401 || err.status === 403 || err.status === 429) return EXIT.denied;
  return EXIT.refused;
}
