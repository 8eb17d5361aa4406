import { afterEach, describe, expect, it } from 'vitest';
import type { Diagnosis, Finding } from '../../../cloud/diagnosis/diagnosis.js';
import { main as supportCli } from '../../../cloud/support-cli/main.js';
import { COURIER, HUB_OPEN_TIMEOUT_MS, json, takeParcelOut } from '../../support/hub.js';
import { BANK, codeIn, EMAIL, PHONE, startSystem, SUPPORT_TOKEN, type TestSystem } from '../../e2e/system.js';

/**
 * "Why no code?" — one test per cause of DESIGN.md's table, each creating the situation for
 * real (a real hub on a simulated board syncing with a real cloud, the SMS and SMTP
 * simulators) and asserting the finding, its evidence and the action the diagnosis names.
 */
describe('diagnosis of every cause, for real', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.close();
    sys = undefined;
  });

  const diagnose = async (s: TestSystem, parcelId: string): Promise<Diagnosis> => {
    const res = await s.api('GET', `/v1/parcels/${parcelId}/diagnosis`);
    expect(res.status).toBe(200);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(PHONE);
    expect(text).not.toContain(EMAIL);
    expect(text).not.toMatch(/\d{3}-\d{6}/); // never a code
    expect(res.body.findings.map((f: Finding) => f.cause)).toEqual([
      'not_deposited',
      'code_generation_failed',
      'notification_outage',
      'unreachable_contact',
      'channel_or_preferences',
      'recent_contact_change',
      'locker_malfunction',
    ]);
    return res.body as Diagnosis;
  };
  const finding = (d: Diagnosis, cause: string): Finding => d.findings.find((f) => f.cause === cause)!;
  const evidence = (f: Finding): string => f.evidence.map((e) => e.text).join(' | ');
  const rows = (s: TestSystem, parcelId: string) => s.notify.outboxStore.forParcel(parcelId);
  const pickUp = (s: TestSystem, code: string) => s.hub!.post('/api/pickup', { code });

  it('not_deposited: announced only -> "wait for deposit"; a carrier exception -> "contact the carrier"', async () => {
    sys = await startSystem({ hub: true });
    await sys.announce('P-ND');
    let d = await diagnose(sys, 'P-ND');
    expect(d.verdict.cause).toBe('not_deposited');
    expect(finding(d, 'not_deposited')).toMatchObject({ holds: true, action: expect.stringMatching(/^wait for deposit/) });
    expect(evidence(finding(d, 'not_deposited'))).toContain('no deposit recorded by the locker');
    expect(finding(d, 'locker_malfunction').holds).toBe(false); // the bank is online

    sys.cloud.replicas.get(BANK).ledger.addException('P-ND', 'address problem: recipient unknown at the address');
    d = await diagnose(sys, 'P-ND');
    expect(finding(d, 'not_deposited').action).toMatch(/^contact the carrier about its exception \("address problem/);
    expect(evidence(finding(d, 'not_deposited'))).toContain('carrier exception: address problem');
  });

  it('not_deposited: a courier opened a door and walked away -> in progress, then "left open" or "left without the parcel", each from the locker\'s own events', async () => {
    sys = await startSystem({ hub: true });
    const hub = sys.hub!;
    const audit = () => sys!.cloud.replicas.get(BANK).audit.since(0).map((e) => e.type);
    const open = async (parcelId: string) => (await json(await hub.post('/api/courier/deposit', { courierId: COURIER.id, secret: COURIER.secret, parcelId, size: 'S' }))) as { compartment: number };
    await sys.announce('P-AB');
    await sys.announce('P-AJ');
    const empty = await open('P-AB');
    const ajar = await open('P-AJ');
    await sys.until(() => audit().filter((t) => t === 'deposit_door_opened').length === 2, 'the door openings reach the cloud');
    let d = await diagnose(sys, 'P-AB');
    expect(finding(d, 'not_deposited')).toMatchObject({ holds: true, action: expect.stringMatching(/^wait for deposit: .*finishes it by itself 10 min/) });
    expect(evidence(finding(d, 'not_deposited'))).toContain(`a courier opened compartment ${empty.compartment} for this parcel | the courier has not finished the deposit yet`);

    // The courier closes one door with nothing inside and leaves the other open; 10 min later the hub's sweep settles both.
    await takeParcelOut(hub.sim, empty.compartment);
    sys.manual.advance(10 * 60_000);
    await hub.services.deposit.sweepAbandoned(sys.manual.now(), 10 * 60_000);
    await sys.until(() => audit().includes('deposit_abandoned') && audit().includes('deposit_door_left_open'), 'the outcome reaches the cloud');
    d = await diagnose(sys, 'P-AB');
    expect(finding(d, 'not_deposited').action).toBe(`contact the carrier: its courier opened compartment ${empty.compartment} but did not leave the parcel`);
    expect(evidence(finding(d, 'not_deposited'))).toContain('found closed and empty');
    d = await diagnose(sys, 'P-AJ');
    expect(finding(d, 'not_deposited').action).toMatch(new RegExp(`^send someone to close compartment ${ajar.compartment}`));
    expect(JSON.stringify(d)).not.toContain(COURIER.id); // the locker's events say what happened, not who
  });

  it('code_generation_failed: a deposit with no code arrives from the hub -> "resend"; the resent code opens the door', async () => {
    sys = await startSystem({ hub: true });
    await sys.announce('P-CG');
    // A hub that recorded the deposit but no code (a crash between two writes in older firmware).
    sys.hub!.store.ledger.deposit('P-CG', { depositId: 'd-cg', compartment: 3, courierId: COURIER.id, size: 'S' });
    await sys.until(() => !!sys!.cloud.replicas.get(BANK).ledger.doc('P-CG')?.deposit, 'the deposit reaches the cloud');
    const d = await diagnose(sys, 'P-CG');
    expect(d.verdict.cause).toBe('code_generation_failed');
    expect(finding(d, 'not_deposited').holds).toBe(false);
    expect(finding(d, 'code_generation_failed')).toMatchObject({ holds: true, action: expect.stringMatching(/^resend: it issues a new code/) });
    expect(evidence(finding(d, 'code_generation_failed'))).toContain('no code was ever issued');

    expect((await sys.api('POST', '/v1/parcels/P-CG/resend', {})).status).toBe(202);
    const sms = sys.notify.sims.sms!;
    await sys.until(() => sms.inbox(PHONE).length === 1, 'the new code by SMS');
    await sys.until(() => Object.keys(sys!.hub!.store.ledger.doc('P-CG')!.codes).length === 1, 'the cloud-issued code reaches the hub');
    const res = await pickUp(sys, codeIn(sms.inbox(PHONE)[0]!.body));
    expect([res.status, (await json(res)).compartment]).toEqual([200, 3]);
  });

  it('notification_outage: SMS gateway down -> retries, outage found, e-mail failover delivers', async () => {
    sys = await startSystem({ hub: true, notify: { maxAttempts: 2 }, runtime: { backoffBaseMs: 60_000, backoffMaxMs: 60_000 } });
    await sys.notify.sims.sms!.setMode('down');
    await sys.announce('P-OUT');
    await sys.deposit('P-OUT');
    await sys.until(() => rows(sys!, 'P-OUT')[0]?.attempts === 1 && rows(sys!, 'P-OUT')[0]?.status === 'pending', 'the first attempt failed');
    let d = await diagnose(sys, 'P-OUT');
    expect(d.verdict.cause).toBe('notification_outage');
    expect(finding(d, 'notification_outage')).toMatchObject({ holds: true, action: 'resend on another channel: email' });
    expect(evidence(finding(d, 'notification_outage'))).toMatch(/sms to \+49 ••• ••• 5678: 1 attempt\(s\), provider answered "HTTP 503: gateway unavailable"; next try at/);

    sys.manual.advance(60_001);
    const sink = sys.notify.sims.smtp!;
    await sys.until(() => sink.messages(EMAIL).length === 1, 'the code by e-mail');
    await sys.until(() => rows(sys!, 'P-OUT')[1]?.status === 'delivered', 'recorded');
    d = await diagnose(sys, 'P-OUT');
    expect(finding(d, 'notification_outage').holds).toBe(true);
    expect(finding(d, 'notification_outage').action).toMatch(/^nothing to resend: the code was delivered by email to a•••@example.com/);
    expect(evidence(finding(d, 'notification_outage'))).toContain('retries exhausted');
    expect(finding(d, 'unreachable_contact').holds).toBe(false);

    const out: string[] = [];
    await supportCli(['diagnose', 'P-OUT', '--cloud', sys.cloud.url, '--token', SUPPORT_TOKEN], { out: (s) => out.push(s), err: (s) => out.push(s) });
    const printed = out.join('\n');
    expect(printed).toContain('VERDICT  notification_outage: A message provider is failing.');
    expect(printed).toContain('Timeline');
    expect(printed).toMatch(/\[HOLDS\] notification_outage -> nothing to resend/);
    expect(printed).not.toContain(PHONE);
  });

  it('unreachable_contact: a dead number -> rejected, e-mail failover, "correct the contact and rotate"', async () => {
    sys = await startSystem({ hub: true });
    sys.notify.sims.sms!.markUnreachable(PHONE);
    await sys.announce('P-UR');
    await sys.deposit('P-UR');
    const sink = sys.notify.sims.smtp!;
    await sys.until(() => sink.messages(EMAIL).length === 1, 'the code by e-mail');
    const d = await diagnose(sys, 'P-UR');
    expect(d.verdict.cause).toBe('unreachable_contact');
    expect(finding(d, 'notification_outage').holds).toBe(false);
    expect(finding(d, 'unreachable_contact').action).toMatch(/^correct the contact and rotate: PATCH \/v1\/recipients\/P-UR with the right phone number/);
    expect(evidence(finding(d, 'unreachable_contact'))).toContain('sms to +49 ••• ••• 5678 rejected: "HTTP 400: unreachable"');
    expect((await pickUp(sys, codeIn(sink.messages(EMAIL)[0]!.text))).status).toBe(200);
  });

  it('channel_or_preferences: accepted but never delivered (blackhole) -> failover after T; preferences exhausted', async () => {
    sys = await startSystem({ hub: true });
    await sys.notify.sims.sms!.setMode('blackhole');
    await sys.announce('P-BH');
    await sys.deposit('P-BH');
    await sys.until(() => rows(sys!, 'P-BH')[0]?.status === 'accepted', 'the gateway accepted the SMS');
    expect((await diagnose(sys, 'P-BH')).verdict).toMatchObject({ cause: null, summary: expect.stringContaining('accepted by the provider') });
    sys.manual.advance(119_000);
    await sys.notify.worker!.tick();
    expect(rows(sys, 'P-BH')).toHaveLength(1); // not before T
    sys.manual.advance(1_000);
    await sys.notify.worker!.tick();
    const sink = sys.notify.sims.smtp!;
    await sys.until(() => sink.messages(EMAIL).length === 1, 'the code by e-mail after T');
    const d = await diagnose(sys, 'P-BH');
    expect(d.verdict.cause).toBe('channel_or_preferences');
    expect(finding(d, 'channel_or_preferences').action).toMatch(/^nothing to resend: the code was delivered by email/);
    expect(evidence(finding(d, 'channel_or_preferences'))).toMatch(/sms to \+49 ••• ••• 5678 accepted by the provider at .*, no delivery receipt after 2 min; failed over at/);

    // SMS only, and it never delivers: every preference tried, nothing left.
    await sys.announce('P-BH2', { name: 'Bo', phone: '+4915187654321', preferences: ['sms'] });
    await sys.deposit('P-BH2');
    await sys.until(() => rows(sys!, 'P-BH2')[0]?.status === 'accepted', 'accepted');
    sys.manual.advance(120_000);
    await sys.notify.worker!.tick();
    const d2 = await diagnose(sys, 'P-BH2');
    expect(d2.verdict.cause).toBe('channel_or_preferences');
    expect(evidence(finding(d2, 'channel_or_preferences'))).toContain('every preferred channel was tried for the live code; none delivered it');
    expect(finding(d2, 'channel_or_preferences').action).toMatch(/^correct the preferences and rotate: add another phone number or e-mail address/);
  });

  it('recent_contact_change: old contact alerted, old code refused at the hub, new code to the new contact after the hold', async () => {
    sys = await startSystem({ hub: true });
    const sms = sys.notify.sims.sms!;
    await sys.announce('P-CC');
    const { compartment } = await sys.deposit('P-CC');
    await sys.until(() => sms.inbox(PHONE).length === 1, 'the first code');
    const oldCode = codeIn(sms.inbox(PHONE)[0]!.body);
    const NEW = '+4915199990000';
    const changed = await sys.api('PATCH', '/v1/recipients/P-CC', { phone: '+49 151 9999 0000' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ changed: ['phone'], alerted: ['+49 ••• ••• 5678'], newCodeAt: sys.clock.now() + 600_000 });
    expect(JSON.stringify(changed.body)).not.toContain(NEW);

    await sys.until(() => sms.inbox(PHONE).length === 2, 'the alert to the OLD number');
    expect(sms.inbox(PHONE)[1]!.body).toMatch(/contact details for your parcel P-CC were changed.*If this was not you, call Cubby support/);
    expect(sms.inbox(PHONE)[1]!.body).not.toMatch(/\d{3}-\d{6}/);
    await sys.until(() => Object.values(sys!.hub!.store.ledger.doc('P-CC')!.codes).some((c) => c.revokedAt !== undefined), 'the revocation reaches the hub');
    const refused = await pickUp(sys, oldCode);
    expect([refused.status, (await json(refused)).error.code]).toEqual([410, 'code_revoked']);

    const d = await diagnose(sys, 'P-CC');
    expect(d.verdict.cause).toBe('recent_contact_change');
    expect(finding(d, 'code_generation_failed').holds).toBe(false);
    expect(finding(d, 'recent_contact_change').action).toMatch(/^verify the recipient first/);
    expect(evidence(finding(d, 'recent_contact_change'))).toMatch(/phone \+49 ••• ••• 5678 -> \+49 ••• ••• 0000 by cloud:support:agent-1.*old contact alerted by sms \(\+49 ••• ••• 5678\).*new code for the new contact due at/);

    await sys.notify.worker!.tick();
    expect(sms.inbox(NEW)).toEqual([]); // held
    sys.manual.advance(600_000);
    await sys.notify.worker!.tick();
    await sys.until(() => sms.inbox(NEW).length === 1, 'the new code to the NEW number');
    await sys.until(() => Object.keys(sys!.hub!.store.ledger.doc('P-CC')!.codes).length === 2, 'the new code reaches the hub');
    const res = await pickUp(sys, codeIn(sms.inbox(NEW)[0]!.body));
    expect([res.status, (await json(res)).compartment]).toEqual([200, compartment]);
    const audit = sys.cloud.replicas.get(BANK).audit.since(0).filter((e) => e.parcelId === 'P-CC').map((e) => `${e.type}: ${e.detail ?? ''}`);
    expect(audit.join('\n')).toMatch(/contact_changed: phone \+49 ••• ••• 5678 -> \+49 ••• ••• 0000; old contact alerted; live code revoked; new code due/);
    expect(audit.join('\n')).toMatch(/code_issued: contact changed: new code for the new contact after the hold; sent by sms to \+49 ••• ••• 0000/);
    expect(audit.join('\n')).not.toContain(NEW);
  });

  it('locker_malfunction: a jammed door at the hub -> door_fault syncs -> "relocate / remote open"', async () => {
    sys = await startSystem({ hub: true });
    const sms = sys.notify.sims.sms!;
    await sys.announce('P-JAM');
    const { compartment } = await sys.deposit('P-JAM');
    await sys.until(() => sms.inbox(PHONE).length === 1, 'the code');
    sys.hub!.board.jam(compartment);
    const res = await pickUp(sys, codeIn(sms.inbox(PHONE)[0]!.body));
    expect([res.status, (await json(res)).error.code]).toEqual([409, 'door_fault']);
    await sys.until(() => sys!.cloud.replicas.get(BANK).bankState.faulty().includes(compartment), 'the fault reaches the cloud', HUB_OPEN_TIMEOUT_MS + 10_000);
    await sys.until(() => rows(sys!, 'P-JAM')[0]?.status === 'delivered', 'delivered');
    const d = await diagnose(sys, 'P-JAM');
    expect(d.verdict.cause).toBe('locker_malfunction');
    expect(finding(d, 'locker_malfunction').action).toMatch(new RegExp(`^relocate / remote open: open compartment ${compartment} remotely`));
    expect(evidence(finding(d, 'locker_malfunction'))).toMatch(new RegExp(`compartment ${compartment}: door did not open.*1 door-open attempt\\(s\\) with the live code failed`));
  });

  it('locker_malfunction: the hub cut from the cloud -> bank offline, last sync age', async () => {
    sys = await startSystem({ hub: true });
    await sys.announce('P-OFF');
    await sys.deposit('P-OFF');
    await sys.until(() => rows(sys!, 'P-OFF')[0]?.status === 'delivered', 'delivered');
    await sys.hubSync!.stop();
    await sys.until(() => !sys!.cloud.sync.presence.online(BANK), 'the cloud sees the bank offline');
    sys.manual.advance(2 * 3600_000);
    const d = await diagnose(sys, 'P-OFF');
    expect(d.verdict.cause).toBe('locker_malfunction');
    expect(evidence(finding(d, 'locker_malfunction'))).toContain('the locker is offline; last contact 2 h ago, last sync 2 h ago');
    expect(finding(d, 'locker_malfunction').action).toMatch(/^the locker is offline: codes issued now reach it when it reconnects/);
  });
});
