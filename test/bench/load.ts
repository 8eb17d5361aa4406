/**
 * `npm run bench -- load [--hubs=N] [--rate=EVENTS_PER_S] [--seconds=S] [--warmup=S]`
 *   `[--nodes=1|3 [--api=any|owner] [--forward=on|off] [--no-reference] [--profile=DIR]]`
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
 * the stream runs), `cloud_cpu_s_per_1k_events` (the cloud process's CPU time, user + system,
 * over the measured stream), `errors` (failed requests, steps that did not complete within 20 s,
 * sync refusals). One JSON line per N on stdout; the last line is the N=1,000 result with every
 * run in `runs` and the ratio `rss_ratio` = cloud_rss_mb(1000) / cloud_rss_mb(100).
 * Targets: at 1,000 hubs errors 0, sync_p99_ms < 1,000, rss_ratio < 4.
 *
 * `--nodes=N` (N = 1 or 3; default hubs 100): the cloud as a deployment of several nodes runs it —
 * a private PostgreSQL (test/support/postgres-server.ts) instead of SQLite, an external Mosquitto
 * (test/support/mosquitto.ts) instead of the embedded broker, and N cloud node processes
 * (`CUBBY_DATABASE_URL`, `CUBBY_NODE_ID`, `CUBBY_CLOUD_NODES`, `CUBBY_MQTT_URL`). Every hub is
 * given all the nodes' URLs and is sent on (`moved`) to the node its bank hashes to. The carrier's
 * and support's HTTP requests go to the nodes in turn, as through a load balancer (`--api=any`,
 * default), or to the node serving the bank (`--api=owner`, a bank-aware router). With N > 1 the
 * same hubs and rate run first against ONE node, then against N, then (unless `--no-reference`)
 * against one node at rate / N — the load each of the N nodes carries — each on its own database
 * of the same PostgreSQL server, so the figures come from one run of the machine.
 * Reported: `cloud_cpu_s_per_1k_events`, the CPU seconds (user + system, all threads, read from
 * /proc/<pid>/stat) of all node processes summed, between the start of the measured stream (after
 * the warm-up drained) and its end (every pipeline finished), per 1,000 completed events; the
 * one-node figure and the `ratio` between them; `ratio_vs_reference`, the N-node figure over the
 * one node at rate / N (what the nodes add beyond each carrying less load); `moved_redirects`
 * (sync sessions sent on to the owner while connecting, and during the run); `lost_events`,
 * completed parcels whose deposit and pickup or revocation are not in the cloud's database
 * afterwards (counted in `errors`), and node log lines reporting failures (counted in `errors`).
 * PostgreSQL's own CPU (the backends serving the nodes) is shown as `db_cpu_s`, not in the figure.
 * `--profile=<dir>` writes each node's CPU profile of the measured window there.
 * Target (issue 8): the N-node figure ≤ 1.3 × the one-node figure, errors 0.
 *
 * What is simulated: device secrets are argon2id-hashed with cheap parameters (m=256 KiB, t=1)
 * so that registering and connecting 1,000 banks takes seconds, not minutes of argon2 (a real
 * cloud verifies each device once per process and caches it; the cost is paid at connect, not
 * during the measured stream). The hubs' codes carry a fixed fake hash (nothing verifies them).
 * The cloud's SQLite runs `synchronous=FULL` on the machine's disk (the data directory is under
 * the OS temp dir), as configured in production; PostgreSQL runs with its defaults (fsync on,
 * synchronous_commit on) on the same disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { BankAdmin } from '../../cloud/bank-admin.js';
import { BankReplicas } from '../../cloud/bank-replicas.js';
import { layoutOf } from '../../cloud/demo-seed.js';
import { generateCloudKeys } from '../../cloud/keys.js';
import { openCloudStore } from '../../cloud/store/cloud-store.js';
import { TEST_ARGON2 } from '../../shared/codes/hasher.js';
import { usedAt } from '../../shared/ledger/parcel-doc.js';
import { SeededRandom, systemClock } from '../../shared/ports.js';
import { freePort } from '../support/free-port.js';
import { startMosquitto } from '../support/mosquitto.js';
import { startPostgres } from '../support/postgres-server.js';
import { log, percentile, round } from './run.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const CARRIER_TOKEN = 'load-carrier-token';
const SUPPORT_TOKEN = 'load-support-token';
const MQTT_CLOUD = { username: 'cubby-cloud', secret: 'load-bench-cloud-secret' };
/** `--profile=<dir>`: CPU profiles of the cloud processes over the measured window. */
let profileRoot: string | undefined;

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

