import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { SqlDb, SqlStatement, TransactionFn } from '../sql/sql-db.js';

export interface PgSyncDbOptions {
  /** Channels to LISTEN on; notifications arrive through `onNotification`. */
  listen?: string[];
  /** How long one call may take before it fails (the connection is then unusable). Default 30 s. */
  timeoutMs?: number;
}

export class PgError extends Error {
  constructor(
    message: string,
    /** PostgreSQL's SQLSTATE, e.g. `23505` for a unique violation. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

interface Compiled {
  text: string;
  /** Positional: how many `?`; named: the names in `$n` order. */
  names: string[] | null;
  count: number;
  /**
   * The name it is prepared under on this connection (see `query`); a new one after the
   * server dropped the plan (a column added under a `SELECT *`).
   */
  statement?: string;
}

/**
 * PostgreSQL behind the synchronous `SqlDb` surface: one connection owned by a worker thread
 * (adapters/postgres/pg-worker.mjs); each call posts the statement and sleeps on
 * `Atomics.wait` until the worker answers. The calling thread blocks for one round trip to
 * the server — exactly what better-sqlite3 does for a disk write — and a store call returns
 * only once PostgreSQL has committed (when not inside a transaction). One connection per
 * process: calls are serialised anyway, and transactions need the same connection.
 *
 * Parameters: `?` (positional) or `@name` (from one object argument), rewritten to `$n`.
 * DDL given to `exec` is mapped from the SQLite spelling (see sql-db.ts). Values: int8 and
 * numeric come back as numbers, bytea as Buffer, NULL as null.
 */
export class PgSyncDb implements SqlDb {
  readonly dialect = 'postgres' as const;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** The number of the last call the worker answered (see `call`). */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private statementSeq = 0;
  private readonly compiled = new Map<string, Compiled>();
  private readonly listeners = new Set<(channel: string, payload: string) => void>();
  private readonly timeoutMs: number;
  private depth = 0;
  private closed = false;

