/**
 * Every cloud store port on a real PostgreSQL server (test/support/postgres-server.ts starts
 * one per run): the same contracts as the SQLite adapters, plus what only several nodes on one
 * database can break — concurrent claims (`FOR UPDATE SKIP LOCKED`), chunks appended by
 * another node during a compaction, and change notifications between nodes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compile, PgSyncDb } from '../../../adapters/postgres/pg-sync-db.js';
import { BankDocStorage } from '../../../adapters/sqlite/bank-doc-storage.js';
import { SqliteSyncStateStore } from '../../../adapters/sqlite/sync-state-store.js';
import { OutboxStore } from '../../../cloud/notify/outbox/outbox-store.js';
import { DOC_CHANNEL, openCloudStore } from '../../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../../shared/codes/hasher.js';
import { DocSet } from '../../../shared/ledger/doc-set.js';
import { cloudStoreContract, openedAt, outboxRow } from '../../contracts/cloud-store.contract.js';
import { docStorageContract } from '../../contracts/doc-storage.contract.js';
import { syncStateContract } from '../../contracts/sync-state-store.contract.js';
import { freshDatabase } from '../../support/postgres-server.js';

// One database per contract case would cost a CREATE DATABASE each; instead each case gets
// fresh bank ids / peers in a database of this file, and the cloud-store cases one database each
// from a pool created up front.
const shared = await freshDatabase('stores');
const pool = await Promise.all(Array.from({ length: 8 }, () => freshDatabase('cloud')));
const opts = { hashParams: TEST_ARGON2 };
const open: PgSyncDb[] = [];
const connect = (url = shared) => {
  const db = new PgSyncDb(url);
  open.push(db);
  return db;
};
afterAll(() => {
  for (const db of open) db.close();
});

/** Two nodes' connections to the shared database, its document table created. */
function twoNodes(): { a: PgSyncDb; b: PgSyncDb } {
  const a = connect();
  BankDocStorage.migrate(a);
  return { a, b: connect() };
}

let bankSeq = 0;
docStorageContract('BankDocStorage (PostgreSQL)', () => {
  const bank = `bank-${++bankSeq}`;
  let db = connect();
  BankDocStorage.migrate(db);
  new BankDocStorage(db, `${bank}-other`).append('x', new Uint8Array([9, 9]));
  return {
    storage: new BankDocStorage(db, bank),
    reopen() {
      db.close();
      db = connect();
      return new BankDocStorage(db, bank);
    },
  };
});

let peerSeq = 0;
syncStateContract('SqliteSyncStateStore over PostgreSQL', () => {
  // Each case its own table namespace would need a database; peers are unique instead, and the
  // epoch case below needs an empty store, so it gets a database from the pool.
  const url = pool[7 - (peerSeq++ % 2)]!;
  let db = connect(url);
  const store = new SqliteSyncStateStore(db);
  store.clear('p');
  store.clear('q');
  store.clear('hub');
  db.prepare('DELETE FROM sync_states').run();
  return {
    store,
    reopen() {
      db.close();
      db = connect(url);
      return new SqliteSyncStateStore(db);
    },
  };
});

let poolIndex = 0;
cloudStoreContract('PostgreSQL', () => openedAt(pool[poolIndex++]!));

