import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { signCommand, type CommandBody, type SignedCommand } from '../../shared/crypto/signed-command.js';

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A signed open command for `bank-1`, valid for 2 minutes from `now`, with a fresh nonce. */
export function openCommand(privateKey: string, now: number, over: Partial<CommandBody> = {}): SignedCommand {
  const body: CommandBody = {
    type: 'open',
    bankId: 'bank-1',
    compartment: 4,
    reason: 'recipient locked out, ticket 42',
    requestedBy: 'support-7',
    nonce: randomBytes(16).toString('base64url'),
    issuedAt: now,
    expiresAt: now + 120_000,
    ...over,
  };
  return signCommand(body, privateKey);
}
