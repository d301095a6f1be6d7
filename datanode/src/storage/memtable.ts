import { assert } from '../assert.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind } from './keys.ts';

/**
 * The memtable: a skiplist of (userKey, seq, kind, value) entries in internal order (user key
 * ascending bytewise, then sequence descending).
 *
 * Layout. A node is a record in one flat Float64Array (the arena), addressed by its offset:
 * [seq, key prefix, level-0 predecessor, entry number, key bytes 6-11, key bytes 12-17, then per
 * level: successor, successor's key prefix]. Keys, values and kinds live in arrays indexed by
 * the entry number, which counts insertions from 1. Record 0 is the head sentinel; it is never
 * an entry, so 0 also serves as "no node". Why this shape: a search reads the successor's
 * address and its key prefix (the first six key bytes as a number) from the current record, so
 * deciding whether to advance touches one cache line and compares two numbers. When prefixes tie
 * (keys that share a table or range prefix: every user key of the data node starts alike) the
 * next twelve key bytes, kept as two more numbers in the successor's own record, usually decide
 * without following the key's Buffer (three dependent loads, each a likely cache miss in a large
 * table); the key bytes are compared only when all eighteen tie. An insert allocates nothing
 * besides the amortised growth of the arena.
 *
 * Concurrency. There is one writer and many readers, all on one JavaScript thread, so readers
 * never observe a half-linked node. Iterators hold record addresses, which stay valid for the
 * table's life (growth copies the arena but keeps offsets). An iterator sees exactly the
 * entries added before it was created: it skips entry numbers at or above the count it
 * captured. So an iterator's view never changes under it, even while the writer keeps adding.
 *
 * Buffers. The table keeps references to the keys and values it is given (it does not copy);
 * callers must not modify them afterwards.
 *
 * Array reads below end in `?? 0` (or a default buffer) only to satisfy
 * noUncheckedIndexedAccess: every index is in bounds by construction.
 */

/** Tallest tower; with branching 2 this keeps searches logarithmic up to about 2^22 = 4M entries. */
const heightMax = 22;
const headNode = 0;
const fieldSeq = 0;
const fieldPrefix = 1;
const fieldPrev = 2;
const fieldEntry = 3;
/** Key bytes 6-11 and 12-17 as numbers, like the prefix: the tie-breakers after it. */
const fieldChunk1 = 4;
const fieldChunk2 = 5;
const headerSlots = 6;
/** Slots per level: successor address, successor key prefix. */
const slotsPerLevel = 2;
const prefixBytes = 6;
/** Key bytes a node's prefix and its two chunks cover. */
const chunkedBytes = 3 * prefixBytes;
/** Keys up to this length compare faster in a JavaScript loop than through the native call. */
const shortKeyBytes = 32;
const initialArenaSlots = 1 << 16;
const initialEntryCapacity = 1024;
/**
 * Bytes charged per entry on top of its key and value and its record: two array slots, a kind
 * byte and two Buffer headers (the caller's buffers are usually views of a larger batch).
 */
const entryOverheadBytes = 64;
const emptyBuffer = Buffer.alloc(0);

/** The newest visible version of a key, as returned by `Memtable.get`. */
export interface MemtableEntry {
  readonly seq: number;
  readonly kind: ValueKind;
  readonly value: Buffer;
}

export interface MemtableOptions {
  /** Seed of the tower-height generator; fixed by default so layouts are reproducible. */
  readonly seed?: number;
}

/**
 * The first six bytes of `key` as a number, zero-padded. If prefix(a) < prefix(b) then a < b
 * bytewise (a zero pad only sits where the shorter key has already ended); equal prefixes
 * decide nothing and fall back to a full compare.
 */
function keyPrefix(key: Buffer): number {
  return keyChunk(key, 0);
}

/**
 * Key bytes [from, from + 6) as a number, zero-padded (the prefix is the chunk at 0). Between
 * two keys whose earlier chunks are equal, a smaller chunk means a smaller key, for the same
 * reason as for the prefix; equal chunks decide nothing.
 */
