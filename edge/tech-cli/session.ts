import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the technician tool keeps its short-lived tokens: `$CUBBY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cubby`, else `~/.config/cubby`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CUBBY_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'cubby');
}

/** One hub's saved login. Never the secret: only the hub's short-lived token. */
export interface Saved {
  token: string;
  expiresAt: number;
  technicianId: string;
  role: string;
}

/** The token file (mode 0600: a token opens doors). */
export const sessionFile = (dir: string): string => join(dir, 'tech-sessions.json');

function readAll(dir: string): Record<string, Saved> {
  if (!existsSync(sessionFile(dir))) return {};
  try {
    const all = JSON.parse(readFileSync(sessionFile(dir), 'utf8')) as unknown;
    return typeof all === 'object' && all !== null && !Array.isArray(all) ? (all as Record<string, Saved>) : {};
  } catch {
    return {}; // a damaged file is as good as no login: the next login rewrites it
  }
}

function writeAll(dir: string, all: Record<string, Saved>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = sessionFile(dir);
  writeFileSync(f, JSON.stringify(all, null, 2), { mode: 0o600 });
  chmodSync(f, 0o600); // writeFileSync's mode applies only to a new file
}

/** Save the token for one hub, dropping the expired ones of other hubs. */
export function saveSession(dir: string, hub: string, s: Saved, now = Date.now()): void {
  const all = Object.fromEntries(Object.entries(readAll(dir)).filter(([, v]) => v.expiresAt > now));
  all[hub] = s;
  writeAll(dir, all);
}

/** The live session for `hub`, or why there is none. */
export function loadSession(dir: string, hub: string, now = Date.now()): { session: Saved } | { missing: 'never' | 'expired' } {
  const s = readAll(dir)[hub];
  if (!s) return { missing: 'never' };
  return s.expiresAt > now ? { session: s } : { missing: 'expired' };
}

/** Forget the token for one hub; true when there was one. */
export function removeSession(dir: string, hub: string): boolean {
  const all = readAll(dir);
  if (!(hub in all)) return false;
  delete all[hub];
  if (Object.keys(all).length === 0) rmSync(sessionFile(dir), { force: true });
  else writeAll(dir, all);
  return true;
}
