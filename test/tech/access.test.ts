import { ManualClock } from '../../shared/ports.js';
/**
 * The technician tool (`cubby tech`, a child process) against a real hub on a simulated
 * board: logging in offline, the token file, roles, the login throttle and the support
 * bundle. Every hub here is standalone — no cloud anywhere; the technicians come from the
 * cloud-authored config document the hub was provisioned with.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { AUDITOR, COURIER, TECHNICIAN, startTestHub, type TestHub } from '../support/hub.js';
import { hasScript, jsonError, runOnTerminal, techCli, type TechCli } from './tech-cli.js';

let t: TestHub | undefined;
let cli: TechCli | undefined;
afterEach(async () => {
  cli?.close();
  await t?.close();
  cli = undefined;
  t = undefined;
});

async function hubAndCli(opts: Parameters<typeof startTestHub>[0] = {}): Promise<{ t: TestHub; cli: TechCli }> {
  t = await startTestHub({ model: 'cubby-4', standalone: true, ...opts });
  cli = await techCli(t.url);
  return { t, cli };
}

describe('cubby tech: access', () => {
  test('login works with no cloud at all; the token is saved with mode 0600 and the secret is not', async () => {
    const { t, cli } = await hubAndCli();
    expect(t.services.connectivity().online).toBe(false);
    const r = await cli.run(['login', '--id', TECHNICIAN.id], { input: `${TECHNICIAN.secret}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Logged in to ${t.url} as ${TECHNICIAN.id} (technician)`);
    expect(r.stderr).toContain(`Secret for ${TECHNICIAN.id}:`); // asked for, not taken from argv
    expect(r.stderr).not.toContain(TECHNICIAN.secret);

    const file = join(cli.configDir, 'tech-sessions.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(TECHNICIAN.secret);
    const saved = JSON.parse(text)[t.url];
    expect(saved).toMatchObject({ technicianId: TECHNICIAN.id, role: 'technician', token: expect.stringMatching(/^[\w-]+\.[\w-]+$/) });
    expect(saved.expiresAt).toBeGreaterThan(Date.now());

    // The token works: the hub, offline, answers the status; the same hub typed differently shares the session.
    const status = await cli.json(['status']);
    expect(status).toMatchObject({ bankId: t.bankId, board: { connected: true }, link: { online: false, lastSyncAt: null } });
    expect(status.compartments).toHaveLength(4);
    expect(t.store.audit.since(0).filter((e) => e.type === 'tech_login')).toEqual([expect.objectContaining({ actor: `tech:${TECHNICIAN.id}` })]);
  });

  test('on a terminal the secret is typed without echo (backspace edits it)', async () => {
    // `script` (util-linux, on every Debian) gives the CLI a real pseudo-terminal.
    expect(hasScript, 'this test needs `script` from util-linux: apt-get install -y bsdutils').toBe(true);
    const { t, cli } = await hubAndCli();
    const r = await runOnTerminal(['login', '--hub', t.url, '--id', TECHNICIAN.id], cli.configDir, `Secret for ${TECHNICIAN.id}: `, `${TECHNICIAN.secret}X\x7f\r`);
    expect(r.screen).toContain(`Logged in to ${t.url} as ${TECHNICIAN.id} (technician)`);
    expect(r.code).toBe(0);
    expect(r.screen).not.toContain(TECHNICIAN.secret);
    expect(r.screen).not.toContain('*');
  });

  test('an auditor reads status, events and export, but is refused an open (exit 4, no lock pulsed)', async () => {
    const { t, cli } = await hubAndCli();
    const login = await cli.login(AUDITOR);
    expect(login.stdout).toContain('(auditor)');

    const status = await cli.run(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`Bank ${t.bankId}`);
    const events = await cli.json(['events', '--since', '1h']);
    expect(events.events).toEqual([expect.objectContaining({ type: 'tech_login', actor: `tech:${AUDITOR.id}` })]);
    const out = join(cli.configDir, 'bundle.json');
    const exp = await cli.run(['export', '--out', out]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).status.bankId).toBe(t.bankId);

    const open = await cli.run(['open', '2', '--reason', 'just looking']);
    expect(open.code).toBe(4);
    expect(open.stdout).toBe('');
    expect(open.stderr).toContain('error (forbidden): Auditors may read status and events only.');
    expect(open.stderr).toContain(`logged in as ${AUDITOR.id} (auditor)`);
    expect(t.board.pulseLog).toEqual([]);
    expect(t.store.audit.since(0).map((e) => e.type)).not.toContain('tech_open');
  });

  test('a wrong secret: five refusals, then the hub throttles (429) and the tool says how long to wait', async () => {
    // The hub's clock stands still: the wait it reports does not depend on how long the
    // CLI processes took to start on a busy machine.
    const { cli } = await hubAndCli({ clock: new ManualClock(Date.now()) });
    for (let i = 1; i <= 5; i++) {
      const r = await cli.run(['login', '--id', TECHNICIAN.id, '--json'], { input: 'not-the-secret\n' });
      expect(r.code, `attempt ${i}`).toBe(4);
      expect(jsonError(r)).toMatchObject({ code: 'invalid_credentials', status: 401 });
    }
    const sixth = await cli.run(['login', '--id', TECHNICIAN.id, '--json'], { input: 'not-the-secret\n' });
    expect(sixth.code).toBe(4);
    const e = jsonError(sixth);
    expect(e).toMatchObject({ code: 'throttled', status: 429, retryAfterSeconds: 10 });
    expect(e.message).toMatch(/refuses logins for 10 s more \(until \d{4}-\d\d-\d\dT/);
    // Text mode says the same to a person; nothing was saved.
    const seventh = await cli.run(['login', '--id', TECHNICIAN.id], { input: `${TECHNICIAN.secret}\n` });
    expect(seventh.code).toBe(4);
    expect(seventh.stderr).toMatch(/^error \(throttled\): Too many failed attempts at this hub: it refuses logins for \d+ s more/m);
    expect(readdirSync(cli.configDir)).toEqual([]);
  });

  test('export writes one JSON file with the status and the events, and no secret, hash, token, code or pepper', async () => {
    const { t, cli } = await hubAndCli({ standalone: false });
    const d = await t.depositParcel('p-1', 'S');
    await cli.login(TECHNICIAN);
    const opened = await cli.run(['open', '3', '--reason', 'check the hinge']);
    expect(opened.code, opened.stderr).toBe(0);

    const out = join(cli.configDir, 'exports', 'bundle.json');
    const r = await cli.json(['export', '--out', out]);
    expect(r).toMatchObject({ file: out });
    expect(readdirSync(join(cli.configDir, 'exports'))).toEqual(['bundle.json']);
    const text = readFileSync(out, 'utf8');
    const bundle = JSON.parse(text);
    expect(bundle).toMatchObject({ kind: 'cubby-support-bundle', hub: t.url, status: { bankId: t.bankId, ledger: { liveParcels: 1 } } });
    expect(bundle.status.compartments[d.compartment - 1]).toMatchObject({ parcelId: 'p-1' });
    expect(bundle.events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['deposit', 'tech_login', 'tech_open']));

    const token = JSON.parse(readFileSync(join(cli.configDir, 'tech-sessions.json'), 'utf8'))[t.url].token as string;
    const pepper = Buffer.from(t.pepper);
    for (const secret of [
      TECHNICIAN.secret,
      AUDITOR.secret,
      COURIER.secret,
      '$argon2',
      token,
      token.split('.')[1]!,
      d.code,
      d.code.replace('-', ''),
      pepper.toString('base64'),
      pepper.toString('base64url'),
      pepper.toString('hex'),
    ]) {
      expect(text.includes(secret), `the bundle contains ${secret.slice(0, 12)}…`).toBe(false);
    }
  });
});