function keyChunk(key: Buffer, from: number): number {
  if (key.length >= from + prefixBytes) {
    // Plain indexed reads: Buffer.readUIntBE validates its arguments and costs several times more.
    const high = ((key[from] ?? 0) << 8) | (key[from + 1] ?? 0);
    const low = (((key[from + 2] ?? 0) << 24) | ((key[from + 3] ?? 0) << 16) | ((key[from + 4] ?? 0) << 8) | (key[from + 5] ?? 0)) >>> 0;
    return high * 0x100000000 + low;
  }
  let chunk = 0;
  for (let i = from; i < from + prefixBytes; i++) chunk = chunk * 256 + (key[i] ?? 0);
  return chunk;
}

/**
 * Bytewise comparison of two keys whose prefixes are equal. Buffer.prototype.compare costs a
 * native call (~65 ns on Node 20 whatever the length), so short keys are compared here, from
 * the first byte the equal prefixes do not already vouch for.
 */
function compareKeysWithEqualPrefix(a: Buffer, b: Buffer, equalBytes = prefixBytes): number {
  const aLength = a.length;
  const bLength = b.length;
  if (aLength > shortKeyBytes || bLength > shortKeyBytes) return a.compare(b);
  const common = aLength < bLength ? aLength : bLength;
  for (let i = common < equalBytes ? common : equalBytes; i < common; i++) {
    const aByte = a[i] ?? 0;
    const bByte = b[i] ?? 0;
    if (aByte !== bByte) return aByte < bByte ? -1 : 1;
  }
  return aLength === bLength ? 0 : aLength < bLength ? -1 : 1;
}

/** The skiplist's storage and searches; shared by the memtable and its iterators. */
class SkiplistStore {
  /** The arena as 8-byte slots (seqs, prefixes) and as 4-byte words (addresses, entry numbers). */
  doubles = new Float64Array(initialArenaSlots);
  words = new Int32Array(this.doubles.buffer);
  arenaUsed = headerSlots + heightMax * slotsPerLevel;
  /** Indexed by entry number; entry 0 stands for the head. */
  userKeys: Buffer[] = [emptyBuffer];
  values: Buffer[] = [emptyBuffer];
  kinds = new Uint8Array(initialEntryCapacity);
  entryCount = 0;
  height = 1;
  /** Rightmost node at each level (the head when the level is empty); index 0 is the tail. */
  readonly lastAtLevel = new Int32Array(heightMax);
  /**
   * The key being searched for (`target`) and its chunks, read from it at the start of every
   * search (a caller may reuse one Buffer for several keys). Comparisons use the chunks only
   * for that very Buffer (an identity check); any other key is compared byte by byte.
   */
  private targetKey: Buffer = emptyBuffer;
  private targetChunk1 = 0;
  private targetChunk2 = 0;

  /** Makes `key` the target of the search that follows and returns its prefix. */
  target(key: Buffer): number {
    this.targetKey = key;
    this.targetChunk1 = keyChunk(key, prefixBytes);
    this.targetChunk2 = keyChunk(key, 2 * prefixBytes);
    return keyPrefix(key);
  }

  successor(node: number): number {
    return this.words[(node + headerSlots) * 2] ?? 0;
  }

  predecessor(node: number): number {
    return this.words[(node + fieldPrev) * 2] ?? 0;
  }

  entryOf(node: number): number {
    return this.words[(node + fieldEntry) * 2] ?? 0;
  }

  seqOf(node: number): number {
    return this.doubles[node + fieldSeq] ?? 0;
  }

  /** Whether the entry at `node` sorts before (key, seq), or at-or-before it when `inclusive`. */
  precedes(node: number, key: Buffer, prefix: number, seq: number, inclusive: boolean): boolean {
    const nodePrefix = this.doubles[node + fieldPrefix] ?? 0;
    if (nodePrefix !== prefix) return nodePrefix < prefix;
    return this.tieBreakPrecedes(node, key, seq, inclusive);
  }

  /** Whether the entry at `node` has user key `key` (whose prefix is `prefix`). */
  keyEquals(node: number, key: Buffer, prefix: number): boolean {
    if ((this.doubles[node + fieldPrefix] ?? 0) !== prefix) return false;
    return this.compareKeyWithEqualPrefix(node, key) === 0;
  }

