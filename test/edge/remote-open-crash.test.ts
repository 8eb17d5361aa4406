import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../adapters/sqlite/sqlite-doc-storage.js';
import { generateSigningKeyPair } from '../../shared/crypto/signed-command.js';
import { ManualClock } from '../../shared/ports.js';
import { RemoteOpenService } from '../../edge/remote/remote-open-service.js';
import { openCommand, tempDir } from './remote-open-fixtures.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A hub process that handles one remote open and is SIGKILLed at the moment its door
 * would move: after the nonce commit, before the door. Nothing of the process survives
 * but what it committed to the SQLite file.
 */
const CHILD = `
import { openDatabase } from ${JSON.stringify(join(repo, 'adapters/sqlite/sqlite-doc-storage.ts'))};
import { RemoteOpenService } from ${JSON.stringify(join(repo, 'edge/remote/remote-open-service.ts'))};
const { file, publicKey, cmd, now } = JSON.parse(process.env.CUBBY_CRASH_INPUT);
const db = openDatabase(file);
const service = new RemoteOpenService({
  db, clock: { now: () => now }, cloudPublicKey: publicKey, bankId: 'bank-1', audit: () => {},
  openDoor: async () => { process.kill(process.pid, 'SIGKILL'); await new Promise(() => {}); return { opened: true }; },
});
await service.handle(cmd);
console.log('survived');
`;

function runChild(script: string, input: unknown): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repo,
      env: { ...process.env, CUBBY_CRASH_INPUT: JSON.stringify(input) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('remote open across a crash', () => {
  it('a crash between the nonce write and the door never lets that nonce open again', async () => {
    const tmp = tempDir('cubby-remote-crash-');
    try {
      const file = join(tmp.dir, 'hub.sqlite');
      const script = join(tmp.dir, 'child.mts');
      writeFileSync(script, CHILD);
      const cloud = generateSigningKeyPair();
      const clock = new ManualClock();
      const cmd = openCommand(cloud.privateKey, clock.now());

      const child = await runChild(script, { file, publicKey: cloud.publicKey, cmd, now: clock.now() });
      expect(child.signal, child.out).toBe('SIGKILL');
      expect(child.out).not.toContain('survived');

      // The hub comes back up on the same file.
      const db = openDatabase(file);
      try {
        const rows = db.prepare('SELECT outcome FROM remote_nonces').all() as { outcome: string | null }[];
        expect(rows).toEqual([{ outcome: null }]); // claimed, never finished
        const attempts = db.prepare('SELECT COUNT(*) AS n FROM remote_open_attempts').get() as { n: number };
        expect(attempts.n).toBe(1); // and it counts against the rate limit

        const opened: number[] = [];
        const service = new RemoteOpenService({
          db,
          clock,
          cloudPublicKey: cloud.publicKey,
          bankId: 'bank-1',
          audit: () => {},
          openDoor: async (c) => {
            opened.push(c);
            return { opened: true };
          },
        });
        clock.advance(10_000);
        expect(await service.handle(cmd)).toMatchObject({ ok: false, refusal: 'replayed' });
        expect(opened).toEqual([]);
        // A fresh command (new nonce) still works: the crash left nothing stuck.
        expect((await service.handle(openCommand(cloud.privateKey, clock.now()))).ok).toBe(true);
        expect(opened).toEqual([4]);
      } finally {
        db.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
