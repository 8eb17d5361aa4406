import { describe, expect, it } from 'vitest';
import { BANK_MODEL_NAMES, loadBankModel, parseBankModel, pinUses, type BankModel } from '../../devices/bank-model.js';

describe('bank models', () => {
  it.each(BANK_MODEL_NAMES)('%s is a valid pin map', (name) => {
    const model = loadBankModel(name);
    expect(model.model).toBe(name);
    expect(model.lockActive).toBe('high'); // fail-secure: StandardFirmata boots every pin LOW
    expect(Object.keys(model.keypad.pins).sort()).toEqual(['#', '*', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('sizes: cubby-24 needs 88 pins (beyond a Mega: a 128-pin virtual board), cubby-12 fits a Mega', () => {
    const big = loadBankModel('cubby-24');
    expect(big.compartments).toHaveLength(24);
    expect(pinUses(big)).toHaveLength(24 * 3 + 12 + 3 + 1);
    expect(big.board.pinCount).toBe(128);
    const twelve = loadBankModel('cubby-12');
    expect(Math.max(...pinUses(twelve).map((u) => u.pin))).toBeLessThan(54); // Mega digital pins 0..53
    expect(loadBankModel('cubby-4').compartments.map((c) => c.size)).toEqual(['S', 'M', 'M', 'L']);
  });

  it('returns a fresh copy each time', () => {
    const a = loadBankModel('cubby-4');
    a.compartments[0]!.lockPin = 99;
    expect(loadBankModel('cubby-4').compartments[0]!.lockPin).toBe(2);
  });

  it('rejects broken pin maps, naming the problem', () => {
    const base = (): BankModel => structuredClone(loadBankModel('cubby-4'));
    const dup = base();
    dup.compartments[1]!.doorPin = dup.compartments[0]!.lockPin;
    expect(() => parseBankModel(dup)).toThrow(/pin 2 used by both lock 1 and door 2/);
    const serial = base();
    serial.buzzerPin = 1;
    expect(() => parseBankModel(serial)).toThrow(/serial link/);
    const beyond = base();
    beyond.light.red = 90;
    expect(() => parseBankModel(beyond)).toThrow(/beyond the board/);
    const numbering = base();
    numbering.compartments[2]!.no = 7;
    expect(() => parseBankModel(numbering)).toThrow(/numbered 7/);
    const noKey = base();
    delete noKey.keypad.pins['#'];
    expect(() => parseBankModel(noKey)).toThrow(/Invalid bank model/);
    expect(() => parseBankModel({ model: 'x' })).toThrow(/Invalid bank model/);
  });
});
