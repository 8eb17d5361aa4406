import { describe, expect, it } from 'vitest';
import { Argon2CodeHasher, DEFAULT_ARGON2, TEST_ARGON2 } from '../../../shared/codes/hasher.js';
import { PEPPER, code } from '../fixtures.js';

const OTHER_PEPPER = new Uint8Array(32).fill(8);
const c = code('123-456789');

/** The `$argon2id$v=19$m=…,t=…,p=…$salt$hash` fields of a PHC string (parameter order is the library's). */
function phc(hash: string): { alg: string; version: string; params: Record<string, number>; salt: string; digest: string } {
  const [, alg, version, params, salt, digest, ...rest] = hash.split('$');
  expect(rest).toEqual([]);
  return {
    alg: alg!,
    version: version!,
    params: Object.fromEntries(params!.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)])),
    salt: salt!,
    digest: digest!,
  };
}

describe('Argon2CodeHasher', () => {
  it('defaults to argon2id m=19456, t=2, p=1, visible in the PHC string', async () => {
    expect(DEFAULT_ARGON2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    const hasher = new Argon2CodeHasher(PEPPER);
    const hash = await hasher.hash(c);
    const f = phc(hash);
    expect(f.alg).toBe('argon2id');
    expect(f.version).toBe('v=19');
    expect(f.params).toEqual({ m: 19456, t: 2, p: 1 });
    expect(f.salt).toMatch(/^[A-Za-z0-9+/]{16,}$/);
    expect(f.digest).toMatch(/^[A-Za-z0-9+/]{32,}$/);
    expect(await hasher.verify(hash, c)).toBe(true);
  });

  it('records the parameters it was given', async () => {
    const hash = await new Argon2CodeHasher(PEPPER, TEST_ARGON2).hash(c);
    expect(phc(hash).params).toEqual({ m: 256, t: 1, p: 1 });
  });

  it('verifies the right code and rejects any other', async () => {
    const hasher = new Argon2CodeHasher(PEPPER, TEST_ARGON2);
    const hash = await hasher.hash(c);
    expect(await hasher.verify(hash, c)).toBe(true);
    expect(await hasher.verify(hash, code('123-456788'))).toBe(false);
    expect(await hasher.verify(hash, code('124-456789'))).toBe(false);
  });

  it('salts: two hashes of the same code differ and never contain the plaintext', async () => {
    const hasher = new Argon2CodeHasher(PEPPER, TEST_ARGON2);
    const [a, b] = await Promise.all([hasher.hash(c), hasher.hash(c)]);
    expect(a).not.toBe(b);
    for (const h of [a, b]) {
      expect(h).not.toContain('123456789');
      expect(h).not.toContain('456789');
    }
  });

  it('the pepper matters: another pepper does not verify', async () => {
    const hash = await new Argon2CodeHasher(PEPPER, TEST_ARGON2).hash(c);
    expect(await new Argon2CodeHasher(OTHER_PEPPER, TEST_ARGON2).verify(hash, c)).toBe(false);
    expect(await new Argon2CodeHasher(PEPPER, TEST_ARGON2).verify(hash, c)).toBe(true);
  });

  it('refuses a pepper shorter than 16 bytes', () => {
    expect(() => new Argon2CodeHasher(new Uint8Array(15), TEST_ARGON2)).toThrow(/pepper/);
  });

  it.each([
    [''],
    ['garbage'],
    ['$argon2id$'],
    ['$argon2id$v=19$m=256,t=1,p=1$AAAA'],
    ['$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$!!!notbase64!!!'],
    ['$bcrypt$2b$10$abcdefghijklmnopqrstuv'],
  ])('verify of a garbage hash %j is false, never a throw', async (hash) => {
    await expect(new Argon2CodeHasher(PEPPER, TEST_ARGON2).verify(hash, c)).resolves.toBe(false);
  });

  it('verifyDummy is false, even for a code whose real hash exists', async () => {
    const hasher = new Argon2CodeHasher(PEPPER, TEST_ARGON2);
    await hasher.hash(c);
    await expect(hasher.verifyDummy(c)).resolves.toBe(false);
    await expect(hasher.verifyDummy(code('000-000000'))).resolves.toBe(false);
  });
});
