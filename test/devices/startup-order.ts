import { levelValue, otherLevel, type BankModel } from '../../devices/bank-model.js';
import type { FirmataMessage } from '../../devices/sim/firmata-protocol.js';
import { PIN_MODE } from '../../devices/sim/firmata-protocol.js';

/**
 * Check the hub's commands to the board during one boot against the safe start-up rule:
 * before any non-lock pin changes mode and before any reporting is enabled, every lock pin
 * has been written to its locked level and made an OUTPUT; and no command in `messages`
 * ever drives a lock to its active level. Returns the violations (empty when safe) and
 * whether a configuration was seen at all.
 */
export function checkSafeStartup(messages: FirmataMessage[], model: BankModel): { configured: boolean; violations: string[] } {
  const locks = new Map(model.compartments.map((c) => [c.lockPin, c.no]));
  const active = levelValue(model.lockActive);
  const locked = levelValue(otherLevel(model.lockActive));
  const writtenLocked = new Set<number>();
  const madeOutput = new Set<number>();
  const violations: string[] = [];
  let configured = false;
  const allLocksSafe = (): boolean => [...locks.keys()].every((p) => writtenLocked.has(p) && madeOutput.has(p));
  for (const m of messages) {
    if (m.type === 'digital-port') {
      for (const [pin, no] of locks) {
        if (pin >> 3 !== m.port) continue;
        const bit = (m.value >> (pin & 7)) & 1;
        if (bit === active) violations.push(`lock ${no} driven active by a port write`);
        if (bit === locked) writtenLocked.add(pin);
      }
    } else if (m.type === 'set-pin-value' && locks.has(m.pin)) {
      if (m.value === active) violations.push(`lock ${locks.get(m.pin)} driven active by a pin write`);
      else writtenLocked.add(m.pin);
    } else if (m.type === 'set-pin-mode') {
      if (locks.has(m.pin)) {
        if (m.mode !== PIN_MODE.OUTPUT) violations.push(`lock ${locks.get(m.pin)} set to mode ${m.mode}`);
        else if (!writtenLocked.has(m.pin)) violations.push(`lock ${locks.get(m.pin)} made an output before its level was written`);
        else madeOutput.add(m.pin);
      } else if (!allLocksSafe()) {
        violations.push(`pin ${m.pin} configured before every lock was locked`);
      }
    } else if (m.type === 'report-digital' && m.enable) {
      configured = true;
      if (!allLocksSafe()) violations.push(`reporting enabled on port ${m.port} before every lock was locked`);
    }
  }
  return { configured, violations: [...new Set(violations)] };
}
