import * as A from '@automerge/automerge';
import { createHash } from 'node:crypto';

/*
 * The compact form of an Automerge bundle on the sync wire.
 *
 * A bundle (`Automerge.saveBundle`) holds a set of changes in the columnar format; inside it
 * the changes refer to each other by index, so it carries no hash of its own changes. What it
 * does carry is a chunk header (4 magic bytes and a 4-byte checksum, which is the first four
 * bytes of SHA-256 over the type, length and body) and the full 32-byte hash of every change
 * outside it that it depends on: the heads both replicas already share. Those ~40 bytes of
 * noise per document are most of what thousands of small per-parcel documents cost on the wire
 * over one big document. The compact form drops the magic and the checksum, and shortens each
 * outside dependency the sender knows the receiver holds (a shared head) to a 4-byte prefix,
 * which the receiver resolves against the heads it knows (the shared heads and its own); the
 * receiver rebuilds the exact bundle bytes (Automerge then verifies the checksum) or, when a
 * prefix does not resolve, asks for the whole document.
 *
 * ```
 * entry   = 0x01 nDeps(varint) dep*nDeps rest            compact bundle
 *         | 0x02 bytes                                   any Automerge chunk, as is (fallback)
 * dep     = 0x00 prefix(4) | 0x01 hash(32)
 * bundle  = magic(4) checksum(4) 0x03 length(uleb) body
 * body    = nDeps(uleb) hash(32)*nDeps rest
 * ```
 */

export const TAG_BUNDLE = 0x01;
export const TAG_RAW = 0x02;
const MAGIC = [0x85, 0x6f, 0x4a, 0x83];
const BUNDLE_TYPE = 0x03;
const PREFIX = 4;

/** True when an entry message is in one of the forms above (not an Automerge sync message). */
export const isBundleEntry = (message: Uint8Array): boolean => message.length > 0 && (message[0] === TAG_BUNDLE || message[0] === TAG_RAW);

/** The changes of `doc` that are not in (the history of) `since`, as one bundle; undefined when there are none. */
export function bundleSince(doc: A.Doc<unknown>, since: A.Heads): Uint8Array | undefined {
  const hashes = A.getChangesMetaSince(doc, since).map((c) => c.hash);
  return hashes.length ? A.saveBundle(doc, hashes) : undefined;
}

/**
 * The compact entry for `bundle` (or the raw bytes, tagged, if they are not a bundle this codec
 * understands). `shared`: the heads the receiver is known to hold (hex), which travel as prefixes.
 */
export function packBundle(bundle: Uint8Array, shared: readonly string[]): Uint8Array {
  const parsed = parseBundle(bundle);
  if (!parsed) return raw(bundle);
  const { deps, rest } = parsed;
  const known = new Set(shared);
  const parts: Uint8Array[] = [Uint8Array.from([TAG_BUNDLE, ...uleb(deps.length)])];
  for (const d of deps) {
    if (known.has(Buffer.from(d).toString('hex'))) parts.push(Uint8Array.of(0), d.subarray(0, PREFIX));
    else parts.push(Uint8Array.of(1), d);
  }
  parts.push(rest);
  return Buffer.concat(parts);
}

/** The result of unpacking an entry. */
export type Unpacked =
  /** The Automerge chunk to load, and how many outside dependencies it has (undefined: not known). */
  | { chunk: Uint8Array; deps?: number }
  /** A dependency prefix matched none (or more than one) of the candidate heads. */
  | { unresolved: true; deps: number };

/**
 * Rebuild the Automerge chunk of an entry. `candidates`: full hashes (hex) the sender may have
 * referred to. Throws on a malformed entry.
 */
export function unpackBundle(message: Uint8Array, candidates: readonly string[]): Unpacked {
  if (message[0] === TAG_RAW) return { chunk: message.subarray(1) };
  if (message[0] !== TAG_BUNDLE) throw new Error('not a bundle entry');
  let o = 1;
  const [n, used] = readUleb(message, o);
  o += used;
  if (n > 64 || o + n * (1 + PREFIX) > message.length) throw new Error('bad dependency count');
  const deps: Uint8Array[] = [];
  let unresolved = false;
  for (let i = 0; i < n; i++) {
    const kind = message[o++];
    if (kind === 1) {
      if (o + 32 > message.length) throw new Error('eof');
      deps.push(message.subarray(o, o + 32));
      o += 32;
      continue;
    }
    if (kind !== 0 || o + PREFIX > message.length) throw new Error('bad dependency');
    const prefix = Buffer.from(message.buffer, message.byteOffset + o, PREFIX).toString('hex');
    o += PREFIX;
    const matches = new Set(candidates.filter((c) => c.startsWith(prefix)));
    if (matches.size !== 1) unresolved = true;
    else deps.push(Buffer.from([...matches][0]!, 'hex'));
  }
  if (unresolved) return { unresolved: true, deps: n };
  const rest = message.subarray(o);
  const count = uleb(n);
  const bodyLength = count.length + n * 32 + rest.length;
  const header = [BUNDLE_TYPE, ...uleb(bodyLength)];
  const chunk = new Uint8Array(8 + header.length + bodyLength);
  chunk.set(MAGIC, 0);
  let w = 8 + header.length;
  chunk.set(header, 8);
  chunk.set(count, w);
  w += count.length;
  for (const d of deps) {
    chunk.set(d, w);
    w += 32;
  }
  chunk.set(rest, w);
  chunk.set(createHash('sha256').update(chunk.subarray(8)).digest().subarray(0, 4), 4);
  return { chunk, deps: n };
}

function raw(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = TAG_RAW;
  out.set(bytes, 1);
  return out;
}

/** The outside dependencies and the rest of a bundle's body, or undefined if it is not a bundle of the known layout. */
function parseBundle(b: Uint8Array): { deps: Uint8Array[]; rest: Uint8Array } | undefined {
  if (b.length < 10 || MAGIC.some((m, i) => b[i] !== m) || b[8] !== BUNDLE_TYPE) return undefined;
  try {
    let o = 9;
    const [len, l1] = readUleb(b, o);
    o += l1;
    if (o + len !== b.length) return undefined;
    const [n, l2] = readUleb(b, o);
    // The rebuilt header uses minimal LEB128, as Automerge writes it: anything else is not ours to shorten.
    if (uleb(len).length !== l1 || uleb(n).length !== l2) return undefined;
    o += l2;
    if (n > 64 || o + n * 32 > b.length) return undefined;
    const deps: Uint8Array[] = [];
    for (let i = 0; i < n; i++) deps.push(b.subarray(o + i * 32, o + (i + 1) * 32));
    return { deps, rest: b.subarray(o + n * 32) };
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

function readUleb(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    const x = b[at + i];
    if (x === undefined) throw new Error('eof');
    n += (x & 0x7f) * mul;
    if (x < 0x80) return [n, i + 1];
    mul *= 0x80;
  }
  throw new Error('uleb');
}
