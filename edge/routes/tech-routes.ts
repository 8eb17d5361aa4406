import { Hono } from 'hono';
import { z } from 'zod';
import { LockBusy, type LockerBank, type OpenResult } from '../../devices/locker-bank.js';
import { compartmentNoSchema, parcelIdSchema } from '../../shared/ids.js';
import { jsonBody } from '../../shared/http/errors-middleware.js';
import { BadRequest, Conflict, NotFound } from '../../shared/errors.js';
import type { HubServices } from '../hub-services.js';
import { TechAuth, type TechPrincipal } from '../services/tech-auth.js';

const loginBody = z.object({ technicianId: z.string().min(1).max(64), secret: z.string().min(1).max(256) }).strict();
const reasonBody = z.object({ reason: z.string().min(3).max(500) }).strict();
const serviceBody = z.object({ inService: z.boolean(), reason: z.string().min(3).max(500) }).strict();
const relocateBody = z.object({ to: compartmentNoSchema, reason: z.string().max(500).optional() }).strict();
const selftestBody = z.object({ closeTimeoutMs: z.number().int().min(0).max(120_000).default(0) }).strict();

type Env = { Variables: { tech: TechPrincipal } };

/** The largest time a JavaScript Date holds, in ms either side of 1970. */
const MAX_DATE_MS = 8.64e15;

