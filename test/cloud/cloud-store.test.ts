import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { cloudStoreContract } from '../contracts/cloud-store.contract.js';

cloudStoreContract('SQLite file', () => {
  const file = join(tmpdir(), `cubby-cloud-store-${randomBytes(6).toString('hex')}.sqlite`);
  const opts = { hashParams: TEST_ARGON2 };
  let store = openCloudStore(file, opts);
  const others: { close(): void }[] = [];
  return {
    store,
    reopen() {
      store.close();
      return (store = openCloudStore(file, opts));
    },
    another(node) {
      const s = openCloudStore(file, { ...opts, node });
      others.push(s);
      return s;
    },
    destroy() {
      for (const s of [store, ...others]) s.close();
      for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
    },
  };
});
