/**
 * "Proof under fire", cloud part (sync): adversarial input on the cloud's WebSocket endpoint
 * `/v1/sync`, from a client that knows bank-1's device secret (so it gets past the hello and
 * can MAC its frames) and from one that does not.
 *
 * - before welcome: junk text, binary, hellos with wrong fields, wrong secrets, unknown banks;
 * - after welcome, fast-check scripts of 1-4 frames mixing valid probes with: random bytes,
 *   truncated and bit-flipped frames, replayed and skipped sequence numbers, frames sealed for
 *   the wrong direction, well-MACed frames with broken bodies, acknowledgements outside a reply,
 *   undecodable Automerge messages, and well-formed sync messages for documents bank-1 may not
 *   write (another bank's parcel, audit and state documents, its own config document, a
 *   carrier's announcement, ids that are no documents);
 *
 * Every refusal must be an `{type:'error', code}` of the protocol (never `internal_error`) and a
 * close with 1008, within 5 s; no document of either bank changes; and bank-2's hub, connected
 * all along, keeps syncing, as does bank-1's real hub afterwards.
 *
 * `CUBBY_FUZZ_SEED=<n>`, `CUBBY_CLOUD_FUZZ_RUNS=<runs>` (test/chaos/README.md).
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { configDocId } from '../../shared/ledger/bank-config.js';
import { parcelDocId } from '../../shared/ledger/parcel-ledger.js';
import { primed } from '../../shared/sync/shared-heads.js';
import type { SyncEntry } from '../../shared/sync/sync-engine.js';
import { deriveSessionKey, sealFrame, type FrameBody } from '../../shared/sync/wire.js';
import { converged } from '../sync/harness.js';
import { cloudServer, testHub, type CloudServer, type TestHub } from '../sync/ws-fixture.js';
import { DEMO } from '../../cloud/demo-seed.js';
import { weirdString } from './arbitraries.js';

const SEED = Number(process.env.CUBBY_FUZZ_SEED ?? 20260611);
const RUNS = Math.max(10, Math.round(Number(process.env.CUBBY_CLOUD_FUZZ_RUNS ?? 100) / 2));
const SECRET = 'bank-1-device-secret';
const PROTOCOL_CODES = new Set(['bad_credentials', 'protocol_error', 'replayed_frame', 'bad_mac', 'malformed_frame', 'frame_too_large', 'malformed_sync_message', 'forbidden_document', 'read_only_document']);

let cs: CloudServer;
let bank2: TestHub;
const tally = new Map<string, number>();
const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);

beforeAll(async () => {
  cs = await cloudServer({ seed: 7 });
  // Parcels at both banks, announced as a carrier would.
  for (const [parcelId, bankId] of [['P-1', 'bank-1'], ['P-2', 'bank-2']] as const) {
    const res = await cs.cloud.app.request('/v1/parcels', {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ parcelId, bankId, carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } }),
    });
    expect(res.status).toBe(201);
  }
  bank2 = testHub('bank-2', { url: cs.url, clock: cs.cloud.clock, seed: 2 });
  bank2.client.start();
  expect(await bank2.client.syncNow(10_000)).toBe(true);
});
afterAll(async () => {
  console.log(`cloud sync fuzz: seed ${SEED}: ${[...tally].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  await bank2?.close();
  await cs?.close();
});

/** Heads of every document of both banks at the cloud. */
function snapshot(): string {
  const out: Record<string, string[]> = {};
  for (const bankId of ['bank-1', 'bank-2']) {
    const docs = cs.cloud.replicas.get(bankId).docs;
    for (const id of [...docs.ids()].sort()) out[`${bankId}/${id}`] = [...A.getHeads(docs.get(id)!)].sort();
  }
  return JSON.stringify(out);
}

interface Conn {
  ws: WebSocket;
  texts: string[];
  closed: Promise<{ code: number; reason: string }>;
}

function connect(): Promise<Conn> {
  const ws = new WebSocket(`${cs.url.replace('http', 'ws')}/v1/sync`);
  const texts: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) texts.push(Buffer.from(data as Buffer).toString('utf8'));
  });
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, texts, closed }));
    ws.once('error', reject);
  });
}

const hex = (n: number) => randomBytes(n).toString('hex');

