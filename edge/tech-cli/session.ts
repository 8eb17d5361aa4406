import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the technician tool keeps its short-lived tokens: `$CUBBY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cubby`, else `~/.config/cubby`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CUBBY_CONFIG_DIR ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'cubby');
}

interface Saved {
  token: string;
  expiresAt: number;
  technicianId: string;
  role: string;
}

const file = (dir: string) => join(dir, 'tech-sessions.json');

function readAll(dir: string): Record<string, Saved> {
  return existsSync(file(dir)) ? (JSON.parse(readFileSync(file(dir), 'utf8')) as Record<string, Saved>) : {};
}

/** Save the token for one hub (file mode 0600: it grants door opens). */
export function saveSession(dir: string, hub: string, s: Saved): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const all = readAll(dir);
  all[hub] = s;
  writeFileSync(file(dir), JSON.stringify(all, null, 2), { mode: 0o600 });
  chmodSync(file(dir), 0o600);
}

export function loadSession(dir: string, hub: string, now = Date.now()): Saved | undefined {
  const s = readAll(dir)[hub];
  return s && s.expiresAt > now ? s : undefined;
}
