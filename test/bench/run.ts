/**
 * Benchmark entry: `npm run bench -- <name> [args…]`.
 *
 * Runs `test/bench/<name>.ts`, a module exporting `run(args: string[]): Promise<object>`.
 * Progress goes to stderr; the object the bench returns is printed as ONE JSON line, the
 * last line of stdout. Adding a bench is adding one file here; files starting with `_`
 * are helpers, not benches.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What every bench module exports. */
export interface BenchModule {
  run(args: string[]): Promise<object>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Names of the available benches: every `test/bench/*.ts` but this file and `_helpers`. */
export function benchNames(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts' && !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/** Progress for humans, on stderr (stdout is reserved for the result line). */
export function log(...parts: unknown[]): void {
  process.stderr.write(parts.map(String).join(' ') + '\n');
}

/** Nearest-rank percentile (p in 0..100) of `xs`. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) throw new RangeError('no samples');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const median = (xs: number[]): number => percentile(xs, 50);

/** Round to `digits` decimals for the JSON line. */
export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const names = benchNames();
  if (!name || !/^[a-z0-9][a-z0-9_-]*$/.test(name) || !names.includes(name)) {
    log(`${name ? `unknown bench "${name}"` : 'no bench named'}. Usage: npm run bench -- <name> [args…]`);
    log(`available: ${names.join(', ')}`);
    return 2;
  }
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') {
    log(`test/bench/${name}.ts does not export run(args)`);
    return 2;
  }
  // Whatever a bench prints with console.log must not land after the result line.
  const stdoutLog = console.log;
  console.log = console.error;
  const started = performance.now();
  let result: object;
  try {
    result = await mod.run(args);
  } finally {
    console.log = stdoutLog;
  }
  log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(result) + '\n', () => resolve()));
  return 0;
}

// Started as the entry point (not imported by a bench for its helpers). No top-level await:
// a bench importing this module while it is still evaluating would deadlock.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
