import { assert } from '../assert.ts';
import { CorruptionError, InvalidArgumentError, InvalidOptionsError } from './errors.ts';

/*
 * A write batch is built directly in its encoded form, so building, encoding and decoding
 * allocate nothing per operation (the buffer grows by doubling).
 *
 * Encoding (all integers little-endian):
 *
 *   [0, 8)   firstSeq as a 64-bit integer below 2^53 (patched in by `encode` at commit time)
 *   [8, 12)  op count
 *   then each op: a kind byte, then
 *     Put:         varint keyLength, key, varint valueLength, value
 *     Delete:      varint keyLength, key
 *     DeleteRange: varint startLength, start, varint endLength, end   (start < end bytewise)
 *
 * Varints are unsigned LEB128 of at most 5 bytes. Op i (from 0) has sequence number firstSeq + i;
 * a range deletion consumes one sequence number like any other op.
 */

/** Op kinds as stored; Delete and Put share their values with `ValueKind`. */
export const WriteOpKind = { Delete: 0, Put: 1, DeleteRange: 2 } as const;
export type WriteOpKind = (typeof WriteOpKind)[keyof typeof WriteOpKind];

export const writeBatchHeaderBytes = 12;
export const batchBytesMaxDefault = 64 * 1024 * 1024;
/** Keeps counts within 32 bits and lengths within 5-byte varints. */
export const batchBytesMaxLimit = 1024 * 1024 * 1024;

const seqOffset = 0;
const countOffset = 8;
const twoPow32 = 0x1_0000_0000;
const initialCapacityBytes = 256;

export interface WriteBatchOptions {
  /** Largest encoded size (header included); an op that would exceed it throws InvalidArgumentError. */
  readonly batchBytesMax?: number;
  /**
   * The encoded size expected (a hint, capped at batchBytesMax): the buffer starts that large
   * instead of growing by doubling from 256 bytes, copying what it held at every step.
   */
  readonly expectedBytes?: number;
}

function varintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let rest = value;
  while (rest >= 0x80) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buf[pos++] = rest;
  return pos;
}

/** A batch of puts and deletions applied atomically with consecutive sequence numbers. */
export class WriteBatch {
  readonly batchBytesMax: number;
  private rep: Buffer;
  private usedBytes = writeBatchHeaderBytes;
  private opCount = 0;

  constructor(options: WriteBatchOptions = {}) {
    const batchBytesMax = options.batchBytesMax ?? batchBytesMaxDefault;
    if (!Number.isSafeInteger(batchBytesMax) || batchBytesMax < writeBatchHeaderBytes || batchBytesMax > batchBytesMaxLimit) {
      throw new InvalidOptionsError(`batchBytesMax must be an integer in [${writeBatchHeaderBytes}, ${batchBytesMaxLimit}], got ${batchBytesMax}`);
    }
    this.batchBytesMax = batchBytesMax;
    const expected = options.expectedBytes !== undefined && Number.isFinite(options.expectedBytes) ? Math.ceil(options.expectedBytes) : 0;
    this.rep = Buffer.allocUnsafe(Math.min(Math.max(initialCapacityBytes, expected), batchBytesMax));
  }

  /** Number of ops, which is also the number of sequence numbers the batch consumes. */
  get count(): number {
    return this.opCount;
  }

  /** The encoded size in bytes, header included: what the WAL record's payload will be. */
  get byteSize(): number {
    return this.usedBytes;
  }

  /** Sets `key` to `value`. Empty keys and values are allowed. The bytes are copied. */
  put(key: Uint8Array, value: Uint8Array): void {
    const opBytes = 1 + varintBytes(key.length) + key.length + varintBytes(value.length) + value.length;
    let pos = this.reserve(opBytes);
    this.rep[pos++] = WriteOpKind.Put;
    pos = this.writeField(pos, key);
    pos = this.writeField(pos, value);
    this.commitOp(pos, opBytes);
  }

  /** Deletes `key`. */
  del(key: Uint8Array): void {
    const opBytes = 1 + varintBytes(key.length) + key.length;
    let pos = this.reserve(opBytes);
    this.rep[pos++] = WriteOpKind.Delete;
    pos = this.writeField(pos, key);
    this.commitOp(pos, opBytes);
  }

  /** Deletes every key in [start, end). Throws InvalidArgumentError unless start < end bytewise. */
  delRange(start: Uint8Array, end: Uint8Array): void {
    if (Buffer.compare(start, end) >= 0) {
      throw new InvalidArgumentError('delRange needs start < end (bytewise); the end is exclusive');
    }
    const opBytes = 1 + varintBytes(start.length) + start.length + varintBytes(end.length) + end.length;
    let pos = this.reserve(opBytes);
    this.rep[pos++] = WriteOpKind.DeleteRange;
    pos = this.writeField(pos, start);
    pos = this.writeField(pos, end);
    this.commitOp(pos, opBytes);
  }

