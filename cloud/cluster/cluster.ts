import { createHash } from 'node:crypto';
import { migrate, type SqlDb } from '../../adapters/sql/sql-db.js';
import type { Timers } from '../../shared/sync/sync-peer.js';
import { realTimers } from '../../shared/sync/sync-peer.js';

/** One cloud node of the configured list: its name and the URL hubs and peers reach it at. */
export interface ClusterNode {
  id: string;
  url: string;
}

export interface ClusterOptions {
  /** This node's name; must be in `nodes`. */
  self: string;
  /** Every node of the deployment (`CUBBY_CLOUD_NODES`), the same list on every node. */
  nodes: ClusterNode[];
  /** The shared PostgreSQL (heartbeats live in table `cloud_nodes`). */
  db: SqlDb;
  /** Heartbeat period, ms. Default 1000. */
  heartbeatMs?: number;
  /** A node not heard from for this long is taken as dead and its banks move, ms. Default 4000. */
  deadAfterMs?: number;
  timers?: Timers;
  log?: (msg: string) => void;
}

/**
 * Which cloud node serves which bank: rendezvous (highest-random-weight) hashing of the bank
 * id over the nodes that are alive. Stable — every node computes the same owner from the same
 * live set, and a node joining or leaving moves only the banks it gains or loses (about 1/n).
 *
 * Liveness is a heartbeat row per node in the shared PostgreSQL (`cloud_nodes`), stamped and
 * judged with the DATABASE's clock, so skew between nodes does not matter. A dead node's
 * banks move to the survivors once `deadAfterMs` passed without a heartbeat; their hubs,
 * whose connection dropped with the node, reconnect to any node and are sent to the owner.
 * For a moment two nodes may both accept a bank (the one that died comes back before the
 * others notice): harmless, because documents are CRDTs written as append-only chunks
 * (BankDocStorage) and outbox rows are claimed with row locks — ownership spreads load, it
 * does not guard correctness.
 */
export class Cluster {
  private live: Set<string>;
  private readonly byId: Map<string, ClusterNode>;
  private readonly listeners = new Set<() => void>();
  private timer: unknown;
  private readonly stmts;

  constructor(private readonly opts: ClusterOptions) {
    this.byId = new Map(opts.nodes.map((n) => [n.id, n]));
    if (!this.byId.has(opts.self)) throw new Error(`cluster: this node (${opts.self}) is not in the node list (${[...this.byId.keys()].join(', ')})`);
    migrate(opts.db, () => Cluster.migrate(opts.db));
    const nowMs = '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint';
    this.stmts = {
      beat: opts.db.prepare(`INSERT INTO cloud_nodes (node, url, seen_at) VALUES (?, ?, ${nowMs})
        ON CONFLICT (node) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at`),
      alive: opts.db.prepare(`SELECT node FROM cloud_nodes WHERE seen_at >= ${nowMs} - ?`),
      leave: opts.db.prepare('DELETE FROM cloud_nodes WHERE node = ?'),
    };
    this.live = new Set([opts.self]);
  }

  static migrate(db: SqlDb): void {
    db.exec('CREATE TABLE IF NOT EXISTS cloud_nodes (node TEXT PRIMARY KEY, url TEXT NOT NULL, seen_at INTEGER NOT NULL)');
  }

  get self(): ClusterNode {
    return this.byId.get(this.opts.self)!;
  }

  /** Heartbeat now and every `heartbeatMs`. */
  start(): this {
    this.beat();
    const timers = this.opts.timers ?? realTimers;
    const tick = () => {
      this.beat();
      this.timer = timers.setTimeout(tick, this.opts.heartbeatMs ?? 1000);
    };
    this.timer = timers.setTimeout(tick, this.opts.heartbeatMs ?? 1000);
    return this;
  }

  /** Stop beating and leave at once (the others take over without waiting `deadAfterMs`). */
  stop(): void {
    (this.opts.timers ?? realTimers).clearTimeout(this.timer);
    try {
      this.stmts.leave.run(this.opts.self);
    } catch {
      /* the database is gone: the others will time us out */
    }
  }

  /** Called whenever the live set changes (sessions of banks this node no longer owns move). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Names of the nodes taken as alive now, this one included. */
  alive(): string[] {
    return this.opts.nodes.map((n) => n.id).filter((id) => this.live.has(id));
  }

  isAlive(node: string): boolean {
    return this.live.has(node);
  }

  /** The node that serves `bankId` now. */
  owner(bankId: string): ClusterNode {
    return this.byId.get(ownerOf(bankId, this.alive()))!;
  }

  owns(bankId: string): boolean {
    return this.owner(bankId).id === this.opts.self;
  }

  /** One heartbeat: stamp ours, read who else is alive. */
  beat(): void {
    try {
      this.stmts.beat.run(this.opts.self, this.self.url);
      const seen = new Set((this.stmts.alive.all(this.opts.deadAfterMs ?? 4000) as { node: string }[]).map((r) => r.node).filter((id) => this.byId.has(id)));
      seen.add(this.opts.self);
      const changed = seen.size !== this.live.size || [...seen].some((id) => !this.live.has(id));
      this.live = seen;
      if (changed) {
        this.opts.log?.(`cluster: alive ${this.alive().join(', ')}`);
        for (const l of this.listeners) l();
      }
    } catch (err) {
      this.opts.log?.(`cluster: heartbeat failed: ${(err as Error).message}`);
    }
  }
}

/** Rendezvous hashing: the node with the highest hash of (node, bank) wins. */
export function ownerOf(bankId: string, nodes: readonly string[]): string {
  let best = '';
  let bestScore = -1n;
  for (const node of nodes) {
    const score = createHash('sha256').update(`${node}\u0000${bankId}`).digest().readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  if (!best) throw new Error('cluster: no node alive');
  return best;
}

/** `CUBBY_CLOUD_NODES`: `n1=http://10.0.0.1:8000,n2=http://10.0.0.2:8000`. */
export function parseNodeList(spec: string): ClusterNode[] {
  const nodes = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new Error(`CUBBY_CLOUD_NODES: "${s}" is not name=url`);
      const id = s.slice(0, eq);
      const url = new URL(s.slice(eq + 1)).toString().replace(/\/$/, '');
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`CUBBY_CLOUD_NODES: node name "${id}" must be 1-32 letters, digits, _ or -`);
      return { id, url };
    });
  if (new Set(nodes.map((n) => n.id)).size !== nodes.length) throw new Error('CUBBY_CLOUD_NODES: duplicate node name');
  return nodes;
}
