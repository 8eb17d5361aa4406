import type { AuditEvent, AuditLog } from '../shared/ledger/audit-log.js';

/** What happened at the bank. Never carries a pickup code or a secret. */
export type HubEvent = Omit<AuditEvent, 'id' | 'at'>;

/**
 * The hub's event bus: every event is first appended to the audit log (a ledger document,
 * durable, replicated to the cloud with the next sync), then handed to listeners (MQTT
 * telemetry, the kiosk). Listeners must not throw.
 */
export class HubEvents {
  private readonly listeners = new Set<(e: AuditEvent) => void>();

  constructor(private readonly audit: AuditLog) {}

  emit(e: HubEvent): AuditEvent {
    const event = this.audit.append(e);
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch {
        // A broken listener must not break a pickup.
      }
    }
    return event;
  }

  on(fn: (e: AuditEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
