import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { ManualClock, SeededRandom } from '../../shared/ports.js';
import { createCloudApp, type CloudDeps } from '../../cloud/app.js';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { seedDemo } from '../../cloud/demo-seed.js';
import { generateCloudKeys } from '../../cloud/keys.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';

/** A cloud over a temp SQLite file, demo-seeded with cheap argon2 parameters. */
export async function testCloud(opts: { seed?: number; file?: string; capacity?: number } & Partial<Pick<CloudDeps, 'commands' | 'presence' | 'notifier'>> = {}) {
  const file = opts.file ?? join(tmpdir(), `cubby-cloud-${randomBytes(6).toString('hex')}.sqlite`);
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 8));
  const random = new SeededRandom(opts.seed ?? 11);
  const store = openCloudStore(file, { hashParams: TEST_ARGON2 });
  const replicas = new BankReplicas({ db: store.db, clock, random, capacity: opts.capacity });
  const keys = generateCloudKeys();
  const admin = new BankAdmin({ store, replicas, clock, random, hashParams: TEST_ARGON2 });
  await seedDemo({ store, replicas, admin, now: clock.now() });
  const app = createCloudApp({ store, replicas, clock, random, keys, commands: opts.commands, presence: opts.presence, notifier: opts.notifier });
  return {
    file,
    clock,
    random,
    store,
    replicas,
    keys,
    admin,
    app,
    close() {
      store.close();
      if (!opts.file) for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
    },
  };
}
export type TestCloud = Awaited<ReturnType<typeof testCloud>>;
