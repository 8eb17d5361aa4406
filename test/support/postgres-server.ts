/**
 * A private PostgreSQL server for the tests: `initdb` into a temporary folder, `postgres` on a
 * free 127.0.0.1 port, stopped and deleted at the end. Debian's `postgresql` package provides
 * the binaries (`.ci/run` installs it). PostgreSQL refuses to run as root: when the tests run
 * as root (CI containers), the server runs as the `postgres` system user the package created.
 *
 * The vitest global setup (test/support/global-setup.ts) starts one server per run and passes
 * its URL in `CUBBY_TEST_PG_URL`; each test file creates its own database (`freshDatabase`).
 * A server given in `CUBBY_TEST_PG_URL` beforehand is used as it is.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export function postgresBinDir(): string {
  for (const dir of ['/usr/lib/postgresql']) {
    if (!existsSync(dir)) continue;
    const versions = readdirSync(dir).filter((v) => existsSync(join(dir, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(dir, versions[0]!, 'bin');
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('PostgreSQL is not installed: apt-get install -y postgresql (see .ci/run)');
  }
}

export interface PostgresServer {
  /** `postgres://…/postgres` of the superuser. */
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const root = process.getuid?.() === 0;
  const asUser = (cmd: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const dir = mkdtempSync(join(tmpdir(), 'cubby-pg-'));
  const data = join(dir, 'data');
  if (root) {
    chownSync(dir, uidOf('postgres'), uidOf('postgres', true));
    chmodSync(dir, 0o700);
  }
  const [initCmd, initArgs] = asUser(join(bin, 'initdb'), ['-D', data, '-U', 'cubby', '--auth=trust', '-E', 'UTF8', '--no-instructions', '--no-sync']);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  const [cmd, args] = asUser(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'shared_buffers=64MB']);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  const url = `postgres://cubby@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // Fast shutdown, sent to the postmaster itself (`runuser` does not pass SIGINT on).
        const pidFile = join(data, 'postmaster.pid');
        const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : child.pid!;
        process.kill(pid, 'SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function uidOf(user: string, group = false): number {
  return Number(execFileSync('id', [group ? '-g' : '-u', user], { encoding: 'utf8' }).trim());
}

let counter = 0;

/** A new, empty database on the test server; returns its URL. */
export async function freshDatabase(prefix = 'cubby'): Promise<string> {
  const base = process.env.CUBBY_TEST_PG_URL;
  if (!base) throw new Error('CUBBY_TEST_PG_URL is not set: run the tests through vitest (test/support/global-setup.ts)');
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${++counter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}
