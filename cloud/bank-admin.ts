import argon2 from 'argon2';
import { DEFAULT_ARGON2, type Argon2Params } from '../shared/codes/hasher.js';
import type { TechnicianRole } from '../shared/ledger/bank-config.js';
import type { Clock, Random } from '../shared/ports.js';
import type { BankReplicas } from './bank-replicas.js';
import type { CloudStore } from './store/cloud-store.js';

/** Compartment sizes by number (`"1"`, `"2"`…), as installed. */
export type BankLayout = Record<string, { size: 'S' | 'M' | 'L' }>;

export interface BankAdminDeps {
  store: CloudStore;
  replicas: BankReplicas;
  clock: Clock;
  random: Random;
  /** argon2id cost of courier and technician secrets (verified offline by the hub). Default DESIGN.md's. */
  hashParams?: Argon2Params;
}

/**
 * Provisioning, cloud side: a bank (device credential, pepper, config document with its
 * layout) and the people allowed at it. Idempotent: registering a bank again only rotates
 * its device secret when a different one is given and adds missing compartments.
 */
export class BankAdmin {
  constructor(private readonly deps: BankAdminDeps) {}

  async registerBank(bankId: string, deviceSecret: string, layout: BankLayout): Promise<void> {
    const { store, replicas, clock, random } = this.deps;
    if (!(await store.credentials.verifyDevice(bankId, deviceSecret))) {
      await store.credentials.setDeviceSecret(bankId, deviceSecret, clock.now());
    }
    store.keys.pepper(bankId, random);
    store.banks.add(bankId, Object.keys(layout).length, clock.now());
    replicas.get(bankId).config.ensure(bankId, layout);
  }

  /** Add (or replace) a courier's credential in the bank's config document. */
  async setCourier(bankId: string, courierId: string, name: string, secret: string): Promise<void> {
    const hash = await this.hash(secret);
    this.deps.replicas.get(bankId).config.setCourier(bankId, courierId, name, hash);
  }

  async setTechnician(bankId: string, technicianId: string, name: string, role: TechnicianRole, secret: string): Promise<void> {
    const hash = await this.hash(secret);
    this.deps.replicas.get(bankId).config.setTechnician(bankId, technicianId, name, role, hash);
  }

  private hash(secret: string): Promise<string> {
    return argon2.hash(secret, { type: argon2.argon2id, ...(this.deps.hashParams ?? DEFAULT_ARGON2) });
  }
}
