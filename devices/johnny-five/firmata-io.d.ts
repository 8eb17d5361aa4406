/**
 * Types for the parts of firmata-io 2.3 (`lib/firmata.js`) this project uses. The package
 * ships no types. `module.exports` is a function binding a default transport, with the
 * `Firmata` class as a property.
 */
declare module 'firmata-io' {
  import { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  namespace bindTransport {
    interface FirmataPin {
      supportedModes: number[];
      mode?: number;
      value: number;
      report: number;
      analogChannel?: number;
      state?: number;
    }
    interface FirmataOptions {
      /** ms to wait for the board's own version report before querying it. Default 5000. */
      reportVersionTimeout?: number;
      samplingInterval?: number;
      skipCapabilities?: boolean;
    }
    class Firmata extends EventEmitter {
      constructor(transport: Duplex, options?: FirmataOptions, callback?: (error?: Error) => void);
      readonly MODES: { INPUT: number; OUTPUT: number; ANALOG: number; PWM: number; PULLUP: number };
      readonly HIGH: 1;
      readonly LOW: 0;
      isReady: boolean;
      pins: FirmataPin[];
      analogPins: number[];
      firmware: { name?: string; version?: { major: number; minor: number } };
      transport: Duplex;
      reportVersionTimeoutId?: NodeJS.Timeout;
      pinMode(pin: number, mode: number): void;
      /** With `enqueue`, only the local port state changes; `flushDigitalPorts` sends it. */
      digitalWrite(pin: number, value: number, enqueue?: boolean): void;
      flushDigitalPorts(): void;
      /** Send the local state of one port (8 pins) as a DIGITAL_MESSAGE. */
      writeDigitalPort(port: number): void;
      /** Bit mask of ports with local changes not yet sent. */
      digitalPortQueue: number;
      reportDigitalPin(pin: number, value: 0 | 1): void;
      queryPinState(pin: number, callback: () => void): void;
      sendString(text: string): void;
      sysexCommand(message: number[]): this;
      reportVersion(callback: () => void): void;
      reset(): void;
      setSamplingInterval(ms: number): void;
      queryFirmware(callback: () => void): void;
    }
  }
  function bindTransport(transport: unknown): typeof bindTransport.Firmata;
  export = bindTransport;
}