  /** Compares the key at `node` with `key`, whose prefixes are equal (the chunks first when `key` is the target). */
  private compareKeyWithEqualPrefix(node: number, key: Buffer): number {
    let equalBytes = prefixBytes;
    if (key === this.targetKey) {
      const doubles = this.doubles;
      const chunk1 = doubles[node + fieldChunk1] ?? 0;
      if (chunk1 !== this.targetChunk1) return chunk1 < this.targetChunk1 ? -1 : 1;
      const chunk2 = doubles[node + fieldChunk2] ?? 0;
      if (chunk2 !== this.targetChunk2) return chunk2 < this.targetChunk2 ? -1 : 1;
      equalBytes = chunkedBytes;
    }
    return compareKeysWithEqualPrefix(this.userKeys[this.entryOf(node)] ?? emptyBuffer, key, equalBytes);
  }

  /** `precedes` for a node whose key prefix equals the target's. */
  tieBreakPrecedes(node: number, key: Buffer, seq: number, inclusive: boolean): boolean {
    const byKey = this.compareKeyWithEqualPrefix(node, key);
    if (byKey !== 0) return byKey < 0;
    const nodeSeq = this.doubles[node + fieldSeq] ?? 0;
    return inclusive ? nodeSeq >= seq : nodeSeq > seq;
  }

  /**
   * Descends from the head and returns the last node that sorts before (key, seq) — or
   * at-or-before it when `inclusive` — possibly the head. Records the predecessor found at each
   * level in `splice` when given.
   */
  findPredecessor(key: Buffer, prefix: number, seq: number, inclusive: boolean, splice?: Int32Array): number {
    let node = headNode;
    for (let level = this.height - 1; level >= 0; level--) {
      node = this.advanceAtLevel(node, level, key, prefix, seq, inclusive);
      if (splice !== undefined) splice[level] = node;
    }
    return node;
  }

  /**
   * Finger search. `splice` must hold, at every level below heightMax, the last node at that
   * level that is at or before an entry E which sorts before (key, seq) (so each successor in
   * `splice` sorts after E). Rewrites `splice` into the predecessors of (key, seq) at every
   * level, in O(log d) expected steps where d is the number of entries between E and (key, seq).
   *
   * Why it is sound: climbing from level 0, stop at the first level L whose successor in the
   * splice does not sort before (key, seq). Every node after E on a level above L is also on
   * level L, so it sits at or after that successor: the splice above L is already exact, and a
   * normal descent from L finishes the search. Until the descent has moved past the splice, the
   * splice's node one level down is at least as far along as the current node, so it starts there.
   */
  findPredecessorFromSplice(key: Buffer, prefix: number, seq: number, splice: Int32Array): void {
    const doubles = this.doubles;
    const words = this.words;
    const top = this.height - 1;
    let level = 0;
    while (level < top) {
      const slot = (splice[level] ?? 0) + headerSlots + level * slotsPerLevel;
      const next = words[slot * 2] ?? 0;
      if (next === headNode) break;
      const nextPrefix = doubles[slot + 1] ?? 0;
      if (nextPrefix !== prefix ? nextPrefix > prefix : !this.tieBreakPrecedes(next, key, seq, false)) break;
      level++;
    }
    let node = headNode;
    let movedPastSplice = false;
    for (; level >= 0; level--) {
      const start = movedPastSplice ? node : (splice[level] ?? 0);
      node = this.advanceAtLevel(start, level, key, prefix, seq, false);
      if (node !== start) movedPastSplice = true;
      splice[level] = node;
    }
  }

  /** From `node`, follows the links at `level` while the next node sorts before (key, seq); returns the last such node. */
  advanceAtLevel(node: number, level: number, key: Buffer, prefix: number, seq: number, inclusive: boolean): number {
    const doubles = this.doubles;
    const words = this.words;
    let current = node;
    let slot = current + headerSlots + level * slotsPerLevel;
    while (true) {
      const next = words[slot * 2] ?? 0;
      if (next === headNode) return current;
      const nextPrefix = doubles[slot + 1] ?? 0;
      const advance = nextPrefix !== prefix ? nextPrefix < prefix : this.tieBreakPrecedes(next, key, seq, inclusive);
      if (!advance) return current;
      current = next;
      slot = current + headerSlots + level * slotsPerLevel;
    }
  }

