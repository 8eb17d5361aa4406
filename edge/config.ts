import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { bankIdSchema } from '../shared/ids.js';

/** Provisioning written by the cloud for one bank (`data/provision/<bankId>.json`). */
/** One cloud URL, or every node's, comma-separated. */
const cloudUrls = z
  .string()
  .max(2000)
  .refine((v) => v.split(',').every((u) => /^https?:\/\//.test(u.trim()) && URL.canParse(u.trim())), 'an http(s) URL, or several separated by commas');

export const provisionSchema = z.object({
  bankId: z.string(),
  /** The bank's pepper, base64. */
  pepper: z.string().min(22),
  deviceSecret: z.string().min(8),
  cloudSealPublicKey: z.string().min(20),
  cloudSigningPublicKey: z.string().min(20),
  cloudUrl: cloudUrls.optional(),
  mqttUrl: z.string().optional(),
});
export type Provision = z.infer<typeof provisionSchema>;

/** Hub configuration, validated once at start-up (env vars, then flags). */
export const hubConfigSchema = z.object({
  /** This bank's id. `CUBBY_BANK_ID` or `--bank`. */
  bankId: bankIdSchema,
  /** HTTP port. `CUBBY_EDGE_PORT` or `--port`. Default 8081 for bank-1, 8082 for bank-2, else 8080. */
  port: z.coerce.number().int().min(0).max(65535),
  /** Listen address. Default 127.0.0.1. */
  host: z.string().default('127.0.0.1'),
  /** Folder of the hub's SQLite file and of the cloud's provisioning files. Default `./data`. */
  dataDir: z.string().default('./data'),
  /** Bank model (pin map) of the simulated board. Default cubby-24 for bank-1, cubby-12 otherwise. */
  model: z.enum(['cubby-24', 'cubby-12', 'cubby-4']),
  /**
   * The cloud's HTTP base URL (sync connects to its `/v1/sync`); several cloud nodes: all of
   * them, comma-separated (README "Running at scale"). Absent: standalone.
   */
  cloudUrl: cloudUrls.optional(),
  /** MQTT broker URL. Default: the cloud's embedded broker when a cloud is configured. */
  mqttUrl: z.string().optional(),
  /** Doors of the simulated board close on their own after this many ms (demo people). */
  autoCloseMs: z.coerce.number().int().min(0).default(4000),
});
export type HubConfig = z.infer<typeof hubConfigSchema>;

export function parseArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (v !== undefined) out[k] = v;
    else if (args[i + 1] && !args[i + 1]!.startsWith('--')) out[k] = args[++i]!;
    else out[k] = 'true';
  }
  return out;
}

export function loadHubConfig(args: string[], env: NodeJS.ProcessEnv = process.env): HubConfig {
  const flags = parseArgs(args);
  const bankId = flags.bank ?? env.CUBBY_BANK_ID ?? 'bank-1';
  return hubConfigSchema.parse({
    bankId,
    port: flags.port ?? env.CUBBY_EDGE_PORT ?? ({ 'bank-1': 8081, 'bank-2': 8082 } as Record<string, number>)[bankId] ?? 8080,
    host: flags.host ?? env.CUBBY_EDGE_HOST,
    dataDir: flags['data-dir'] ?? env.CUBBY_DATA_DIR,
    model: flags.model ?? env.CUBBY_BANK_MODEL ?? (bankId === 'bank-1' ? 'cubby-24' : 'cubby-12'),
    cloudUrl: flags.cloud ?? env.CUBBY_CLOUD_URL,
    mqttUrl: flags.mqtt ?? env.CUBBY_MQTT_URL,
    autoCloseMs: flags['auto-close-ms'] ?? env.CUBBY_AUTO_CLOSE_MS,
  });
}

/** The bank's provisioning from the cloud, if present in the data dir. */
export function readProvision(dataDir: string, bankId: string): { provision?: Provision; configDoc?: Uint8Array } {
  const json = join(dataDir, 'provision', `${bankId}.json`);
  const doc = join(dataDir, 'provision', `${bankId}.automerge`);
  return {
    provision: existsSync(json) ? provisionSchema.parse(JSON.parse(readFileSync(json, 'utf8'))) : undefined,
    configDoc: existsSync(doc) ? new Uint8Array(readFileSync(doc)) : undefined,
  };
}
