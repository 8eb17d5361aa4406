/**
 * The hardware layer of a Cubby bank: the `LockerBank` port, bank models (pin maps), the
 * Johnny-Five implementation, and the simulated Firmata board with its test controls.
 *
 * A hub on real hardware:
 * ```ts
 * const bank = createJ5LockerBank({ model: 'cubby-12', connect: () => new SerialPort({ path, baudRate: 57600 }) });
 * await bank.start();
 * ```
 * A hub on a simulated board (demo, tests): `await createSimulatedBank({ model: 'cubby-24' })`.
 */
export {
  DEFAULT_OPEN_TIMEOUT_MS,
  DEFAULT_PULSE_MS,
  KEYPAD_KEYS,
  LockBusy,
  UnknownCompartment,
  type BankHealth,
  type BeepKind,
  type CompartmentSize,
  type CompartmentStatus,
  type DoorState,
  type KeypadKey,
  type LightColor,
  type LockerBank,
  type LockerBankEvents,
  type OpenResult,
} from './locker-bank.js';
export {
  BANK_MODEL_NAMES,
  loadBankModel,
  parseBankModel,
  pinUses,
  type BankModel,
  type BankModelName,
  type CompartmentWiring,
  type Level,
} from './bank-model.js';
export { createJ5LockerBank, J5LockerBank, type J5LockerBankOptions } from './johnny-five/j5-locker-bank.js';
export type { StreamFactory } from './johnny-five/j5-link.js';
export { createSimulatedBank, type SimulatedBank, type SimulatedBankOptions } from './sim/simulated-bank.js';
export { CableUnplugged, createSimBoard, SimBoard, type BoardState, type SimBoardOptions } from './sim/sim-board.js';
export type { SimulatedHardware } from './sim/hardware-controls.js';
export type { DoorOpenEvent, LockPulse, PhysicsOptions } from './sim/physics.js';
export { SIM_FIRMWARE_NAME } from './sim/standard-firmata.js';
export { parseBoardString, SCANNER_QUERY, type BoardString } from './scanner-protocol.js';