function spawnChild(script: string, env: Record<string, string>, ipc: boolean, onLine?: (line: string) => void): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, script)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  let partial = '';
  proc.stderr!.on('data', (b: Buffer) => {
    tail.push(b.toString());
    if (process.env.CUBBY_LOAD_VERBOSE) process.stderr.write(b); // the children's own logs
    if (tail.length > 50) tail.shift();
    if (onLine) {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    }
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

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
const CLK_TCK = 100;

/** CPU seconds (user + system) of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat; 0 once it is gone. */
function statCpu(path: string, which: 'user+system' | 'system' = 'user+system'): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    const system = Number(f[12]); // field 15 (stime); field 14 (utime) is f[11]
    return (which === 'system' ? system : Number(f[11]) + system) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** System CPU seconds (in the kernel: syscalls, wake-ups) of a process so far, every thread. */
const sysSeconds = (pid: number): number => statCpu(`/proc/${pid}/stat`, 'system');
/** Context switches (voluntary + involuntary) of every thread of a process so far. */
function contextSwitches(pid: number): number {
  let n = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of st.matchAll(/ctxt_switches:\s+(\d+)/g)) n += Number(m[1]);
    }
  } catch {
    // gone
  }
  return n;
}

/** CPU seconds a process has used so far, every thread. */
const cpuSeconds = (pid: number): number => statCpu(`/proc/${pid}/stat`);
/** …of its main thread alone (JavaScript; the rest is the PostgreSQL worker thread, V8's compiler and GC threads). */
const mainThreadCpuSeconds = (pid: number): number => statCpu(`/proc/${pid}/task/${pid}/stat`);
/** …by thread name (`/proc/<pid>/task/<tid>/comm`: `node` is the main thread, V8's helpers are `V8 DefaultWorke`, libuv's `libuv-worker`, …). */
function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = tid === String(pid) ? 'main' : `+${Number(tid) - pid}`;
      out.set(name, (out.get(name) ?? 0) + statCpu(`/proc/${pid}/task/${tid}/stat`));
    }
  } catch {
    // gone
  }
  return out;
}
const threadDelta = (end: Map<string, number>, start: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...end].map(([k, v]) => [k, round(v - (start.get(k) ?? 0), 2)]).filter(([, v]) => (v as number) > 0));

/** Register `n` banks (device secret `bank-<i>-secret`, 24 compartments) and the two tokens. */
async function provision(location: string, n: number): Promise<void> {
  const store = openCloudStore(location, { hashParams: TEST_ARGON2, node: 'provision' });
  // Provisioning only: the cloud reopens a SQLite file with FULL.
  if ('pragma' in store.db) (store.db as unknown as { pragma(s: string): unknown }).pragma('synchronous = OFF');
  const random = new SeededRandom(n);
  const replicas = new BankReplicas({ db: store.db, clock: systemClock, random, capacity: 8 });
  const admin = new BankAdmin({ store, replicas, clock: systemClock, random, hashParams: TEST_ARGON2 });
  await store.credentials.addToken(CARRIER_TOKEN, { role: 'carrier', subject: 'load-carrier' }, systemClock.now());
  await store.credentials.addToken(SUPPORT_TOKEN, { role: 'support', subject: 'load-support' }, systemClock.now());
  const layout = layoutOf(8, 10, 6);
  for (let i = 1; i <= n; i++) await admin.registerBank(`bank-${i}`, `bank-${i}-secret`, layout);
  store.close();
}

