/**
 * Several cloud nodes: a request about a bank is passed on to the node serving it
 * (cloud/cluster/forward-to-owner.ts). Two nodes' apps over one store here — `n2` on a real
 * HTTP port, `n1` driven with `app.request()` — so what is checked is the routing: who served
 * each request (`x-cubby-served-by`), that the owner's answer comes back unchanged, that a
 * request is passed on at most once, and that a node serves the request itself when the owner
 * does not answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createCloudApp } from '../../../cloud/app.js';
import { FORWARDED_HEADER, SERVED_BY_HEADER, type OwnerLookup } from '../../../cloud/cluster/forward-to-owner.js';
import { DEMO } from '../../../cloud/demo-seed.js';
import { testCloud, type TestCloud } from '../cloud-fixture.js';

const CARRIER = { authorization: `Bearer ${DEMO.carrierToken}`, 'content-type': 'application/json' };
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}`, 'content-type': 'application/json' };
const announce = (parcelId: string, bankId: string) =>
  JSON.stringify({ parcelId, bankId, carrier: DEMO.carrierName, trackingNumber: `T-${parcelId}`, size: 'S', recipient: { name: 'R', email: 'r@example.com' } });

let cloud: TestCloud | undefined;
let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server?.listening ? server.close(() => r()) : r()));
  cloud?.close();
});

/** n1 (in-process) and n2 (on a port); bank-1 belongs to n2, bank-2 to n1. */
async function twoNodes(logs: string[] = []) {
  cloud = await testCloud();
  const c = cloud;
  const nodes = { n1: { id: 'n1', url: 'http://127.0.0.1:1' }, n2: { id: 'n2', url: '' } };
  const lookup = (self: 'n1' | 'n2'): OwnerLookup => ({ self: nodes[self], owner: (bankId) => (bankId === 'bank-1' ? nodes.n2 : nodes.n1) });
  const deps = { store: c.store, replicas: c.replicas, clock: c.clock, random: c.random, keys: c.keys };
  const n2 = createCloudApp({ ...deps, cluster: lookup('n2') });
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: n2.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server;
  });
  nodes.n2.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const n1 = createCloudApp({ ...deps, cluster: lookup('n1'), clusterLog: (m) => logs.push(m) });
  return { n1, stopN2: () => new Promise<void>((r) => server!.close(() => r())) };
}

describe('a request about a bank goes to the node serving it', () => {
  it('passes announcements, reads, revokes and bank requests on to the owner, and relays its answer as it is', async () => {
    const { n1 } = await twoNodes();
    const created = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: announce('P-FWD', 'bank-1') });
    expect([created.status, created.headers.get(SERVED_BY_HEADER)]).toEqual([201, 'n2']);
    expect(((await created.json()) as { parcelId: string }).parcelId).toBe('P-FWD');

    const read = await n1.request('/v1/parcels/P-FWD', { headers: CARRIER });
    expect([read.status, read.headers.get(SERVED_BY_HEADER)]).toEqual([200, 'n2']); // the bank found through the parcel registry
    const bank = await n1.request('/v1/banks/bank-1', { headers: SUPPORT });
    expect([bank.status, bank.headers.get(SERVED_BY_HEADER)]).toEqual([200, 'n2']);
    // The owner checks the token: a wrong one is refused there, with API.md's error.
    const refused = await n1.request('/v1/parcels/P-FWD/revoke', { method: 'POST', headers: { ...SUPPORT, authorization: 'Bearer nope' }, body: '{}' });
    expect([refused.status, refused.headers.get(SERVED_BY_HEADER), ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([401, 'n2', 'invalid_token']);
    // Errors of the owner's validation come back as they are too.
    const bad = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: JSON.stringify({ bankId: 'bank-1' }) });
    expect([bad.status, bad.headers.get(SERVED_BY_HEADER)]).toEqual([400, 'n2']);

    // Its own banks, unknown parcels and malformed bodies are served where they arrive.
    const own = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: announce('P-OWN', 'bank-2') });
    expect([own.status, own.headers.get(SERVED_BY_HEADER)]).toEqual([201, 'n1']);
    const unknown = await n1.request('/v1/parcels/P-NOPE', { headers: CARRIER });
    expect([unknown.status, unknown.headers.get(SERVED_BY_HEADER)]).toEqual([404, 'n1']);
    const garbage = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: '{not json' });
    expect([garbage.status, garbage.headers.get(SERVED_BY_HEADER)]).toEqual([400, 'n1']);
  });

  it('an owner that takes the connection and never answers: 502 node_unavailable, not served a second time here', async () => {
    const logs: string[] = [];
    cloud = await testCloud();
    const c = cloud;
    // A node that accepts connections and requests but never answers (hung, or dying mid-request).
    const hung = createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
    const n2 = { id: 'n2', url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}` };
    const n1 = createCloudApp({
      store: c.store,
      replicas: c.replicas,
      clock: c.clock,
      random: c.random,
      keys: c.keys,
      cluster: { self: { id: 'n1', url: 'http://127.0.0.1:1' }, owner: () => n2 },
      clusterTimeoutMs: 300,
      clusterLog: (m) => logs.push(m),
    });
    try {
      const res = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: announce('P-HUNG', 'bank-1') });
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([502, 'node_unavailable']);
      expect(c.store.parcels.bankOf('P-HUNG')).toBeUndefined();
      expect(logs).toEqual(['cluster: node n2 did not answer a request about bank-1 (TimeoutError)']);
    } finally {
      hung.closeAllConnections();
      await new Promise<void>((r) => hung.close(() => r()));
    }
  });

  it('passes a request on at most once, and serves it here when the owner refuses the connection', async () => {
    const logs: string[] = [];
    const { n1, stopN2 } = await twoNodes(logs);
    const once = await n1.request('/v1/banks/bank-1', { headers: { ...SUPPORT, [FORWARDED_HEADER]: 'n3' } });
    expect([once.status, once.headers.get(SERVED_BY_HEADER)]).toEqual([200, 'n1']);

    await stopN2();
    const created = await n1.request('/v1/parcels', { method: 'POST', headers: CARRIER, body: announce('P-DOWN', 'bank-1') });
    expect([created.status, created.headers.get(SERVED_BY_HEADER)]).toEqual([201, 'n1']);
    expect(cloud!.store.parcels.bankOf('P-DOWN')).toBe('bank-1');
    expect(logs).toEqual(['cluster: node n2 refused a request about bank-1; serving it here']);
  });
});
