import type { Clock } from '../../shared/ports.js';
import type { BankPresence } from '../ports.js';
import type { BankDirectory } from '../store/bank-directory.js';

/** How often the last-contact time of a connected bank is written to the database. */
const CONTACT_WRITE_EVERY_MS = 10_000;

/**
 * Which hubs are connected and when they were last heard from / last in sync. Online state
 * is in memory (a session exists); the times are also kept in the bank directory so they
 * survive a cloud restart.
 */
export class SyncPresence implements BankPresence {
  private readonly sessions = new Map<string, number>();
  private readonly contact = new Map<string, number>();
  private readonly written = new Map<string, number>();
  private readonly synced = new Map<string, number>();

  /**
   * @param cluster several cloud nodes: sessions are also recorded in the bank directory, so
   *   any node answers `online` for a hub connected to another live node.
   */
  constructor(
    private readonly banks: BankDirectory,
    private readonly clock: Clock,
    private readonly cluster?: { self: { id: string }; isAlive(node: string): boolean },
  ) {}

  online(bankId: string): boolean {
    if ((this.sessions.get(bankId) ?? 0) > 0) return true;
    if (!this.cluster) return false;
    const node = this.banks.get(bankId)?.onlineNode;
    return !!node && node !== this.cluster.self.id && this.cluster.isAlive(node);
  }
  lastSyncAt(bankId: string): number | null {
    return this.synced.get(bankId) ?? this.banks.get(bankId)?.lastSyncAt ?? null;
  }
  lastContactAt(bankId: string): number | null {
    return this.contact.get(bankId) ?? this.banks.get(bankId)?.lastContactAt ?? null;
  }

  connected(bankId: string): void {
    this.sessions.set(bankId, (this.sessions.get(bankId) ?? 0) + 1);
    if (this.cluster) this.banks.recordOnline(bankId, this.cluster.self.id);
    this.heard(bankId);
  }
  disconnected(bankId: string): void {
    const n = (this.sessions.get(bankId) ?? 1) - 1;
    if (n <= 0) {
      this.sessions.delete(bankId);
      if (this.cluster) this.banks.recordOffline(bankId, this.cluster.self.id);
    } else this.sessions.set(bankId, n);
    const at = this.contact.get(bankId);
    if (at !== undefined) this.banks.recordContact(bankId, at);
  }
  heard(bankId: string): void {
    const now = this.clock.now();
    this.contact.set(bankId, now);
    if (now - (this.written.get(bankId) ?? 0) >= CONTACT_WRITE_EVERY_MS) {
      this.written.set(bankId, now);
      this.banks.recordContact(bankId, now);
    }
  }
  /** A session reached "both sides in sync". */
  insync(bankId: string): void {
    const now = this.clock.now();
    this.synced.set(bankId, now);
    this.contact.set(bankId, now);
    this.banks.recordSync(bankId, now);
  }
}