  /** Appends all of `other`'s ops after this batch's (for merging batches into one record). */
  append(other: WriteBatch): void {
    const opsBytes = other.usedBytes - writeBatchHeaderBytes;
    const pos = this.reserve(opsBytes);
    other.rep.copy(this.rep, pos, writeBatchHeaderBytes, other.usedBytes);
    this.usedBytes = pos + opsBytes;
    this.opCount += other.opCount;
  }

  /** Empties the batch for reuse, keeping its buffer. */
  clear(): void {
    this.usedBytes = writeBatchHeaderBytes;
    this.opCount = 0;
  }

  /**
   * Stamps `firstSeq` and the op count into the header and returns the encoded batch. The result
   * is a view of the batch's own buffer (no copy): it is valid until the batch is next changed.
   * The engine guarantees firstSeq + count - 1 stays below 2^53 (asserted).
   */
  encode(firstSeq: number): Buffer {
    assert(Number.isSafeInteger(firstSeq), `firstSeq ${firstSeq} must be a safe integer`);
    assert(firstSeq >= 0, `firstSeq ${firstSeq} must not be negative`);
    assert(firstSeq + this.opCount <= Number.MAX_SAFE_INTEGER, `sequence numbers from ${firstSeq} for ${this.opCount} ops reach 2^53`);
    this.rep.writeUInt32LE(firstSeq % twoPow32, seqOffset);
    this.rep.writeUInt32LE(Math.floor(firstSeq / twoPow32), seqOffset + 4);
    this.rep.writeUInt32LE(this.opCount, countOffset);
    return this.rep.subarray(0, this.usedBytes);
  }

  /** Makes room for `opBytes` more bytes and returns where they start. */
  private reserve(opBytes: number): number {
    const needed = this.usedBytes + opBytes;
    if (needed > this.batchBytesMax) {
      throw new InvalidArgumentError(`write batch would grow to ${needed} bytes, over batchBytesMax ${this.batchBytesMax}`);
    }
    if (needed > this.rep.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.batchBytesMax, Math.max(needed, this.rep.length * 2)));
      this.rep.copy(grown, 0, 0, this.usedBytes);
      this.rep = grown;
    }
    return this.usedBytes;
  }

  private writeField(pos: number, bytes: Uint8Array): number {
    const dataStart = writeVarint(this.rep, pos, bytes.length);
    this.rep.set(bytes, dataStart);
    return dataStart + bytes.length;
  }

  private commitOp(endPos: number, opBytes: number): void {
    assert(endPos === this.usedBytes + opBytes, 'op size accounting matches the bytes written');
    this.usedBytes = endPos;
    this.opCount++;
  }
}

/** Receives a decoded batch's ops in order. Buffers are views of the encoded batch (no copies). */
export interface WriteBatchVisitor {
  put(key: Buffer, value: Buffer, seq: number): void;
  del(key: Buffer, seq: number): void;
  delRange(start: Buffer, end: Buffer, seq: number): void;
}

/** One op as a value, for tests and tools (the visitor is the allocation-free way). */
export type WriteOp =
  | { readonly kind: 'put'; readonly key: Buffer; readonly value: Buffer; readonly seq: number }
  | { readonly kind: 'del'; readonly key: Buffer; readonly seq: number }
  | { readonly kind: 'delRange'; readonly start: Buffer; readonly end: Buffer; readonly seq: number };

/**
 * Walks ops in an encoded batch, one reusable object for all ops. For Put, field A is the key
 * and B the value; for Delete only A (the key); for DeleteRange A is the start and B the end.
 */
class OpReader {
  pos = writeBatchHeaderBytes;
  kind: WriteOpKind = WriteOpKind.Put;
  aStart = 0;
  aEnd = 0;
  bStart = 0;
  bEnd = 0;
  errorDetail = '';
  errorPos = 0;

  constructor(private readonly buf: Buffer) {}

  /** Reads the op at `pos` and advances past it; false (with errorDetail/errorPos) if malformed. */
  next(): boolean {
    const opPos = this.pos;
    const kind = this.buf[opPos];
    if (kind !== WriteOpKind.Put && kind !== WriteOpKind.Delete && kind !== WriteOpKind.DeleteRange) {
      return this.fail(opPos, kind === undefined ? 'op missing: the batch ends early' : `unknown op kind ${kind}`);
    }
    this.kind = kind;
    this.pos = opPos + 1;
    if (!this.readField()) return false;
    this.aStart = this.bStart;
    this.aEnd = this.bEnd;
    if (kind === WriteOpKind.Delete) return true;
    if (!this.readField()) return false;
    if (kind === WriteOpKind.DeleteRange && this.buf.compare(this.buf, this.bStart, this.bEnd, this.aStart, this.aEnd) >= 0) {
      return this.fail(opPos, 'range deletion with start >= end');
    }
    return true;
  }

