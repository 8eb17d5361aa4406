import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDocStorage, openDatabase } from '../../../adapters/sqlite/sqlite-doc-storage.js';
import { docStorageContract } from '../../contracts/doc-storage.contract.js';

const files: string[] = [];
function tempFile(): string {
  const f = join(tmpdir(), `cubby-test-${randomBytes(6).toString('hex')}.sqlite`);
  files.push(f);
  return f;
}
function removeFile(f: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(f + suffix, { force: true });
}
afterEach(() => {
  for (const f of files.splice(0)) removeFile(f);
});

docStorageContract('SqliteDocStorage (file)', () => {
  const file = tempFile();
  let storage = SqliteDocStorage.open(file);
  return {
    storage,
    reopen() {
      storage.close();
      storage = SqliteDocStorage.open(file);
      return storage;
    },
    destroy() {
      storage.close();
      removeFile(file);
    },
  };
});

describe('SqliteDocStorage specifics', () => {
  it('opens in WAL mode, synchronous FULL by default, incremental auto-vacuum', () => {
    const s = SqliteDocStorage.open(tempFile());
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(s.db.pragma('auto_vacuum', { simple: true })).toBe(2); // INCREMENTAL
    s.close();
    const n = SqliteDocStorage.open(tempFile(), { synchronous: 'NORMAL' });
    expect(n.db.pragma('synchronous', { simple: true })).toBe(1);
    n.close();
  });

  it('vacuum gives the pages of dropped documents back to the file system', () => {
    const file = tempFile();
    const s = SqliteDocStorage.open(file);
    for (let i = 0; i < 200; i++) s.append(`doc-${i}`, randomBytes(20_000));
    s.vacuum();
    const full = s.sizeBytes();
    expect(full).toBeGreaterThan(4_000_000);
    for (let i = 0; i < 200; i++) s.remove(`doc-${i}`);
    s.vacuum();
    expect(s.sizeBytes()).toBeLessThan(full / 10);
    s.close();
    expect(statSync(file).size).toBeLessThan(full / 10);
  });

  it('shares the caller’s handle: the hub’s own rows and a ledger chunk commit or roll back together', () => {
    const db = openDatabase(tempFile());
    db.exec('CREATE TABLE nonces (nonce TEXT PRIMARY KEY)');
    const s = new SqliteDocStorage(db);
    const both = db.transaction((nonce: string, fail: boolean) => {
      db.prepare('INSERT INTO nonces VALUES (?)').run(nonce);
      s.append('parcel:p1', new Uint8Array([1, 2, 3]));
      if (fail) throw new Error('door refused');
    });
    both('n1', false);
    expect(() => both('n2', true)).toThrow('door refused');
    expect(db.prepare('SELECT nonce FROM nonces').pluck().all()).toEqual(['n1']);
    expect(s.load('parcel:p1')).toHaveLength(1);
    s.close(); // does not own the handle: it stays open
    expect(db.open).toBe(true);
    db.close();
  });

  it('a write is durable when append() returns: a process killed right after keeps it', () => {
    const file = tempFile();
    const adapter = join(process.cwd(), 'adapters/sqlite/sqlite-doc-storage.ts');
    const script = `
      const { SqliteDocStorage } = await import(${JSON.stringify(adapter)});
      const s = SqliteDocStorage.open(${JSON.stringify(file)});
      s.append('parcel:p1', new Uint8Array([1, 2, 3]));
      s.transaction(() => { s.append('parcel:p1', new Uint8Array([4])); s.replace('parcel:p2', new Uint8Array([5])); });
      process.kill(process.pid, 'SIGKILL'); // no close(), no checkpoint
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    expect(existsSync(file + '-wal')).toBe(true); // the commits are in the WAL, not yet checkpointed
    const s = SqliteDocStorage.open(file);
    expect(s.load('parcel:p1')?.map((c) => [...c])).toEqual([[1, 2, 3], [4]]);
    expect(s.load('parcel:p2')?.map((c) => [...c])).toEqual([[5]]);
    s.close();
  });
});
