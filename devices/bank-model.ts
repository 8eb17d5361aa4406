/**
 * Bank models: how one kind of locker bank is wired to its board (the pin map). The same
 * description configures the Johnny-Five driver and wires the simulated board, so the two
 * always agree. Models ship as JSON in `devices/models/`; {@link parseBankModel} validates
 * one at the boundary.
 */
import { z } from 'zod';
import { KEYPAD_KEYS } from './locker-bank.js';
import cubby4 from './models/cubby-4.json' with { type: 'json' };
import cubby12 from './models/cubby-12.json' with { type: 'json' };
import cubby24 from './models/cubby-24.json' with { type: 'json' };

/** A logic level on a pin. */
export type Level = 'high' | 'low';

/** Wiring of one compartment. */
export interface CompartmentWiring {
  /** Compartment number, 1-based. */
  no: number;
  size: 'S' | 'M' | 'L';
  /** Digital output driving the lock solenoid. */
  lockPin: number;
  /** Digital input of the door reed switch. */
  doorPin: number;
  /** Digital input of the occupancy sensor. */
  occupancyPin: number;
}

/** The pin map and electrical conventions of one bank model. */
export interface BankModel {
  /** Model name, e.g. `cubby-24`. */
  model: string;
  /** Free-text wiring notes. */
  notes: string[];
  /** The board the bank is wired to (what the simulated board declares). */
  board: {
    name: string;
    /** Number of pins the board reports in its capability response (at most 128 in Firmata). */
    pinCount: number;
    /** Pins that also have an ADC (StandardFirmata resets them to analog input, i.e. not driven). */
    analogPins: number[];
  };
  /** Level at which a lock output releases its latch. Locked is the other level (fail-secure). */
  lockActive: Level;
  /** Inputs use the board's pull-up resistors (Firmata PULLUP mode). */
  inputPullUp: boolean;
  /** Level each sensor input reads in its "active" state. */
  sensorPolarity: {
    /** Level of a door input while the door is closed. */
    doorClosed: Level;
    /** Level of an occupancy input while a parcel is present. */
    occupied: Level;
    /** Level of a key input while the key is pressed. */
    keyPressed: Level;
  };
  compartments: CompartmentWiring[];
  /** One digital input per key (12 keys: 0-9, `*`, `#`). */
  keypad: { pins: Record<string, number> };
  /** One digital output per colour of the status light. */
  light: { green: number; red: number; amber: number };
  /** Digital output of the buzzer (active high). */
  buzzerPin: number;
}

const level = z.enum(['high', 'low']);
const pin = z.number().int().min(0).max(127);

const bankModelSchema = z.object({
  model: z.string().min(1),
  notes: z.array(z.string()).default([]),
  board: z.object({
    name: z.string(),
    pinCount: z.number().int().min(2).max(128),
    analogPins: z.array(pin).default([]),
  }),
  lockActive: level,
  inputPullUp: z.boolean(),
  sensorPolarity: z.object({ doorClosed: level, occupied: level, keyPressed: level }),
  compartments: z
    .array(
      z.object({
        no: z.number().int().min(1),
        size: z.enum(['S', 'M', 'L']),
        lockPin: pin,
        doorPin: pin,
        occupancyPin: pin,
      }),
    )
    .min(1),
  keypad: z.object({ pins: z.record(z.enum(KEYPAD_KEYS), pin) }),
  light: z.object({ green: pin, red: pin, amber: pin }),
  buzzerPin: pin,
});

/** Every pin a model uses, with what it is for (e.g. `lock 3`, `key #`). */
export function pinUses(model: BankModel): Array<{ pin: number; use: string }> {
  const uses: Array<{ pin: number; use: string }> = [];
  for (const c of model.compartments) {
    uses.push({ pin: c.lockPin, use: `lock ${c.no}` });
    uses.push({ pin: c.doorPin, use: `door ${c.no}` });
    uses.push({ pin: c.occupancyPin, use: `occupancy ${c.no}` });
  }
  for (const [key, p] of Object.entries(model.keypad.pins)) uses.push({ pin: p, use: `key ${key}` });
  for (const [color, p] of Object.entries(model.light)) uses.push({ pin: p, use: `light ${color}` });
  uses.push({ pin: model.buzzerPin, use: 'buzzer' });
  return uses;
}

/**
 * Validate a pin map: shape, compartments numbered 1..n in order, every pin used once,
 * no pin on the serial link (0, 1) or beyond the board. Throws an Error naming the problem.
 */
export function parseBankModel(input: unknown): BankModel {
  const parsed = bankModelSchema.safeParse(input);
  if (!parsed.success) throw new Error(`Invalid bank model: ${z.prettifyError(parsed.error)}`);
  const model: BankModel = parsed.data;
  model.compartments.forEach((c, i) => {
    if (c.no !== i + 1) throw new Error(`Invalid bank model ${model.model}: compartment #${i} is numbered ${c.no}`);
  });
  const seen = new Map<number, string>();
  for (const { pin: p, use } of pinUses(model)) {
    if (p < 2) throw new Error(`Invalid bank model ${model.model}: ${use} on pin ${p}, which carries the serial link`);
    if (p >= model.board.pinCount) throw new Error(`Invalid bank model ${model.model}: ${use} on pin ${p}, beyond the board`);
    const other = seen.get(p);
    if (other) throw new Error(`Invalid bank model ${model.model}: pin ${p} used by both ${other} and ${use}`);
    seen.set(p, use);
  }
  return model;
}

/** Names of the models shipped in `devices/models/`. */
export type BankModelName = 'cubby-4' | 'cubby-12' | 'cubby-24';

const shippedModels: Record<BankModelName, unknown> = {
  'cubby-4': cubby4,
  'cubby-12': cubby12,
  'cubby-24': cubby24,
};

/** Names of the shipped models. */
export const BANK_MODEL_NAMES = Object.keys(shippedModels) as BankModelName[];

/** A shipped model by name, validated (a fresh copy each call). */
export function loadBankModel(name: BankModelName): BankModel {
  const raw = shippedModels[name];
  if (raw === undefined) throw new Error(`Unknown bank model ${String(name)}`);
  return parseBankModel(structuredClone(raw));
}

/** Convert a {@link Level} to a Firmata pin value. */
export function levelValue(l: Level): 0 | 1 {
  return l === 'high' ? 1 : 0;
}

/** The opposite level. */
export function otherLevel(l: Level): Level {
  return l === 'high' ? 'low' : 'high';
}
