import { existsSync, renameSync, rmSync } from 'node:fs';
import * as A from '@automerge/automerge';
import { SqliteSyncStateStore } from '../../adapters/sqlite/sync-state-store.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import type { ParcelDoc } from '../../shared/ledger/parcel-doc.js';
import { PARCEL_PREFIX } from '../../shared/ledger/parcel-ledger.js';
import type { Clock, Random } from '../../shared/ports.js';
import { peerHolds } from '../../shared/sync/shared-heads.js';
import type { Timers } from '../../shared/sync/sync-peer.js';
import { HUB_RETENTION_MS } from '../sync-wiring.js';
import type { BackoffOptions } from '../sync/backoff.js';
import { isBankDoc } from '../sync/cloud-authorizer.js';
import { CLOUD_PEER, SyncClient } from '../sync/sync-client.js';
import { openHubStore } from './hub-store.js';
import { factsOnlyIn, type LocalFact } from './local-facts.js';
import { CARRIED_TABLES, salvageHubStore, type SalvagedPendingDeposit } from './store-salvage.js';

export interface RebuildOptions {
  /** The damaged store file (its `-wal`/`-shm` go with it). */
  file: string;
  bankId: string;
  /** The cloud's base URL and the bank's device secret (provisioning). */
  cloudUrl: string;
  secret: string;
  /** The cloud-authored config document from provisioning, put in first (the cloud sends it too). */
  configDoc?: Uint8Array;
  clock: Clock;
  random: Random;
  /** Give up (throw, changing nothing) when the cloud has not synced everything by then. Default 60 s. */
  timeoutMs?: number;
  /** Sync client tuning (tests). */
  backoff?: BackoffOptions;
  timers?: Timers;
  log?: (msg: string) => void;
}

/** What a rebuild did and found, for the log, the audit trail and support. */
export interface RebuildReport {
  /** Where the damaged file (and its `-wal`/`-shm`) now is. */
  movedTo: string;
  salvage: { opened: boolean; complete: boolean; docs: number; partial: string[]; unreadable: string[] };
  /** Documents the cloud sent. */
  fromCloud: number;
  /**
   * Facts only the damaged store held (not at the cloud): they were read back and merged into
   * the rebuilt store, which pushes them to the cloud at its first sync.
   */
  onlyInDamagedStore: LocalFact[];
  /** Documents whose content could not be read and that the cloud does not have either: lost. */
  lost: string[];
  /** Doors a courier opened and never confirmed (from the damaged store): a technician should look. */
  pendingDeposits: SalvagedPendingDeposit[];
  /** Bookkeeping rows carried over (brute-force counters, remote-open nonces). */
  carried: Record<string, number>;
  /** Finished parcels the cloud holds, dropped after the resync (as the hub's pruning would). */
  pruned: number;
}

/**
 * Rebuild a damaged hub store from the cloud's copy of the bank:
 *
 * 1. read what survives in the damaged file (`salvageHubStore`, read-only);
 * 2. build a new store in `<file>.rebuilding`: the provisioned config document, then a full sync
 *    with the cloud (a new store has a new sync epoch, so the cloud sends everything it holds);
 * 3. compare: every fact of a salvaged document the cloud's copy lacks is reported and merged
 *    in (it is the hub's own history, checked by Automerge's checksums), documents the cloud
 *    never had are put back; the brute-force counters and remote-open nonces are carried over;
 *    finished parcels past retention are pruned again; a `store_rebuilt` audit event records it;
 * 4. only then move the damaged file aside (`<file>.corrupt-<time>`) and the new one into place.
 *
 * Throws (leaving the damaged file where it is, for another try) when the cloud cannot be
 * reached or does not finish within `timeoutMs`.
 */
