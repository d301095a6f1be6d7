/**
 * The payload encoding of the shared Raft log's records. Framing and checksums are the record
 * log's (RecordLogWriter / readRecordLog); this file only turns one group's change into bytes
 * and back. All integers are little-endian; indexes, terms and ids are written as 8 bytes
 * (two 32-bit halves) and checked to be safe integers on decode.
 */
import type { ConfState, Entry, EntryKind, GroupId, HardState, NodeId, SnapshotMeta } from '../types.ts';

/** Record kinds; the first payload byte. Zero is never used. */
const kindCreate = 1;
const kindAppend = 2;
const kindSnapshot = 3;
const kindCheckpoint = 4;
const kindRemove = 5;

const entryKindNormal = 0;
const entryKindConfChange = 1;

/** A new group: its initial snapshot (carrying the ConfState) and hard state. */
export interface CreateRecord {
  readonly kind: 'create';
  readonly groupId: GroupId;
  readonly snapshot: SnapshotMeta;
  readonly hardState: HardState;
}

/**
 * Entries and/or a hard state for one group. When `entries` is non-empty, replay first drops
 * every entry at or after entries[0].index (the conflicting suffix), then appends: truncation and
 * replacement are one record, so a crash can never leave one without the other.
 */
export interface AppendRecord {
  readonly kind: 'append';
  readonly groupId: GroupId;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
}

/**
 * A snapshot marker: the log is compacted up to `snapshot.index`. `keepEntries` records whether
 * entries after the snapshot index survive (a local snapshot, or a leader's snapshot that matches
 * our log) or the whole log is discarded (a leader's snapshot that supersedes it).
 */
export interface SnapshotRecord {
  readonly kind: 'snapshot';
  readonly groupId: GroupId;
  readonly snapshot: SnapshotMeta;
  readonly keepEntries: boolean;
}

/**
 * One group's state as of a segment rotation, written at the start of every new segment so that
 * older segments holding only superseded hard states and snapshot markers can be deleted.
 * `lastIndex` lets replay account for entries that live in older segments.
 */
export interface CheckpointRecord {
  readonly kind: 'checkpoint';
  readonly groupId: GroupId;
  readonly snapshot: SnapshotMeta;
  readonly hardState: HardState;
  readonly lastIndex: number;
}

export interface RemoveRecord {
  readonly kind: 'remove';
  readonly groupId: GroupId;
}

export type LogRecord = CreateRecord | AppendRecord | SnapshotRecord | CheckpointRecord | RemoveRecord;

/** An encoded record plus, for append records, where each entry's data starts in the payload. */
export interface EncodedRecord {
  readonly payload: Buffer;
  readonly dataPositions: readonly number[];
}

/** A decoded record plus, for append records, where each entry's data starts in the payload. */
export interface DecodedRecord {
  readonly record: LogRecord;
  readonly dataPositions: readonly number[];
}

/** A payload that passed its checksum but does not decode: a bug or a foreign file. */
export class RecordFormatError extends Error {
  override readonly name = 'RecordFormatError';
}

class Encoder {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  get position(): number {
    return this.pos;
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buf[this.pos++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(value, this.pos);
    this.pos += 4;
  }

