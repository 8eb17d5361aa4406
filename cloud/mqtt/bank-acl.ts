import { bankIdSchema } from '../../shared/ids.js';
import { TOPIC_ROOT } from '../../shared/mqtt/topics.js';

/**
 * The access rules the broker enforces for a bank's device credential, over the topic scheme
 * of shared/mqtt/topics.ts. Pure functions: the embedded broker calls them, and the Mosquitto
 * ACL file (`pattern readwrite cubby/banks/%u/#`) expresses the same subtree rule.
 */
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
