import * as A from '@automerge/automerge';
import { createHash, hash } from 'node:crypto';
import { ByteReader, putUleb, ulebLength } from './byte-reader.js';

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
const MAGIC = Buffer.from([0x85, 0x6f, 0x4a, 0x83]);
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
 * The wire entry for the changes of `doc` a peer holding `shared` lacks (its whole history
 * when `shared` is not all in `doc`), or undefined when it lacks none.
 */
export function encodeChanges(doc: A.Doc<unknown>, shared: A.Heads): Uint8Array | undefined {
  let changes: Uint8Array | undefined;
  try {
    changes = changesSince(doc, shared);
  } catch {
    changes = changesSince(doc, []);
  }
  return changes && packChanges(changes, shared);
}

/** SHA-256 of a change; `crypto.hash` (Node >= 20.12) skips the Hash object, a third of the cost for small inputs. */
const sha256: (b: Uint8Array) => Buffer =
  typeof hash === 'function' ? (b) => hash('sha256', b, 'buffer') : (b) => createHash('sha256').update(b).digest();

/** One change chunk of `saveSince`'s output, by offsets. */
interface ParsedChange {
  /** Offset of the chunk (its magic bytes; the checksum, the hash's first 4 bytes, follows). */
  start: number;
  /** Offset of the first dependency hash, and how many. */
  depsAt: number;
  nDeps: number;
  /** The body after the dependencies. */
  restAt: number;
  restEnd: number;
}

/**
 * The compact entry for `chunks` (Automerge change chunks, as `saveSince` gives them), or the
 * raw bytes, tagged, if they are not what this codec understands. `shared`: the heads the
 * receiver is known to hold (hex), which travel as prefixes.
 */
export function packChanges(chunks: Uint8Array, shared: readonly string[]): Uint8Array {
  const b = Buffer.from(chunks.buffer, chunks.byteOffset, chunks.byteLength);
  const parsed = parseChunks(b);
  if (!parsed) return raw(chunks);
  const refs = internalRefs(b, parsed);
  if (!refs) return raw(chunks);
  const sharedHashes = shared.map((h) => Buffer.from(h, 'hex'));
  // Upper bound: per change its counts (2 x 5) and per dependency a kind and a hash.
  const out = Buffer.allocUnsafe(1 + 5 + parsed.reduce((n, c) => n + 10 + c.nDeps * 33 + (c.restEnd - c.restAt), 0));
  let w = 0;
  out[w++] = TAG_CHANGES;
  w = putUleb(out, w, parsed.length);
  let d = 0;
  for (const c of parsed) {
    w = putUleb(out, w, c.nDeps);
    for (let k = 0; k < c.nDeps; k++, d++) {
      const at = c.depsAt + k * 32;
      const earlier = refs[d];
      if (earlier !== undefined) {
        out[w++] = 2;
        w = putUleb(out, w, earlier);
      } else if (sharedHashes.some((h) => h.compare(b, at, at + 32) === 0)) {
        out[w++] = 0;
        w += b.copy(out, w, at, at + PREFIX);
      } else {
        out[w++] = 1;
        w += b.copy(out, w, at, at + 32);
      }
    }
    w = putUleb(out, w, c.restEnd - c.restAt);
    w += b.copy(out, w, c.restAt, c.restEnd);
  }
  return out.subarray(0, w);
}

/**
 * For every dependency of every change, in order, the index of the change of the same batch it
 * names (undefined when it names one outside); undefined when a change depends on a later one
 * (the receiver could not rebuild them in order). A dependency on a change of the batch begins
 * with that change's checksum (the first 4 bytes of its hash), so only such candidates are
 * hashed to compare in full.
 */