  /** A non-negative safe integer in 8 bytes. */
  u53(value: number): void {
    this.reserve(8);
    this.buf.writeUInt32LE(value % 0x1_0000_0000, this.pos);
    this.buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), this.pos + 4);
    this.pos += 8;
  }

  bytes(data: Uint8Array): void {
    this.u32(data.byteLength);
    this.reserve(data.byteLength);
    this.buf.set(data, this.pos);
    this.pos += data.byteLength;
  }

  string(value: string): void {
    this.bytes(Buffer.from(value, 'utf8'));
  }

  ids(values: readonly NodeId[]): void {
    this.u32(values.length);
    for (const value of values) this.u53(value);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Decoder {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get position(): number {
    return this.pos;
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) {
      throw new RecordFormatError(`record payload ends early: need ${bytes} bytes at ${this.pos} of ${this.buf.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }

  u32(): number {
    this.need(4);
    const value = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return value;
  }

  u53(): number {
    this.need(8);
    const low = this.buf.readUInt32LE(this.pos);
    const high = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    if (high > 0x1f_ffff) throw new RecordFormatError(`integer at ${this.pos - 8} exceeds 2^53`);
    return high * 0x1_0000_0000 + low;
  }

  /** A view of the next length-prefixed bytes (no copy). */
  bytes(): Buffer {
    const length = this.u32();
    this.need(length);
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  ids(): NodeId[] {
    const count = this.u32();
    this.need(count * 8);
    const out: NodeId[] = [];
    for (let i = 0; i < count; i++) out.push(this.u53());
    return out;
  }

  done(): void {
    if (this.pos !== this.buf.length) {
      throw new RecordFormatError(`record payload has ${this.buf.length - this.pos} trailing bytes`);
    }
  }
}

function encodeHardState(enc: Encoder, hardState: HardState): void {
  enc.u53(hardState.term);
  enc.u53(hardState.vote);
  enc.u53(hardState.commit);
}

function decodeHardState(dec: Decoder): HardState {
  return { term: dec.u53(), vote: dec.u53(), commit: dec.u53() };
}

function encodeSnapshot(enc: Encoder, snapshot: SnapshotMeta): void {
  enc.u53(snapshot.index);
  enc.u53(snapshot.term);
  enc.ids(snapshot.confState.voters);
  enc.ids(snapshot.confState.votersOutgoing);
  enc.ids(snapshot.confState.learners);
  enc.ids(snapshot.confState.learnersNext);
  enc.u8(snapshot.confState.autoLeave ? 1 : 0);
  enc.string(snapshot.reference);
}

function decodeSnapshot(dec: Decoder): SnapshotMeta {
  const index = dec.u53();
  const term = dec.u53();
  const confState: ConfState = {
    voters: dec.ids(),
    votersOutgoing: dec.ids(),
    learners: dec.ids(),
    learnersNext: dec.ids(),
    autoLeave: decodeFlag(dec.u8()),
  };
  return { index, term, confState, reference: dec.string() };
}

function decodeFlag(value: number): boolean {
  if (value > 1) throw new RecordFormatError(`flag byte is ${value}`);
  return value === 1;
}

function encodeEntryKind(kind: EntryKind): number {
  return kind === 'normal' ? entryKindNormal : entryKindConfChange;
}

function decodeEntryKind(value: number): EntryKind {
  if (value === entryKindNormal) return 'normal';
  if (value === entryKindConfChange) return 'conf-change';
  throw new RecordFormatError(`unknown entry kind ${value}`);
}

/** Bytes the append record for `entries` takes, for sizing the buffer up front. */
function appendRecordBytesEstimate(entries: readonly Entry[]): number {
  let bytes = 64;
  for (const entry of entries) bytes += 13 + entry.data.byteLength;
  return bytes;
}

/** Encodes one record. Append records are laid out as first index, count, then per entry: term, kind, data. */
export function encodeRecord(record: LogRecord): EncodedRecord {
  const enc = new Encoder(record.kind === 'append' ? appendRecordBytesEstimate(record.entries) : 256);
  const dataPositions: number[] = [];
  switch (record.kind) {
    case 'create':
      enc.u8(kindCreate);
      enc.u53(record.groupId);
      encodeSnapshot(enc, record.snapshot);
      encodeHardState(enc, record.hardState);
      break;
    case 'append': {
      enc.u8(kindAppend);
      enc.u53(record.groupId);
      enc.u8(record.hardState === null ? 0 : 1);
      if (record.hardState !== null) encodeHardState(enc, record.hardState);
      enc.u53(record.entries[0]?.index ?? 0);
      enc.u32(record.entries.length);
      for (const entry of record.entries) {
        enc.u53(entry.term);
        enc.u8(encodeEntryKind(entry.kind));
        dataPositions.push(enc.position + 4);
        enc.bytes(entry.data);
      }
      break;
    }
    case 'snapshot':
      enc.u8(kindSnapshot);
      enc.u53(record.groupId);
      encodeSnapshot(enc, record.snapshot);
      enc.u8(record.keepEntries ? 1 : 0);
      break;
    case 'checkpoint':
      enc.u8(kindCheckpoint);
      enc.u53(record.groupId);
      encodeSnapshot(enc, record.snapshot);
      encodeHardState(enc, record.hardState);
      enc.u53(record.lastIndex);
      break;
    case 'remove':
      enc.u8(kindRemove);
      enc.u53(record.groupId);
      break;
  }
  return { payload: enc.finish(), dataPositions };
}

/**
 * Decodes one payload. Entry data are views into `payload` (no copies). Throws
 * RecordFormatError when the payload is malformed.
 */
export function decodeRecord(payload: Buffer): DecodedRecord {
  const dec = new Decoder(payload);
  const kind = dec.u8();
  const groupId = dec.u53();
  const dataPositions: number[] = [];
  let record: LogRecord;
  switch (kind) {
    case kindCreate:
      record = { kind: 'create', groupId, snapshot: decodeSnapshot(dec), hardState: decodeHardState(dec) };
      break;
    case kindAppend: {
      const hardState = decodeFlag(dec.u8()) ? decodeHardState(dec) : null;
      const firstIndex = dec.u53();
      const count = dec.u32();
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const term = dec.u53();
        const entryKind = decodeEntryKind(dec.u8());
        dataPositions.push(dec.position + 4);
        entries.push({ term, index: firstIndex + i, kind: entryKind, data: dec.bytes() });
      }
      record = { kind: 'append', groupId, hardState, entries };
      break;
    }
    case kindSnapshot:
      record = { kind: 'snapshot', groupId, snapshot: decodeSnapshot(dec), keepEntries: decodeFlag(dec.u8()) };
      break;
    case kindCheckpoint:
      record = { kind: 'checkpoint', groupId, snapshot: decodeSnapshot(dec), hardState: decodeHardState(dec), lastIndex: dec.u53() };
      break;
    case kindRemove:
      record = { kind: 'remove', groupId };
      break;
    default:
      throw new RecordFormatError(`unknown record kind ${kind}`);
  }
  dec.done();
  return { record, dataPositions };
}