describe('PostgreSQL with several cloud nodes', () => {
  it('a node claiming while another holds rows in an open transaction skips them instead of waiting (FOR UPDATE SKIP LOCKED)', () => {
    const url = pool[6]!;
    const a = openCloudStore(url, { ...opts, node: 'a' });
    const b = openCloudStore(url, { ...opts, node: 'b' });
    try {
      const oa = new OutboxStore(a.db, 'a');
      const ob = new OutboxStore(b.db, 'b');
      for (let i = 0; i < 6; i++) oa.insert(outboxRow({ id: `s${i}`, createdAt: 1000 + i }), `skip-${i}`);
      let inner: string[] = [];
      // Node a's claim transaction is still open (its row locks held) when node b claims.
      // Without SKIP LOCKED, b would block on a's locks — and this thread with it.
      const outer = a.db
        .transaction(() => {
          const mine = oa.claimDue(5000, 3).map((r) => r.id);
          inner = ob.claimDue(5000, 10).map((r) => r.id);
          return mine;
        })
        .immediate();
      expect(outer).toEqual(['s0', 's1', 's2']);
      expect(inner).toEqual(['s3', 's4', 's5']);
      expect(oa.claimDue(5000, 10)).toEqual([]);
      const rows = oa.forParcel('p1');
      expect(rows.map((r) => [r.id, r.status, r.attempts])).toEqual(rows.map((r) => [r.id, 'sending', 1]));
      expect(a.db.prepare("SELECT claimed_by, COUNT(*) AS n FROM notify_outbox GROUP BY claimed_by ORDER BY claimed_by").all()).toEqual([
        { claimed_by: 'a', n: 3 },
        { claimed_by: 'b', n: 3 },
      ]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a compaction keeps a chunk another node appended after it loaded, even one with a lower seq committed later', () => {
    const { a, b } = twoNodes();
    const sa = new BankDocStorage(a, 'bank-compact');
    const sb = new BankDocStorage(b, 'bank-compact');
    sa.append('d', new Uint8Array([1]));
    expect(sa.load('d')).toHaveLength(1);
    // b takes a seq inside an open transaction; a then appends (higher seq) and compacts; b commits last.
    b.transaction(() => {
      sb.append('d', new Uint8Array([2]));
      sa.append('d', new Uint8Array([3]));
      sa.replace('d', new Uint8Array([1, 3]));
    })();
    const chunks = sa.load('d')!.map((c) => [...c]);
    expect(chunks).toHaveLength(2);
    expect(chunks).toContainEqual([1, 3]);
    expect(chunks).toContainEqual([2]);
  });

  it('loadUnseen gives only the chunks another node wrote since, even one with a lower seq committed later', () => {
    const { a, b } = twoNodes();
    const sa = new BankDocStorage(a, 'bank-unseen');
    const sb = new BankDocStorage(b, 'bank-unseen');
    sa.append('d', new Uint8Array([1]));
    expect(sb.load('d')!.map((c) => [...c])).toEqual([[1]]);
    expect(sb.loadUnseen!('d')).toEqual([]);
    sb.append('d', new Uint8Array([2])); // its own write: seen
    expect(sb.loadUnseen!('d')).toEqual([]);
    // a takes a seq inside an open transaction; b's next write gets a higher one and commits first.
    a.transaction(() => {
      sa.append('d', new Uint8Array([3]));
      sb.append('d', new Uint8Array([4]));
      expect(sb.loadUnseen!('d')).toEqual([]); // a's write is not committed yet
    })();
    expect(sb.loadUnseen!('d').map((c) => [...c])).toEqual([[3]]);
    expect(sb.loadUnseen!('d')).toEqual([]);
    // A compaction by a: the snapshot is new to b, the chunks it replaced are gone.
    sa.load('d');
    sa.replace('d', new Uint8Array([1, 2, 3, 4]));
    expect(sb.loadUnseen!('d').map((c) => [...c])).toEqual([[1, 2, 3, 4]]);
    expect(new BankDocStorage(b, 'bank-unseen').loadUnseen!('nothing')).toEqual([]);
  });

  it('DocSet.refresh merges only what another node added, and nothing when it added nothing', () => {
    const { a, b } = twoNodes();
    const da = new DocSet(new BankDocStorage(a, 'bank-refresh'), 'aaaa');
    da.create<{ n: Record<string, number> }>('doc', { n: {} });
    da.change<{ n: Record<string, number> }>('doc', 'one', (d) => void (d.n.a = 1));
    const storageB = new BankDocStorage(b, 'bank-refresh');
    const db = new DocSet(storageB, 'bbbb');
    expect(db.refresh('doc')).toBeUndefined(); // loaded just now: nothing new
    da.change<{ n: Record<string, number> }>('doc', 'two', (d) => void (d.n.b = 2));
    db.change<{ n: Record<string, number> }>('doc', 'three', (d) => void (d.n.c = 3));
    let loaded = 0;
    const load = storageB.load.bind(storageB);
    storageB.load = (id) => (loaded++, load(id));
    const merged = db.refresh<{ n: Record<string, number> }>('doc');
    expect(merged?.n).toEqual({ a: 1, b: 2, c: 3 });
    expect(loaded).toBe(0); // only the unseen chunk was read
    expect(db.refresh('doc')).toBeUndefined();
    // Everything b holds is what the database holds.
    expect(new DocSet(new BankDocStorage(b, 'bank-refresh'), 'cccc').get<{ n: object }>('doc')?.n).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('a node writing a snapshot of a document it never loaded (it created it too, not knowing) keeps the other node’s chunks', () => {
    const { a, b } = twoNodes();
    const sa = new BankDocStorage(a, 'bank-create');
    const sb = new BankDocStorage(b, 'bank-create');
    sa.load('audit'); // loaded before the other node created it: nothing there yet
    sb.replace('audit', new Uint8Array([1])); // b creates it and adds to it
    sb.append('audit', new Uint8Array([2]));
    sa.replace('audit', new Uint8Array([9])); // a creates the same document (its notification had not arrived)
    const chunks = new BankDocStorage(a, 'bank-create').load('audit')!.map((c) => [...c]);
    expect(chunks).toHaveLength(3);
    expect(chunks).toEqual(expect.arrayContaining([[1], [2], [9]]));
  });

  it('announces committed chunks to the other nodes, with the writer’s name, and never a rolled-back one', async () => {
    const url = pool[5]!;
    const a = openCloudStore(url, { ...opts, node: 'a' });
    const b = openCloudStore(url, { ...opts, node: 'b' });
    try {
      const heard: unknown[] = [];
      (b.db as PgSyncDb).onNotification((channel, payload) => channel === DOC_CHANNEL && heard.push(JSON.parse(payload)));
      const sa = new BankDocStorage(a.db, 'bank-n');
      sa.append('parcel:x', new Uint8Array([1]));
      expect(() =>
        sa.transaction(() => {
          sa.append('parcel:y', new Uint8Array([1]));
          throw new Error('rolled back');
        }),
      ).toThrow();
      sa.append('parcel:z', new Uint8Array([1]));
      const deadline = Date.now() + 5000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(heard).toEqual([
        { bank: 'bank-n', doc: 'parcel:x', by: 'cubby:a' },
        { bank: 'bank-n', doc: 'parcel:z', by: 'cubby:a' },
      ]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('statements are prepared once per connection, and prepared again when another node changes the table under them', () => {
    const a = connect();
    const b = connect();
    a.exec('DROP TABLE IF EXISTS prep_t; CREATE TABLE prep_t (id INTEGER PRIMARY KEY, v TEXT)');
    a.prepare('INSERT INTO prep_t (id, v) VALUES (?, ?)').run(1, 'one');
    const all = a.prepare('SELECT * FROM prep_t WHERE id = ?');
    expect(all.get(1)).toEqual({ id: 1, v: 'one' });
    const named = (b.prepare("SELECT count(*) AS n FROM pg_prepared_statements").get() as { n: number }).n;
    expect(named).toBe(1); // b: only this very statement
    expect((a.prepare('SELECT count(*) AS n FROM pg_prepared_statements').get() as { n: number }).n).toBe(3); // the INSERT, the SELECT and this one; DDL is not prepared
    // Another node migrates the table: a's cached plan of SELECT * no longer fits.
    b.exec('ALTER TABLE prep_t ADD COLUMN w TEXT');
    expect(all.get(1)).toEqual({ id: 1, v: 'one', w: null });
    // Inside a transaction the refusal reaches the caller once; the next call works.
    b.exec('ALTER TABLE prep_t ADD COLUMN x TEXT');
    expect(() => a.transaction(() => all.get(1))()).toThrow(/cached plan/);
    expect(all.get(1)).toEqual({ id: 1, v: 'one', w: null, x: null });
  });

  it('errors carry SQLSTATE, leave the connection usable, and parameters are checked', () => {
    const db = connect();
    db.exec('CREATE TABLE IF NOT EXISTS uniq (k TEXT PRIMARY KEY)');
    db.prepare('INSERT INTO uniq (k) VALUES (?) ON CONFLICT DO NOTHING').run('a');
    expect(() => db.prepare('INSERT INTO uniq (k) VALUES (?)').run('a')).toThrow(expect.objectContaining({ code: '23505' }));
    expect(() => db.prepare('SELECT * FROM uniq WHERE k = ?').get()).toThrow('expected 1 parameters');
    expect(db.prepare("SELECT k, '?' AS q FROM uniq WHERE k = @k").get({ k: 'a' })).toEqual({ k: 'a', q: '?' });
    expect(compile("SELECT '@x', ? , \"?\"").text).toBe("SELECT '@x', $1 , \"?\"");
  });
});
