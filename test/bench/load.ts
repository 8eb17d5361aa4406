/**
 * `npm run bench -- load [--hubs=N] [--rate=EVENTS_PER_S] [--seconds=S] [--warmup=S]`
 *
 * One cloud node serving N hubs. For each N (default: 100, then 1,000):
 *
 * - the cloud is `startCloud` with its embedded MQTT broker (test/bench/_load-cloud.ts), alone in
 *   a child process, on a fresh data directory where the N banks were registered beforehand;
 * - the N hubs are lightweight hubs (test/bench/_load-hubs.ts: the hub's real `SyncClient` on an
 *   in-memory `DocSet`/`ParcelLedger`, and its real MQTT client; no board, no SQLite), each with
 *   its own WebSocket sync session and MQTT connection, spread over 1 (N ≤ 200) or 2 child
 *   processes;
 * - a steady stream of parcels at `--rate` events/s in total (default 100): a carrier announces it
 *   (HTTP) and the hub receives it; the hub deposits it and the cloud acknowledges it; then the
 *   hub records a pickup (acknowledged by the cloud) or support revokes the code (HTTP) and the
 *   hub receives it — every step one event, every step's latency one sample of `sync_p99_ms`
 *   ("from a change at one side to the other side having it"; hub -> cloud measured until the
 *   cloud's acknowledgement is back at the hub: an upper bound). The first `--warmup` seconds
 *   (default 3) of the stream are not measured (JIT, connection pools, first token checks).
 *
 * Reported per N: `events_per_s` (completed steps / measured seconds), `sync_p99_ms` over both
 * directions (and each direction), `cloud_rss_mb` (the cloud process's VmRSS, highest seen while
 * the stream runs), `errors` (failed requests, steps that did not complete within 20 s, sync
 * refusals). One JSON line per N on stdout; the last line is the N=1,000 result with every run in
 * `runs` and the ratio `rss_ratio` = cloud_rss_mb(1000) / cloud_rss_mb(100).
 * Targets: at 1,000 hubs errors 0, sync_p99_ms < 1,000, rss_ratio < 4.
 *
 * What is simulated: device secrets are argon2id-hashed with cheap parameters (m=256 KiB, t=1)
 * so that registering and connecting 1,000 banks takes seconds, not minutes of argon2 (a real
 * cloud verifies each device once per process and caches it; the cost is paid at connect, not
 * during the measured stream). The hubs' codes carry a fixed fake hash (nothing verifies them).
 * The cloud's SQLite runs `synchronous=FULL` on the machine's disk (the data directory is under
 * the OS temp dir), as configured in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { SeededRandom, systemClock } from '../../shared/ports.js';
import { log, percentile, round } from './run.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const CARRIER_TOKEN = 'load-carrier-token';
const SUPPORT_TOKEN = 'load-support-token';

function flag(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = args[i]!;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[i + 1];
}

interface Child {
  proc: ChildProcess;
  messages: unknown[];
  next(type: string, timeoutMs: number): Promise<any>;
}

function spawnChild(script: string, env: Record<string, string>, ipc: boolean): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, script)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  proc.stderr!.on('data', (b: Buffer) => {
    tail.push(b.toString());
    if (process.env.CUBBY_LOAD_VERBOSE) process.stderr.write(b); // the children's own logs
    if (tail.length > 50) tail.shift();
  });
  const messages: unknown[] = [];
  const waiters = new Set<() => void>();
  proc.on('message', (m) => {
    messages.push(m);
    for (const w of [...waiters]) w();
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    const m = /READY (\{.*\})\n/.exec(out);
    if (m) {
      messages.push({ type: 'ready', ...(JSON.parse(m[1]!) as object) });
      out = '';
      for (const w of [...waiters]) w();
    }
  });
  proc.once('exit', () => {
    for (const w of [...waiters]) w();
  });
  return {
    proc,
    messages,
    next(type, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = messages.findIndex((m) => (m as { type: string }).type === type || (m as { type: string }).type === 'error');
          if (i >= 0) {
            const m = messages.splice(i, 1)[0] as { type: string; message?: string };
            waiters.delete(check);
            clearTimeout(timer);
            if (m.type === 'error') reject(new Error(`${script}: ${m.message}`));
            else resolve(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`${script} exited (${proc.exitCode ?? proc.signalCode}):\n${tail.join('')}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${script}: no "${type}" within ${timeoutMs} ms:\n${tail.join('')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Register `n` banks (device secret `bank-<i>-secret`, 24 compartments) and the two tokens. */
async function provision(dataDir: string, n: number): Promise<void> {
  const store = openCloudStore(join(dataDir, 'cloud.sqlite'), { hashParams: TEST_ARGON2 });
  store.db.pragma('synchronous = OFF'); // provisioning only; the cloud reopens it with FULL
  const random = new SeededRandom(n);
  const replicas = new BankReplicas({ db: store.db, clock: systemClock, random, capacity: 8 });
  const admin = new BankAdmin({ store, replicas, clock: systemClock, random, hashParams: TEST_ARGON2 });
  await store.credentials.addToken(CARRIER_TOKEN, { role: 'carrier', subject: 'load-carrier' }, systemClock.now());
  await store.credentials.addToken(SUPPORT_TOKEN, { role: 'support', subject: 'load-support' }, systemClock.now());
  const layout = layoutOf(8, 10, 6);
  for (let i = 1; i <= n; i++) await admin.registerBank(`bank-${i}`, `bank-${i}-secret`, layout);
  store.close();
}

