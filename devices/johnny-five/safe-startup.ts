/**
 * The first commands a fresh or rebooted board receives, in the only safe order (DESIGN.md,
 * "Board start-up"). StandardFirmata boots with every digital pin an OUTPUT driving LOW and
 * analog-capable pins as analog inputs; with fail-secure, active-high locks that is locked.
 * The hub then, before anything else can move:
 *
 * 1. writes the locked level to every lock (and 0 to every other pin it uses, so no later
 *    port write can carry a stale 1 to a pin the board has reset to an output);
 * 2. makes every lock an OUTPUT, and writes the locked level again (a pin that was not an
 *    output only takes its level once it is one);
 * 3. makes the light and buzzer outputs (off);
 * 4. only then configures the inputs and enables port reporting.
 *
 * `test/devices/boot-safety.test.ts` checks this order on the wire after every boot.
 */
import { levelValue, otherLevel, type BankModel } from '../bank-model.js';
import type { LinkPinMode } from './j5-link.js';

/** What the start-up needs from the board link. */
export interface StartupLink {
  writePins(values: ReadonlyArray<readonly [pin: number, value: 0 | 1]>): void;
  pinMode(pin: number, mode: LinkPinMode): void;
  reportPort(pin: number): void;
}

/** Every lock pin with its locked level. */
export function lockedLevels(model: BankModel): Array<readonly [number, 0 | 1]> {
  const locked = levelValue(otherLevel(model.lockActive));
  return model.compartments.map((c) => [c.lockPin, locked] as const);
}

/** The light and buzzer pins. */
export function indicatorPins(model: BankModel): number[] {
  return [model.light.green, model.light.red, model.light.amber, model.buzzerPin];
}

/** Send the safe configuration for `model`; `inputPins` are the sensor and key inputs. */
export function writeSafeConfiguration(link: StartupLink, model: BankModel, inputPins: number[]): void {
  const indicators = indicatorPins(model);
  link.writePins([...lockedLevels(model), ...indicators.map((p) => [p, 0] as const), ...inputPins.map((p) => [p, 0] as const)]);
  for (const c of model.compartments) link.pinMode(c.lockPin, 'output');
  link.writePins(lockedLevels(model));
  for (const pin of indicators) link.pinMode(pin, 'output');
  for (const pin of inputPins) link.pinMode(pin, model.inputPullUp ? 'pullup' : 'input');
  const onePinPerPort = new Map(inputPins.map((pin) => [pin >> 3, pin]));
  for (const pin of onePinPerPort.values()) link.reportPort(pin);
}
