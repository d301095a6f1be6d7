/**
 * Data and index blocks: a sorted run of (internal key, value) entries.
 *
 * Entry:   varint32 shared | varint32 unshared | varint32 valueLength | key[shared..] | value
 * Block:   entries... | restart offsets (u32 LE each) | restart count (u32 LE)
 *
 * Keys are prefix-compressed against the previous key; every `restartInterval` entries a key is
 * stored whole and its offset recorded in the restart array, so a reader binary-searches the
 * restart array and then scans at most one restart run.
 */
import { assert as sharedAssert } from '../../assert.ts';
import { CorruptionError } from '../errors.ts';
import type { InternalIterator } from '../iterator.ts';
import { compareInternalKeys, internalKeyTrailerBytes as sharedTrailerBytes, ValueKind } from '../keys.ts';

const assert: typeof sharedAssert = sharedAssert;
// Hot paths read module-local constants: some loaders (tsx, vitest) compile imported bindings
// into getter calls, which costs more than the byte loops around them.
const internalKeyTrailerBytes = 8;
assert(internalKeyTrailerBytes === sharedTrailerBytes, 'internal key trailer size changed');
const kindPut: ValueKind = ValueKind.Put;
const kindDelete: ValueKind = ValueKind.Delete;

export const defaultRestartInterval = 16;
/** The file name used in CorruptionErrors of blocks that were not read from a file. */
export const inMemoryBlockFile = '<memory>';
/** Bytes charged to the block cache per block on top of its contents (objects, restart array). */
const blockOverheadBytes = 160;
const twoPow24 = 0x100_0000;
/** Below this length a JavaScript byte loop beats the native call overhead. */
const nativeByteThreshold = 24;

function putVarint32(out: Buffer, pos: number, value: number): number {
  let rest = value;
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[pos++] = rest;
  return pos;
}

/** Copies `length` bytes; a plain loop for short runs, the native copy for long ones. */
function copyBytes(source: Buffer, sourceStart: number, target: Buffer, targetStart: number, length: number): void {
  if (length > nativeByteThreshold) {
    source.copy(target, targetStart, sourceStart, sourceStart + length);
    return;
  }
  for (let i = 0; i < length; i++) target[targetStart + i] = source[sourceStart + i] as number;
}

/** Bytewise comparison of a[aStart, aStart + aLength) against all of b; returns <0, 0 or >0. */
export function compareBytesTo(a: Buffer, aStart: number, aLength: number, b: Buffer): number {
  const bLength = b.length;
  const n = aLength < bLength ? aLength : bLength;
  if (n > nativeByteThreshold) return a.compare(b, 0, bLength, aStart, aStart + aLength);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i] as number;
    const y = b[i] as number;
    if (x !== y) return x - y;
  }
  return aLength - bLength;
}

/** Reads the sequence number from the 8-byte trailer at `pos` without bounds-checked calls. */
export function readTrailerSeq(buf: Buffer, pos: number): number {
  const high = (((buf[pos] as number) << 24) | ((buf[pos + 1] as number) << 16) | ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number)) >>> 0;
  const low = ((buf[pos + 4] as number) << 16) | ((buf[pos + 5] as number) << 8) | (buf[pos + 6] as number);
  return high * twoPow24 + low;
}

/**
 * Compares the internal key buf[start, start + keyLength) with the seek target (userKey, seq) in
 * internal order, ignoring the kind: <0 when the key sorts before the target.
 */
export function compareKeyToTarget(buf: Buffer, start: number, keyLength: number, userKey: Buffer, seq: number): number {
  const userLength = keyLength - internalKeyTrailerBytes;
  const byUser = compareBytesTo(buf, start, userLength, userKey);
  if (byUser !== 0) return byUser;
  const keySeq = readTrailerSeq(buf, start + userLength);
  return keySeq > seq ? -1 : keySeq < seq ? 1 : 0;
}

/**
 * compareKeyToTarget for a key whose user part is known to share its first `known` bytes with
 * the target. Also reports the length of the user keys' common prefix (for prefix-skipping
 * searches): returns 0 when equal, -(common + 1) when the key sorts before the target and
 * (common + 1) when after.
 */
