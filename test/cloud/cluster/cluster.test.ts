import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PgSyncDb } from '../../../adapters/postgres/pg-sync-db.js';
import { Cluster, ownerOf, parseNodeList } from '../../../cloud/cluster/cluster.js';
import { loadCloudConfig } from '../../../cloud/main.js';
import { freshDatabase } from '../../support/postgres-server.js';

const banks = Array.from({ length: 3000 }, (_, i) => `bank-${i}`);

describe('ownerOf (rendezvous hashing)', () => {
  it('spreads banks evenly over the nodes', () => {
    const count = new Map<string, number>();
    for (const b of banks) count.set(ownerOf(b, ['n1', 'n2', 'n3']), (count.get(ownerOf(b, ['n1', 'n2', 'n3'])) ?? 0) + 1);
    for (const n of ['n1', 'n2', 'n3']) expect(count.get(n)! / banks.length).toBeGreaterThan(0.28);
  });

  it('does not depend on the order of the node list, and a node leaving moves only its own banks', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), { minLength: 2, maxLength: 6 }), fc.string({ minLength: 1, maxLength: 20 }), (nodes, bank) => {
        const owner = ownerOf(bank, nodes);
        expect(ownerOf(bank, [...nodes].reverse())).toBe(owner);
        const gone = nodes.find((n) => n !== owner)!;
        expect(ownerOf(bank, nodes.filter((n) => n !== gone))).toBe(owner);
      }),
    );
  });

  it('refuses an empty live set', () => {
    expect(() => ownerOf('bank-1', [])).toThrow('no node alive');
  });
});

describe('cluster configuration', () => {
  it('parses CUBBY_CLOUD_NODES and names what is wrong', () => {
    expect(parseNodeList('n1=http://10.0.0.1:8000, n2=http://10.0.0.2:8000/')).toEqual([
      { id: 'n1', url: 'http://10.0.0.1:8000' },
      { id: 'n2', url: 'http://10.0.0.2:8000' },
    ]);
    expect(parseNodeList('')).toEqual([]);
    expect(() => parseNodeList('http://10.0.0.1:8000')).toThrow('not name=url');
    expect(() => parseNodeList('n1=http://a:1,n1=http://b:2')).toThrow('duplicate');
    expect(() => parseNodeList('n 1=http://a:1')).toThrow('letters, digits');
  });

  it('several nodes need PostgreSQL and a node id from the list', () => {
    const nodes = 'n1=http://127.0.0.1:8001,n2=http://127.0.0.1:8002';
    expect(() => loadCloudConfig({ CUBBY_CLOUD_NODES: nodes, CUBBY_NODE_ID: 'n1' })).toThrow(/CUBBY_DATABASE_URL/);
    expect(() => loadCloudConfig({ CUBBY_CLOUD_NODES: nodes, CUBBY_NODE_ID: 'n9', CUBBY_DATABASE_URL: 'postgres://x/y' })).toThrow(/CUBBY_NODE_ID/);
    expect(() => loadCloudConfig({ CUBBY_DATABASE_URL: 'mysql://x/y' })).toThrow(/postgres/);
    expect(loadCloudConfig({ CUBBY_CLOUD_NODES: nodes, CUBBY_NODE_ID: 'n2', CUBBY_DATABASE_URL: 'postgres://x/y' })).toMatchObject({ nodeId: 'n2', nodes: [{ id: 'n1' }, { id: 'n2' }], deadAfterMs: 4000 });
  });
});

describe('Cluster liveness (PostgreSQL heartbeats)', () => {
  const dbs: PgSyncDb[] = [];
  afterAll(() => dbs.forEach((d) => d.close()));

  it('a node that stops beating is dropped after deadAfterMs and its banks move; a node that leaves is dropped at once', async () => {
    const url = await freshDatabase('liveness');
    const nodes = parseNodeList('a=http://127.0.0.1:1,b=http://127.0.0.1:2,c=http://127.0.0.1:3');
    const make = (self: string) => {
      const db = new PgSyncDb(url);
      dbs.push(db);
      // No timers: the test beats by hand.
      return new Cluster({ self, nodes, db, deadAfterMs: 600, timers: { setTimeout: () => 0, clearTimeout: () => {} } });
    };
    const [a, b, c] = [make('a'), make('b'), make('c')];
    for (const n of [a, b, c]) n.beat();
    a.beat();
    expect(a.alive()).toEqual(['a', 'b', 'c']);
    const changes: string[][] = [];
    a.onChange(() => changes.push(a.alive()));
    const ofC = banks.filter((bank) => a.owner(bank).id === 'c');
    expect(ofC.length).toBeGreaterThan(500);

    // c stops beating (killed): after deadAfterMs a and b see it gone and agree on the new owners.
    await new Promise((r) => setTimeout(r, 700));
    b.beat();
    a.beat();
    b.beat();
    expect(a.alive()).toEqual(['a', 'b']);
    expect(changes).toEqual([['a', 'b']]);
    for (const bank of banks) expect(a.owner(bank).id).toBe(b.owner(bank).id);
    expect(ofC.every((bank) => a.owner(bank).id !== 'c')).toBe(true);
    expect(banks.filter((bank) => !ofC.includes(bank)).every((bank) => a.owner(bank).id === ownerOf(bank, ['a', 'b', 'c']))).toBe(true);

    // b leaves cleanly: gone at the next beat, no waiting.
    b.stop();
    a.beat();
    expect(a.alive()).toEqual(['a']);
    expect(a.owns('bank-1')).toBe(true);
    void c;
  });
});
