import { bankIdSchema, type BankId } from '../../shared/ids.js';

/**
 * The MQTT topic scheme of API.md and the access rules the broker enforces for a bank's
 * device credential. Pure functions: the embedded broker calls them, and the Mosquitto
 * ACL file (`pattern readwrite cubby/banks/%u/#`) expresses the same subtree rule.
 *
 *   cubby/banks/{bankId}/presence   hub -> cloud, retained, last will `offline`
 *   cubby/banks/{bankId}/events     hub -> cloud (never a code)
 *   cubby/banks/{bankId}/telemetry  hub -> cloud
 *   cubby/banks/{bankId}/cmd        cloud -> hub only
 */
export const TOPIC_ROOT = 'cubby/banks';

/** The leaves under a bank's subtree that Cubby uses. */
export type BankTopicLeaf = 'presence' | 'events' | 'telemetry' | 'cmd';

/** `cubby/banks/{bankId}/{leaf}`. */
export function bankTopic(bankId: BankId | string, leaf: BankTopicLeaf): string {
  return `${TOPIC_ROOT}/${bankId}/${leaf}`;
}

/** Split `cubby/banks/{bankId}/{leaf}` into its parts; undefined for any other topic. */
export function parseBankTopic(topic: string): { bankId: BankId; leaf: string } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const id = bankIdSchema.safeParse(parts[2]);
  if (!id.success || !parts[3]) return undefined;
  return { bankId: id.data, leaf: parts[3] };
}

/**
 * A device username is a bank id; anything else (notably `+`, `#` or `/`, which would turn
 * the subtree rule below into a wildcard) is refused before its password is even checked.
 */
export function isValidBankUsername(username: string): boolean {
  return bankIdSchema.safeParse(username).success;
}

function ownPrefix(bankId: string): string {
  return `${TOPIC_ROOT}/${bankId}/`;
}

/**
 * A bank may publish anywhere under its own subtree except its `cmd` topic (and anything
 * below it): only the cloud sends commands. Wildcards are never valid in a PUBLISH.
 */
export function canBankPublish(bankId: string, topic: string): boolean {
  const prefix = ownPrefix(bankId);
  if (!topic.startsWith(prefix) || topic.length === prefix.length) return false;
  if (topic.includes('+') || topic.includes('#')) return false;
  const rest = topic.slice(prefix.length);
  return rest !== 'cmd' && !rest.startsWith('cmd/');
}

/**
 * A bank may subscribe to filters that stay inside its own subtree. Because every level of
 * the prefix must match literally, `#`, `cubby/#`, `cubby/banks/+/...` and shared
 * subscriptions (`$share/...`) are all refused; `cubby/banks/{own}/#` is allowed.
 */
export function canBankSubscribe(bankId: string, filter: string): boolean {
  const prefix = ownPrefix(bankId);
  return filter.startsWith(prefix) && filter.length > prefix.length;
}

/**
 * The MQTT client id a bank must use: `hub:{bankId}` or `hub:{bankId}:{anything}`. Binding
 * the id to the credential stops one bank from taking over (and so disconnecting) another
 * bank's or the cloud's session by reusing its client id.
 */
export function isBankClientId(bankId: string, clientId: string): boolean {
  const base = `hub:${bankId}`;
  return clientId === base || clientId.startsWith(`${base}:`);
}