  /** Reads a varint length and the bytes it covers into [bStart, bEnd). */
  private readField(): boolean {
    const lengthPos = this.pos;
    let length = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const byte = this.buf[this.pos];
      if (byte === undefined) return this.fail(lengthPos, 'length truncated: the batch ends early');
      this.pos++;
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      if (i === 4) return this.fail(lengthPos, 'length varint longer than 5 bytes');
      scale *= 0x80;
    }
    if (length > this.buf.length - this.pos) {
      return this.fail(lengthPos, `length ${length} runs past the end of the batch`);
    }
    this.bStart = this.pos;
    this.bEnd = this.pos + length;
    this.pos = this.bEnd;
    return true;
  }

  private fail(pos: number, detail: string): false {
    this.errorPos = pos;
    this.errorDetail = detail;
    return false;
  }
}

/** A validated encoded batch. Decoding never copies keys or values. */
export class DecodedWriteBatch {
  constructor(
    readonly buffer: Buffer,
    readonly firstSeq: number,
    readonly count: number,
  ) {}

  /** The sequence number after the batch's last op: firstSeq + count. */
  get nextSeq(): number {
    return this.firstSeq + this.count;
  }

  /** Calls the visitor for each op in order with its sequence number. Allocates only the views. */
  forEach(visitor: WriteBatchVisitor): void {
    const buf = this.buffer;
    const reader = new OpReader(buf);
    for (let i = 0; i < this.count; i++) {
      const ok = reader.next();
      assert(ok, 'a validated batch decodes');
      const seq = this.firstSeq + i;
      const a = buf.subarray(reader.aStart, reader.aEnd);
      switch (reader.kind) {
        case WriteOpKind.Put:
          visitor.put(a, buf.subarray(reader.bStart, reader.bEnd), seq);
          break;
        case WriteOpKind.Delete:
          visitor.del(a, seq);
          break;
        case WriteOpKind.DeleteRange:
          visitor.delRange(a, buf.subarray(reader.bStart, reader.bEnd), seq);
          break;
      }
    }
  }

  /** All ops as objects (one allocation per op): for tests and tools, not the write path. */
  ops(): WriteOp[] {
    const ops: WriteOp[] = [];
    this.forEach({
      put: (key, value, seq) => ops.push({ kind: 'put', key, value, seq }),
      del: (key, seq) => ops.push({ kind: 'del', key, seq }),
      delRange: (start, end, seq) => ops.push({ kind: 'delRange', start, end, seq }),
    });
    return ops;
  }
}

/** Where an encoded batch came from, so a malformed one is reported as corruption at its place. */
export interface WriteBatchSource {
  readonly file: string;
  /** The file offset of the batch's first byte. */
  readonly offset: number;
}

/**
 * Validates an encoded batch in one pass and returns it for iteration. A malformed batch (short
 * header, sequence numbers reaching 2^53, unknown op kind, truncated or overlong lengths, a range
 * deletion with start >= end, an op count that disagrees with the ops, trailing bytes) throws:
 * CorruptionError at the exact file offset when `source` is given, InvalidArgumentError otherwise.
 */
export function decodeWriteBatch(buf: Buffer, source?: WriteBatchSource): DecodedWriteBatch {
  const malformed = (pos: number, detail: string): Error =>
    source === undefined
      ? new InvalidArgumentError(`malformed write batch at byte ${pos}: ${detail}`)
      : new CorruptionError(source.file, source.offset + pos, `malformed write batch: ${detail}`);
  if (buf.length < writeBatchHeaderBytes) {
    throw malformed(0, `${buf.length} bytes is shorter than the ${writeBatchHeaderBytes}-byte header`);
  }
  const seqHigh = buf.readUInt32LE(seqOffset + 4);
  const firstSeq = seqHigh * twoPow32 + buf.readUInt32LE(seqOffset);
  const count = buf.readUInt32LE(countOffset);
  if (!Number.isSafeInteger(firstSeq + count)) {
    throw malformed(seqOffset, `sequence numbers from ${firstSeq} for ${count} ops reach 2^53`);
  }
  const reader = new OpReader(buf);
  for (let i = 0; i < count; i++) {
    if (!reader.next()) throw malformed(reader.errorPos, `op ${i} of ${count}: ${reader.errorDetail}`);
  }
  if (reader.pos !== buf.length) {
    throw malformed(reader.pos, `${buf.length - reader.pos} bytes follow the ${count} ops the header counts`);
  }
  return new DecodedWriteBatch(buf, firstSeq, count);
}