export function compareWithPrefix(buf: Buffer, start: number, keyLength: number, userKey: Buffer, seq: number, known: number): number {
  const userLength = keyLength - internalKeyTrailerBytes;
  const targetLength = userKey.length;
  const common = userLength < targetLength ? userLength : targetLength;
  let i = known;
  while (i < common && buf[start + i] === userKey[i]) i++;
  if (i < common) return (buf[start + i] as number) < (userKey[i] as number) ? -(i + 1) : i + 1;
  if (userLength !== targetLength) return userLength < targetLength ? -(i + 1) : i + 1;
  const keySeq = readTrailerSeq(buf, start + userLength);
  return keySeq > seq ? -(i + 1) : keySeq < seq ? i + 1 : 0;
}

/**
 * Builds one block. Keys are internal keys and must arrive in strictly increasing internal order.
 * `finish()` returns a view of the builder's buffer, valid until `reset()`.
 */
export class BlockBuilder {
  private buffer: Buffer;
  private sizeBytes = 0;
  private restarts: number[] = [0];
  private entriesSinceRestart = 0;
  private entries = 0;
  private lastKey = Buffer.allocUnsafe(64);
  private lastKeyLength = 0;
  private finished = false;

  constructor(
    readonly restartInterval: number = defaultRestartInterval,
    initialCapacityBytes = 8 * 1024,
  ) {
    assert(Number.isInteger(restartInterval), 'restart interval must be an integer');
    assert(restartInterval >= 1, 'restart interval must be at least 1');
    this.buffer = Buffer.allocUnsafe(Math.max(64, initialCapacityBytes));
  }

  /** Appends an entry. `key` is an internal key (user key + 8-byte trailer). */
  add(key: Buffer, value: Buffer): void {
    assert(!this.finished, 'add after finish without reset');
    assert(key.length >= internalKeyTrailerBytes, 'key shorter than an internal key trailer');
    if (this.entries > 0) {
      assert(compareInternalKeys(key, this.lastKey.subarray(0, this.lastKeyLength)) > 0, 'block keys must strictly increase');
    }
    let shared = 0;
    if (this.entriesSinceRestart < this.restartInterval) {
      const limit = Math.min(key.length, this.lastKeyLength);
      while (shared < limit && key[shared] === this.lastKey[shared]) shared++;
    } else {
      this.restarts.push(this.sizeBytes);
      this.entriesSinceRestart = 0;
    }
    const unshared = key.length - shared;
    this.ensureCapacity(15 + unshared + value.length);
    let pos = putVarint32(this.buffer, this.sizeBytes, shared);
    pos = putVarint32(this.buffer, pos, unshared);
    pos = putVarint32(this.buffer, pos, value.length);
    key.copy(this.buffer, pos, shared);
    pos += unshared;
    value.copy(this.buffer, pos);
    this.sizeBytes = pos + value.length;
    this.rememberLastKey(key, shared);
    this.entriesSinceRestart++;
    this.entries++;
  }

  private ensureCapacity(extraBytes: number): void {
    const needed = this.sizeBytes + extraBytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.sizeBytes);
    this.buffer = grown;
  }

  private rememberLastKey(key: Buffer, shared: number): void {
    if (this.lastKey.length < key.length) {
      const grown = Buffer.allocUnsafe(Math.max(key.length, this.lastKey.length * 2));
      this.lastKey.copy(grown, 0, 0, shared);
      this.lastKey = grown;
    }
    key.copy(this.lastKey, shared, shared);
    this.lastKeyLength = key.length;
  }

  entryCount(): number {
    return this.entries;
  }

  isEmpty(): boolean {
    return this.entries === 0;
  }

  /** The size the block would have if finished now. */
  estimatedSizeBytes(): number {
    return this.sizeBytes + 4 * this.restarts.length + 4;
  }

  /** Appends the restart array; returns the block contents (a view valid until `reset()`). */
  finish(): Buffer {
    assert(!this.finished, 'finish called twice');
    this.ensureCapacity(4 * this.restarts.length + 4);
    let pos = this.sizeBytes;
    for (const restart of this.restarts) pos = this.buffer.writeUInt32LE(restart, pos);
    pos = this.buffer.writeUInt32LE(this.restarts.length, pos);
    this.sizeBytes = pos;
    this.finished = true;
    return this.buffer.subarray(0, pos);
  }

  reset(): void {
    this.sizeBytes = 0;
    this.restarts = [0];
    this.entriesSinceRestart = 0;
    this.entries = 0;
    this.lastKeyLength = 0;
    this.finished = false;
  }
}