  /**
   * Asserts the skiplist's shape: each level strictly ascending in internal order with correct
   * cached successor prefixes, each level's nodes also on the level below, level 0 holding every
   * entry with matching predecessor links, `lastAtLevel` at each level's end, and levels at or
   * above `height` empty. O(n · height).
   */
  checkStructure(): void {
    let nodesAbove: Set<number> | undefined;
    for (let level = heightMax - 1; level >= 0; level--) {
      const nodes = this.checkLevel(level);
      if (level >= this.height) assert(nodes.size === 0, `memtable: level ${level} above the height is not empty`);
      if (nodesAbove !== undefined) {
        for (const node of nodesAbove) assert(nodes.has(node), `memtable: node ${node} missing from level ${level}`);
      }
      nodesAbove = nodes;
    }
    assert(nodesAbove?.size === this.entryCount, 'memtable: level 0 does not hold every entry');
  }

  /** Walks one level for `checkStructure` and returns its nodes. */
  private checkLevel(level: number): Set<number> {
    const nodes = new Set<number>();
    let node = headNode;
    while (true) {
      const slot = node + headerSlots + level * slotsPerLevel;
      const next = this.words[slot * 2] ?? 0;
      if (next === headNode) break;
      const nextPrefix = this.doubles[next + fieldPrefix] ?? 0;
      assert((this.doubles[slot + 1] ?? 0) === nextPrefix, `memtable: stale successor prefix at level ${level}`);
      const nextKey = this.userKeys[this.entryOf(next)] ?? emptyBuffer;
      if (node !== headNode) {
        assert(this.precedes(node, nextKey, nextPrefix, this.seqOf(next), false), `memtable: level ${level} out of order`);
      }
      if (level === 0) assert(this.predecessor(next) === node, 'memtable: predecessor link mismatch');
      nodes.add(next);
      node = next;
    }
    assert((this.lastAtLevel[level] ?? 0) === node, `memtable: wrong last node at level ${level}`);
    return nodes;
  }

  /** Appends a record for a new entry with `height` levels (links zeroed) and returns its address. */
  allocateNode(height: number, seq: number, key: Buffer, prefix: number): number {
    const node = this.arenaUsed;
    const end = node + headerSlots + height * slotsPerLevel;
    if (end > this.doubles.length) {
      const doubles = new Float64Array(Math.max(end, this.doubles.length * 2));
      doubles.set(this.doubles);
      this.doubles = doubles;
      this.words = new Int32Array(doubles.buffer);
    }
    this.arenaUsed = end;
    const entry = this.entryCount + 1;
    if (entry === this.kinds.length) {
      const kinds = new Uint8Array(this.kinds.length * 2);
      kinds.set(this.kinds);
      this.kinds = kinds;
    }
    this.entryCount = entry;
    this.doubles[node + fieldSeq] = seq;
    this.doubles[node + fieldPrefix] = prefix;
    this.doubles[node + fieldChunk1] = keyChunk(key, prefixBytes);
    this.doubles[node + fieldChunk2] = keyChunk(key, 2 * prefixBytes);
    this.words[(node + fieldEntry) * 2] = entry;
    return node;
  }
}

/**
 * A sorted in-memory table of entries in internal order. `add`, `get` and iterator seeks are
 * O(log n) expected; iteration steps are O(1) in both directions. An `add` that sorts after the
 * previous one (as the entries of a batch sorted by key do) searches from that insert's position
 * (a finger) instead of the head, in O(log d) expected for d entries between the two; one past
 * the largest entry needs no search at all.
 */
export class Memtable {
  private readonly store = new SkiplistStore();
  /**
   * The finger: between adds, the last node at or before the last inserted entry at each level
   * (that entry itself on its own levels, the head on levels not yet in use). Every add leaves
   * it exact, so the next add can search from it; during an add it holds that add's predecessors.
   */
  private readonly splice = new Int32Array(heightMax);
  /** The entry inserted last (the finger's position), or the head while empty. */
  private lastInserted = headNode;
  private randomState: number;
  private bytes = 0;
  private smallest: number | undefined;
  private largest: number | undefined;

