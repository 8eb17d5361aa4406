import { z } from 'zod';

/**
 * Branded identifiers. Values of these types are only made by the `parseX()` functions,
 * at the edge of the system (HTTP bodies, sync messages, config), so inside the code a
 * `BankId` is known to be well-formed.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type BankId = Brand<string, 'BankId'>;
export type ParcelId = Brand<string, 'ParcelId'>;
export type CompartmentNo = Brand<number, 'CompartmentNo'>;
export type CodeId = Brand<string, 'CodeId'>;

const token = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const bankIdSchema = z
  .string()
  .regex(token, 'a bank id is 1-64 letters, digits, "-", "_" or "."')
  .transform((s) => s as BankId);
export const parcelIdSchema = z
  .string()
  .regex(token, 'a parcel id is 1-64 letters, digits, "-", "_" or "."')
  .transform((s) => s as ParcelId);
export const compartmentNoSchema = z
  .number()
  .int()
  .min(1)
  .max(999)
  .transform((n) => n as CompartmentNo);
export const codeIdSchema = z
  .string()
  .regex(/^[a-f0-9]{8,64}$/)
  .transform((s) => s as CodeId);

export const parseBankId = (s: unknown): BankId => bankIdSchema.parse(s);
export const parseParcelId = (s: unknown): ParcelId => parcelIdSchema.parse(s);
export const parseCompartmentNo = (n: unknown): CompartmentNo => compartmentNoSchema.parse(n);
export const parseCodeId = (s: unknown): CodeId => codeIdSchema.parse(s);

/** Compartment sizes, smallest first. */
export const SIZES = ['S', 'M', 'L'] as const;
export type Size = (typeof SIZES)[number];
export const sizeSchema = z.enum(SIZES);