/**
 * A parsed, immutable block. Construction checks the restart array; entries are checked as they
 * are decoded. Problems throw CorruptionError(file, fileOffset, detail).
 */
export class Block {
  readonly restartsStart: number;
  readonly restartCount: number;

  constructor(
    readonly data: Buffer,
    readonly file: string = inMemoryBlockFile,
    readonly fileOffset = 0,
  ) {
    if (data.length < 4) throw this.corruption('block shorter than its restart count');
    const restartCount = data.readUInt32LE(data.length - 4);
    if (restartCount === 0 || restartCount > Math.floor((data.length - 4) / 4)) {
      throw this.corruption(`bad restart count ${restartCount}`);
    }
    this.restartsStart = data.length - 4 - 4 * restartCount;
    this.restartCount = restartCount;
    let previous = -1;
    for (let i = 0; i < restartCount; i++) {
      const restart = data.readUInt32LE(this.restartsStart + 4 * i);
      const inRange = restart < this.restartsStart || (restart === 0 && this.restartsStart === 0);
      if (!inRange || restart <= previous) throw this.corruption(`bad restart offset ${restart}`);
      if (i === 0 && restart !== 0) throw this.corruption('first restart is not at offset 0');
      previous = restart;
    }
  }

  /** Bytes this block accounts for in the block cache. */
  get chargeBytes(): number {
    return this.data.length + blockOverheadBytes;
  }

  corruption(detail: string): CorruptionError {
    return new CorruptionError(this.file, this.fileOffset, detail);
  }

  iterator(): BlockIterator {
    return new BlockIterator(this);
  }
}

const emptyBlockContents = new BlockBuilder(1, 64).finish();
/** A block with no entries; a placeholder for iterators that have no block yet. */
export const emptyBlock = new Block(Buffer.from(emptyBlockContents));

/**
 * Iterates a block in internal order. The current key is kept as a view of the block when it is
 * stored whole, and otherwise rebuilt in a scratch buffer; userKey() copies the scratch key only
 * when asked (once per position). Reverse steps decode one restart run into immutable keys and
 * walk it backwards. Can be re-pointed at another block with `reset()` (no allocation).
 */
export class BlockIterator implements InternalIterator {
  private block: Block = emptyBlock;
  private data: Buffer = emptyBlock.data;
  private restartCount = 1;
  private limit = 0;
  /** Offset of the current entry, -1 when not valid. */
  private current = -1;
  private nextOffset = 0;
  private restartIndex = 0;
  private keyBuffer: Buffer;
  private keyStart = 0;
  private keyLength = 0;
  private scratch = Buffer.allocUnsafe(64);
  private valueStart = 0;
  private valueLength = 0;
  private userKeyCopy: Buffer | undefined = undefined;
  // Header fields of the last decoded entry (fields, so decoding allocates nothing).
  private headerShared = 0;
  private headerUnshared = 0;
  private headerValueLength = 0;
  private varintValue = 0;
  // One decoded restart run for reverse iteration.
  private runRestart = -1;
  private runLength = 0;
  private runPosition = 0;
  private readonly runOffsets: number[] = [];
  private readonly runNextOffsets: number[] = [];
  private readonly runValueStarts: number[] = [];
  private readonly runValueLengths: number[] = [];
  private readonly runKeys: Buffer[] = [];

  constructor(block: Block) {
    this.keyBuffer = this.scratch;
    this.reset(block);
  }

  /** Re-points the iterator at `block`; it is left unpositioned. */
  reset(block: Block): void {
    this.block = block;
    this.data = block.data;
    this.restartCount = block.restartCount;
    this.limit = block.restartsStart;
    this.current = -1;
    this.runRestart = -1;
    this.runLength = 0;
    this.keyBuffer = this.scratch;
    this.keyLength = 0;
    this.userKeyCopy = undefined;
  }

  currentBlock(): Block {
    return this.block;
  }

  valid(): boolean {
    return this.current >= 0;
  }

  seekToFirst(): void {
    this.positionAtRestart(0);
  }