  constructor(
    readonly url: string,
    opts: PgSyncDbOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./pg-worker.mjs', import.meta.url), {
      workerData: { port: port2, signal: this.signal, url, listen: opts.listen ?? [] },
      transferList: [port2],
    });
    this.worker.on('message', (m: { channel: string; payload: string }) => {
      for (const l of this.listeners) l(m.channel, m.payload);
    });
    this.worker.on('error', () => {});
    this.worker.unref();
    try {
      this.call({ op: 'connect' });
    } catch (err) {
      void this.worker.terminate();
      this.closed = true;
      throw err;
    }
  }

  get open(): boolean {
    return !this.closed;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** NOTIFY payloads of the channels given in `listen`. Returns an unsubscribe function. */
  onNotification(fn: (channel: string, payload: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  prepare(sql: string): SqlStatement {
    const c = this.compile(sql);
    const query = (params: unknown[]) => this.query(c, params);
    return {
      run: (...params) => ({ changes: query(params).rowCount }),
      get: (...params) => query(params).rows[0],
      all: (...params) => query(params).rows,
      iterate: (...params) => query(params).rows[Symbol.iterator](),
    };
  }

  exec(sql: string): this {
    this.call({ op: 'exec', text: ddl(sql) });
    return this;
  }

  transaction<T>(fn: () => T): TransactionFn<T> {
    const run = (() => {
      if (this.depth > 0) return fn();
      this.count('BEGIN');
      // Not waited for: the worker runs the first statement after it (or fails it with BEGIN's
      // error), so a transaction costs this thread one round trip less.
      this.post({ op: 'exec', text: 'BEGIN', quiet: true });
      this.depth++;
      try {
        const out = fn();
        this.depth--;
        this.count('COMMIT');
        this.call({ op: 'exec', text: 'COMMIT' });
        return out;
      } catch (err) {
        if (this.depth > 0) this.depth--;
        try {
          this.call({ op: 'exec', text: 'ROLLBACK' });
        } catch {
          /* the connection is gone; the server rolled back */
        }
        throw err;
      }
    }) as TransactionFn<T>;
    run.immediate = run;
    run.deferred = run;
    run.exclusive = run;
    return run;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' }, 5000);
    } catch {
      /* closing anyway */
    }
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }

  /** Statements run so far, by SQL text (for benchmarks and diagnostics). */
  readonly statements = new Map<string, number>();

  private count(text: string): void {
    this.statements.set(text, (this.statements.get(text) ?? 0) + 1);
  }

  /**
   * Every statement the stores prepare runs as a named prepared statement of the connection:
   * PostgreSQL parses and plans it once, not at every call. When the server refuses a plan it
   * cached (`0A000`, "cached plan must not change result type": another node migrated a table
   * under a `SELECT *`), the statement is prepared again under a new name; outside a
   * transaction the call is retried once, inside one the error goes to the caller (the
   * transaction is aborted anyway) and the next call prepares afresh.
   */
  private query(c: Compiled, params: unknown[]): { rows: Record<string, unknown>[]; rowCount: number } {
    this.count(c.text);
    const values = bind(c, params);
    c.statement ??= `cubby_${++this.statementSeq}`;
    let r: { rows: Record<string, unknown>[]; rowCount: number };
    try {
      r = this.call({ op: 'query', name: c.statement, text: c.text, values }) as typeof r;
    } catch (err) {
      if (!(err instanceof PgError && err.code === '0A000' && err.message.includes('cached plan'))) throw err;
      c.statement = `cubby_${++this.statementSeq}`;
      if (this.depth > 0) throw err;
      r = this.call({ op: 'query', name: c.statement, text: c.text, values }) as typeof r;
    }
    for (const row of r.rows) for (const k in row) if (row[k] instanceof Uint8Array && !Buffer.isBuffer(row[k])) row[k] = toBuffer(row[k] as Uint8Array);
    return r;
  }

  /** Post a call without waiting for it (the worker answers nothing for a `quiet` one). */
  private post(msg: object): number {
    if (this.closed) throw new PgError('the database connection is closed');
    const id = (this.seq = (this.seq % 0x7fffffff) + 1);
    this.port.postMessage({ ...msg, id });
    return id;
  }

  /**
   * One call, numbered: the worker posts the answer with the call's number, then stores that
   * number in `signal` and notifies. This thread sleeps until `signal` holds ITS number — a
   * wake-up for anything else (the notify of the previous answer arriving late, after this
   * thread had already seen that answer and posted the next call) is slept through. Waiting for
   * "non-zero" instead returned such a call without its answer, and the answer was then read
   * by the next call: every result after it belonged to another query.
   */
  private call(msg: object, timeoutMs = this.timeoutMs): unknown {
    const id = this.post(msg);
    const deadline = performance.now() + timeoutMs;
    for (let seen = Atomics.load(this.signal, 0); seen !== id; seen = Atomics.load(this.signal, 0)) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(this.signal, 0, seen, left) === 'timed-out') {
        if (Atomics.load(this.signal, 0) === id) break;
        this.closed = true;
        void this.worker.terminate();
        throw new PgError(`PostgreSQL did not answer within ${timeoutMs} ms`);
      }
    }
    // The answer was posted before its number was stored: it is on the port. Older answers
    // (none, unless a call was abandoned) are dropped.
    let m: { id: number; result?: unknown; error?: { message: string; code?: string; detail?: string } } | undefined;
    do m = receiveMessageOnPort(this.port)?.message as typeof m;
    while (m && m.id !== id);
    if (!m) {
      this.closed = true;
      void this.worker.terminate();
      throw new PgError('no answer from the PostgreSQL worker');
    }
    if (m.error) throw new PgError(m.error.detail ? `${m.error.message} (${m.error.detail})` : m.error.message, m.error.code);
    return m.result;
  }

  private compile(sql: string): Compiled {
    let c = this.compiled.get(sql);
    if (!c) this.compiled.set(sql, (c = compile(sql)));
    return c;
  }
}

/** `?` / `@name` → `$n`, outside quoted strings and identifiers. */
export function compile(sql: string): Compiled {
  let out = '';
  let count = 0;
  const names: string[] = [];
  let named = false;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === '?') {
      out += `$${++count}`;
    } else if (ch === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      named = true;
      let j = i + 1;
      while (j < sql.length && /\w/.test(sql[j]!)) j++;
      const name = sql.slice(i + 1, j);
      let n = names.indexOf(name);
      if (n < 0) n = names.push(name) - 1;
      out += `$${n + 1}`;
      i = j - 1;
    } else out += ch;
  }
  if (named && count) throw new Error('mixing ? and @name parameters');
  return { text: out, names: named ? names : null, count };
}

function bind(c: Compiled, params: unknown[]): unknown[] {
  if (c.names) {
    const obj = (params[0] ?? {}) as Record<string, unknown>;
    return c.names.map((n) => {
      if (!(n in obj)) throw new PgError(`missing named parameter @${n}`);
      return value(obj[n]);
    });
  }
  const flat = params.length === 1 && Array.isArray(params[0]) ? (params[0] as unknown[]) : params;
  if (flat.length !== c.count) throw new PgError(`expected ${c.count} parameters, got ${flat.length}`);
  return flat.map(value);
}

function value(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The SQLite spelling of DDL in the stores, in PostgreSQL's. */
export function ddl(sql: string): string {
  return sql
    .replace(/\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b/gi, 'BIGSERIAL PRIMARY KEY')
    .replace(/\bINTEGER\b/g, 'BIGINT')
    .replace(/\bBLOB\b/g, 'BYTEA')
    .replace(/\)\s*WITHOUT\s+ROWID/gi, ')');
}
