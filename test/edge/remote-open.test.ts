import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { generateSigningKeyPair, signCommand } from '../../shared/crypto/signed-command.js';
import { ManualClock } from '../../shared/ports.js';
import {
  RemoteOpenService,
  type OpenDoor,
  type RemoteOpenAuditEvent,
} from '../../edge/remote/remote-open-service.js';
import type { RemoteOpenLimits } from '../../edge/remote/remote-open-limits.js';
import { openCommand, tempDir } from './remote-open-fixtures.js';

const cloud = generateSigningKeyPair();
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('RemoteOpenService (real SQLite file)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  let db: Database.Database;
  let clock: ManualClock;
  let opened: number[];
  let audit: RemoteOpenAuditEvent[];

  const door: OpenDoor = async (compartment) => {
    opened.push(compartment);
    return { opened: true };
  };
  const service = (over: { openDoor?: OpenDoor; limits?: Partial<RemoteOpenLimits>; publicKey?: string } = {}) =>
    new RemoteOpenService({
      db,
      clock,
      cloudPublicKey: over.publicKey ?? cloud.publicKey,
      bankId: 'bank-1',
      openDoor: over.openDoor ?? door,
      audit: (e) => audit.push(e),
      limits: over.limits,
    });
  const restart = () => {
    db.close();
    db = openDatabase(file);
  };

  beforeEach(() => {
    tmp = tempDir('cubby-remote-open-');
    file = join(tmp.dir, 'hub.sqlite');
    db = openDatabase(file);
    clock = new ManualClock();
    opened = [];
    audit = [];
  });
  afterEach(() => {
    if (db.open) db.close();
    tmp.cleanup();
  });

  it('opens once for a valid command and audits who asked and why', async () => {
    const cmd = openCommand(cloud.privateKey, clock.now());
    const r = await service().handle(cmd);
    expect(r).toMatchObject({ ok: true, compartment: 4, requestedBy: 'support-7' });
    expect(opened).toEqual([4]);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      type: 'remote_open',
      actor: 'cloud:support-7',
      compartment: 4,
      requestedBy: 'support-7',
      reason: 'recipient locked out, ticket 42',
    });
    const row = db.prepare('SELECT outcome FROM remote_nonces').get() as { outcome: string };
    expect(row.outcome).toBe('opened');
  });

  it('refuses a replay, and still refuses it after a restart', async () => {
    const cmd = openCommand(cloud.privateKey, clock.now());
    expect((await service().handle(cmd)).ok).toBe(true);
    expect(await service().handle(cmd)).toMatchObject({ ok: false, refusal: 'replayed' });

    restart();
    clock.advance(30_000); // still inside the command's 2-minute life
    expect(await service().handle(cmd)).toMatchObject({ ok: false, refusal: 'replayed' });
    expect(opened).toEqual([4]);
    expect(audit.map((e) => e.refusal ?? e.type)).toEqual(['remote_open', 'replayed', 'replayed']);
  });

  it('refuses expired commands, commands from the future and over-long ones', async () => {
    const s = service();
    const stale = openCommand(cloud.privateKey, clock.now() - 3 * MIN); // expired 1 min ago
    expect(await s.handle(stale)).toMatchObject({ ok: false, refusal: 'expired' });
    const atExpiry = openCommand(cloud.privateKey, clock.now() - 2 * MIN); // expiresAt == now
    expect(await s.handle(atExpiry)).toMatchObject({ ok: false, refusal: 'expired' });
    const future = openCommand(cloud.privateKey, clock.now() + 5 * MIN);
    expect(await s.handle(future)).toMatchObject({ ok: false, refusal: 'issued_in_future' });
    const forever = openCommand(cloud.privateKey, clock.now(), { expiresAt: clock.now() + 365 * 24 * HOUR });
    expect(await s.handle(forever)).toMatchObject({ ok: false, refusal: 'lifetime_too_long' });
    expect(opened).toEqual([]);
    // Refused before the nonce step: nothing was stored.
    expect((db.prepare('SELECT COUNT(*) AS n FROM remote_nonces').get() as { n: number }).n).toBe(0);
  });

  it('refuses unsigned, badly signed, tampered and other-bank commands', async () => {
    const s = service();
    const good = openCommand(cloud.privateKey, clock.now());
    const body = JSON.parse(good.body) as Record<string, unknown>;
    const attacker = generateSigningKeyPair();

    expect(await s.handle(body)).toMatchObject({ ok: false, refusal: 'unsigned_or_malformed' });
    expect(await s.handle({ body: good.body })).toMatchObject({ ok: false, refusal: 'unsigned_or_malformed' });
    expect(await s.handle('open 4 please')).toMatchObject({ ok: false, refusal: 'unsigned_or_malformed' });
    expect(await s.handle(openCommand(attacker.privateKey, clock.now()))).toMatchObject({ ok: false, refusal: 'bad_signature' });
    const tampered = { body: good.body.replace('"compartment":4', '"compartment":5'), sig: good.sig };
    expect(await s.handle(tampered)).toMatchObject({ ok: false, refusal: 'bad_signature' });
    const otherBank = openCommand(cloud.privateKey, clock.now(), { bankId: 'bank-2' });
    expect(await s.handle(otherBank)).toMatchObject({ ok: false, refusal: 'wrong_bank' });
    // A well-signed body of the wrong shape.
    const wrongShape = signCommand({ ...JSON.parse(good.body), compartment: 0 }, cloud.privateKey);
    expect(await s.handle(wrongShape)).toMatchObject({ ok: false, refusal: 'unsigned_or_malformed' });

    expect(opened).toEqual([]);
    expect(audit.every((e) => e.type === 'remote_open_refused')).toBe(true);
    expect(audit).toHaveLength(7);
  });

  it('rejects a misconfigured cloud key at construction', () => {
    expect(() => service({ publicKey: 'not-a-key' })).toThrow();
  });

  it('rate-limits per compartment and per bank, persisted across restarts, recovering as time passes', async () => {
    // Defaults: 3 per compartment per hour, 10 per bank per hour.
    const open = (compartment: number) =>
      service().handle(openCommand(cloud.privateKey, clock.now(), { compartment }));

    for (let i = 0; i < 3; i++) {
      expect((await open(1)).ok).toBe(true);
      clock.advance(MIN);
    }
    const t0 = clock.now() - 3 * MIN; // time of the first open
    const limited = await open(1);
    expect(limited).toMatchObject({ ok: false, refusal: 'rate_limited', scope: 'compartment', retryAt: t0 + HOUR });
    expect((await open(2)).ok).toBe(true); // other compartments are unaffected

    restart(); // the window lives in SQLite
    expect(await open(1)).toMatchObject({ ok: false, refusal: 'rate_limited' });

    for (const c of [3, 4, 5, 6, 7, 8]) expect((await open(c)).ok).toBe(true); // bank total now 10
    expect(await open(9)).toMatchObject({ ok: false, refusal: 'rate_limited', scope: 'bank', retryAt: t0 + HOUR });

    clock.set(t0 + HOUR - 1);
    expect(await open(9)).toMatchObject({ ok: false, refusal: 'rate_limited' });
    clock.set(t0 + HOUR); // the first open leaves the window: one bank slot, one compartment-1 slot
    expect((await open(1)).ok).toBe(true);
    expect(await open(9)).toMatchObject({ ok: false, refusal: 'rate_limited', scope: 'bank' });
    clock.advance(HOUR);
    expect((await open(9)).ok).toBe(true);
    expect(opened.filter((c) => c === 1)).toHaveLength(4);
  });

  it('honours configured limits', async () => {
    const limits = { perCompartment: { max: 1, windowMs: MIN }, perBank: { max: 100, windowMs: MIN } };
    const s = service({ limits });
    expect((await s.handle(openCommand(cloud.privateKey, clock.now()))).ok).toBe(true);
    expect((await s.handle(openCommand(cloud.privateKey, clock.now()))).ok).toBe(false);
    clock.advance(MIN);
    expect((await s.handle(openCommand(cloud.privateKey, clock.now()))).ok).toBe(true);
  });

  it('a door that fails (or throws) spends the nonce: the same command never opens later', async () => {
    const cmd = openCommand(cloud.privateKey, clock.now());
    const jammed = service({ openDoor: async () => ({ opened: false, reason: 'jammed' }) });
    expect(await jammed.handle(cmd)).toMatchObject({ ok: false, refusal: 'door_failed', doorReason: 'jammed' });
    expect(audit.at(-1)).toMatchObject({ type: 'remote_open_failed', compartment: 4 });

    const cmd2 = openCommand(cloud.privateKey, clock.now());
    const crashing = service({
      openDoor: async () => {
        throw new Error('board gone');
      },
    });
    expect(await crashing.handle(cmd2)).toMatchObject({ ok: false, refusal: 'door_failed', doorReason: 'door_error' });

    restart();
    expect(await service().handle(cmd)).toMatchObject({ ok: false, refusal: 'replayed' });
    expect(await service().handle(cmd2)).toMatchObject({ ok: false, refusal: 'replayed' });
    expect(opened).toEqual([]);
  });

  it('commits the nonce with synchronous=FULL even on a NORMAL connection, and restores the setting', async () => {
    db.pragma('synchronous = NORMAL');
    let noncesSeenByOtherConnection = -1;
    const s = service({
      openDoor: async () => {
        // By the time the door moves, the nonce is committed: a second connection sees it.
        const other = openDatabase(file);
        noncesSeenByOtherConnection = (other.prepare('SELECT COUNT(*) AS n FROM remote_nonces').get() as { n: number }).n;
        other.close();
        return { opened: true };
      },
    });
    expect((await s.handle(openCommand(cloud.privateKey, clock.now()))).ok).toBe(true);
    expect(noncesSeenByOtherConnection).toBe(1);
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('refuses to claim a nonce inside a caller transaction (its rollback would forget it)', async () => {
    const s = service();
    db.exec('BEGIN');
    await expect(s.handle(openCommand(cloud.privateKey, clock.now()))).rejects.toThrow(/own/);
    db.exec('ROLLBACK');
    expect(opened).toEqual([]);
  });
});
