import type { BankConfigDoc } from '../shared/ledger/bank-config.js';
import { configDocId } from '../shared/ledger/bank-config.js';
import type { BankAdmin, BankLayout } from './bank-admin.js';
import type { BankReplicas } from './bank-replicas.js';
import type { CloudStore } from './store/cloud-store.js';

/** A layout of `s` small, then `m` medium, then `l` large compartments, numbered from 1. */
export function layoutOf(s: number, m: number, l: number): BankLayout {
  const sizes = [...Array<'S'>(s).fill('S'), ...Array<'M'>(m).fill('M'), ...Array<'L'>(l).fill('L')];
  return Object.fromEntries(sizes.map((size, i) => [String(i + 1), { size }]));
}

/**
 * The demo banks and their layouts — the same S/M/L mix as the simulated boards
 * (devices/models/cubby-24.json: 8 S, 10 M, 6 L; cubby-12.json: 4 S, 5 M, 3 L), so hub and
 * cloud agree on every compartment's size.
 */
export const DEMO_BANKS: { bankId: string; deviceSecret: string; layout: BankLayout }[] = [
  { bankId: 'bank-1', deviceSecret: 'bank-1-device-secret', layout: layoutOf(8, 10, 6) },
  { bankId: 'bank-2', deviceSecret: 'bank-2-device-secret', layout: layoutOf(4, 5, 3) },
];

/** The demo credentials API.md lists (active only with `CUBBY_DEMO=1`). */
export const DEMO = {
  carrierToken: 'demo-carrier-token',
  carrierName: 'demo-carrier',
  supportToken: 'demo-support-token',
  supportName: 'demo-support',
  courier: { id: 'courier-1', name: 'Demo Courier', secret: 'courier-1-secret' },
  technician: { id: 'tech-1', name: 'Demo Technician', secret: 'tech-1-secret' },
} as const;

/**
 * Seed the demo: tokens, banks with their device secrets, a courier and a technician in each
 * bank's config document. Idempotent — nothing is rewritten on a second start, so the config
 * documents keep one history (the one in each provisioning file).
 */
export async function seedDemo(deps: { store: CloudStore; replicas: BankReplicas; admin: BankAdmin; now: number }): Promise<void> {
  const { store, replicas, admin, now } = deps;
  if (!store.credentials.hasToken(DEMO.carrierToken)) {
    await store.credentials.addToken(DEMO.carrierToken, { role: 'carrier', subject: DEMO.carrierName }, now);
  }
  if (!store.credentials.hasToken(DEMO.supportToken)) {
    await store.credentials.addToken(DEMO.supportToken, { role: 'support', subject: DEMO.supportName }, now);
  }
  for (const bank of DEMO_BANKS) {
    await admin.registerBank(bank.bankId, bank.deviceSecret, bank.layout);
    const config = replicas.get(bank.bankId).docs.get<BankConfigDoc>(configDocId(bank.bankId))!;
    if (!config.couriers[DEMO.courier.id]) await admin.setCourier(bank.bankId, DEMO.courier.id, DEMO.courier.name, DEMO.courier.secret);
    if (!config.technicians[DEMO.technician.id]) {
      await admin.setTechnician(bank.bankId, DEMO.technician.id, DEMO.technician.name, 'technician', DEMO.technician.secret);
    }
  }
}
