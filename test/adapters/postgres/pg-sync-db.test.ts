/**
 * PgSyncDb's call protocol: the main thread sleeps on a shared word until the worker answers.
 * A wake-up that is not the answer to the current call (the worker's notify for the previous
 * answer arriving late, after the main thread had already seen the value and moved on; or any
 * spurious wake) must not make a call return — or fail — without its own answer: the answer
 * would then be read by the NEXT call, and every result after it would be another query's.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { PgSyncDb } from '../../../adapters/postgres/pg-sync-db.js';
import { freshDatabase } from '../../support/postgres-server.js';

const url = await freshDatabase('syncdb');
const open: PgSyncDb[] = [];
afterAll(() => {
  for (const db of open) db.close();
});

describe('PgSyncDb', () => {
  it('every call gets its own answer, whatever wakes the waiting thread', async () => {
    const db = new PgSyncDb(url);
    open.push(db);
    const signal = (db as unknown as { signal: Int32Array }).signal;
    // Another thread waking the main thread all the time, as a late notify would.
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const waker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const { signal, stop } = workerData;
       while (Atomics.load(stop, 0) === 0) Atomics.notify(signal, 0);`,
      { eval: true, workerData: { signal, stop } },
    );
    await new Promise((r) => waker.once('online', r));
    const q = db.prepare('SELECT ?::int AS n');
    const wrong: string[] = [];
    try {
      for (let i = 0; i < 3000; i++) {
        try {
          const r = q.get(i) as { n: number } | undefined;
          if (r?.n !== i) wrong.push(`call ${i} got ${JSON.stringify(r)}`);
        } catch (err) {
          wrong.push(`call ${i} threw ${(err as Error).message}`);
        }
      }
    } finally {
      Atomics.store(stop, 0, 1);
      await waker.terminate();
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  }, 60_000);
});
