/**
 * Last line of defence against a pickup code (or a secret, or a hash) leaving the hub on
 * MQTT, where the broker, its logs and every cloud subscriber would see it. Events and
 * telemetry are checked before they are published; a match is refused, never scrubbed,
 * because a caller that put a code in a message has a bug that must surface.
 */

/**
 * A code shown as `SSS-VVVVVV`, `SSS VVVVVV` or nine digits, standing on its own: not part of
 * a longer number (a ms timestamp has 13 digits) nor of a word — random hex ids
 * (`a123456789b`) and tracking numbers (`TRK123456789`) are not codes.
 */
const CODE_LIKE = /(?<![0-9A-Za-z])\d{3}[- ]?\d{6}(?![0-9A-Za-z])/;
/** Field names that must never appear: code, secret, hash and their obvious variants (`codeId` is fine). */
const FORBIDDEN_KEY = /^(code|pickup_?code|plain_?code|pin)$|secret|password|pepper|^hash|hash$/i;
/** An argon2 PHC string, whatever field it hides in. */
const PHC = /\$argon2(id|i|d)\$/;

/** Thrown when a message looks like it carries a code or secret. Its message never quotes the value. */
export class UnsafeMessageError extends Error {
  constructor(
    /** Which rule matched. */
    readonly rule: 'code_like_digits' | 'forbidden_field' | 'hash_value',
    /** JSON path of the offending field (names only, never the value). */
    readonly path: string,
  ) {
    super(`refusing to publish: ${rule} at ${path || '(root)'}`);
    this.name = 'UnsafeMessageError';
  }
}

/** Options of {@link assertSafeToPublish}. */
export interface GuardOptions {
  /**
   * Also refuse numbers of exactly nine digits (a code parsed as a number). Default true;
   * telemetry turns it off because byte counts of ~100 MB are legitimately nine digits.
   */
  numbers?: boolean;
}

/** Throws {@link UnsafeMessageError} if `msg`, or anything nested in it, looks like a code, secret or hash. */
export function assertSafeToPublish(msg: unknown, opts: GuardOptions = {}, path = ''): void {
  if (typeof msg === 'string') {
    if (CODE_LIKE.test(msg)) throw new UnsafeMessageError('code_like_digits', path);
    if (PHC.test(msg)) throw new UnsafeMessageError('hash_value', path);
  } else if (typeof msg === 'number') {
    if ((opts.numbers ?? true) && CODE_LIKE.test(String(msg))) throw new UnsafeMessageError('code_like_digits', path);
  } else if (Array.isArray(msg)) {
    msg.forEach((v, i) => assertSafeToPublish(v, opts, `${path}[${i}]`));
  } else if (msg && typeof msg === 'object') {
    for (const [k, v] of Object.entries(msg)) {
      const p = path ? `${path}.${k}` : k;
      if (FORBIDDEN_KEY.test(k)) throw new UnsafeMessageError('forbidden_field', p);
      if (CODE_LIKE.test(k) || PHC.test(k)) throw new UnsafeMessageError('code_like_digits', path || '(root)');
      assertSafeToPublish(v, opts, p);
    }
  }
}

/**
 * The JSON text to publish for `msg`, after checking exactly what goes on the wire (the
 * message is serialised, parsed back and then checked, so a `toJSON()` cannot slip
 * anything past).
 */
export function safeJson(msg: unknown, opts: GuardOptions = {}): string {
  const json = JSON.stringify(msg);
  if (json === undefined) throw new TypeError('message is not JSON-serialisable');
  assertSafeToPublish(JSON.parse(json), opts);
  return json;
}
