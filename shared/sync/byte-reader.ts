/** Bytes of `n` as unsigned LEB128 (the minimal encoding). */
export function ulebLength(n: number): number {
  let len = 1;
  for (let v = Math.floor(n / 0x80); v > 0; v = Math.floor(v / 0x80)) len++;
  return len;
}

/** Write `n` as unsigned LEB128 at `at`; returns the offset after it. */
export function putUleb(out: Uint8Array, at: number, n: number): number {
  let w = at;
  let v = n;
  while (v >= 0x80) {
    out[w++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[w++] = v;
  return w;
}

/**
 * Reads the binary frames and change chunks of the sync wire format: bytes, unsigned LEB128
 * integers (at most 8 groups, enough for any length we send) and slices. Every read past
 * the end throws, so a truncated or malformed input is refused, never half-read.
 */
export class ByteReader {
  constructor(
    private readonly b: Uint8Array,
    /** Offset of the next byte to read. */
    public at = 0,
  ) {}

  byte(): number {
    if (this.at >= this.b.length) throw new Error('eof');
    return this.b[this.at++]!;
  }

  uleb(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const x = this.byte();
      n += (x & 0x7f) * mul;
      if (x < 0x80) return n;
      mul *= 0x80;
    }
    throw new Error('uleb');
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.b.length) throw new Error('eof');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  done(): boolean {
    return this.at === this.b.length;
  }
}
