import * as A from '@automerge/automerge';
import { createHash } from 'node:crypto';

/*
 * The compact form of a document's changes on the sync wire.
 *
 * `Automerge.saveSince(doc, heads)` gives the changes a peer lacks as Automerge change chunks:
 * each carries 4 magic bytes, a 4-byte checksum, and the full 32-byte hash of every change it
 * depends on. For thousands of small per-parcel documents those hashes are most of what the
 * wire carries beyond the facts themselves, and they do not compress. The compact form keeps
 * each change's body byte for byte but replaces its dependencies with references the receiver
 * can resolve — an earlier change of the same entry by index (the receiver computes its hash),
 * a head both sides share by a 4-byte prefix (resolved against the receiver's shared heads and
 * its own heads), anything else in full — and drops the magic and checksum. The receiver
 * rebuilds the exact change chunks (so the change hashes are the sender's, and Automerge checks
 * them), or, when a prefix does not resolve, asks for the whole document.
 *
 * ```
 * entry   = 0x03 nChanges(varint) change*             compact changes
 *         | 0x02 bytes                                any Automerge chunks, as they are (fallback)
 * change  = nDeps(varint) dep* restLength(varint) rest
 * dep     = 0x00 prefix(4)                            a shared head
 *         | 0x01 hash(32)                             another change outside the entry
 *         | 0x02 index(varint)                        an earlier change of the entry
 * chunk   = magic(4) checksum(4) 0x01 length(uleb) body       (Automerge's change chunk)
 * body    = nDeps(uleb) hash(32)*nDeps rest
 * ```
 * The hash of a change is SHA-256 over `0x01 length body`; the checksum is its first 4 bytes.
 */

export const TAG_RAW = 0x02;
export const TAG_CHANGES = 0x03;
const MAGIC = [0x85, 0x6f, 0x4a, 0x83];
const CHANGE_TYPE = 0x01;
const PREFIX = 4;
/** Sanity limits for what a peer may ask us to rebuild. */
const MAX_CHANGES = 100_000;
const MAX_DEPS = 1024;

/** True when an entry message is in one of the forms above (not an Automerge sync message). */
export const isChangesEntry = (message: Uint8Array): boolean => message.length > 0 && (message[0] === TAG_CHANGES || message[0] === TAG_RAW);

/** The changes of `doc` that are not in (the history of) `since`, as change chunks; undefined when there are none. */
export function changesSince(doc: A.Doc<unknown>, since: A.Heads): Uint8Array | undefined {
  const bytes = A.saveSince(doc, since);
  return bytes.length ? bytes : undefined;
}

/**
 * The compact entry for `chunks` (Automerge change chunks, as `saveSince` gives them), or the
 * raw bytes, tagged, if they are not what this codec understands. `shared`: the heads the
 * receiver is known to hold (hex), which travel as prefixes.
 */
export function packChanges(chunks: Uint8Array, shared: readonly string[]): Uint8Array {
  const parsed = parseChunks(chunks);
  if (!parsed) return raw(chunks);
  const known = new Set(shared);
  const index = new Map<string, number>();
  const parts: Uint8Array[] = [Uint8Array.from([TAG_CHANGES, ...uleb(parsed.length)])];
  parsed.forEach((c, i) => {
    const refs: number[] = [...uleb(c.deps.length)];
    parts.push(Uint8Array.from(refs));
    for (const d of c.deps) {
      const hex = Buffer.from(d).toString('hex');
      const at = index.get(hex);
      if (at !== undefined) parts.push(Uint8Array.from([2, ...uleb(at)]));
      else if (known.has(hex)) parts.push(Uint8Array.of(0), d.subarray(0, PREFIX));
      else parts.push(Uint8Array.of(1), d);
    }
    parts.push(Uint8Array.from(uleb(c.rest.length)), c.rest);
    index.set(c.hash, i);
  });
  return Buffer.concat(parts);
}

/** The result of unpacking an entry. */
export type Unpacked =
  /** The Automerge chunks to load, and how many dependencies outside them they name (undefined: not known). */
  | { chunk: Uint8Array; deps?: number }
  /** A dependency prefix matched none (or more than one) of the candidate heads. */
  | { unresolved: true };

/**
 * Rebuild the Automerge change chunks of an entry. `candidates`: full hashes (hex) the sender
 * may have referred to by prefix. Throws on a malformed entry.
 */