/** The technician's LAN API (used by `cubby tech`). Every action is an audit event in the ledger. */
export function techRoutes(s: HubServices): Hono<Env> {
  const app = new Hono<Env>();
  const { store, bank, clock } = s.deps;

  const compartment = (raw: string): number => {
    const n = compartmentNoSchema.safeParse(Number(raw));
    if (!n.success || n.data > bank.compartmentCount) throw new NotFound(`This bank has compartments 1 to ${bank.compartmentCount}.`, 'no_such_compartment');
    return n.data;
  };

  app.post('/api/tech/login', async (c) => {
    const body = await jsonBody(c, loginBody);
    const r = await s.techAuth.login(body.technicianId, body.secret);
    s.events.emit({ type: 'tech_login', actor: `tech:${body.technicianId}` });
    return c.json(r);
  });

  app.use('/api/tech/*', async (c, next) => {
    c.set('tech', s.techAuth.verify(c.req.header('authorization')));
    await next();
  });

  app.get('/api/tech/status', (c) => {
    const occupancy = store.ledger.occupancy();
    const link = s.connectivity();
    const health = bank.health();
    const now = clock.now();
    return c.json({
      bankId: s.deps.bankId,
      board: { connected: health.connected, lastSeenAt: health.lastSeenAt },
      keypad: { state: health.keypad, deadKeys: health.deadKeys },
      scanner: health.scanner,
      link: { online: link.online, lastSyncAt: link.lastSyncAt, lastContactAt: link.lastContactAt, syncLagMs: link.lastSyncAt === null ? null : now - link.lastSyncAt },
      ledger: { documents: store.docs.size, storeBytes: store.storage.sizeBytes(), liveParcels: occupancy.size },
      compartments: bank.statuses().map((st) => {
        const cond = store.bankState.condition(st.no);
        return {
          no: st.no,
          size: st.size,
          door: st.door,
          sensorOccupied: st.occupied,
          parcelId: occupancy.get(st.no) ?? null,
          inService: cond.inService,
          faults: cond.faults.map((f) => ({ at: f.at, reason: f.reason })),
        };
      }),
    });
  });

  app.get('/api/tech/events', (c) => {
    const since = Number(c.req.query('since') ?? clock.now() - 7 * 24 * 3600_000);
    // Beyond ±8.64e15 ms a Date is invalid: the audit log's day lookup would throw (a 500).
    if (!Number.isFinite(since) || Math.abs(since) > MAX_DATE_MS) throw new BadRequest('"since" is epoch milliseconds.', 'invalid_input');
    return c.json({ events: store.audit.since(since) });
  });

  app.post('/api/tech/compartments/:n/open', async (c) => {
    const tech = c.get('tech');
    TechAuth.requireTechnician(tech);
    const n = compartment(c.req.param('n'));
    const { reason } = await jsonBody(c, reasonBody);
    // Audited before the door moves.
    s.events.emit({ type: 'tech_open', actor: `tech:${tech.technicianId}`, compartment: n, detail: reason });
    const r = await openUnlessBusy(bank, n);
    if (r.opened) store.bankState.clearFaults(n, `tech:${tech.technicianId}`);
    else {
      store.bankState.recordFault(n, `technician open failed (${r.reason})`);
      s.events.emit({ type: 'door_fault', actor: 'hub', compartment: n, detail: r.reason });
    }
    return c.json({ compartment: n, ...r });
  });

  app.post('/api/tech/compartments/:n/selftest', async (c) => {
    const tech = c.get('tech');
    TechAuth.requireTechnician(tech);
    const n = compartment(c.req.param('n'));
    const { closeTimeoutMs } = await jsonBody(c, selftestBody);
    if (store.ledger.occupancy().has(n) || bank.status(n).occupied) throw new Conflict('compartment_occupied', `Compartment ${n} holds a parcel; self-test only empty compartments.`);
    // A courier has it open for a deposit: testing it would pulse the courier's lock and
    // judge the open door a stuck sensor (a fault on a healthy compartment).
    if (s.deposit.pendingCompartments().has(n)) throw new Conflict('compartment_occupied', `Compartment ${n} is open for a courier's deposit; self-test it once the deposit is done.`);
    s.events.emit({ type: 'tech_selftest', actor: `tech:${tech.technicianId}`, compartment: n });
    const before = bank.status(n).door;
    const r = await openUnlessBusy(bank, n);
    let verdict: 'ok' | 'jammed' | 'sensor_stuck' | 'no_response' | 'board_lost' | 'not_closed' = 'ok';
    if (!r.opened) {
      verdict = r.reason === 'board_lost' ? 'board_lost' : before === 'open' ? 'sensor_stuck' : 'jammed';
    } else if (r.ms === 0) {
      verdict = 'sensor_stuck'; // reported open before the pulse: the sensor does not follow the door
    } else if (closeTimeoutMs > 0 && !(await bank.waitForClose(n, closeTimeoutMs))) {
      verdict = 'not_closed';
    }
    if (verdict === 'ok') store.bankState.clearFaults(n, `tech:${tech.technicianId}`);
    else if (verdict !== 'not_closed') store.bankState.recordFault(n, `self-test: ${verdict}`);
    return c.json({ compartment: n, verdict, ms: r.opened ? r.ms : null });
  });

  app.post('/api/tech/compartments/:n/service', async (c) => {
    const tech = c.get('tech');
    TechAuth.requireTechnician(tech);
    const n = compartment(c.req.param('n'));
    const body = await jsonBody(c, serviceBody);
    store.docs.transaction(() => {
      store.bankState.setService(n, body.inService, `tech:${tech.technicianId}`, body.reason);
      if (body.inService) store.bankState.clearFaults(n, `tech:${tech.technicianId}`);
    });
    s.events.emit({ type: body.inService ? 'service_in' : 'service_out', actor: `tech:${tech.technicianId}`, compartment: n, detail: body.reason });
    return c.json({ compartment: n, inService: body.inService });
  });

  app.post('/api/tech/parcels/:parcelId/relocate', async (c) => {
    const tech = c.get('tech');
    TechAuth.requireTechnician(tech);
    const parcelId = parcelIdSchema.parse(c.req.param('parcelId'));
    const body = await jsonBody(c, relocateBody);
    const view = store.ledger.view(parcelId);
    if (!view?.deposit) throw new NotFound(`Parcel ${parcelId} is not in this bank.`, 'parcel_not_found');
    if (body.to > bank.compartmentCount) throw new NotFound(`This bank has compartments 1 to ${bank.compartmentCount}.`, 'no_such_compartment');
    if (view.compartment === body.to) throw new Conflict('same_compartment', `Parcel ${parcelId} is already in compartment ${body.to}.`);
    if (store.ledger.occupancy().has(body.to)) throw new Conflict('compartment_occupied', `Compartment ${body.to} already holds a parcel.`);
    // A courier may be filling it right now: its confirm would put a second parcel there.
    if (s.deposit.pendingCompartments().has(body.to)) {
      throw new Conflict('compartment_occupied', `Compartment ${body.to} is open for a courier's deposit; choose another one.`);
    }
    store.ledger.relocate(parcelId, body.to, `tech:${tech.technicianId}`, body.reason ?? 'relocated by technician');
    s.events.emit({ type: 'relocate', actor: `tech:${tech.technicianId}`, compartment: body.to, parcelId, detail: `from ${view.compartment}` });
    return c.json({ parcelId, from: view.compartment, to: body.to });
  });

  return app;
}

/**
 * `bank.openDoor(n)`, with LockBusy — an open of this door already in flight (a double tap, a
 * pickup, a courier's deposit) — as a 409 `door_busy` instead of a 500. Nothing pulsed and the
 * door is not faulty; the audit event written before stays, as the record of what was asked.
 */
async function openUnlessBusy(bank: LockerBank, n: number): Promise<OpenResult> {
  try {
    return await bank.openDoor(n);
  } catch (err) {
    if (err instanceof LockBusy) {
      throw new Conflict('door_busy', `Compartment ${n} is being opened by another request right now. Wait a few seconds and try again.`, { compartment: n });
    }
    throw err;
  }
}
