import { afterEach, describe, expect, it } from 'vitest';
import { diagnose } from '../../../cloud/diagnosis/diagnose.js';
import { DEFAULT_DIAGNOSIS_SETTINGS, type ParcelFacts } from '../../../cloud/diagnosis/diagnosis.js';
import { main, parseArgv } from '../../../cloud/support-cli/main.js';
import { formatDiagnosis, timeline } from '../../../cloud/support-cli/timeline.js';
import { hubIssuedCode, startSystem, SUPPORT_TOKEN, type TestSystem } from '../../e2e/system.js';

const T0 = Date.UTC(2026, 0, 5, 8);

/** Facts of a parcel announced and deposited, code live, nothing sent yet, bank online. */
function facts(over: Partial<ParcelFacts> = {}): ParcelFacts {
  return {
    parcelId: 'P-1',
    bankId: 'bank-1',
    now: T0 + 60_000,
    status: 'deposited',
    announcement: { carrier: 'c', trackingNumber: 'T1', at: T0 - 3600_000 },
    deposit: { at: T0, compartment: 3 },
    compartment: 3,
    codes: [{ codeId: 'c1', selector: '123', state: 'active', issuedAt: T0, expiresAt: T0 + 72 * 3600_000, issuer: 'hub', usedAfterRevoke: false, openFailures: 0 }],
    exceptions: [],
    lockerEvents: [],
    contact: { phone: '+49 ••• ••• 5678', preferences: ['sms'] },
    usableChannels: ['sms'],
    configuredChannels: ['sms', 'email'],
    rows: [],
    events: [],
    health: [],
    contactChanges: [],
    bank: { online: true, lastSyncAt: T0, lastContactAt: T0, faults: [], inService: true },
    settings: DEFAULT_DIAGNOSIS_SETTINGS,
    ...over,
  };
}

describe('the diagnosis walk (pure)', () => {
  it('names the FIRST cause that holds, in the order of the table', () => {
    const both = diagnose(facts({ deposit: undefined, status: 'announced', compartment: undefined, codes: [], bank: { online: false, lastSyncAt: null, lastContactAt: null, faults: [], inService: true } }));
    expect(both.findings.filter((f) => f.holds).map((f) => f.cause)).toEqual(['not_deposited', 'locker_malfunction']);
    expect(both.verdict.cause).toBe('not_deposited');
    expect(both.verdict.action).toMatch(/^wait for deposit.*the locker is offline/);
  });

  it('a live code never queued counts against channels; a picked-up parcel needs nothing', () => {
    expect(diagnose(facts({ now: T0 + 5 * 60_000 })).verdict.cause).toBe('channel_or_preferences');
    const done = diagnose(facts({ status: 'picked_up', codes: [{ ...facts().codes[0]!, state: 'used', usedAt: T0 + 1000 }] }));
    expect(done.verdict).toMatchObject({ cause: null, action: 'nothing to do' });
  });
});

describe('cubby support', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
    process.exitCode = undefined;
  });
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) }, env);
    return { out: out.join('\n'), err: err.join('\n') };
  };

  it('parses flags and positionals', () => {
    expect(parseArgv(['diagnose', 'P-1', '--cloud', 'http://x', '--json', '--token=t'])).toEqual({ flags: { cloud: 'http://x', json: 'true', token: 't' }, positional: ['diagnose', 'P-1'] });
  });

  it('diagnose prints the verdict, the timeline and every cause; token from CUBBY_SUPPORT_TOKEN; resend and health', async () => {
    sys = await startSystem();
    await sys.announce('P-CLI');
    hubIssuedCode(sys, 'P-CLI');
    await sys.until(() => sys!.notify.outboxStore.forParcel('P-CLI')[0]?.status === 'delivered', 'delivered');
    const { out } = await run(['diagnose', 'P-CLI', '--cloud', sys.cloud.url], { CUBBY_SUPPORT_TOKEN: SUPPORT_TOKEN });
    expect(out).toMatch(/^Parcel P-CLI at bank-1: deposited \(diagnosed 2026-01-05 08:00:00 UTC\)/);
    expect(out).toContain('VERDICT  locker_malfunction'); // no hub here: the bank is offline
    expect(out).toMatch(/Timeline\n {2}2026-01-05 08:00:00 {2}announced by test-carrier/);
    expect(out.match(/\[( ok {2}|HOLDS)\]/g)).toHaveLength(7);
    expect(out).toMatch(/deposited in compartment 1\n.*\n.*code by sms to \+49 ••• ••• 5678: queued\n.*code by sms to \+49 ••• ••• 5678: accepted \(sms provider id sms_[0-9a-f]+\)\n.*: delivered \(delivery receipt\)/);
    expect(out).not.toContain('+4915112345678');

    const resend = await run(['resend', 'P-CLI', '--channel', 'email', '--cloud', sys.cloud.url, '--token', SUPPORT_TOKEN]);
    expect(resend.out).toMatch(/^New code [0-9a-f]+ for P-CLI queued by email to a•••@example.com/);
    const health = await run(['health', '--cloud', sys.cloud.url, '--token', SUPPORT_TOKEN]);
    expect(health.out).toMatch(/^sms {4}100% taken \(1 sends\)/);

    const denied = await run(['diagnose', 'P-CLI', '--cloud', sys.cloud.url, '--token', 'wrong']);
    expect(denied.err).toBe('error (invalid_token): That bearer token is not valid.');
    expect(process.exitCode).toBe(1);
  });

  it('usage without a command; a readable error when the cloud is down', async () => {
    expect((await run([])).err).toMatch(/^usage: cubby support/);
    expect(process.exitCode).toBe(2);
    const down = await run(['diagnose', 'P-1', '--cloud', 'http://127.0.0.1:9', '--json']);
    expect(JSON.parse(down.err)).toMatchObject({ error: { code: 'cloud_unreachable' } });
  });

  it('the timeline is the evidence with a time, oldest first, once each', () => {
    const d = diagnose(facts({ bank: { online: false, lastSyncAt: T0, lastContactAt: T0, faults: [], inService: true } }));
    const t = timeline(d);
    expect(t.map((e) => e.at)).toEqual([...t.map((e) => e.at)].sort((a, b) => a - b));
    expect(new Set(t.map((e) => e.text)).size).toBe(t.length);
    expect(formatDiagnosis(d)).toContain('VERDICT  locker_malfunction: The locker has a fault or is offline.');
  });
});
