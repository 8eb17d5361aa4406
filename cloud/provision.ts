import * as A from '@automerge/automerge';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configDocId } from '../shared/ledger/bank-config.js';
import type { Random } from '../shared/ports.js';
import type { BankReplicas } from './bank-replicas.js';
import type { CloudKeys } from './keys.js';
import type { CloudStore } from './store/cloud-store.js';

/** What a hub needs to start, offline, as one bank (read by edge/config.ts `readProvision`). */
export interface ProvisionFile {
  bankId: string;
  /** The bank's pepper, base64. */
  pepper: string;
  deviceSecret: string;
  /** The cloud's X25519 public key (hubs seal fresh codes to it). */
  cloudSealPublicKey: string;
  /** The cloud's Ed25519 public key (hubs verify remote-open commands with it). */
  cloudSigningPublicKey: string;
  cloudUrl?: string;
  mqttUrl?: string;
}

/**
 * Write a bank's provisioning into `<dir>/provision/`: `<bankId>.json` (secrets: mode 0600)
 * and `<bankId>.automerge`, the bank's config document as the cloud authored it
 * (`Automerge.save`), so a hub starts offline with the courier and technician credentials
 * and the SAME history as the cloud's — the first sync finds nothing to merge.
 */
export function writeProvisioning(
  dir: string,
  deps: { store: CloudStore; replicas: BankReplicas; keys: CloudKeys; random: Random },
  bank: { bankId: string; deviceSecret: string; cloudUrl?: string; mqttUrl?: string },
): void {
  const out = join(dir, 'provision');
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const doc = deps.replicas.get(bank.bankId).docs.get(configDocId(bank.bankId));
  if (!doc) throw new Error(`bank ${bank.bankId} has no config document`);
  const file: ProvisionFile = {
    bankId: bank.bankId,
    pepper: Buffer.from(deps.store.keys.pepper(bank.bankId, deps.random)).toString('base64'),
    deviceSecret: bank.deviceSecret,
    cloudSealPublicKey: deps.keys.seal.publicKey,
    cloudSigningPublicKey: deps.keys.signing.publicKey,
    ...(bank.cloudUrl ? { cloudUrl: bank.cloudUrl } : {}),
    ...(bank.mqttUrl ? { mqttUrl: bank.mqttUrl } : {}),
  };
  writeFileSync(join(out, `${bank.bankId}.json`), JSON.stringify(file, null, 2), { mode: 0o600 });
  writeFileSync(join(out, `${bank.bankId}.automerge`), A.save(doc));
}