  constructor(options: MemtableOptions = {}) {
    // xorshift32 needs a non-zero state.
    this.randomState = (options.seed ?? 0x2545f491) >>> 0 || 1;
  }

  /** Number of entries added. */
  get count(): number {
    return this.store.entryCount;
  }

  /** Keys + values + node records + a fixed per-entry overhead, in bytes: compare it to a flush threshold. */
  get approximateBytes(): number {
    return this.bytes;
  }

  /** Smallest sequence number added, or undefined while empty. */
  get smallestSeq(): number | undefined {
    return this.smallest;
  }

  /** Largest sequence number added, or undefined while empty. */
  get largestSeq(): number | undefined {
    return this.largest;
  }

  /**
   * Inserts an entry. (userKey, seq) must not already be present: sequence numbers are unique
   * per key, and a repeat is a broken invariant of the caller. Keeps `userKey` and `value` by
   * reference.
   */
  add(userKey: Buffer, seq: number, kind: ValueKind, value: Buffer): void {
    assert(Number.isSafeInteger(seq), `memtable: sequence ${seq} is not a safe integer`);
    assert(seq >= 0, `memtable: sequence ${seq} is negative`);
    assert(kind === ValueKind.Put || kind === ValueKind.Delete, `memtable: bad value kind ${String(kind)}`);
    const store = this.store;
    const splice = this.splice;
    const prefix = store.target(userKey);
    const tail = store.lastAtLevel[0] ?? 0;
    if (tail !== headNode && store.precedes(tail, userKey, prefix, seq, false)) {
      // Appending past the current maximum (ascending keys, as in sorted batches or ingests):
      // the predecessors are the rightmost nodes of each level, no search needed.
      splice.set(store.lastAtLevel);
    } else if (this.lastInserted !== headNode && store.precedes(this.lastInserted, userKey, prefix, seq, false)) {
      // Sorts after the last insert (the next key of a sorted batch): search from the finger.
      store.findPredecessorFromSplice(userKey, prefix, seq, splice);
    } else {
      store.findPredecessor(userKey, prefix, seq, false, splice);
      splice.fill(headNode, store.height);
    }
    this.assertNotPresent(userKey, prefix, seq);

    const height = this.randomHeight();
    if (height > store.height) store.height = height;
    const node = store.allocateNode(height, seq, userKey, prefix);
    store.userKeys.push(userKey);
    store.values.push(value);
    store.kinds[store.entryCount] = kind;
    this.linkNode(node, prefix, height);
    splice.fill(node, 0, height);
    this.lastInserted = node;

    this.bytes += userKey.length + value.length + entryOverheadBytes + (headerSlots + height * slotsPerLevel) * 8;
    if (this.smallest === undefined || seq < this.smallest) this.smallest = seq;
    if (this.largest === undefined || seq > this.largest) this.largest = seq;
  }

  /**
   * The newest entry for `userKey` whose sequence is at most `seq`, or undefined when there is
   * none. A Delete entry is returned as such: the caller decides that it hides older tables.
   */
  get(userKey: Buffer, seq: number): MemtableEntry | undefined {
    const store = this.store;
    const prefix = store.target(userKey);
    const node = store.successor(store.findPredecessor(userKey, prefix, seq, false));
    if (node === headNode || !store.keyEquals(node, userKey, prefix)) return undefined;
    const entry = store.entryOf(node);
    return {
      seq: store.seqOf(node),
      kind: store.kinds[entry] === ValueKind.Put ? ValueKind.Put : ValueKind.Delete,
      value: store.values[entry] ?? emptyBuffer,
    };
  }

  /**
   * An iterator over the entries present now. Entries added later are never shown to it (see
   * the file comment), and it stays usable while the writer keeps adding.
   */
  iterator(): InternalIterator {
    return new MemtableIterator(this.store, this.store.entryCount + 1);
  }

  /**
   * Asserts the skiplist's structural invariants, including the upper levels that gets and scans
   * cannot tell apart from a correct table (a misordered upper level only slows searches).
   * O(n · height): for tests and debugging, not for the write path.
   */
  checkStructure(): void {
    this.store.checkStructure();
  }

