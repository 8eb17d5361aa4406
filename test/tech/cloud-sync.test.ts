/**
 * What a technician does while the bank is offline reaches the cloud once the link is back.
 * A real cloud (`startCloud`, demo seeding, port 0), a hub provisioned from the cloud's
 * provisioning file (as `cubby edge` is) syncing to it through a TCP proxy the test cuts
 * and heals, and the technician tool as a child process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { afterAll, describe, expect, test } from 'vitest';
import { DEMO } from '../../cloud/demo-seed.js';
import { cloudConfigSchema, startCloud, type RunningCloud } from '../../cloud/main.js';
import { readProvision } from '../../edge/config.js';
import type { Connectivity } from '../../edge/hub-services.js';
import { startHub, type HubRuntime } from '../../edge/hub-runtime.js';
import { attachSync, type HubSync } from '../../edge/sync-wiring.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { configDocId } from '../../shared/ledger/bank-config.js';
import type { AuditEvent } from '../../shared/ledger/audit-log.js';
import { systemClock } from '../../shared/ports.js';
import { createSimulatedBank, sleep, type SimulatedBank } from '../support/board.js';
import { HUB_OPEN_TIMEOUT_MS } from '../support/hub.js';
import { LinkProxy } from '../sync/link-proxy.js';
import { techCli, type TechCli } from './tech-cli.js';

const BANK = 'bank-2'; // 12 compartments, as the demo seeds it
const SUPPORT = { authorization: `Bearer ${DEMO.supportToken}` };

const dirs: string[] = [];
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cubby-tech-sync-'));
  dirs.push(d);
  return d;
};

interface BankView {
  online: boolean;
  outOfService: { compartment: number; reason?: string }[];
  recentEvents: AuditEvent[];
}

/** Poll `probe` until it returns something truthy; fail after `ms` with the last value seen. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await probe();
    if (v) return v;
    last = v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what} (last: ${JSON.stringify(last)})`);
    await sleep(50);
  }
}

describe('cubby tech with the link to the cloud cut', () => {
  let cloud: RunningCloud;
  let proxy: LinkProxy;
  let sim: SimulatedBank;
  let hub: HubRuntime;
  let sync: HubSync;
  let cli: TechCli;

  const bankView = async (): Promise<BankView> => {
    const res = await fetch(`${cloud.url}/v1/banks/${BANK}`, { headers: SUPPORT });
    expect(res.status).toBe(200);
    return (await res.json()) as BankView;
  };

  test('open and service done offline appear in the cloud\'s GET /v1/banks/:bankId after the link is back', async () => {
    const dataDir = tempDir();
    cloud = await startCloud(cloudConfigSchema.parse({ port: 0, host: '127.0.0.1', dataDir, demo: '1', automergeHeapMiB: 0 }));
    cleanups.push(() => cloud.close());
    proxy = await LinkProxy.start(cloud.port);
    cleanups.push(() => proxy.close());

    // The hub, as `cubby edge` starts it: pepper, device secret and keys from the provisioning file, the config document (technician hashes) from the cloud.
    const { provision, configDoc } = readProvision(dataDir, BANK);
    if (!provision || !configDoc) throw new Error('the cloud wrote no provisioning for bank-2');
    sim = await createSimulatedBank({ model: 'cubby-12', openTimeoutMs: HUB_OPEN_TIMEOUT_MS });
    let link: () => Connectivity = () => ({ online: false, lastSyncAt: null, lastContactAt: null });
    hub = await startHub({
      bankId: BANK,
      dataFile: join(tempDir(), 'hub.sqlite'),
      bank: sim.bank,
      pepper: Buffer.from(provision.pepper, 'base64'),
      argon2: TEST_ARGON2,
      cloudSealKey: provision.cloudSealPublicKey,
      connectivity: () => link(),
    });
    cleanups.push(async () => {
      await hub.close();
      sim.board.dispose();
    });
    hub.store.docs.put(configDocId(BANK), A.load(configDoc));
    sync = attachSync({ cloudUrl: proxy.url, bankId: BANK, secret: provision.deviceSecret, store: hub.store, clock: systemClock, backoff: { initialMs: 20, maxMs: 200 } });
    cleanups.push(() => sync.stop());
    link = () => sync.connectivity();
    await eventually('the hub is online at the cloud', async () => (await bankView()).online);

    cli = await techCli(hub.url);
    cleanups.push(() => cli.close());
    await cli.login({ id: DEMO.technician.id, secret: DEMO.technician.secret });

    // Cut the link: the hub notices, and the technician sees it offline.
    proxy.cut();
    await eventually('the hub sees its link down', async () => !sync.connectivity().online);
    expect((await cli.json(['status'])).link.online).toBe(false);

    const open = await cli.run(['open', '5', '--reason', 'customer reports a stuck door']);
    expect(open.code, open.stderr).toBe(0);
    expect(open.stdout).toBe('Compartment 5 is open.\n');
    const out = await cli.run(['service', '6', '--out', '--reason', 'hinge broken']);
    expect(out.code, out.stderr).toBe(0);
    const local = hub.store.audit.since(0).map((e) => e.type);
    expect(local).toEqual(expect.arrayContaining(['tech_login', 'tech_open', 'service_out']));

    // Not in the cloud yet: the link is still down.
    const before = await bankView();
    expect(before.online).toBe(false);
    expect(before.recentEvents.map((e) => e.type)).not.toContain('tech_open');

    proxy.heal();
    const after = await eventually('the offline events reach the cloud', async () => {
      const v = await bankView();
      const types = v.recentEvents.map((e) => e.type);
      return types.includes('tech_open') && types.includes('service_out') ? v : undefined;
    });
    const actor = `tech:${DEMO.technician.id}`;
    expect(after.recentEvents).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'tech_login', actor }),
        expect.objectContaining({ type: 'tech_open', actor, compartment: 5, detail: 'customer reports a stuck door' }),
        expect.objectContaining({ type: 'service_out', actor, compartment: 6, detail: 'hinge broken' }),
      ]),
    );
    // The service state travelled too (bank-state document), and the cloud's events are the hub's, id for id.
    expect(after.outOfService).toEqual([{ compartment: 6, reason: 'hinge broken' }]);
    const hubIds = new Set(hub.store.audit.since(0).map((e) => e.id));
    for (const e of after.recentEvents.filter((e) => e.actor === actor)) expect(hubIds.has(e.id)).toBe(true);
    expect(after.online).toBe(true);
  });
});