export async function rebuildHubStore(opts: RebuildOptions): Promise<RebuildReport> {
  const log = opts.log ?? (() => {});
  const salvage = salvageHubStore(opts.file);
  log(`store rebuild: read ${salvage.docs.size} document(s) from the damaged store (${salvage.partial.length} in part, ${salvage.unreadable.length} unreadable)`);

  const tmp = `${opts.file}.rebuilding`;
  removeDb(tmp);
  const store = openHubStore({ file: tmp, bankId: opts.bankId, clock: opts.clock, random: opts.random, checkIntegrity: false });
  const states = new SqliteSyncStateStore(store.db);
  let finished = false;
  try {
    if (opts.configDoc && !store.docs.has(configDocId(opts.bankId))) store.docs.put(configDocId(opts.bankId), A.load(opts.configDoc));
    const client = new SyncClient({
      url: opts.cloudUrl,
      bankId: opts.bankId,
      secret: opts.secret,
      docs: store.docs,
      states,
      ledger: store.ledger,
      feed: store.feed,
      clock: opts.clock,
      random: opts.random,
      backoff: opts.backoff ?? { initialMs: 200, maxMs: 2000 },
      timers: opts.timers,
      log: (m) => log(`store rebuild: ${m}`),
    });
    client.start();
    let synced: boolean;
    try {
      synced = await client.syncNow(opts.timeoutMs ?? 60_000);
    } finally {
      await client.stop();
    }
    if (!synced) throw new Error('the cloud could not be reached (or did not finish) in time; the damaged store is left in place');
    const fromCloud = store.docs.size;

    // Compare and merge what only the damaged store held.
    const onlyInDamagedStore: LocalFact[] = [];
    for (const [docId, local] of salvage.docs) {
      // Only what this hub may write and the cloud would accept (the config is the cloud's).
      if (!isBankDoc(opts.bankId, docId) || docId === configDocId(opts.bankId)) continue;
      if ((local as { bankId?: unknown }).bankId !== opts.bankId) continue;
      const cloud = store.docs.get(docId);
      const facts = factsOnlyIn(docId, local, cloud);
      if (facts.length === 0) continue;
      onlyInDamagedStore.push(...facts);
      const merged = cloud ? A.merge(A.clone(cloud), local) : A.clone(local);
      if (docId.startsWith(PARCEL_PREFIX)) store.ledger.receive(docId, merged as A.Doc<ParcelDoc>);
      else store.docs.put(docId, merged);
    }
    const lost = salvage.unreadable.filter((id) => !store.docs.has(id));

    const carried: Record<string, number> = {};
    for (const table of CARRIED_TABLES) carried[table] = carryRows(store.db, table, salvage.rows[table] ?? []);

    const pruned = store.ledger.prune(HUB_RETENTION_MS, (id) => peerHolds(states, CLOUD_PEER, id, store.docs.get(id)));
    const movedTo = `${opts.file}.corrupt-${new Date(opts.clock.now()).toISOString().replace(/[:.]/g, '-')}`;
    store.audit.append({
      type: 'store_rebuilt',
      actor: 'hub',
      detail: `store damaged; rebuilt from the cloud (${fromCloud} documents); ${onlyInDamagedStore.length} fact(s) only in the damaged store merged back; ${lost.length} document(s) lost; ${salvage.pendingDeposits.length} unconfirmed deposit(s) to check`,
    });
    store.close();
    finished = true;
    // The damaged file goes aside (kept for forensics), the rebuilt one takes its place.
    for (const s of ['', '-wal', '-shm']) if (existsSync(opts.file + s)) renameSync(opts.file + s, movedTo + s);
    for (const s of ['-wal', '-shm']) rmSync(tmp + s, { force: true });
    renameSync(tmp, opts.file);
    const report: RebuildReport = {
      movedTo,
      salvage: { opened: salvage.opened, complete: salvage.complete, docs: salvage.docs.size, partial: salvage.partial, unreadable: salvage.unreadable },
      fromCloud,
      onlyInDamagedStore,
      lost,
      pendingDeposits: salvage.pendingDeposits,
      carried,
      pruned,
    };
    log(`store rebuild: done; damaged file kept at ${movedTo}; ${onlyInDamagedStore.length} fact(s) only in the damaged store, ${lost.length} document(s) lost`);
    return report;
  } finally {
    if (!finished) {
      store.close();
      removeDb(tmp);
    }
  }
}

/** Insert readable rows of a bookkeeping table into the new store (the table is made by its service; made here if absent). */
function carryRows(db: import('better-sqlite3').Database, table: string, rows: Record<string, unknown>[]): number {
  if (rows.length === 0) return 0;
  const schema: Record<string, string> = {
    throttle: 'CREATE TABLE IF NOT EXISTS throttle (scope TEXT PRIMARY KEY, consecutive INTEGER NOT NULL, locked_until INTEGER NOT NULL)',
    remote_nonces:
      'CREATE TABLE IF NOT EXISTS remote_nonces (nonce TEXT PRIMARY KEY, compartment INTEGER NOT NULL, requested_by TEXT NOT NULL, received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, outcome TEXT) WITHOUT ROWID',
  };
  if (!schema[table]) return 0;
  db.exec(schema[table]);
  let n = 0;
  db.transaction(() => {
    for (const row of rows) {
      const cols = Object.keys(row);
      try {
        db.prepare(`INSERT OR IGNORE INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => row[c]));
        n++;
      } catch {
        // a row that no longer fits (damaged values): skip it
      }
    }
  })();
  return n;
}

function removeDb(file: string): void {
  for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
}