  private assertNotPresent(userKey: Buffer, prefix: number, seq: number): void {
    const store = this.store;
    const next = store.successor(this.splice[0] ?? 0);
    if (next === headNode || store.seqOf(next) !== seq) return;
    assert(!store.keyEquals(next, userKey, prefix), `memtable: entry with sequence ${seq} added twice`);
  }

  /** Links `node` after the predecessors in `splice`, on each of its levels. */
  private linkNode(node: number, prefix: number, height: number): void {
    const store = this.store;
    const doubles = store.doubles;
    const words = store.words;
    for (let level = 0; level < height; level++) {
      const before = this.splice[level] ?? 0;
      const beforeSlot = before + headerSlots + level * slotsPerLevel;
      const nodeSlot = node + headerSlots + level * slotsPerLevel;
      const after = words[beforeSlot * 2] ?? 0;
      words[nodeSlot * 2] = after;
      doubles[nodeSlot + 1] = doubles[beforeSlot + 1] ?? 0;
      words[beforeSlot * 2] = node;
      doubles[beforeSlot + 1] = prefix;
      if (after === headNode) store.lastAtLevel[level] = node;
    }
    const before = this.splice[0] ?? 0;
    words[(node + fieldPrev) * 2] = before;
    const after = store.successor(node);
    if (after !== headNode) words[(after + fieldPrev) * 2] = node;
  }

  /** Height h with probability 2^-h: one more level per trailing zero bit of a random word. */
  private randomHeight(): number {
    const word = this.nextRandom();
    const trailingZeros = 31 - Math.clz32(word & -word);
    return Math.min(heightMax, 1 + trailingZeros);
  }

  /** xorshift32: deterministic, allocation-free and good enough for tower heights. */
  private nextRandom(): number {
    let x = this.randomState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.randomState = x >>> 0;
    return this.randomState;
  }
}

/**
 * Iterates the entries numbered below `entryLimit`, i.e. those added before the iterator was
 * created. Accessors require `valid()`.
 */
class MemtableIterator implements InternalIterator {
  private node = headNode;

  constructor(
    private readonly store: SkiplistStore,
    private readonly entryLimit: number,
  ) {}

  valid(): boolean {
    return this.node !== headNode;
  }

  seekToFirst(): void {
    this.node = this.visibleForward(this.store.successor(headNode));
  }

  seekToLast(): void {
    this.node = this.visibleBackward(this.store.lastAtLevel[0] ?? 0);
  }

  seek(userKey: Buffer, seq: number): void {
    const before = this.store.findPredecessor(userKey, this.store.target(userKey), seq, false);
    this.node = this.visibleForward(this.store.successor(before));
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    this.node = this.visibleBackward(this.store.findPredecessor(userKey, this.store.target(userKey), seq, true));
  }

  next(): void {
    this.assertValid();
    this.node = this.visibleForward(this.store.successor(this.node));
  }

  prev(): void {
    this.assertValid();
    this.node = this.visibleBackward(this.store.predecessor(this.node));
  }

  userKey(): Buffer {
    this.assertValid();
    return this.store.userKeys[this.store.entryOf(this.node)] ?? emptyBuffer;
  }

  seq(): number {
    this.assertValid();
    return this.store.seqOf(this.node);
  }

  kind(): ValueKind {
    this.assertValid();
    return this.store.kinds[this.store.entryOf(this.node)] === ValueKind.Put ? ValueKind.Put : ValueKind.Delete;
  }

  value(): Buffer {
    this.assertValid();
    return this.store.values[this.store.entryOf(this.node)] ?? emptyBuffer;
  }

  private assertValid(): void {
    assert(this.node !== headNode, 'memtable iterator used while not valid');
  }

  /** Skips forward over entries added after this iterator was created (the head, entry 0, ends it). */
  private visibleForward(node: number): number {
    let current = node;
    while (this.store.entryOf(current) >= this.entryLimit) current = this.store.successor(current);
    return current;
  }

  private visibleBackward(node: number): number {
    let current = node;
    while (this.store.entryOf(current) >= this.entryLimit) current = this.store.predecessor(current);
    return current;
  }
}
