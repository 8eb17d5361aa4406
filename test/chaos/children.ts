/**
 * Child processes for the crash tests: start a script under `node --import tsx` (so SIGKILL
 * reaches it, not a wrapper), wait for its `READY {json}` line, kill it hard, and read what a
 * dead cloud left on disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as A from '@automerge/automerge';
import Database from 'better-sqlite3';
import { decodeShared } from '../../shared/sync/shared-heads.js';

export const CHAOS_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(CHAOS_DIR, '..', '..');

export interface Child<T> {
  proc: ChildProcess;
  info: T;
  stderr: string[];
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

/** Start `test/chaos/<script>` with `env` and wait (up to `timeoutMs`) for its READY line. */
export async function startChild<T>(script: string, env: Record<string, string>, timeoutMs = 60_000): Promise<Child<T>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(CHAOS_DIR, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (b: Buffer) => {
    stderr.push(b.toString());
    if (stderr.length > 200) stderr.shift();
  });
  const info = await new Promise<T>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} not ready in ${timeoutMs} ms:\n${stderr.join('')}`));
    }, timeoutMs);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /READY (\{.*\})\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1]!) as T);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited before ready (${code ?? signal}):\n${stderr.join('')}`));
    });
  });
  return {
    proc,
    info,
    stderr,
    kill: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

/**
 * What a cloud database holds, read-only (the cloud is dead): documents of a bank, parcel
 * registry rows, outbox rows by code. Close it before the cloud starts again.
 */
export class CloudFile {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
  }

  doc(bankId: string, docId: string): A.Doc<any> | undefined {
    const rows = this.db.prepare('SELECT bytes FROM bank_doc_chunks WHERE bank_id = ? AND doc_id = ? ORDER BY seq').all(bankId, docId) as { bytes: Buffer }[];
    if (rows.length === 0) return undefined;
    return A.load(Buffer.concat(rows.map((r) => r.bytes)));
  }

  /** Ids of a bank's documents. */
  docIds(bankId: string): string[] {
    return (this.db.prepare('SELECT DISTINCT doc_id FROM bank_doc_chunks WHERE bank_id = ?').all(bankId) as { doc_id: string }[]).map((r) => r.doc_id);
  }

  parcel(parcelId: string): { bank_id: string; carrier: string | null } | undefined {
    return this.db.prepare('SELECT bank_id, carrier FROM parcels WHERE parcel_id = ?').get(parcelId) as { bank_id: string; carrier: string | null } | undefined;
  }

  /** Heads the cloud's sync state records as shared with `peer` (`hub:<bankId>`) for `docId`. */
  shared(peer: string, docId: string): A.Heads | undefined {
    return sharedHeads(this.db, peer, docId);
  }

  /** Documents the cloud has a sync state for, with `peer`. */
  sharedDocIds(peer: string): string[] {
    return (this.db.prepare("SELECT doc_id FROM sync_states WHERE peer = ? AND doc_id NOT LIKE '~%'").all(peer) as { doc_id: string }[]).map((r) => r.doc_id);
  }

  /** Outbox rows of a code (0 when the table does not exist). */
  outboxRows(codeId: string): number {
    const has = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notify_outbox'").get();
    if (!has) return 0;
    return (this.db.prepare('SELECT COUNT(*) AS n FROM notify_outbox WHERE code_id = ?').get(codeId) as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}

/** What a hub's store file holds, read-only: documents, and the heads its sync states say the cloud holds. */
export class HubFile {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
  }

  docIds(): string[] {
    return (this.db.prepare('SELECT DISTINCT doc_id FROM doc_chunks').all() as { doc_id: string }[]).map((r) => r.doc_id);
  }

  doc(docId: string): A.Doc<any> | undefined {
    const rows = this.db.prepare('SELECT bytes FROM doc_chunks WHERE doc_id = ? ORDER BY seq').all(docId) as { bytes: Buffer }[];
    return rows.length ? A.load(Buffer.concat(rows.map((r) => r.bytes))) : undefined;
  }

  /** Heads this store's sync state records as shared with `peer` for `docId`. */
  shared(peer: string, docId: string): A.Heads | undefined {
    return sharedHeads(this.db, peer, docId);
  }

  close(): void {
    this.db.close();
  }
}

/** The shared heads a `sync_states` row records (peer, doc), if any. */
export function sharedHeads(db: Database.Database, peer: string, docId: string): A.Heads | undefined {
  const row = db.prepare('SELECT state FROM sync_states WHERE peer = ? AND doc_id = ?').get(peer, docId) as { state: Buffer } | undefined;
  return row ? decodeShared(new Uint8Array(row.state)) : undefined;
}
