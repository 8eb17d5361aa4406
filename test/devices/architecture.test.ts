import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// STYLE.md rule 1 and DESIGN.md's dependency direction, checked on the source: only
// devices/johnny-five/ imports johnny-five (and firmata-io); devices/ imports nothing of ours
// (no shared/, edge/, cloud/); the simulator's parts other than the demo factory do not
// depend on the Johnny-Five implementation.

const root = join(import.meta.dirname, '..', '..');
const devices = join(root, 'devices');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

describe('devices/ dependencies', () => {
  const files = sources(devices).map((f) => ({ path: relative(root, f), imports: imports(f) }));

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('only devices/johnny-five/ imports johnny-five or firmata-io', () => {
    const offenders = files.filter((f) => !f.path.startsWith('devices/johnny-five/') && f.imports.some((i) => i === 'johnny-five' || i === 'firmata-io'));
    expect(offenders.map((f) => f.path)).toEqual([]);
  });

  it('imports nothing from shared/, edge/ or cloud/', () => {
    const offenders = files.filter((f) => f.imports.some((i) => /(^|\/)(shared|edge|cloud)\//.test(i)));
    expect(offenders.map((f) => f.path)).toEqual([]);
  });

  it('the simulator does not depend on the Johnny-Five bank, except the factory that joins them', () => {
    const offenders = files.filter(
      (f) => f.path.startsWith('devices/sim/') && f.path !== 'devices/sim/simulated-bank.ts' && f.imports.some((i) => i.includes('johnny-five/')),
    );
    expect(offenders.map((f) => f.path)).toEqual([]);
  });
});