/** Authenticated as bank-1: the welcome and the session key. */
async function session(): Promise<Conn & { key: Buffer }> {
  const c = await connect();
  const clientNonce = hex(16);
  c.ws.send(JSON.stringify({ type: 'hello', v: 1, bankId: 'bank-1', secret: SECRET, clientNonce, epoch: hex(8) }));
  const until = Date.now() + 5000;
  while (!c.texts.some((t) => t.includes('"welcome"'))) {
    if (Date.now() > until) throw new Error(`no welcome: ${c.texts.join(' ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const welcome = JSON.parse(c.texts.find((t) => t.includes('"welcome"'))!) as { serverNonce: string };
  return { ...c, key: deriveSessionKey(SECRET, clientNonce, welcome.serverNonce) };
}

async function waitClosed(c: Conn, what: string): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([c.closed, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`not refused within 5 s: ${what}`)), 5000)))]);
  clearTimeout(timer);
  return r;
}

// ---- frames ---------------------------------------------------------------------------------

/** A frame with a valid MAC over an arbitrary payload (kind 1: plain body). */
function macOnly(key: Buffer, seq: number, payload: Uint8Array, dir = 0x63): Uint8Array {
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  const mac = createHmac('sha256', key).update(Buffer.from([dir, 1])).update(seqBytes).update(payload).digest();
  return Buffer.concat([Buffer.from([1]), seqBytes, mac, payload]);
}

/** A sync message carrying `doc`'s changes since `since` (what a hub would send). */
function messageFor(doc: A.Doc<unknown>, since: A.Heads = []): Uint8Array {
  const [, msg] = A.generateSyncMessage(doc, primed(since));
  if (!msg) throw new Error('no message');
  return msg;
}

/** Documents bank-1's hub may not write, as well-formed sync entries. */
function forbiddenEntry(kind: number): SyncEntry {
  const actor = hex(16);
  const cloud1 = cs.cloud.replicas.get('bank-1').docs;
  switch (kind) {
    case 0: {
      // Another bank's parcel, claimed as bank-2's.
      const d = A.from({ schema: 1, parcelId: 'P-2', bankId: 'bank-2', moves: {}, codes: {}, exceptions: {} }, { actor });
      return { docId: parcelDocId('P-2'), message: messageFor(d) };
    }
    case 1: {
      // A parcel the registry puts at bank-2, written as if it were bank-1's.
      const d = A.from({ schema: 1, parcelId: 'P-2', bankId: 'bank-1', moves: {}, codes: {}, exceptions: {} }, { actor });
      return { docId: parcelDocId('P-2'), message: messageFor(d) };
    }
    case 2: {
      // bank-1's own config, changed (cloud-authored, read-only for the hub).
      const base = cloud1.get(configDocId('bank-1'))!;
      const d = A.change(A.clone(base, { actor }), (x: any) => {
        x.couriers.evil = { name: 'Evil', hash: new A.ImmutableString('$argon2id$x') };
      });
      return { docId: configDocId('bank-1'), message: messageFor(d, A.getHeads(base)) };
    }
    case 3: {
      // The carrier's announcement of bank-1's own parcel, rewritten.
      const base = cloud1.get(parcelDocId('P-1'))!;
      const d = A.change(A.clone(base, { actor }), (x: any) => {
        x.announcement.trackingNumber = 'FORGED';
      });
      return { docId: parcelDocId('P-1'), message: messageFor(d, A.getHeads(base)) };
    }
    case 4:
      return { docId: 'bankstate:bank-2', message: messageFor(A.from({ schema: 1, bankId: 'bank-2' }, { actor })) };
    case 5:
      return { docId: 'audit:bank-2:2026-01-05', message: messageFor(A.from({ schema: 1, bankId: 'bank-2', day: '2026-01-05', events: {} }, { actor })) };
    case 6:
      return { docId: 'audit:bank-1:not-a-day', message: messageFor(A.from({ schema: 1, bankId: 'bank-1', events: {} }, { actor })) };
    case 7:
      return { docId: 'parcel:../etc', message: messageFor(A.from({ schema: 1, parcelId: '../etc', bankId: 'bank-1' }, { actor })) };
    case 8:
      return { docId: 'config:bank-2', message: messageFor(A.from({ schema: 1, bankId: 'bank-2' }, { actor })) };
    default: {
      // A new bank-1 parcel whose document says it is another parcel.
      const d = A.from({ schema: 1, parcelId: 'P-other', bankId: 'bank-1', moves: {}, codes: {}, exceptions: {} }, { actor });
      return { docId: parcelDocId('P-9'), message: messageFor(d) };
    }
  }
}

type Step =
  | { t: 'probe' }
  | { t: 'garbage'; bytes: Uint8Array }
  | { t: 'truncate'; at: number }
  | { t: 'flip'; at: number; bit: number }
  | { t: 'replay' }
  | { t: 'skip'; by: number }
  | { t: 'wrongDirection' }
  | { t: 'badBody'; bytes: Uint8Array }
  | { t: 'strayAcks' }
  | { t: 'badMessage'; bytes: Uint8Array; docId: string }
  | { t: 'forbidden'; kind: number }
  | { t: 'duplicateDoc' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Step>({ t: 'probe' }) },
  fc.uint8Array({ maxLength: 120 }).map((bytes): Step => ({ t: 'garbage', bytes })),
  fc.nat({ max: 60 }).map((at): Step => ({ t: 'truncate', at })),
  fc.tuple(fc.nat({ max: 60 }), fc.nat({ max: 7 })).map(([at, bit]): Step => ({ t: 'flip', at, bit })),
  fc.constant<Step>({ t: 'replay' }),
  fc.integer({ min: 1, max: 1000 }).map((by): Step => ({ t: 'skip', by })),
  fc.constant<Step>({ t: 'wrongDirection' }),
  fc.uint8Array({ maxLength: 60 }).map((bytes): Step => ({ t: 'badBody', bytes })),
  fc.constant<Step>({ t: 'strayAcks' }),
  fc.tuple(fc.uint8Array({ maxLength: 80 }), fc.constantFrom('parcel:P-1', 'parcel:P-new', 'bankstate:bank-1', 'audit:bank-1:2026-01-05')).map(([bytes, docId]): Step => ({ t: 'badMessage', bytes, docId })),
  { weight: 3, arbitrary: fc.nat({ max: 9 }).map((kind): Step => ({ t: 'forbidden', kind })) },
  fc.constant<Step>({ t: 'duplicateDoc' }),
);

const probe: FrameBody = { wantsReply: true, ackSeq: 0, acks: [], entries: [] };

/** Send the script; returns whether a frame the server must refuse was sent. */
function play(c: Conn & { key: Buffer }, script: Step[]): { refusable: boolean; first?: string } {
  let seq = 0;
  let last: Uint8Array | undefined;
  const valid = (body: FrameBody) => (last = sealFrame(c.key, 'client', ++seq, body));
  for (const s of script) {
    let frame: Uint8Array;
    switch (s.t) {
      case 'probe':
        frame = valid(probe);
        c.ws.send(frame);
        continue;
      case 'garbage':
        frame = s.bytes;
        break;
      case 'truncate': {
        const f = sealFrame(c.key, 'client', seq + 1, probe);
        frame = f.subarray(0, Math.min(s.at, f.length - 1));
        break;
      }
      case 'flip': {
        const f = Buffer.from(sealFrame(c.key, 'client', seq + 1, probe));
        f[s.at % f.length]! ^= 1 << s.bit;
        frame = f;
        break;
      }
      case 'replay':
        frame = last ?? sealFrame(c.key, 'client', seq, probe); // seq 0 when nothing was sent
        break;
      case 'skip':
        frame = sealFrame(c.key, 'client', seq + 1 + s.by, probe);
        break;
      case 'wrongDirection':
        frame = sealFrame(c.key, 'server', seq + 1, probe);
        break;
      case 'badBody':
        frame = macOnly(c.key, seq + 1, s.bytes.length >= 2 ? s.bytes : Uint8Array.of(9, 9));
        break;
      case 'strayAcks':
        // version 1, no flags, ackSeq 0, one ack (1), no entries: acknowledgements outside a reply.
        frame = macOnly(c.key, seq + 1, Uint8Array.of(1, 0, 0, 1, 1, 0));
        break;
      case 'badMessage':
        frame = sealFrame(c.key, 'client', seq + 1, { ...probe, entries: [{ docId: s.docId, message: s.bytes }] });
        break;
      case 'forbidden':
        frame = sealFrame(c.key, 'client', seq + 1, { ...probe, entries: [forbiddenEntry(s.kind)] });
        break;
      case 'duplicateDoc': {
        const e = forbiddenEntry(9);
        frame = sealFrame(c.key, 'client', seq + 1, { ...probe, entries: [e, e] });
        break;
      }
    }
    c.ws.send(frame);
    return { refusable: true, first: s.t };
  }
  return { refusable: false };
}

describe('cloud sync endpoint under adversarial input', () => {
  test('junk before the welcome is refused with an error and a 1008 close', { timeout: 60_000 }, async () => {
    const hello = (over: Record<string, unknown>) => JSON.stringify({ type: 'hello', v: 1, bankId: 'bank-1', secret: SECRET, clientNonce: hex(16), epoch: hex(8), ...over });
    const first = fc.oneof(
      weirdString.map((s) => ({ text: s })),
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ bin: b })),
      fc.constantFrom(
        { text: hello({ secret: 'wrong-secret' }) },
        { text: hello({ bankId: 'bank-9' }) },
        { text: hello({ bankId: 'bank-2' }) },
        { text: hello({ bankId: '../bank-1' }) },
        { text: hello({ v: 2 }) },
        { text: hello({ clientNonce: 'short' }) },
        { text: hello({ epoch: 'zz' }) },
        { text: hello({ type: 'welcome' }) },
        { text: hello({ secret: '' }) },
        { text: hello({ secret: 'x'.repeat(300) }) },
        { text: hello({ extra: 'x'.repeat(5000) }) },
        { text: '{"type":"hello"' },
        { text: 'null' },
      ),
    );
    await fc.assert(
      fc.asyncProperty(first, async (m) => {
        const before = snapshot();
        const c = await connect();
        if ('text' in m) c.ws.send(m.text);
        else c.ws.send(m.bin);
        const closed = await waitClosed(c, JSON.stringify(m).slice(0, 200));
        expect(closed.code).toBe(1008);
        const err = JSON.parse(c.texts.at(-1)!) as { type: string; code: string };
        expect(err.type).toBe('error');
        expect(['protocol_error', 'bad_credentials']).toContain(err.code);
        count(`pre-hello ${err.code}`);
        expect(snapshot()).toBe(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('bad frames after the welcome are refused, nothing is applied, others keep syncing', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (script) => {
        const before = snapshot();
        const c = await session();
        const { refusable, first } = play(c, script);
        if (!refusable) {
          c.ws.close(1000);
          await waitClosed(c, 'closing');
          count('valid script');
        } else {
          const closed = await waitClosed(c, `${first} in ${JSON.stringify(script.map((s) => s.t))}`);
          const err = c.texts.map((t) => JSON.parse(t) as { type: string; code?: string }).find((m) => m.type === 'error');
          expect(err, `no error message for ${first}`).toBeDefined();
          expect(PROTOCOL_CODES.has(err!.code!), `${first} answered ${err!.code}`).toBe(true);
          expect(closed.code).toBe(1008);
          count(`${first} -> ${err!.code}`);
        }
        expect(snapshot(), `the cloud changed after ${JSON.stringify(script.map((s) => s.t))}`).toBe(before);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
    // bank-2's hub was connected all along and still syncs both ways.
    bank2.deposit('P-2', 3, '222');
    expect(await bank2.client.syncNow(10_000)).toBe(true);
    expect(cs.cloud.replicas.get('bank-2').ledger.doc('P-2')?.deposit?.compartment).toBe(3);
    // And bank-1's real hub connects and syncs after all that.
    const bank1 = testHub('bank-1', { url: cs.url, clock: cs.cloud.clock, seed: 1 });
    try {
      bank1.client.start();
      expect(await bank1.client.syncNow(10_000)).toBe(true);
      bank1.deposit('P-1', 1, '111');
      expect(await bank1.client.syncNow(10_000)).toBe(true);
      expect(converged(bank1.docs, cs.cloud.replicas.get('bank-1').docs)).toBe(true);
      expect(bank1.events.filter((e) => e.type === 'refused')).toEqual([]);
    } finally {
      await bank1.close();
    }
  });

  test('a text frame after the welcome ends the session without applying anything', async () => {
    const before = snapshot();
    const c = await session();
    c.ws.send(JSON.stringify({ type: 'hello', v: 1 }));
    const closed = await waitClosed(c, 'text after welcome');
    expect(closed.code).toBe(1000);
    expect(snapshot()).toBe(before);
  });
});
