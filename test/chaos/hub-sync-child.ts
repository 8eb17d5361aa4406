/**
 * A lightweight hub in its own process, for the hub+cloud crash test: the hub's real store
 * (`openHubStore`, SQLite `synchronous=FULL`) and sync wiring (`attachSync`) to `CUBBY_CHAOS_CLOUD`,
 * without a board: a small control API plays the people at the locker, and answers only once the
 * fact is committed — what a hub's own 200 means.
 *
 * - POST /deposit/:parcelId?compartment=n&selector=sss  deposit + a sealed hub code, one change
 * - POST /pickup/:parcelId                             the live code's door-open record
 *
 * Run with `node --import tsx test/chaos/hub-sync-child.ts`. Environment: CUBBY_CHAOS_HUB_FILE,
 * CUBBY_CHAOS_CLOUD (URL), CUBBY_CHAOS_BANK, CUBBY_CHAOS_SECRET, CUBBY_CHAOS_SEAL_KEY.
 * Prints `READY {"control":…,"pid":…}`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachSync } from '../../edge/sync-wiring.js';
import { cryptoRandom } from '../../edge/hub-runtime.js';
import { openHubStore } from '../../edge/store/hub-store.js';
import { seal } from '../../shared/crypto/sealed-box.js';
import { liveCode } from '../../shared/ledger/parcel-doc.js';
import { randomId, systemClock } from '../../shared/ports.js';
import { str } from '../../shared/ledger/str.js';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const FAKE_HASH = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const bankId = env('CUBBY_CHAOS_BANK');
const store = openHubStore({ file: env('CUBBY_CHAOS_HUB_FILE'), bankId, clock: systemClock, random: cryptoRandom });
attachSync({ cloudUrl: env('CUBBY_CHAOS_CLOUD'), bankId, secret: env('CUBBY_CHAOS_SECRET'), store, clock: systemClock, backoff: { initialMs: 20, maxMs: 200 }, log: (m) => process.stderr.write(`hub: ${m}\n`) });
const sealKey = env('CUBBY_CHAOS_SEAL_KEY');

const control = createServer((req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const u = new URL(req.url ?? '/', 'http://x');
  const m = /^\/(deposit|pickup)\/([A-Za-z0-9_.-]+)$/.exec(u.pathname);
  if (!m || req.method !== 'POST') return reply(404, { error: 'no such control' });
  const parcelId = m[2]!;
  try {
    if (m[1] === 'deposit') {
      const selector = u.searchParams.get('selector') ?? '000';
      const codeId = store.ledger.depositAndIssue(
        parcelId,
        { depositId: `d-${parcelId}`, compartment: Number(u.searchParams.get('compartment') ?? 1), courierId: 'courier-1', size: 'S' },
        { selector, hash: FAKE_HASH, issuer: 'hub', sealed: seal(`${selector}123456`, sealKey) },
      );
      return reply(200, { codeId });
    }
    const doc = store.ledger.doc(parcelId);
    const live = doc && liveCode(doc, systemClock.now());
    if (!live) return reply(409, { error: 'no live code' });
    const attempt = randomId(cryptoRandom, 8);
    store.ledger.markUsed(parcelId, str(live.codeId), attempt, doc.deposit!.compartment);
    return reply(200, { codeId: str(live.codeId), attempt });
  } catch (err) {
    return reply(409, { error: (err as Error).message });
  }
});
control.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${JSON.stringify({ control: `http://127.0.0.1:${(control.address() as AddressInfo).port}`, pid: process.pid })}\n`);
});
