import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { generateSealKeyPair } from '../shared/crypto/sealed-box.js';
import { generateSigningKeyPair } from '../shared/crypto/signed-command.js';

const pairSchema = z.object({ publicKey: z.string().min(20), privateKey: z.string().min(20) });
const keysSchema = z.object({ seal: pairSchema, signing: pairSchema });

/**
 * The cloud's own key pairs: `seal` (X25519: hubs seal fresh pickup codes to its public key)
 * and `signing` (Ed25519: remote-open commands). Public halves go into each hub's
 * provisioning file; private halves never leave this process.
 */
export type CloudKeys = z.infer<typeof keysSchema>;

export function generateCloudKeys(): CloudKeys {
  return { seal: generateSealKeyPair(), signing: generateSigningKeyPair() };
}

/**
 * Read `file` (`<dataDir>/keys.json`), or create it once with fresh keys, readable by the
 * owner only (mode 0600). In production these live in a KMS.
 */
export function loadOrCreateKeys(file: string): CloudKeys {
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return keysSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  }
  const keys = generateCloudKeys();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600, flag: 'wx' });
  return keys;
}
