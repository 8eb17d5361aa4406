/**
 * The status light and the buzzer. The colour is remembered and restored after every
 * (re)configuration; beeps are timed here and cut short when the link goes.
 */
import type { BankModel } from '../bank-model.js';
import type { BeepKind, LightColor } from '../locker-bank.js';
import type { PinWriter } from './door-pulses.js';

/** Buzzer patterns as on/off durations in ms, starting with on. */
const BEEPS: Record<BeepKind, number[]> = { ok: [80], error: [60, 60, 60, 60, 60] };

/** Light and buzzer of one bank. */
export class Indicators {
  private color: LightColor = 'off';
  private beepTimers: NodeJS.Timeout[] = [];

  constructor(private readonly model: BankModel) {}

  /** Remember `color` and show it on `link` (if given). */
  setLight(color: LightColor, link: PinWriter | null): void {
    this.color = color;
    if (link) this.showLight(link);
  }

  /** Show the remembered colour (after a configuration). */
  showLight(link: PinWriter): void {
    const { green, red, amber } = this.model.light;
    const c = this.color;
    link.writePins([
      [green, c === 'green' ? 1 : 0],
      [red, c === 'red' ? 1 : 0],
      [amber, c === 'amber' ? 1 : 0],
    ]);
  }

  /** Play a beep pattern on `link`, replacing one still playing. */
  beep(kind: BeepKind, link: PinWriter): void {
    this.cancel();
    const buzzer = this.model.buzzerPin;
    let at = 0;
    this.beepTimers = BEEPS[kind].map((ms, i) => {
      const timer = setTimeout(() => link.alive && link.writePins([[buzzer, i % 2 === 0 ? 1 : 0]]), at);
      at += ms;
      return timer;
    });
    this.beepTimers.push(setTimeout(() => link.alive && link.writePins([[buzzer, 0]]), at));
  }

  /** Stop a beep in progress (the link is going). */
  cancel(): void {
    this.beepTimers.forEach(clearTimeout);
    this.beepTimers = [];
  }
}