/** A parcel whose three steps completed at a hub, and how it ended. */
interface Completed {
  bankId: string;
  parcelId: string;
  end: 'used' | 'revoked';
}

/** Completed parcels whose deposit and pickup / revocation are not in the cloud's database. */
function lostEvents(location: string, completed: Completed[]): { lost: number; examples: string[] } {
  const store = openCloudStore(location, { node: 'bench-check' });
  try {
    const replicas = new BankReplicas({ db: store.db, clock: systemClock, random: new SeededRandom(1), capacity: 4 });
    const examples: string[] = [];
    let lost = 0;
    for (const c of [...completed].sort((x, y) => (x.bankId < y.bankId ? -1 : x.bankId > y.bankId ? 1 : 0))) {
      const doc = replicas.get(c.bankId).ledger.doc(c.parcelId);
      const codes = doc ? Object.values(doc.codes) : [];
      const missing = !doc
        ? 'the parcel'
        : !doc.deposit
          ? 'the deposit'
          : c.end === 'used' && !codes.some((code) => usedAt(code) !== undefined)
            ? 'the pickup'
            : c.end === 'revoked' && !codes.some((code) => code.revokedAt !== undefined)
              ? 'the revocation'
              : undefined;
      if (missing) {
        lost++;
        if (examples.length < 10) examples.push(`${c.bankId}/${c.parcelId}: ${missing} is not in the cloud's database`);
      }
    }
    return { lost, examples };
  } finally {
    store.close();
  }
}

export interface LoadResult {
  bench: 'load';
  hubs: number;
  events_per_s: number;
  sync_p99_ms: number;
  cloud_rss_mb: number;
  errors: number;
  cloud_cpu_s_per_1k_events: number;
  [k: string]: unknown;
}

/** The cloud under test: one SQLite cloud with its embedded broker, or N nodes on PostgreSQL + Mosquitto. */
type Deployment = { kind: 'single' } | { kind: 'nodes'; nodes: number; pgServerUrl: string; mqttUrl: string; api: 'any' | 'owner'; forward: boolean };

/** A cloud process the bench started. */
interface CloudProc {
  child: Child;
  node: string;
  url: string;
  pid: number;
  /** Log lines reporting a failure (from its start to the end of the measured stream). */
  logErrors: string[];
  /** Changes of its set of live nodes during the measured stream. */
  membershipChanges: number;
}

/** Node log lines that mean something failed (the sync server, the API, the cluster). */
const FAILURE_LINE = /^cloud: (error: |cluster: heartbeat failed|cluster: could not refresh|sync: .*(frame refused|refused a hello))/;

