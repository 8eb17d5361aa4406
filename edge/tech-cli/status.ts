import { ago, table } from './format.js';

/** `GET /api/tech/status`, as the hub answers it. */
export interface Status {
  bankId: string;
  board: { connected: boolean; lastSeenAt: number | null };
  keypad: { state: string; deadKeys: string[] };
  scanner: string;
  link: { online: boolean; lastSyncAt: number | null; lastContactAt: number | null; syncLagMs: number | null };
  ledger: { documents: number; storeBytes: number; liveParcels: number };
  compartments: {
    no: number;
    size: string;
    door: string;
    sensorOccupied: boolean;
    parcelId: string | null;
    inService: boolean;
    faults: { at: number; reason: string }[];
  }[];
}

/** The status for a person: the bank's health on four lines, then one row per door. */
export function renderStatus(s: Status, now = Date.now()): string {
  const rows = s.compartments.map((c) => [
    c.no,
    c.size,
    c.parcelId ?? (c.sensorOccupied ? 'sensor only!' : '-'),
    c.door,
    c.inService ? 'in' : 'OUT',
    c.faults.map((f) => f.reason).join('; ') || '-',
  ]);
  const faulty = s.compartments.filter((c) => c.faults.length).map((c) => c.no);
  const out = s.compartments.filter((c) => !c.inService).map((c) => c.no);
  return [
    `Bank ${s.bankId}`,
    `board: ${s.board.connected ? 'connected' : 'LOST'} (last seen ${ago(s.board.lastSeenAt, now)})   keypad: ${s.keypad.state}${s.keypad.deadKeys.length ? ` (dead: ${s.keypad.deadKeys.join(',')})` : ''}   scanner: ${s.scanner}`,
    `cloud: ${s.link.online ? 'online' : 'OFFLINE'}   last sync ${ago(s.link.lastSyncAt, now)}   last contact ${ago(s.link.lastContactAt, now)}`,
    `ledger: ${s.ledger.documents} documents, ${(s.ledger.storeBytes / 1024).toFixed(0)} KiB, ${s.ledger.liveParcels} live parcels`,
    `faulty doors: ${faulty.join(', ') || 'none'}   out of service: ${out.join(', ') || 'none'}`,
    '',
    table(['door', 'size', 'parcel', 'sensor', 'service', 'faults'], rows),
  ].join('\n');
}
