import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { serve } from '@hono/node-server';
import { openDatabase, SqliteDocStorage } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { attachSyncServer, type SyncServer } from '../../cloud/sync/sync-server.js';
import { DocSet } from '../../shared/ledger/doc-set.js';
import { ParcelLedger } from '../../shared/ledger/parcel-ledger.js';
import { SeededRandom, randomId, type Clock } from '../../shared/ports.js';
import { ObservedDocStorage } from '../../shared/sync/change-feed.js';
import type { SyncClientEvent, SyncClientOptions } from '../../edge/sync/sync-client.js';
import { SyncClient } from '../../edge/sync/sync-client.js';
import { testCloud, type TestCloud } from '../cloud/cloud-fixture.js';
import { FAKE_HASH } from './harness.js';

/** The test cloud behind a real HTTP server on 127.0.0.1 (port 0) with the sync endpoint. */
export async function cloudServer(opts: Parameters<typeof testCloud>[0] = {}) {
  const cloud = await testCloud(opts);
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: cloud.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server;
  });
  const sync = attachSyncServer(server, { store: cloud.store, replicas: cloud.replicas, clock: cloud.clock, random: cloud.random, pushDelayMs: 2 });
  const port = (server.address() as AddressInfo).port;
  return {
    cloud,
    server,
    sync,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await sync.close();
      await new Promise<void>((r) => server.close(() => r()));
      cloud.close();
    },
  };
}
export type CloudServer = Awaited<ReturnType<typeof cloudServer>>;

/** A hub's store on a temp SQLite file (documents and sync states in one database) and a sync client. */
export function testHub(bankId: string, opts: { url: string; secret?: string; clock: Clock; seed?: number; configDoc?: Uint8Array } & Partial<SyncClientOptions>) {
  const file = join(tmpdir(), `cubby-hub-${randomBytes(6).toString('hex')}.sqlite`);
  const db = openDatabase(file);
  const random = new SeededRandom(opts.seed ?? 5);
  const storage = new ObservedDocStorage(new SqliteDocStorage(db));
  const docs = new DocSet(storage, randomId(random, 16));
  if (opts.configDoc) docs.put(`config:${bankId}`, A.load(opts.configDoc));
  const ledger = new ParcelLedger({ bankId, docs, clock: opts.clock, random });
  const states = new SqliteSyncStateStore(db);
  const events: SyncClientEvent[] = [];
  const client = new SyncClient({
    backoff: { initialMs: 20, maxMs: 200 },
    pushDelayMs: 2,
    ...opts,
    url: opts.url,
    bankId,
    secret: opts.secret ?? `${bankId}-device-secret`,
    docs,
    states,
    ledger,
    feed: storage,
    clock: opts.clock,
    random,
  });
  client.on((e) => events.push(e));
  return {
    bankId,
    db,
    docs,
    ledger,
    states,
    client,
    events,
    deposit(parcelId: string, compartment: number, selector = '123'): string {
      return ledger.depositAndIssue(parcelId, { depositId: `d-${parcelId}`, compartment, courierId: 'courier-1', size: 'S' }, { selector, hash: FAKE_HASH, issuer: 'hub' });
    },
    /** Resolve at the first event matching `pred` (from now on), or reject after `ms`. */
    next(pred: (e: SyncClientEvent) => boolean, ms = 5000): Promise<SyncClientEvent> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => (off(), reject(new Error('no such event in time'))), ms);
        const off = client.on((e) => {
          if (!pred(e)) return;
          clearTimeout(timer);
          off();
          resolve(e);
        });
      });
    },
    async close() {
      await client.stop();
      db.close();
      for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
    },
  };
}
export type TestHub = ReturnType<typeof testHub>;

export type { TestCloud };
