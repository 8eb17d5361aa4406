import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BankDocStorage } from '../../adapters/sqlite/bank-doc-storage.js';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { MemoryDocStorage } from '../../shared/storage/doc-storage.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import { MemorySyncStateStore } from '../../shared/sync/sync-state-store.js';
import { docStorageContract } from '../contracts/doc-storage.contract.js';
import { syncStateContract } from '../contracts/sync-state-store.contract.js';

const files: string[] = [];
function tempFile(): string {
  const f = join(tmpdir(), `cubby-sync-${randomBytes(6).toString('hex')}.sqlite`);
  files.push(f);
  return f;
}
afterEach(() => {
  for (const f of files.splice(0)) for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true });
});

docStorageContract('BankDocStorage (one bank of a shared file)', () => {
  const file = tempFile();
  let db = openDatabase(file);
  BankDocStorage.migrate(db);
  // Another bank's rows in the same table must never show.
  new BankDocStorage(db, 'other-bank').append('x', new Uint8Array([9, 9]));
  let storage = new BankDocStorage(db, 'bank-1');
  return {
    storage,
    reopen() {
      db.close();
      db = openDatabase(file);
      storage = new BankDocStorage(db, 'bank-1');
      return storage;
    },
    destroy() {
      if (db.open) db.close();
    },
  };
});

docStorageContract('ObservedDocStorage (over memory)', () => {
  const backing = new Map<string, Uint8Array[]>();
  return { storage: new ObservedDocStorage(new MemoryDocStorage(backing)), reopen: () => new ObservedDocStorage(new MemoryDocStorage(backing)) };
});

describe('ObservedDocStorage', () => {
  it('reports writes, after the transaction commits, and never a rolled-back one', () => {
    const s = new ObservedDocStorage(new MemoryDocStorage());
    const seen: string[] = [];
    s.onChange((id) => seen.push(id));
    s.append('a', new Uint8Array([1]));
    s.transaction(() => {
      s.append('b', new Uint8Array([1]));
      s.replace('c', new Uint8Array([1]));
      expect(seen).toEqual(['a']);
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(() =>
      s.transaction(() => {
        s.append('d', new Uint8Array([1]));
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

syncStateContract('MemorySyncStateStore', () => ({ store: new MemorySyncStateStore() }));
syncStateContract('SqliteSyncStateStore', () => {
  const file = tempFile();
  let db: Database.Database = openDatabase(file);
  return {
    store: new SqliteSyncStateStore(db),
    reopen() {
      db.close();
      db = openDatabase(file);
      return new SqliteSyncStateStore(db);
    },
  };
});
