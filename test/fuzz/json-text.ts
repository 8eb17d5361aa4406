/**
 * JSON text that `JSON.stringify` of an ordinary value cannot produce, for the fuzzer's bodies:
 * numbers such as `1e309` or `NaN` written verbatim, arrays nested deeper than a recursive
 * serializer could walk, and own `__proto__` keys (an object literal sets the prototype instead).
 *
 * ```ts
 * toJsonText({ to: raw('1e309'), nested: objectWith([['__proto__', { polluted: 'yes' }]]) })
 * // '{"to":1e309,"nested":{"__proto__":{"polluted":"yes"}}}'
 * ```
 */
import { randomBytes } from 'node:crypto';

/** A piece of JSON text inserted verbatim by {@link toJsonText}. */
export class RawJson {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text.length > 80 ? `raw(${JSON.stringify(this.text.slice(0, 40))}… ${this.text.length} chars)` : `raw(${JSON.stringify(this.text)})`;
  }
}

export const raw = (text: string): RawJson => new RawJson(text);

/**
 * An object with exactly these own, enumerable keys — `__proto__` included, as `JSON.parse`
 * would create it — so that `JSON.stringify` writes them out.
 */
export function objectWith(entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** `JSON.stringify`, with every {@link RawJson} inside written verbatim. */
export function toJsonText(value: unknown): string {
  const raws: string[] = [];
  const nonce = randomBytes(6).toString('hex');
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0001${nonce}:${raws.length - 1}\u0001`;
    }
    return v;
  });
  if (text === undefined) return '';
  if (raws.length === 0) return text;
  return text.replace(new RegExp(`"\\\\u0001${nonce}:(\\d+)\\\\u0001"`, 'g'), (_m, i: string) => raws[Number(i)]!);
}