export function unpackChanges(message: Uint8Array, candidates: readonly string[]): Unpacked {
  if (message[0] === TAG_RAW) return { chunk: message.subarray(1) };
  if (message[0] !== TAG_CHANGES) throw new Error('not a changes entry');
  const r = new Reader(message, 1);
  const n = r.uleb();
  if (n === 0 || n > MAX_CHANGES) throw new Error('bad change count');
  const hashes: Buffer[] = [];
  const chunks: Uint8Array[] = [];
  let outside = 0;
  let unresolved = false;
  for (let i = 0; i < n; i++) {
    const nDeps = r.uleb();
    if (nDeps > MAX_DEPS) throw new Error('bad dependency count');
    const deps: Uint8Array[] = [];
    for (let k = 0; k < nDeps; k++) {
      const kind = r.byte();
      if (kind === 2) {
        const at = r.uleb();
        if (at >= i) throw new Error('forward reference');
        deps.push(hashes[at]!);
      } else if (kind === 1) {
        deps.push(r.take(32));
        outside++;
      } else if (kind === 0) {
        const prefix = Buffer.from(r.take(PREFIX)).toString('hex');
        const matches = new Set(candidates.filter((c) => c.startsWith(prefix)));
        if (matches.size === 1) deps.push(Buffer.from([...matches][0]!, 'hex'));
        else unresolved = true;
        outside++;
      } else throw new Error('bad dependency kind');
    }
    const rest = r.take(r.uleb());
    if (unresolved) {
      hashes.push(Buffer.alloc(32)); // nothing will be built; keep the indices aligned
      continue;
    }
    const count = uleb(nDeps);
    const bodyLength = count.length + nDeps * 32 + rest.length;
    const header = [CHANGE_TYPE, ...uleb(bodyLength)];
    const chunk = new Uint8Array(8 + header.length + bodyLength);
    chunk.set(MAGIC, 0);
    chunk.set(header, 8);
    let w = 8 + header.length;
    chunk.set(count, w);
    w += count.length;
    for (const d of deps) {
      chunk.set(d, w);
      w += 32;
    }
    chunk.set(rest, w);
    const hash = createHash('sha256').update(chunk.subarray(8)).digest();
    chunk.set(hash.subarray(0, 4), 4);
    hashes.push(hash);
    chunks.push(chunk);
  }
  if (!r.done()) throw new Error('trailing bytes');
  if (unresolved) return { unresolved: true };
  return { chunk: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), deps: outside };
}

function raw(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = TAG_RAW;
  out.set(bytes, 1);
  return out;
}

interface ParsedChange {
  hash: string;
  deps: Uint8Array[];
  rest: Uint8Array;
}

/**
 * Split Automerge change chunks into their dependencies and the rest of their bodies, or
 * undefined if they are not plain change chunks in dependency order, with minimal LEB128
 * lengths (what the receiver will rebuild).
 */
function parseChunks(b: Uint8Array): ParsedChange[] | undefined {
  const out: ParsedChange[] = [];
  try {
    const r = new Reader(b, 0);
    while (!r.done()) {
      const start = r.at;
      if (MAGIC.some((m) => r.byte() !== m)) return undefined;
      const checksum = r.take(4);
      if (r.byte() !== CHANGE_TYPE) return undefined;
      const lenAt = r.at;
      const len = r.uleb();
      if (uleb(len).length !== r.at - lenAt) return undefined;
      const bodyAt = r.at;
      const body = r.take(len);
      const hash = createHash('sha256').update(b.subarray(start + 8, bodyAt + len)).digest();
      if (!hash.subarray(0, 4).equals(Buffer.from(checksum))) return undefined;
      const br = new Reader(body, 0);
      const nAt = br.at;
      const n = br.uleb();
      if (uleb(n).length !== br.at - nAt || n > MAX_DEPS) return undefined;
      const deps: Uint8Array[] = [];
      for (let i = 0; i < n; i++) deps.push(br.take(32));
      out.push({ hash: hash.toString('hex'), deps, rest: body.subarray(br.at) });
    }
    // A change depending on a later one of the same batch cannot be rebuilt in order.
    const later = new Set<string>();
    for (let i = out.length - 1; i >= 0; i--) {
      if (out[i]!.deps.some((d) => later.has(Buffer.from(d).toString('hex')))) return undefined;
      later.add(out[i]!.hash);
    }
    return out.length ? out : undefined;
  } catch {
    return undefined;
  }
}

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 0x80);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}

class Reader {
  constructor(
    private readonly b: Uint8Array,
    public at: number,
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
