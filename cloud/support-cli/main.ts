import type { Diagnosis } from '../diagnosis/diagnosis.js';
import { CloudClient, CloudError } from './cloud-client.js';
import { formatDiagnosis } from './timeline.js';

const USAGE = `usage: cubby support <command> [--cloud URL] [--token T] [--json]
  diagnose PARCEL                    why did the code not arrive / not open? (timeline + verdict)
  resend PARCEL [--channel sms|email|push]   rotate the code and send it again
  health                             notification channels and the outbox backlog
The token comes from --token or CUBBY_SUPPORT_TOKEN; the cloud from --cloud or CUBBY_CLOUD_URL (default http://127.0.0.1:8000).`;

/** Where the CLI writes (tests capture it). */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const stdio: Io = { out: (s) => void process.stdout.write(s + '\n'), err: (s) => void process.stderr.write(s + '\n') };

/** `--name value`, `--name=value` and bare `--flag` (true); everything else is positional. */
export function parseArgv(argv: string[]): { flags: Record<string, string>; positional: string[] } {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (v !== undefined) flags[k] = v;
    else if (k !== 'json' && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags[k] = argv[++i]!;
    else flags[k] = 'true';
  }
  return { flags, positional };
}

/** `cubby support …`: support's terminal tool, a client of the cloud's support API. */
export async function main(argv: string[], io: Io = stdio, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { flags, positional } = parseArgv(argv);
  const [command, target] = positional;
  const client = new CloudClient(flags.cloud ?? env.CUBBY_CLOUD_URL ?? 'http://127.0.0.1:8000', flags.token ?? env.CUBBY_SUPPORT_TOKEN);
  const json = flags.json === 'true';
  try {
    if (command === 'diagnose' && target) {
      const d = await client.request<Diagnosis>('GET', `/v1/parcels/${encodeURIComponent(target)}/diagnosis`);
      io.out(json ? JSON.stringify(d) : formatDiagnosis(d));
    } else if (command === 'resend' && target) {
      const r = await client.request<{ codeId: string; channel: string; to: string }>('POST', `/v1/parcels/${encodeURIComponent(target)}/resend`, flags.channel ? { channel: flags.channel } : {});
      io.out(json ? JSON.stringify(r) : `New code ${r.codeId} for ${target} queued by ${r.channel} to ${r.to}; the old code no longer opens.`);
    } else if (command === 'health') {
      const h = await client.request<{ channels: { channel: string; attempts: number; successRate: number | null; lastError?: string }[]; outbox: Record<string, { n: number }> }>('GET', '/v1/health/channels');
      if (json) io.out(JSON.stringify(h));
      else {
        for (const c of h.channels) io.out(`${c.channel.padEnd(6)} ${c.successRate === null ? 'no sends yet' : `${Math.round(c.successRate * 100)}% taken`} (${c.attempts} sends)${c.lastError ? `, last error: ${c.lastError}` : ''}`);
        io.out(`outbox: ${Object.entries(h.outbox).map(([s, v]) => `${v.n} ${s}`).join(', ') || 'empty'}`);
      }
    } else {
      io.err(USAGE);
      process.exitCode = 2;
    }
  } catch (err) {
    if (!(err instanceof CloudError)) throw err;
    io.err(json ? JSON.stringify({ error: { code: err.code, message: err.message } }) : `error (${err.code}): ${err.message}`);
    process.exitCode = 1;
  }
}