async function startNodes(
  dep: Extract<Deployment, { kind: 'nodes' }>,
  dbUrl: string,
  dirs: string[],
  counting: () => 'before' | 'measuring' | 'after',
  children: Child[],
  extraEnv: Record<string, string>,
): Promise<CloudProc[]> {
  const ids = Array.from({ length: dep.nodes }, (_, i) => `n${i + 1}`);
  const ports = [] as number[];
  for (const _ of ids) ports.push(await freePort());
  const spec = ids.map((id, i) => `${id}=http://127.0.0.1:${ports[i]}`).join(',');
  const keys = JSON.stringify(generateCloudKeys()); // every node holds the deployment's keys
  const procs: CloudProc[] = [];
  /** Each node's latest "cluster: alive …" list. */
  const alive = new Map<string, number>();
  for (const [i, id] of ids.entries()) {
    const dir = dirs[i]!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'keys.json'), keys, { mode: 0o600 });
    const p: Partial<CloudProc> & { logErrors: string[]; membershipChanges: number } = { node: id, logErrors: [], membershipChanges: 0 };
    const child = spawnChild(
      '_load-cloud.ts',
      {
        CUBBY_LOAD_CLUSTER: '1',
        CUBBY_DATABASE_URL: dbUrl,
        CUBBY_NODE_ID: id,
        CUBBY_CLOUD_NODES: spec,
        CUBBY_CLOUD_PORT: String(ports[i]),
        CUBBY_CLOUD_HOST: '127.0.0.1',
        CUBBY_DATA_DIR: dir,
        CUBBY_MQTT_URL: dep.mqttUrl,
        CUBBY_MQTT_CLOUD_USER: MQTT_CLOUD.username,
        CUBBY_MQTT_CLOUD_SECRET: MQTT_CLOUD.secret,
        CUBBY_CLUSTER_FORWARD: dep.forward ? '1' : '0',
        ...extraEnv,
      },
      false,
      (line) => {
        const m = /^cloud: cluster: alive (.*)$/.exec(line);
        if (m) {
          alive.set(id, m[1]!.split(', ').length);
          if (counting() === 'measuring') p.membershipChanges++;
        }
        if (counting() !== 'after' && FAILURE_LINE.test(line)) p.logErrors.push(`${id}: ${line}`);
      },
    );
    children.push(child);
    p.child = child;
    procs.push(p as CloudProc);
  }
  for (const p of procs) {
    const info = (await p.child.next('ready', 120_000)) as { url: string; pid: number };
    p.url = info.url;
    p.pid = info.pid;
  }
  // Hubs connect once every node counts every node alive (each logs its live set when it changes),
  // so no session is accepted by a node that would hand the bank over a moment later.
  if (dep.nodes > 1) {
    const until = Date.now() + 30_000;
    while (!ids.every((id) => alive.get(id) === dep.nodes)) {
      if (Date.now() > until) throw new Error(`the nodes did not see each other: ${JSON.stringify(Object.fromEntries(alive))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return procs;
}

/** PIDs of the PostgreSQL backends connected to database `name`. */
async function backendPids(serverUrl: string, name: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    return r.rows.map((row) => row.pid);
  } finally {
    await c.end();
  }
}

async function runOne(n: number, rate: number, seconds: number, warmup: number, dep: Deployment = { kind: 'single' }): Promise<LoadResult> {
  const label = dep.kind === 'nodes' ? `load ${n} hubs, ${dep.nodes} node${dep.nodes > 1 ? 's' : ''}, ${round(rate, 1)} events/s` : `load ${n}`;
  const dataDir = mkdtempSync(join(tmpdir(), `cubby-load-${n}-`));
  const children: Child[] = [];
  let counting: 'before' | 'measuring' | 'after' = 'before';
  const profileDir = profileRoot && join(profileRoot, dep.kind === 'nodes' ? `${dep.nodes}-nodes-${Math.round(rate)}-per-s` : `${n}-hubs`);
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const profileEnv: Record<string, string> = profileDir ? { CUBBY_LOAD_PROFILE_DIR: profileDir } : {};
  let dbName = '';
  try {
    const t0 = performance.now();
    let location = join(dataDir, 'cloud.sqlite');
    if (dep.kind === 'nodes') {
      dbName = `load_${dep.nodes}n_${Date.now().toString(36)}`;
      const c = new pg.Client({ connectionString: dep.pgServerUrl });
      await c.connect();
      await c.query(`CREATE DATABASE ${dbName}`).finally(() => c.end());
      const u = new URL(dep.pgServerUrl);
      u.pathname = `/${dbName}`;
      location = u.toString();
    }
    await provision(location, n);
    log(`${label}: ${n} banks registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    let clouds: CloudProc[];
    let mqttUrl: string;
    if (dep.kind === 'nodes') {
      clouds = await startNodes(dep, location, Array.from({ length: dep.nodes }, (_, i) => join(dataDir, `n${i + 1}`)), () => counting, children, profileEnv);
      mqttUrl = dep.mqttUrl;
    } else {
      const child = spawnChild('_load-cloud.ts', { CUBBY_LOAD_DATA: dataDir, CUBBY_LOAD_MQTT_PORT: '0', ...profileEnv }, false);
      children.push(child);
      const info = (await child.next('ready', 120_000)) as { url: string; mqttUrl: string; pid: number };
      clouds = [{ child, node: 'local', url: info.url, pid: info.pid, logErrors: [], membershipChanges: 0 }];
      mqttUrl = info.mqttUrl;
    }
    const cloudRss = () => clouds.reduce((s, c) => s + rssMb(c.pid), 0);
    const idleRss = cloudRss();
    log(`${label}: cloud at ${clouds.map((c) => c.url).join(', ')} (rss ${idleRss.toFixed(0)} MB)`);

    const procs = n <= 200 ? 1 : 2;
    const per = Math.ceil(n / procs);
    const t1 = performance.now();
    const hubProcs: Child[] = [];
    for (let p = 0; p < procs; p++) {
      const firstBank = p * per + 1;
      const lastBank = Math.min(n, (p + 1) * per);
      const child = spawnChild(
        '_load-hubs.ts',
        {
          CUBBY_LOAD_CLOUD: clouds.map((c) => c.url).join(','),
          CUBBY_LOAD_NODES: clouds.map((c) => `${c.node}=${c.url}`).join(','),
          CUBBY_LOAD_API: dep.kind === 'nodes' ? dep.api : 'any',
          CUBBY_LOAD_MQTT: mqttUrl,
          CUBBY_LOAD_FIRST: String(firstBank),
          CUBBY_LOAD_LAST: String(lastBank),
          CUBBY_LOAD_CARRIER_TOKEN: CARRIER_TOKEN,
          CUBBY_LOAD_SUPPORT_TOKEN: SUPPORT_TOKEN,
        },
        true,
      );
      children.push(child);
      hubProcs.push(child);
    }
    const ready = (await Promise.all(hubProcs.map((c) => c.next('ready', 900_000)))) as { hubs: number; rssMb: number; moved: number; refused: number }[];
    const connectedRss = cloudRss();
    const movedAtConnect = ready.reduce((s, r) => s + r.moved, 0);
    const refusedAtConnect = ready.reduce((s, r) => s + r.refused, 0);
    log(
      `${label}: ${ready.reduce((s, r) => s + r.hubs, 0)} hubs connected and synced in ${((performance.now() - t1) / 1000).toFixed(1)} s (cloud rss ${connectedRss.toFixed(0)} MB` +
        `${dep.kind === 'nodes' ? `, ${movedAtConnect} moved` : ''})`,
    );

    let peakRss = connectedRss;
    const peakPerNode = clouds.map((c) => rssMb(c.pid));
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, cloudRss());
      clouds.forEach((c, i) => (peakPerNode[i] = Math.max(peakPerNode[i]!, rssMb(c.pid))));
    }, 250);
    for (const c of hubProcs) c.proc.send({ type: 'run', rate: rate / hubProcs.length, seconds, warmup });
    // The measured window: from the first hub process starting its measured stream (the warm-up
    // has drained) to the last one's result (every pipeline of the stream finished).
    let cpuAtStart: number[] = [];
    let mainCpuAtStart: number[] = [];
    let threadsAtStart: Map<string, number>[] = [];
    let sysAtStart: number[] = [];
    let switchesAtStart: number[] = [];
    let dbPids: number[] = [];
    let dbCpuAtStart = new Map<number, number>();
    const measuring = hubProcs[0]!.next('measuring', (warmup + 120) * 1000).then(async () => {
      cpuAtStart = clouds.map((c) => cpuSeconds(c.pid));
      mainCpuAtStart = clouds.map((c) => mainThreadCpuSeconds(c.pid));
      threadsAtStart = clouds.map((c) => threadCpuSeconds(c.pid));
      sysAtStart = clouds.map((c) => sysSeconds(c.pid));
      switchesAtStart = clouds.map((c) => contextSwitches(c.pid));
      if (profileDir || process.env.CUBBY_LOAD_SQL_STATS) for (const c of clouds) c.child.proc.kill('SIGUSR2');
      counting = 'measuring';
      if (dep.kind === 'nodes') {
        dbPids = await backendPids(dep.pgServerUrl, dbName);
        dbCpuAtStart = new Map(dbPids.map((pid) => [pid, cpuSeconds(pid)]));
      }
    });
    const results = (await Promise.all(hubProcs.map((c) => c.next('result', (warmup + seconds + 120) * 1000)))) as {
      samples: { hubToCloud: number[]; cloudToHub: number[] };
      events: number;
      errors: string[];
      errorCount: number;
      seconds: number;
      drainedSeconds: number;
      parcels: number;
      reconnects: number;
      moved: number;
      completed: Completed[];
      rssMb: number;
      warmupErrors: string[];
      warmupErrorCount: number;
    }[];
    await measuring;
    const cpuAtEnd = clouds.map((c) => cpuSeconds(c.pid));
    const mainCpuAtEnd = clouds.map((c) => mainThreadCpuSeconds(c.pid));
    const threadsAtEnd = clouds.map((c) => threadCpuSeconds(c.pid));
    const sysAtEnd = clouds.map((c) => sysSeconds(c.pid));
    const switchesAtEnd = clouds.map((c) => contextSwitches(c.pid));
    if (profileDir || process.env.CUBBY_LOAD_SQL_STATS) {
      for (const c of clouds) c.child.proc.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 3000)); // the profiles are written
    }
    counting = 'after';
    const dbCpu = dbPids.reduce((s, pid) => s + cpuSeconds(pid) - (dbCpuAtStart.get(pid) ?? 0), 0);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, cloudRss());
    const h2c = results.flatMap((r) => r.samples.hubToCloud);
    const c2h = results.flatMap((r) => r.samples.cloudToHub);
    const all = [...h2c, ...c2h];
    const events = results.reduce((s, r) => s + r.events, 0);
    const elapsed = Math.max(...results.map((r) => r.drainedSeconds));
    const cpuPerNode = clouds.map((_, i) => cpuAtEnd[i]! - cpuAtStart[i]!);
    const cloudCpu = cpuPerNode.reduce((s, x) => s + x, 0);
    let errors = results.reduce((s, r) => s + r.errorCount + r.warmupErrorCount, 0) + refusedAtConnect;
    for (const r of results) for (const e of r.errors) log(`${label}: error: ${e}`);
    for (const r of results) for (const e of r.warmupErrors) log(`${label}: error (warm-up): ${e}`);
    if (refusedAtConnect > 0) log(`${label}: error: ${refusedAtConnect} sync refusal(s) while connecting`);
    const sync_p99_ms = all.length ? round(percentile(all, 99), 1) : -1;
    const common = {
      sync_p50_ms: all.length ? round(percentile(all, 50), 1) : -1,
      hub_to_cloud_p99_ms: h2c.length ? round(percentile(h2c, 99), 1) : -1,
      cloud_to_hub_p99_ms: c2h.length ? round(percentile(c2h, 99), 1) : -1,
      samples: all.length,
      offered_events_per_s: round(rate, 1),
      seconds: round(elapsed, 1),
    };
    let result: LoadResult;
    if (dep.kind === 'nodes') {
      const t2 = performance.now();
      const { lost, examples } = lostEvents(
        location,
        results.flatMap((r) => r.completed),
      );
      for (const e of examples) log(`${label}: error: ${e}`);
      const logErrors = clouds.flatMap((c) => c.logErrors);
      for (const e of logErrors.slice(0, 10)) log(`${label}: error: ${e}`);
      errors += lost + logErrors.length;
      log(`${label}: ${results.reduce((s, r) => s + r.completed.length, 0)} completed parcels checked in the cloud's database in ${((performance.now() - t2) / 1000).toFixed(1)} s`);
      result = {
        bench: 'load',
        nodes: dep.nodes,
        hubs: n,
        events_per_s: round(events / elapsed, 1),
        cloud_cpu_s_per_1k_events: round((cloudCpu / events) * 1000, 3),
        errors,
        cloud_cpu_s: round(cloudCpu, 2),
        events,
        sync_p99_ms,
        ...common,
        cloud_rss_mb: round(peakRss, 1),
        per_node: clouds.map((c, i) => ({ node: c.node, cpu_s: round(cpuPerNode[i]!, 2), main_thread_cpu_s: round(mainCpuAtEnd[i]! - mainCpuAtStart[i]!, 2), threads_cpu_s: threadDelta(threadsAtEnd[i]!, threadsAtStart[i]!), sys_cpu_s: round(sysAtEnd[i]! - sysAtStart[i]!, 2), context_switches: switchesAtEnd[i]! - switchesAtStart[i]!, rss_mb: round(peakPerNode[i]!, 1) })),
        db_cpu_s: round(dbCpu, 2),
        moved_redirects: movedAtConnect + results.reduce((s, r) => s + r.moved, 0),
        moved_during_run: results.reduce((s, r) => s + r.moved, 0),
        sync_reconnects_during_run: results.reduce((s, r) => s + r.reconnects, 0),
        membership_changes_during_run: clouds.reduce((s, c) => s + c.membershipChanges, 0),
        lost_events: lost,
        cloud_log_errors: logErrors.length,
        hub_processes: hubProcs.length,
      };
    } else {
      result = {
        bench: 'load',
        hubs: n,
        events_per_s: round(events / elapsed, 1),
        sync_p99_ms,
        cloud_rss_mb: round(peakRss, 1),
        errors,
        ...common,
        cloud_rss_idle_mb: round(idleRss, 1),
        cloud_rss_connected_mb: round(connectedRss, 1),
        cloud_cpu_s_per_1k_events: round((cloudCpu / events) * 1000, 3),
        hub_processes: hubProcs.length,
        sync_reconnects_during_run: results.reduce((s, r) => s + r.reconnects, 0),
      };
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result;
  } finally {
    counting = 'after';
    for (const c of children) if (c.proc.connected) c.proc.send({ type: 'stop' });
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    if (dep.kind === 'nodes' && dbName) {
      // The next run gets a server without this one's tables in its caches and checkpoints.
      const c = new pg.Client({ connectionString: dep.pgServerUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).finally(() => c.end());
    }
  }
}