export interface LoadResult {
  bench: 'load';
  hubs: number;
  events_per_s: number;
  sync_p99_ms: number;
  cloud_rss_mb: number;
  errors: number;
  [k: string]: unknown;
}

async function runOne(n: number, rate: number, seconds: number, warmup: number): Promise<LoadResult> {
  const dataDir = mkdtempSync(join(tmpdir(), `cubby-load-${n}-`));
  const children: Child[] = [];
  try {
    const t0 = performance.now();
    await provision(dataDir, n);
    log(`load ${n}: ${n} banks registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const cloud = spawnChild('_load-cloud.ts', { CUBBY_LOAD_DATA: dataDir, CUBBY_LOAD_MQTT_PORT: '0' }, false);
    children.push(cloud);
    const info = (await cloud.next('ready', 120_000)) as { url: string; mqttUrl: string; pid: number };
    const idleRss = rssMb(info.pid);
    log(`load ${n}: cloud at ${info.url} (rss ${idleRss.toFixed(0)} MB)`);

    const procs = n <= 200 ? 1 : 2;
    const per = Math.ceil(n / procs);
    const t1 = performance.now();
    for (let p = 0; p < procs; p++) {
      const firstBank = p * per + 1;
      const lastBank = Math.min(n, (p + 1) * per);
      children.push(
        spawnChild(
          '_load-hubs.ts',
          {
            CUBBY_LOAD_CLOUD: info.url,
            CUBBY_LOAD_MQTT: info.mqttUrl,
            CUBBY_LOAD_FIRST: String(firstBank),
            CUBBY_LOAD_LAST: String(lastBank),
            CUBBY_LOAD_CARRIER_TOKEN: CARRIER_TOKEN,
            CUBBY_LOAD_SUPPORT_TOKEN: SUPPORT_TOKEN,
          },
          true,
        ),
      );
    }
    const hubProcs = children.slice(1);
    const ready = (await Promise.all(hubProcs.map((c) => c.next('ready', 900_000)))) as { hubs: number; rssMb: number }[];
    const connectedRss = rssMb(info.pid);
    log(`load ${n}: ${ready.reduce((s, r) => s + r.hubs, 0)} hubs connected and synced in ${((performance.now() - t1) / 1000).toFixed(1)} s (cloud rss ${connectedRss.toFixed(0)} MB)`);

    let peakRss = connectedRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(info.pid))), 250);
    for (const c of hubProcs) c.proc.send({ type: 'run', rate: rate / hubProcs.length, seconds, warmup });
    const results = (await Promise.all(hubProcs.map((c) => c.next('result', (warmup + seconds + 120) * 1000)))) as {
      samples: { hubToCloud: number[]; cloudToHub: number[] };
      events: number;
      errors: string[];
      errorCount: number;
      seconds: number;
      drainedSeconds: number;
      parcels: number;
      reconnects: number;
      rssMb: number;
    }[];
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMb(info.pid));
    const h2c = results.flatMap((r) => r.samples.hubToCloud);
    const c2h = results.flatMap((r) => r.samples.cloudToHub);
    const all = [...h2c, ...c2h];
    const events = results.reduce((s, r) => s + r.events, 0);
    const elapsed = Math.max(...results.map((r) => r.drainedSeconds));
    const errors = results.reduce((s, r) => s + r.errorCount, 0);
    for (const r of results) for (const e of r.errors) log(`load ${n}: error: ${e}`);
    const result: LoadResult = {
      bench: 'load',
      hubs: n,
      events_per_s: round(events / elapsed, 1),
      sync_p99_ms: all.length ? round(percentile(all, 99), 1) : -1,
      cloud_rss_mb: round(peakRss, 1),
      errors,
      sync_p50_ms: all.length ? round(percentile(all, 50), 1) : -1,
      hub_to_cloud_p99_ms: h2c.length ? round(percentile(h2c, 99), 1) : -1,
      cloud_to_hub_p99_ms: c2h.length ? round(percentile(c2h, 99), 1) : -1,
      samples: all.length,
      offered_events_per_s: rate,
      seconds: round(elapsed, 1),
      cloud_rss_idle_mb: round(idleRss, 1),
      cloud_rss_connected_mb: round(connectedRss, 1),
      hub_processes: hubProcs.length,
      sync_reconnects_during_run: results.reduce((s, r) => s + r.reconnects, 0),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result;
  } finally {
    for (const c of children.slice(1)) c.proc.connected && c.proc.send({ type: 'stop' });
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<object> {
  const only = flag(args, 'hubs');
  const sizes = only ? [Number(only)] : [100, 1000];
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--hubs must be a positive integer');
  const rate = Number(flag(args, 'rate') ?? 100);
  const seconds = Number(flag(args, 'seconds') ?? 20);
  const warmup = Number(flag(args, 'warmup') ?? 3);
  const runs: LoadResult[] = [];
  for (const n of sizes) runs.push(await runOne(n, rate, seconds, warmup));
  const lastRun = runs[runs.length - 1]!;
  const small = runs.find((r) => r.hubs === 100);
  const big = runs.find((r) => r.hubs === 1000);
  return {
    ...lastRun,
    ...(small && big ? { rss_ratio: round(big.cloud_rss_mb / small.cloud_rss_mb, 2) } : {}),
    runs: runs.map((r) => ({ hubs: r.hubs, events_per_s: r.events_per_s, sync_p99_ms: r.sync_p99_ms, cloud_rss_mb: r.cloud_rss_mb, errors: r.errors })),
  };
}
