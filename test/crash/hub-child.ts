/**
 * A real hub in its own process, for the crash test: `startHub` on a simulated board (fast
 * timings) over the SQLite file `CUBBY_CRASH_DATA`, provisioned with the test courier. The
 * test SIGKILLs this process at random points and starts it again on the same file.
 *
 * Run with `node --import tsx test/crash/hub-child.ts` (not the `tsx` CLI: it would put a
 * parent process between the test and the hub, and SIGKILL would not reach the hub).
 *
 * Environment: CUBBY_CRASH_DATA (file), CUBBY_CRASH_PEPPER (hex, ≥ 16 bytes),
 * CUBBY_CRASH_SEAL_KEY (the cloud's public seal key). Prints one line
 * `READY {"url":…,"control":…}` on stdout when it serves.
 *
 * Besides the hub's own API it serves a small control API on another port — the people and
 * the cloud of the simulation, which live with the board in this process:
 * - POST /place/:n  the courier puts a parcel into open compartment n and closes the door
 * - POST /take/:n   the recipient takes the parcel out of open compartment n and closes the door
 * - GET  /parcel/:id the parcel's ledger document, as a sync would carry it to the cloud
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHub } from '../../edge/hub-runtime.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { createSimulatedBank } from '../support/board.js';
import { HUB_OPEN_TIMEOUT_MS, TEST_BANK, provisionBank, putParcelIn, takeParcelOut } from '../support/hub.js';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const sim = await createSimulatedBank({ model: 'cubby-24', openTimeoutMs: HUB_OPEN_TIMEOUT_MS });
const hub = await startHub({
  bankId: TEST_BANK,
  dataFile: env('CUBBY_CRASH_DATA'),
  bank: sim.bank,
  pepper: new Uint8Array(Buffer.from(env('CUBBY_CRASH_PEPPER'), 'hex')),
  argon2: TEST_ARGON2,
  cloudSealKey: env('CUBBY_CRASH_SEAL_KEY'),
  log: (m) => process.stderr.write(`hub: ${m}\n`),
});
await provisionBank(hub.store.docs, TEST_BANK, Object.fromEntries(sim.bank.statuses().map((s) => [String(s.no), { size: s.size }])));

const control = createServer((req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const m = /^\/(place|take|parcel)\/([A-Za-z0-9_.-]+)$/.exec(req.url ?? '');
  if (!m) return reply(404, { error: 'no such control' });
  const [, what, arg] = m as unknown as [string, string, string];
  const act = async (): Promise<unknown> => {
    if (what === 'parcel') return hub.store.ledger.doc(arg) ?? null;
    const n = Number(arg);
    if (what === 'place') await putParcelIn(sim, n);
    else await takeParcelOut(sim, n);
    return { ok: true };
  };
  act().then(
    (body) => reply(200, body),
    (err: Error) => reply(409, { error: err.message }),
  );
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const port = (control.address() as AddressInfo).port;
process.stdout.write(`READY ${JSON.stringify({ url: hub.url, control: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