function internalRefs(b: Buffer, parsed: ParsedChange[]): (number | undefined)[] | undefined {
  const byChecksum = new Map<number, number[]>();
  parsed.forEach((c, i) => {
    const key = b.readUInt32BE(c.start + 4);
    const list = byChecksum.get(key);
    if (list) list.push(i);
    else byChecksum.set(key, [i]);
  });
  const hashes: (Buffer | undefined)[] = [];
  const hashOf = (i: number) => (hashes[i] ??= sha256(b.subarray(parsed[i]!.start + 8, parsed[i]!.restEnd)));
  const refs: (number | undefined)[] = [];
  for (let i = 0; i < parsed.length; i++) {
    const c = parsed[i]!;
    for (let k = 0; k < c.nDeps; k++) {
      const at = c.depsAt + k * 32;
      let ref: number | undefined;
      for (const j of byChecksum.get(b.readUInt32BE(at)) ?? []) {
        if (j === i || hashOf(j).compare(b, at, at + 32) !== 0) continue;
        if (j > i) return undefined;
        ref = j;
      }
      refs.push(ref);
    }
  }
  return refs;
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
  const m = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const r = new ByteReader(m, 1);
  const n = r.uleb();
  if (n === 0 || n > MAX_CHANGES) throw new Error('bad change count');
  // First pass: where everything is, and each dependency as (kind, where).
  const changes: { deps: { kind: number; at: number }[]; restAt: number; restEnd: number; size: number }[] = [];
  let total = 0;
  let outside = 0;
  for (let i = 0; i < n; i++) {
    const nDeps = r.uleb();
    if (nDeps > MAX_DEPS) throw new Error('bad dependency count');
    const deps: { kind: number; at: number }[] = [];
    for (let k = 0; k < nDeps; k++) {
      const kind = r.byte();
      if (kind === 2) {
        const at = r.uleb();
        if (at >= i) throw new Error('forward reference');
        deps.push({ kind, at });
      } else if (kind === 1 || kind === 0) {
        deps.push({ kind, at: r.at });
        r.take(kind === 1 ? 32 : PREFIX);
        outside++;
      } else throw new Error('bad dependency kind');
    }
    const restLength = r.uleb();
    const restAt = r.at;
    r.take(restLength);
    const bodyLength = ulebLength(nDeps) + nDeps * 32 + restLength;
    const size = 8 + 1 + ulebLength(bodyLength) + bodyLength;
    changes.push({ deps, restAt, restEnd: restAt + restLength, size });
    total += size;
  }
  if (!r.done()) throw new Error('trailing bytes');
  // Second pass: write each chunk, hashing it as soon as it is complete (later ones may name it).
  const out = Buffer.allocUnsafe(total);
  const hashes: Buffer[] = [];
  let w = 0;
  for (const c of changes) {
    const start = w;
    MAGIC.copy(out, w);
    w += 8; // magic, then the checksum once the chunk is complete
    out[w++] = CHANGE_TYPE;
    w = putUleb(out, w, bodyLengthOf(c));
    w = putUleb(out, w, c.deps.length);
    for (const d of c.deps) {
      if (d.kind === 2) w += hashes[d.at]!.copy(out, w);
      else if (d.kind === 1) w += m.copy(out, w, d.at, d.at + 32);
      else {
        const prefix = m.toString('hex', d.at, d.at + PREFIX);
        let match: string | undefined;
        for (const h of candidates) {
          if (!h.startsWith(prefix) || h === match) continue;
          if (match !== undefined) return { unresolved: true };
          match = h;
        }
        if (match === undefined) return { unresolved: true };
        w += out.write(match, w, 32, 'hex');
      }
    }
    w += m.copy(out, w, c.restAt, c.restEnd);
    const hash = sha256(out.subarray(start + 8, w));
    hash.copy(out, start + 4, 0, 4);
    hashes.push(hash);
  }
  return { chunk: out, deps: outside };
}

function bodyLengthOf(c: { deps: unknown[]; restAt: number; restEnd: number }): number {
  return ulebLength(c.deps.length) + c.deps.length * 32 + (c.restEnd - c.restAt);
}

function raw(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = TAG_RAW;
  out.set(bytes, 1);
  return out;
}

/**
 * Locate the dependencies of each of `saveSince`'s change chunks, or undefined if they are
 * not plain change chunks with minimal LEB128 lengths (what the receiver will rebuild).
 */
function parseChunks(b: Buffer): ParsedChange[] | undefined {
  const out: ParsedChange[] = [];
  try {
    const r = new ByteReader(b, 0);
    while (!r.done()) {
      const start = r.at;
      if (b.compare(MAGIC, 0, 4, start, start + 4) !== 0) return undefined;
      r.take(8);
      if (r.byte() !== CHANGE_TYPE) return undefined;
      const lenAt = r.at;
      const len = r.uleb();
      if (ulebLength(len) !== r.at - lenAt) return undefined;
      const bodyAt = r.at;
      r.take(len);
      // The checksum is not verified: these are Automerge's own chunks, and the receiver's
      // Automerge verifies every change it rebuilds.
      const br = new ByteReader(b, bodyAt);
      const nDeps = br.uleb();
      if (ulebLength(nDeps) !== br.at - bodyAt || nDeps > MAX_DEPS || br.at + nDeps * 32 > bodyAt + len) return undefined;
      out.push({ start, depsAt: br.at, nDeps, restAt: br.at + nDeps * 32, restEnd: bodyAt + len });
    }
    return out.length ? out : undefined;
  } catch {
    return undefined;
  }
}
