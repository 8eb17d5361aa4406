/**
 * The technician tool's command line: one option table per command, checked strictly
 * (a mistyped `--reson` is an error, not a silently missing reason).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const USAGE = `usage: cubby tech <command> --hub http://HOST:PORT [--json]
  login [--id ID]                        log in (works with the bank offline); the secret is
                                         asked without echo, or read from stdin when piped
                                         (or $CUBBY_TECH_SECRET, or --secret S: visible in ps)
  logout                                 forget the saved token for this hub
  status                                 compartments, keypad, scanner, board, sync
  selftest [--doors 1,2] [--auto-close]  cycle the empty doors and report the faulty ones
           [--close-timeout 15] [--max-open 4]
                                         --auto-close: doors close by themselves (no prompts);
                                         up to --max-open doors wait to close at once
  open N --reason "..."                  audited open
  service N --out|--in --reason "..."    take a compartment out of / back into service
  relocate PARCEL --to N [--reason "..."]  record a parcel's move; its code opens N then
  events [--since 24h]                   the audit trail (24h, 30m, 7d or an ISO date)
  export [--out FILE]                    a support bundle (status, 7 days of events; no secrets)

  --hub defaults to $CUBBY_HUB_URL; tokens are kept in $CUBBY_CONFIG_DIR (default ~/.config/cubby).
exit codes: 0 ok, 1 refused (or a local error), 2 usage, 3 a door is faulty,
            4 not logged in / not allowed / throttled, 5 hub unreachable`;

/** A mistake on the command line (exit code 2). */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
const common = { hub: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } satisfies Options;

/** Each command's options and how many positional arguments it takes. */
const COMMANDS = {
  login: { options: { id: { type: 'string' }, secret: { type: 'string' } }, positionals: [] },
  logout: { options: {}, positionals: [] },
  status: { options: {}, positionals: [] },
  selftest: {
    options: { doors: { type: 'string' }, 'auto-close': { type: 'boolean' }, 'close-timeout': { type: 'string' }, 'max-open': { type: 'string' } },
    positionals: [],
  },
  open: { options: { reason: { type: 'string' } }, positionals: ['N'] },
  service: { options: { out: { type: 'boolean' }, in: { type: 'boolean' }, reason: { type: 'string' } }, positionals: ['N'] },
  relocate: { options: { to: { type: 'string' }, reason: { type: 'string' } }, positionals: ['PARCEL'] },
  events: { options: { since: { type: 'string' } }, positionals: [] },
  export: { options: { out: { type: 'string' } }, positionals: [] },
} satisfies Record<string, { options: Options; positionals: string[] }>;

export type Command = keyof typeof COMMANDS;

export interface Parsed {
  command: Command;
  /** Option values by name (`--auto-close` → `'auto-close': true`). */
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

/** Parse `argv` (after `cubby tech`); throws {@link UsageError}. */
export function parseCommandLine(argv: string[]): Parsed {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') return { command: 'status', flags: {}, positionals: [], help: true };
  // The command is the first word that is not an option or the value of --hub (`--hub URL status` works too).
  const { tokens } = parseArgs({ args: argv, options: common, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (!first || first.kind !== 'positional') throw new UsageError('Name a command.');
  const command = first.value;
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`Unknown command "${command}".`);
  const spec = COMMANDS[command as Command];
  let parsed;
  try {
    const rest = argv.filter((_, i) => i !== first.index);
    parsed = parseArgs({ args: rest, options: { ...common, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
  const positionals = parsed.positionals;
  if (positionals.length !== spec.positionals.length) {
    const want = spec.positionals.length ? spec.positionals.join(' ') : 'no arguments';
    throw new UsageError(`${command} takes ${want}${positionals.length ? `, not "${positionals.join(' ')}"` : ''}.`);
  }
  return { command: command as Command, flags: { ...parsed.values } as Parsed['flags'], positionals, help: false };
}

/** A compartment number typed by a person (1-based); throws {@link UsageError}. */
export function compartmentArg(raw: string | boolean | undefined, what: string): number {
  const n = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a compartment number (1, 2, …), not "${raw ?? ''}".`);
  return n;
}

/** A positive whole number option, or its default; throws {@link UsageError}. */
export function countArg(raw: string | boolean | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw new UsageError(`--${name} takes a whole number from 1 to ${max}, not "${raw}".`);
  return n;
}