  seekToLast(): void {
    const last = this.restartCount - 1;
    this.decodeRun(last);
    if (this.runLength === 0) {
      this.current = -1;
      return;
    }
    this.positionFromRun(this.runLength - 1);
  }

  seek(userKey: Buffer, seq: number): void {
    // Binary search for the last restart whose key sorts before the target. Every key between
    // two bounds shares with the target at least the shorter of the bounds' common prefixes, so
    // each comparison starts there instead of at byte 0.
    let low = 0;
    let high = this.restartCount;
    let lowMatched = 0;
    let highMatched = 0;
    while (high - low > 1) {
      const middle = (low + high) >>> 1;
      const entry = this.restartAt(middle);
      const keyStart = this.decodeHeader(entry);
      if (this.headerShared !== 0) throw this.block.corruption(`restart entry at ${entry} shares a prefix`);
      const order = compareWithPrefix(this.data, keyStart, this.headerUnshared, userKey, seq, lowMatched < highMatched ? lowMatched : highMatched);
      if (order < 0) {
        low = middle;
        lowMatched = -order - 1;
      } else {
        high = middle;
        highMatched = order === 0 ? userKey.length : order - 1;
      }
    }
    this.positionAtRestart(low);
    if (this.current >= 0) this.scanForward(userKey, seq, low === 0 ? 0 : lowMatched);
  }

  /**
   * From the current entry, steps forward to the first entry >= target. `known` bytes of the
   * current user key are known to equal the target's. Because the builder stores the longest
   * shared prefix, an entry sharing more than `matched` bytes with its predecessor still sorts
   * before the target and one sharing fewer sorts after it; only a tie needs a byte comparison.
   */
  private scanForward(userKey: Buffer, seq: number, known: number): void {
    let order = compareWithPrefix(this.keyBuffer, this.keyStart, this.keyLength, userKey, seq, known);
    let matched = order < 0 ? -order - 1 : 0;
    while (order < 0) {
      const previousUserLength = this.keyLength - internalKeyTrailerBytes;
      const offset = this.nextOffset;
      if (offset >= this.limit) {
        this.current = -1;
        return;
      }
      this.advanceRestartIndex(offset);
      this.parseEntryAt(offset);
      const shared = this.headerShared;
      if (matched < previousUserLength && matched < userKey.length) {
        if (shared > matched) continue;
        if (shared < matched) return;
      } else if (shared < matched) {
        matched = shared;
      }
      order = compareWithPrefix(this.keyBuffer, this.keyStart, this.keyLength, userKey, seq, matched);
      if (order < 0) matched = -order - 1;
    }
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    this.seek(userKey, seq);
    if (this.current < 0) {
      this.seekToLast();
      return;
    }
    if (compareKeyToTarget(this.keyBuffer, this.keyStart, this.keyLength, userKey, seq) > 0) this.prev();
  }

  next(): void {
    assert(this.current >= 0, 'next on an invalid block iterator');
    const offset = this.nextOffset;
    if (offset >= this.limit) {
      this.current = -1;
      return;
    }
    this.advanceRestartIndex(offset);
    this.parseEntryAt(offset);
  }

  prev(): void {
    assert(this.current >= 0, 'prev on an invalid block iterator');
    if (this.runRestart !== this.restartIndex) this.decodeRun(this.restartIndex);
    const position = this.findInRun(this.current);
    if (position > 0) {
      this.positionFromRun(position - 1);
      return;
    }
    if (this.restartIndex === 0) {
      this.current = -1;
      return;
    }
    this.decodeRun(this.restartIndex - 1);
    if (this.runLength === 0) throw this.block.corruption(`empty restart run ${this.restartIndex - 1}`);
    this.positionFromRun(this.runLength - 1);
  }

  userKey(): Buffer {
    assert(this.current >= 0, 'userKey on an invalid block iterator');
    const userLength = this.keyLength - internalKeyTrailerBytes;
    if (this.keyBuffer !== this.scratch) return this.keyBuffer.subarray(this.keyStart, this.keyStart + userLength);
    if (this.userKeyCopy === undefined) {
      const copy = Buffer.allocUnsafe(userLength);
      copyBytes(this.scratch, 0, copy, 0, userLength);
      this.userKeyCopy = copy;
    }
    return this.userKeyCopy;
  }

