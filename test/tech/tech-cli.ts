/**
 * The technician tool as a technician runs it: `node bin/cubby.js tech …` in a child
 * process, with its own config dir (where the token file goes), against a hub listening
 * on 127.0.0.1. The child is spawned asynchronously — the hub under test runs in this
 * process and must keep answering while the CLI waits for it.
 *
 * ```ts
 * const cli = await techCli(hub.url);
 * await cli.run(['login', '--id', 'tech-1'], { input: 'tech-1-secret\n' });
 * const s = await cli.json(['status']);
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(REPO, 'bin', 'cubby.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the CLI's stdin, which is then closed (default: closed at once). */
  input?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Kill the child after this long. Default 20 s. */
  timeoutMs?: number;
}

export interface TechCli {
  hub: string;
  /** The CLI's `CUBBY_CONFIG_DIR` (its token file is `tech-sessions.json` in it). */
  configDir: string;
  /** Run `cubby tech <args> --hub <hub>`. */
  run(args: string[], opts?: RunOptions): Promise<CliResult>;
  /** Run with `--json`, expect exit code 0 and parse stdout. */
  json<T = any>(args: string[], opts?: RunOptions): Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** `login --id <id>` with the secret typed on stdin; expects success. */
  login(who: { id: string; secret: string }): Promise<CliResult>;
  close(): void;
}

/** Run `node bin/cubby.js <args>` with a clean environment (no inherited hub, secret or config dir). */
export function runCubby(args: string[], env: Record<string, string>, opts: RunOptions = {}): Promise<CliResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CUBBY_'))) as Record<string, string>;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...clean, ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cubby ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 20_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

export async function techCli(hub: string): Promise<TechCli> {
  const configDir = mkdtempSync(join(tmpdir(), 'cubby-tech-cli-'));
  const cli: TechCli = {
    hub,
    configDir,
    run: (args, opts) => runCubby(['tech', ...args, '--hub', hub], { CUBBY_CONFIG_DIR: configDir }, opts),
    async json(args, opts) {
      const r = await cli.run([...args, '--json'], opts);
      if (r.code !== 0) throw new Error(`cubby tech ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async login(who) {
      const r = await cli.run(['login', '--id', who.id], { input: `${who.secret}\n` });
      if (r.code !== 0) throw new Error(`login as ${who.id} exited ${r.code}: ${r.stderr}`);
      return r;
    },
    close: () => rmSync(configDir, { recursive: true, force: true }),
  };
  return cli;
}

/** The JSON error the CLI writes to stderr with `--json`. */
export function jsonError(r: CliResult): { code: string; message: string; status: number; [k: string]: unknown } {
  const line = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? r.stderr;
  return (JSON.parse(line) as { error: { code: string; message: string; status: number } }).error;
}

/** util-linux `script` gives a child a real terminal (for the no-echo secret prompt). */
export const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Run `cubby tech <args>` on a pseudo-terminal (through `script`), typing `answer` once
 * `prompt` appears. Resolves with everything the terminal showed.
 */
export function runOnTerminal(args: string[], configDir: string, prompt: string, answer: string, timeoutMs = 20_000): Promise<{ code: number; screen: string }> {
  const command = ['node', BIN, 'tech', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CUBBY_'))) as Record<string, string>;
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: REPO, env: { ...clean, CUBBY_CONFIG_DIR: configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let typed = false;
  const onOutput = (c: Buffer): void => {
    screen += c.toString();
    if (!typed && screen.includes(prompt)) {
      typed = true;
      child.stdin.write(answer);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cubby ${args.join(' ')} on a terminal did not finish in ${timeoutMs} ms; screen: ${screen}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolvePromise({ code: code ?? -1, screen });
    });
  });
}
