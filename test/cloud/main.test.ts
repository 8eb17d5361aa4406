import * as A from '@automerge/automerge';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCloudConfig, startCloud, type RunningCloud } from '../../cloud/main.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import { ManualClock } from '../../shared/ports.js';
import { testHub, type TestHub } from '../sync/ws-fixture.js';

const dirs: string[] = [];
const running: RunningCloud[] = [];
const hubs: TestHub[] = [];
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close();
  for (const c of running.splice(0)) await c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('cloud main', () => {
  it('reads its configuration from the environment, with the defaults of API.md', () => {
    expect(loadCloudConfig({})).toMatchObject({ port: 8000, host: '127.0.0.1', dataDir: './data', demo: false });
    expect(loadCloudConfig({ CUBBY_CLOUD_PORT: '9100', CUBBY_DATA_DIR: '/tmp/x', CUBBY_DEMO: '1' })).toMatchObject({ port: 9100, dataDir: '/tmp/x', demo: true });
    expect(() => loadCloudConfig({ CUBBY_CLOUD_PORT: 'eighty' })).toThrow(/port/);
    expect(() => loadCloudConfig({ CUBBY_DEMO: 'yes' })).toThrow(/demo/);
  });

  it('with CUBBY_DEMO=1: keys and provisioning files (0600), a hub provisioned from them syncs with nothing to merge; a restart keeps keys and history', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cubby-cloud-main-'));
    dirs.push(dataDir);
    const config = { port: 0, host: '127.0.0.1', dataDir, demo: true, automergeHeapMiB: 0, bankCache: 8 };
    const cloud = await startCloud(config);
    running.push(cloud);
    expect(statSync(join(dataDir, 'keys.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'provision', 'bank-1.json')).mode & 0o777).toBe(0o600);
    const provision = JSON.parse(readFileSync(join(dataDir, 'provision', 'bank-1.json'), 'utf8'));
    expect(provision).toMatchObject({ bankId: 'bank-1', deviceSecret: 'bank-1-device-secret', cloudUrl: cloud.url, cloudSealPublicKey: cloud.keys.seal.publicKey });
    expect(Buffer.from(provision.pepper, 'base64')).toHaveLength(32);
    const configDoc = new Uint8Array(readFileSync(join(dataDir, 'provision', 'bank-1.automerge')));
    expect(Object.keys(A.load<{ couriers: object }>(configDoc).couriers)).toEqual(['courier-1']);

    const hub = testHub('bank-1', { url: provision.cloudUrl, secret: provision.deviceSecret, clock: new ManualClock(), configDoc });
    hubs.push(hub);
    hub.client.start();
    expect(await hub.client.syncNow()).toBe(true);
    expect(hub.client.stats().docsReceived).toBe(0);
    expect(cloud.sync.presence.online('bank-1')).toBe(true);
    await hub.close();
    hubs.length = 0;

    const publicKey = cloud.keys.signing.publicKey;
    const heads = A.getHeads(cloud.replicas.get('bank-1').docs.get(configDocId('bank-1'))!);
    await cloud.close();
    running.length = 0;
    const again = await startCloud(config);
    running.push(again);
    expect(again.keys.signing.publicKey).toBe(publicKey);
    expect(A.getHeads(again.replicas.get('bank-1').docs.get(configDocId('bank-1'))!)).toEqual(heads);
    expect(new Uint8Array(readFileSync(join(dataDir, 'provision', 'bank-1.automerge')))).toEqual(configDoc);
    expect(again.store.banks.get('bank-1')?.lastSyncAt).not.toBeNull();
  });
});