  /** True when the current user key equals `userKey` (no allocation). */
  userKeyEquals(userKey: Buffer): boolean {
    assert(this.current >= 0, 'userKeyEquals on an invalid block iterator');
    return compareBytesTo(this.keyBuffer, this.keyStart, this.keyLength - internalKeyTrailerBytes, userKey) === 0;
  }

  /** Compares the current entry with (userKey, seq) like compareKeyToTarget. */
  compareToTarget(userKey: Buffer, seq: number): number {
    assert(this.current >= 0, 'compareToTarget on an invalid block iterator');
    return compareKeyToTarget(this.keyBuffer, this.keyStart, this.keyLength, userKey, seq);
  }

  /** The current internal key (user key + trailer); a fresh copy. */
  internalKey(): Buffer {
    assert(this.current >= 0, 'internalKey on an invalid block iterator');
    return Buffer.from(this.keyBuffer.subarray(this.keyStart, this.keyStart + this.keyLength));
  }

  seq(): number {
    assert(this.current >= 0, 'seq on an invalid block iterator');
    return readTrailerSeq(this.keyBuffer, this.keyStart + this.keyLength - internalKeyTrailerBytes);
  }

  kind(): ValueKind {
    assert(this.current >= 0, 'kind on an invalid block iterator');
    const kind = this.keyBuffer[this.keyStart + this.keyLength - 1];
    if (kind === kindPut) return kindPut;
    if (kind === kindDelete) return kindDelete;
    throw this.block.corruption(`bad value kind ${String(kind)} in entry at ${this.current}`);
  }

