import { ImmutableString, isImmutableString } from '@automerge/automerge';

declare const stringValue: unique symbol;

/**
 * A string field of a ledger document (ids, selectors, reasons, names): stored as an
 * `A.ImmutableString`, one Automerge op, where a plain JS string assigned in a change would
 * become collaborative text with one op per character (DESIGN.md rule 7). Write it with
 * `istr()`.
 *
 * Documents written before this rule hold text in these fields, which Automerge returns as a
 * plain JS string, so **read every such field with `str()`**, which accepts both forms. The
 * type is an object type on purpose: comparing it with `===` to a string, or using it as a
 * string, does not compile. (Template literals and `JSON.stringify` do give its value.)
 * `T` keeps a literal union such as `'S' | 'M' | 'L'` through `str()`.
 */
export type Str<T extends string = string> = ImmutableString & { readonly [stringValue]?: T };

/** The stored form of `s` (one Automerge op). */
export function istr<T extends string>(s: T): Str<T> {
  return new ImmutableString(s) as Str<T>;
}

/** The value of a stored string field, written as an `ImmutableString` or (older documents) as text. */
export function str<T extends string>(v: Str<T> | T): T;
export function str<T extends string>(v: Str<T> | T | undefined): T | undefined;
export function str<T extends string>(v: Str<T> | T | undefined): T | undefined {
  return isImmutableString(v) ? (v.val as T) : (v as T | undefined);
}
