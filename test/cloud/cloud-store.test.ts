import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudStoreContract, openedAt } from '../contracts/cloud-store.contract.js';

cloudStoreContract('SQLite file', () => {
  const file = join(tmpdir(), `cubby-cloud-store-${randomBytes(6).toString('hex')}.sqlite`);
  return openedAt(file, () => {
    for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
  });
});