  value(): Buffer {
    assert(this.current >= 0, 'value on an invalid block iterator');
    return this.data.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  /** Where the current value starts in `currentBlock().data` (for decoding without a view). */
  valueOffset(): number {
    return this.valueStart;
  }

  valueSize(): number {
    return this.valueLength;
  }

  /** The offset of restart point `index` (read from the block; checked at construction). */
  private restartAt(index: number): number {
    const data = this.data;
    const pos = this.limit + 4 * index;
    return ((data[pos] as number) | ((data[pos + 1] as number) << 8) | ((data[pos + 2] as number) << 16) | ((data[pos + 3] as number) << 24)) >>> 0;
  }

  /** Keeps `restartIndex` on the restart run that holds the entry at `offset`. */
  private advanceRestartIndex(offset: number): void {
    while (this.restartIndex + 1 < this.restartCount && this.restartAt(this.restartIndex + 1) <= offset) this.restartIndex++;
  }

  /** Decodes the three header varints at `entry` into fields; returns where the key delta starts. */
  private decodeHeader(entry: number): number {
    const data = this.data;
    const limit = this.limit;
    let pos = entry;
    if (entry + 3 <= limit) {
      const shared = data[entry] as number;
      const unshared = data[entry + 1] as number;
      const valueLength = data[entry + 2] as number;
      if ((shared | unshared | valueLength) < 0x80) {
        this.headerShared = shared;
        this.headerUnshared = unshared;
        this.headerValueLength = valueLength;
        pos = entry + 3;
        return this.checkEntryBounds(entry, pos);
      }
    }
    pos = this.readVarint(pos);
    this.headerShared = this.varintValue;
    pos = this.readVarint(pos);
    this.headerUnshared = this.varintValue;
    pos = this.readVarint(pos);
    this.headerValueLength = this.varintValue;
    return this.checkEntryBounds(entry, pos);
  }

  private checkEntryBounds(entry: number, keyStart: number): number {
    if (keyStart + this.headerUnshared + this.headerValueLength > this.limit) {
      throw this.block.corruption(`entry at ${entry} overruns the block`);
    }
    if (this.headerShared + this.headerUnshared < internalKeyTrailerBytes) {
      throw this.block.corruption(`entry at ${entry} has a key shorter than its trailer`);
    }
    return keyStart;
  }

  private readVarint(start: number): number {
    let result = 0;
    let pos = start;
    for (let shift = 0; shift <= 28; shift += 7) {
      if (pos >= this.limit) break;
      const byte = this.data[pos++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        this.varintValue = result;
        return pos;
      }
    }
    throw this.block.corruption(`bad varint at ${start}`);
  }

  /** Decodes the entry at `entry`, whose shared prefix comes from the current key. */
  private parseEntryAt(entry: number): void {
    const deltaStart = this.decodeHeader(entry);
    const shared = this.headerShared;
    const unshared = this.headerUnshared;
    if (shared === 0) {
      this.keyBuffer = this.data;
      this.keyStart = deltaStart;
    } else {
      if (shared > this.keyLength) throw this.block.corruption(`entry at ${entry} shares more than the previous key`);
      this.materializeKey(deltaStart, shared, unshared);
    }
    this.keyLength = shared + unshared;
    this.current = entry;
    this.valueStart = deltaStart + unshared;
    this.valueLength = this.headerValueLength;
    this.nextOffset = this.valueStart + this.valueLength;
    this.userKeyCopy = undefined;
  }

  /** Rebuilds a prefix-compressed key in the scratch buffer. */
  private materializeKey(deltaStart: number, shared: number, unshared: number): void {
    const keyLength = shared + unshared;
    if (this.keyBuffer !== this.scratch) {
      if (this.scratch.length < keyLength) this.scratch = Buffer.allocUnsafe(Math.max(keyLength, this.scratch.length * 2));
      copyBytes(this.keyBuffer, this.keyStart, this.scratch, 0, shared);
    } else if (this.scratch.length < keyLength) {
      const grown = Buffer.allocUnsafe(Math.max(keyLength, this.scratch.length * 2));
      copyBytes(this.scratch, 0, grown, 0, shared);
      this.scratch = grown;
    }
    copyBytes(this.data, deltaStart, this.scratch, shared, unshared);
    this.keyBuffer = this.scratch;
    this.keyStart = 0;
  }

  private positionAtRestart(index: number): void {
    this.restartIndex = index;
    this.keyBuffer = this.scratch;
    this.keyLength = 0;
    const entry = this.restartAt(index);
    if (entry >= this.limit) {
      this.current = -1;
      return;
    }
    this.parseEntryAt(entry);
  }

  /** Decodes restart run `index` into immutable keys (views when stored whole). */
  private decodeRun(index: number): void {
    const end = index + 1 < this.restartCount ? this.restartAt(index + 1) : this.limit;
    let entry = this.restartAt(index);
    let count = 0;
    let previousKey: Buffer | undefined;
    while (entry < end) {
      const deltaStart = this.decodeHeader(entry);
      const shared = this.headerShared;
      const unshared = this.headerUnshared;
      let key: Buffer;
      if (shared === 0) {
        key = this.data.subarray(deltaStart, deltaStart + unshared);
      } else {
        if (previousKey === undefined || shared > previousKey.length) {
          throw this.block.corruption(`entry at ${entry} shares more than the previous key`);
        }
        key = Buffer.allocUnsafe(shared + unshared);
        copyBytes(previousKey, 0, key, 0, shared);
        copyBytes(this.data, deltaStart, key, shared, unshared);
      }
      this.runOffsets[count] = entry;
      this.runKeys[count] = key;
      this.runValueStarts[count] = deltaStart + unshared;
      this.runValueLengths[count] = this.headerValueLength;
      entry = deltaStart + unshared + this.headerValueLength;
      this.runNextOffsets[count] = entry;
      count++;
      previousKey = key;
    }
    this.runRestart = index;
    this.runLength = count;
  }

  private findInRun(entry: number): number {
    if (this.runOffsets[this.runPosition] === entry && this.runPosition < this.runLength) return this.runPosition;
    for (let i = 0; i < this.runLength; i++) if (this.runOffsets[i] === entry) return i;
    throw this.block.corruption(`entry at ${entry} is not on an entry boundary of its restart run`);
  }

  private positionFromRun(position: number): void {
    const key = this.runKeys[position] as Buffer;
    this.current = this.runOffsets[position] as number;
    this.nextOffset = this.runNextOffsets[position] as number;
    this.valueStart = this.runValueStarts[position] as number;
    this.valueLength = this.runValueLengths[position] as number;
    this.keyBuffer = key;
    this.keyStart = 0;
    this.keyLength = key.length;
    this.restartIndex = this.runRestart;
    this.runPosition = position;
    this.userKeyCopy = undefined;
  }
}
