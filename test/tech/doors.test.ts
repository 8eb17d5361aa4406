/**
 * The technician tool (`cubby tech`, a child process) working on doors of a real hub on a
 * simulated board: the self-test finds exactly the broken doors, a relocated parcel's code
 * opens its new door, and command-line mistakes never reach the hub.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { TECHNICIAN, putParcelIn, startTestHub, takeParcelOut, type TestHub } from '../support/hub.js';
import { techCli, type TechCli } from './tech-cli.js';

let t: TestHub | undefined;
let cli: TechCli | undefined;
afterEach(async () => {
  cli?.close();
  await t?.close();
  cli = undefined;
  t = undefined;
});

/** A hub whose doors are closed by "people" `autoCloseMs` after they open (null: only by the test). */
async function hubAndCli(opts: { autoCloseMs: number | null; model?: 'cubby-4' | 'cubby-12'; standalone?: boolean }): Promise<{ t: TestHub; cli: TechCli }> {
  t = await startTestHub({ model: opts.model ?? 'cubby-12', standalone: opts.standalone ?? true, bank: { autoCloseMs: opts.autoCloseMs } });
  cli = await techCli(t.url);
  await cli.login(TECHNICIAN);
  return { t, cli };
}

type Fault = { at: number; reason: string };

describe('cubby tech: doors', () => {
  test('selftest --auto-close finds exactly the jammed door and the door with a sensor stuck closed, says why, exits 3; status shows both faults', async () => {
    const { t, cli } = await hubAndCli({ autoCloseMs: 100 });
    t.board.jam(3);
    t.board.stickSensor(7, 'closed');

    const r = await cli.run(['selftest', '--auto-close']);
    expect(r.code, r.stderr).toBe(3);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('Tested 12 empty door(s): 10 ok, 2 faulty.');
    const doorLines = lines.filter((l) => /^ {2}door \d+:/.test(l));
    expect(doorLines.map((l) => Number(/door (\d+)/.exec(l)![1]))).toEqual([3, 7]);
    // The board cannot tell a jammed latch from a sensor stuck closed (neither reports open): the tool says both.
    for (const l of doorLines) expect(l).toMatch(/did not report open after the lock pulse: the latch is jammed .* sensor is stuck closed/);

    // Every door was pulsed once; door 7 really opened (its sensor did not say so), door 3 did not; all are shut again.
    expect(t.board.pulseLog.map((p) => p.no).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(t.board.doorOpenLog.map((e) => e.no)).toContain(7);
    expect(t.board.doorOpenLog.map((e) => e.no)).not.toContain(3);
    for (let n = 1; n <= 12; n++) expect(t.board.isOpen(n), `door ${n} open`).toBe(false);

    const status = await cli.json(['status']);
    const faults = Object.fromEntries(status.compartments.map((c: { no: number; faults: Fault[] }) => [c.no, c.faults.map((f) => f.reason)]));
    expect(faults).toEqual({ 1: [], 2: [], 3: ['self-test: jammed'], 4: [], 5: [], 6: [], 7: ['self-test: jammed'], 8: [], 9: [], 10: [], 11: [], 12: [] });
    const text = await cli.run(['status']);
    expect(text.stdout).toContain('faulty doors: 3, 7');
  });

  test('selftest with a person at the bank: asked "did it open?", they tell a stuck sensor from a jammed latch', async () => {
    const { t, cli } = await hubAndCli({ autoCloseMs: 100, model: 'cubby-4' });
    t.board.jam(2);
    t.board.stickSensor(3, 'closed');
    // door 1: Enter once it is closed; door 2: "no, it stayed shut"; door 3: "yes, it opened"; door 4: Enter.
    const r = await cli.run(['selftest', '--json'], { input: '\nn\ny\n\n' });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('Door 1 is open. Close it, then press Enter.');
    expect(r.stderr).toContain('Door 2 did not report open. Did it open? [y/N]');
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ tested: 4, ok: 2 });
    expect(report.faulty).toEqual([
      expect.objectContaining({ compartment: 2, verdict: 'jammed' }),
      expect.objectContaining({ compartment: 3, verdict: 'sensor_stuck_closed', why: expect.stringContaining('the door opened but the sensor still says closed') }),
    ]);
  });

  test('relocate PARCEL --to N: the code, read as the cloud reads it, then opens the NEW door', async () => {
    const { t, cli } = await hubAndCli({ autoCloseMs: null, standalone: false });
    const d = await t.depositParcel('p-1', 'S');
    expect(d.compartment).toBe(1);

    // The technician moves it by hand: open the old door, take it out, open the new one, put it in, record the move.
    expect((await cli.run(['open', '1', '--reason', 'moving p-1: door 1 sticks'])).code).toBe(0);
    await takeParcelOut(t.sim, 1);
    expect((await cli.run(['open', '10', '--reason', 'moving p-1 here'])).code).toBe(0);
    await putParcelIn(t.sim, 10);
    const moved = await cli.json(['relocate', 'p-1', '--to', '10', '--reason', 'door 1 sticks']);
    expect(moved).toEqual({ parcelId: 'p-1', from: 1, to: 10 }); // no warning: the sensor of 10 sees the parcel

    const code = t.readCode('p-1'); // the sealed code in the ledger, opened with the cloud's private key
    expect(code).toBe(d.code);
    const pulses = t.board.pulseLog.length;
    const pickup = await t.post('/api/pickup', { code });
    expect(pickup.status).toBe(200);
    expect(await pickup.json()).toEqual({ compartment: 10, parcelId: 'p-1' });
    expect(t.board.pulseLog.slice(pulses).map((p) => p.no)).toEqual([10]);
    expect(t.store.audit.since(0).filter((e) => e.type === 'relocate')).toEqual([expect.objectContaining({ actor: `tech:${TECHNICIAN.id}`, parcelId: 'p-1', compartment: 10, detail: 'from 1' })]);
  });

  test('command-line mistakes exit 2 with the usage and reach no door', async () => {
    const { t, cli } = await hubAndCli({ autoCloseMs: null, model: 'cubby-4' });
    const [noReason, typo, noDirection, badDoor] = await Promise.all([
      cli.run(['open', '2']),
      cli.run(['open', '2', '--reson', 'typo']),
      cli.run(['service', '2', '--reason', 'broken hinge']),
      cli.run(['selftest', '--doors', '1,x']),
    ]);
    expect(noReason.stderr).toContain('error (usage): Say why, in a few words: --reason "...".');
    expect(typo.stderr).toContain("Unknown option '--reson'");
    expect(noDirection.stderr).toContain('Say either --out (take it out of service) or --in (back in service).');
    expect(badDoor.stderr).toContain('--doors must be a compartment number (1, 2, …), not "x".');
    for (const r of [noReason, typo, noDirection, badDoor]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('usage: cubby tech <command>');
    }
    expect(t.board.pulseLog).toEqual([]);
    expect(t.store.audit.since(0).map((e) => e.type)).toEqual(['tech_login']);
  });
});