interface NodesOptions {
  nodes: number;
  hubs: number;
  rate: number;
  seconds: number;
  warmup: number;
  /** Where the carrier's and support's HTTP requests go: any node in turn, or the bank's owner. */
  api: 'any' | 'owner';
  forward: boolean;
  /** Also run one node at rate / nodes: the load each of the N nodes carries. */
  reference: boolean;
}

/** `--nodes=N`: one node, then N (then one node at rate / N), on one PostgreSQL server and one Mosquitto. */
async function runNodes(o: NodesOptions): Promise<object> {
  const t0 = performance.now();
  const pgServer = await startPostgres();
  const banks = Object.fromEntries(Array.from({ length: o.hubs }, (_, i) => [`bank-${i + 1}`, `bank-${i + 1}-secret`]));
  let broker: Awaited<ReturnType<typeof startMosquitto>> | undefined;
  try {
    broker = await startMosquitto(MQTT_CLOUD, banks);
    log(`load --nodes ${o.nodes}: PostgreSQL at ${pgServer.url.replace(/\/[^/]*$/, '')}, Mosquitto at ${broker.url} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const dep = (nodes: number): Deployment => ({ kind: 'nodes', nodes, pgServerUrl: pgServer.url, mqttUrl: broker!.url, api: o.api, forward: o.forward });
    const one = await runOne(o.hubs, o.rate, o.seconds, o.warmup, dep(1));
    const many = o.nodes > 1 ? await runOne(o.hubs, o.rate, o.seconds, o.warmup, dep(o.nodes)) : undefined;
    const reference = many && o.reference ? await runOne(o.hubs, o.rate / o.nodes, o.seconds, o.warmup, dep(1)) : undefined;
    const runs = [one, many, reference].filter((r): r is LoadResult => r !== undefined);
    const summary = (r: LoadResult) => ({
      nodes: r.nodes,
      hubs: r.hubs,
      offered_events_per_s: r.offered_events_per_s,
      events_per_s: r.events_per_s,
      sync_p99_ms: r.sync_p99_ms,
      events: r.events,
      cloud_cpu_s: r.cloud_cpu_s,
      cloud_cpu_s_per_1k_events: r.cloud_cpu_s_per_1k_events,
      errors: r.errors,
      per_node: r.per_node,
      db_cpu_s: r.db_cpu_s,
      moved_redirects: r.moved_redirects,
      moved_during_run: r.moved_during_run,
      lost_events: r.lost_events,
      sync_reconnects_during_run: r.sync_reconnects_during_run,
    });
    const errors = runs.reduce((s, r) => s + r.errors, 0);
    const last = many ?? one;
    const ratio = many ? many.cloud_cpu_s_per_1k_events / one.cloud_cpu_s_per_1k_events : 1;
    return {
      bench: 'load',
      nodes: o.nodes,
      hubs: o.hubs,
      events_per_s: last.events_per_s,
      cloud_cpu_s_per_1k_events: last.cloud_cpu_s_per_1k_events,
      errors,
      ...(many ? { one_node_cloud_cpu_s_per_1k_events: one.cloud_cpu_s_per_1k_events, ratio: round(ratio, 2), target_met: ratio <= 1.3 && errors === 0 } : {}),
      ...(many && reference
        ? {
            reference_one_node_offered_events_per_s: reference.offered_events_per_s,
            reference_one_node_cloud_cpu_s_per_1k_events: reference.cloud_cpu_s_per_1k_events,
            ratio_vs_reference: round(many.cloud_cpu_s_per_1k_events / reference.cloud_cpu_s_per_1k_events, 2),
          }
        : {}),
      offered_events_per_s: o.rate,
      api: o.api,
      forward: o.forward,
      sync_p99_ms: last.sync_p99_ms,
      moved_redirects: last.moved_redirects,
      runs: runs.map(summary),
    };
  } finally {
    await broker?.close();
    await pgServer.stop();
  }
}

export async function run(args: string[]): Promise<object> {
  const only = flag(args, 'hubs');
  const nodesFlag = flag(args, 'nodes');
  const rate = Number(flag(args, 'rate') ?? 100);
  const seconds = Number(flag(args, 'seconds') ?? 20);
  const warmup = Number(flag(args, 'warmup') ?? 3);
  profileRoot = flag(args, 'profile');
  if (nodesFlag !== undefined) {
    const nodes = Number(nodesFlag);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error('--nodes must be 1 or 3 (any of 1..9 works)');
    const n = Number(only ?? 100);
    if (!Number.isInteger(n) || n < 1) throw new Error('--hubs must be a positive integer');
    const api = flag(args, 'api') ?? 'any';
    if (api !== 'any' && api !== 'owner') throw new Error('--api must be any or owner');
    const forward = flag(args, 'forward') ?? 'on';
    if (forward !== 'on' && forward !== 'off') throw new Error('--forward must be on or off');
    return runNodes({ nodes, hubs: n, rate, seconds, warmup, api, forward: forward === 'on', reference: !args.includes('--no-reference') });
  }
  const sizes = only ? [Number(only)] : [100, 1000];
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--hubs must be a positive integer');
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
