import * as nodePath from 'node:path';
import { assert } from '../assert.ts';
import { crc32c, maskCrc, unmaskCrc } from './crc32c.ts';
import { CorruptionError, InvalidArgumentError, InvalidOptionsError, ReadOnlyError, StorageIOError } from './errors.ts';
import type { StorageFs } from './fs.ts';

/*
 * A framed record log, shared by the write-ahead log and the manifest.
 *
 * Every record is a 16-byte header followed by its payload:
 *
 *   [0, 4)   masked CRC32C over header bytes [8, 16) followed by the payload (the record check)
 *   [4, 8)   masked CRC32C over header bytes [8, 16) alone (the header check)
 *   [8, 12)  payload length in bytes, little-endian
 *   [12]     record type, always `recordTypeFull` (zero never is, so zero-filled space never parses)
 *   [13, 16) reserved, zero
 *
 * The separate header check lets a reader trust a length before it has the payload: a torn
 * record whose header survived is known to run past the end of file, and a reader looking for
 * a later valid record after a bad one (to tell mid-log corruption from a torn tail) can reject
 * most candidate positions with an 8-byte checksum instead of checksumming a whole payload.
 */

export const recordHeaderBytes = 16;
export const recordTypeFull = 1;
/** The default and the largest accepted payload sizes. */
export const recordBytesMaxDefault = 64 * 1024 * 1024;
export const recordBytesMaxLimit = 1024 * 1024 * 1024;

const typeOffset = 12;
const lengthOffset = 8;
const headerCheckOffset = 4;
/** Frame buffers up to this size are kept for reuse between appends; larger ones are one-off. */
const frameScratchBytesRetainMax = 4 * 1024 * 1024;
const frameScratchBytesInitial = 64 * 1024;

function validateRecordBytesMax(recordBytesMax: number): void {
  if (!Number.isSafeInteger(recordBytesMax) || recordBytesMax < 1 || recordBytesMax > recordBytesMaxLimit) {
    throw new InvalidOptionsError(`recordBytesMax must be an integer in [1, ${recordBytesMaxLimit}], got ${recordBytesMax}`);
  }
}

export interface RecordLogWriterOptions {
  /** Largest payload accepted by `append`; larger ones throw InvalidArgumentError. Default 64 MiB. */
  readonly recordBytesMax?: number;
  /**
   * When creating a file, fsync its directory so the new name survives a crash (otherwise a
   * synced record could vanish with the file's directory entry). Default true.
   */
  readonly syncDirectory?: boolean;
}

/**
 * Appends framed records to one file. Each append is a single positional write of header and
 * payload together. After any failed write or fsync the writer refuses further appends and syncs
 * (ReadOnlyError): the file may end in a partial record, and a later record written after it
 * would turn a harmless torn tail into mid-log corruption. Not safe for concurrent use from
 * several writers on the same file (there is one writer per file by design).
 */
export class RecordLogWriter {
  readonly path: string;
  readonly recordBytesMax: number;
  private fd: number | null;
  private bytesWritten: number;
  private failure: StorageIOError | null = null;
  private frameScratch: Buffer = Buffer.allocUnsafe(frameScratchBytesInitial);

  private constructor(private readonly fs: StorageFs, path: string, fd: number, startBytes: number, recordBytesMax: number) {
    this.path = path;
    this.fd = fd;
    this.bytesWritten = startBytes;
    this.recordBytesMax = recordBytesMax;
  }

  /** Creates `path`, which must not exist yet (StorageIOError otherwise), for appending. */
  static create(fs: StorageFs, path: string, options: RecordLogWriterOptions = {}): RecordLogWriter {
    const recordBytesMax = options.recordBytesMax ?? recordBytesMaxDefault;
    validateRecordBytesMax(recordBytesMax);
    const fd = openOrThrow(fs, path, 'wx');
    if (options.syncDirectory ?? true) {
      const directory = nodePath.dirname(path);
      try {
        fs.fsyncDirSync(directory);
      } catch (err) {
        closeQuietly(fs, fd);
        throw new StorageIOError('fsync directory', directory, err);
      }
    }
    return new RecordLogWriter(fs, path, fd, 0, recordBytesMax);
  }

  /**
   * Opens an existing log to append after its last byte. The caller must first have read it with
   * `readRecordLog(..., { truncateTornTail: true })` so that it does not end in a torn record.
   */
  static openForAppend(fs: StorageFs, path: string, options: RecordLogWriterOptions = {}): RecordLogWriter {
    const recordBytesMax = options.recordBytesMax ?? recordBytesMaxDefault;
    validateRecordBytesMax(recordBytesMax);
    const fd = openOrThrow(fs, path, 'r+');
    let size: number;
    try {
      size = fs.fstatSizeSync(fd);
    } catch (err) {
      closeQuietly(fs, fd);
      throw new StorageIOError('fstat', path, err);
    }
    return new RecordLogWriter(fs, path, fd, size, recordBytesMax);
  }

  /** Bytes in the file: everything written successfully, headers included. */
  get size(): number {
    return this.bytesWritten;
  }

  /** The failure that stopped this writer, or null while it is healthy. */
  get failed(): StorageIOError | null {
    return this.failure;
  }

  /**
   * Writes one record (one write call) and returns the offset of its header. Throws
   * InvalidArgumentError for a payload over `recordBytesMax` (nothing is written),
   * StorageIOError when the write fails, ReadOnlyError after an earlier failure.
   * The record is not durable until a later `sync()` completes.
   */
  append(payload: Uint8Array): number {
    const fd = this.writableFd();
    if (payload.length > this.recordBytesMax) {
      throw new InvalidArgumentError(`record of ${payload.length} bytes exceeds recordBytesMax ${this.recordBytesMax} (${this.path})`);
    }
    const frameBytes = recordHeaderBytes + payload.length;
    const frame = this.frameBuffer(frameBytes);
    frame.writeUInt32LE(payload.length, lengthOffset);
    frame[typeOffset] = recordTypeFull;
    frame[typeOffset + 1] = 0;
    frame[typeOffset + 2] = 0;
    frame[typeOffset + 3] = 0;
    const headerCrc = crc32c(frame, lengthOffset, recordHeaderBytes);
    frame.writeUInt32LE(maskCrc(headerCrc), headerCheckOffset);
    frame.writeUInt32LE(maskCrc(crc32c(payload, 0, payload.length, headerCrc)), 0);
    frame.set(payload, recordHeaderBytes);
    const offset = this.bytesWritten;
    try {
      this.fs.writeAllSync(fd, frame, 0, frameBytes, offset);
    } catch (err) {
      this.failure = new StorageIOError('write', this.path, err);
      throw this.failure;
    }
    this.bytesWritten = offset + frameBytes;
    return offset;
  }

  /**
   * fdatasyncs the file: every record appended before the call is durable when it resolves.
   * A failed fsync is never retried (the kernel may have dropped the dirty pages, so a later
   * success would prove nothing); the writer stops and this rejects with StorageIOError.
   */
  async sync(): Promise<void> {
    const fd = this.writableFd();
    try {
      await this.fs.fsync(fd);
    } catch (err) {
      const failure = new StorageIOError('fsync', this.path, err);
      this.failure ??= failure;
      throw failure;
    }
  }

  /** Closes the file without syncing it. Idempotent. */
  close(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      this.fs.closeSync(fd);
    } catch (err) {
      throw new StorageIOError('close', this.path, err);
    }
  }

  private writableFd(): number {
    if (this.failure !== null) throw new ReadOnlyError(this.failure.message);
    assert(this.fd !== null, `record log ${this.path} used after close`);
    return this.fd;
  }

  private frameBuffer(frameBytes: number): Buffer {
    if (frameBytes <= this.frameScratch.length) return this.frameScratch;
    if (frameBytes > frameScratchBytesRetainMax) return Buffer.allocUnsafe(frameBytes);
    this.frameScratch = Buffer.allocUnsafe(Math.min(frameScratchBytesRetainMax, Math.max(frameBytes, this.frameScratch.length * 2)));
    return this.frameScratch;
  }
}

function openOrThrow(fs: StorageFs, path: string, flags: 'r' | 'r+' | 'wx'): number {
  try {
    return fs.openSync(path, flags);
  } catch (err) {
    throw new StorageIOError('open', path, err);
  }
}

function closeQuietly(fs: StorageFs, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing with a more useful error; a close failure adds nothing.
  }
}

/** How the frame at an offset looks. Only `Valid` frames are ever returned as records. */
const FrameStatus = {
  Valid: 0,
  /** Fewer than a header's bytes remain. */
  IncompleteHeader: 1,
  /** The header check, type, reserved bytes or length bound failed: the length is not trusted. */
  BadHeader: 2,
  /** The header is intact but the payload runs past the end of file. */
  IncompletePayload: 3,
  /** The header is intact, the payload present, but the record check failed. */
  BadPayload: 4,
} as const;
type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

function checkFrame(buf: Buffer, pos: number, end: number, recordBytesMax: number): FrameStatus {
  if (end - pos < recordHeaderBytes) return FrameStatus.IncompleteHeader;
  if (buf[pos + typeOffset] !== recordTypeFull) return FrameStatus.BadHeader;
  if (buf[pos + typeOffset + 1] !== 0 || buf[pos + typeOffset + 2] !== 0 || buf[pos + typeOffset + 3] !== 0) {
    return FrameStatus.BadHeader;
  }
  const headerCrc = crc32c(buf, pos + lengthOffset, pos + recordHeaderBytes);
  if (unmaskCrc(buf.readUInt32LE(pos + headerCheckOffset)) !== headerCrc) return FrameStatus.BadHeader;
  const payloadBytes = buf.readUInt32LE(pos + lengthOffset);
  if (payloadBytes > recordBytesMax) return FrameStatus.BadHeader;
  const payloadStart = pos + recordHeaderBytes;
  if (payloadBytes > end - payloadStart) return FrameStatus.IncompletePayload;
  const recordCrc = crc32c(buf, payloadStart, payloadStart + payloadBytes, headerCrc);
  if (unmaskCrc(buf.readUInt32LE(pos)) !== recordCrc) return FrameStatus.BadPayload;
  return FrameStatus.Valid;
}

function describeFrameStatus(status: FrameStatus): string {
  switch (status) {
    case FrameStatus.Valid:
      return 'valid record';
    case FrameStatus.IncompleteHeader:
      return 'incomplete record header';
    case FrameStatus.BadHeader:
      return 'record header failed its checksum or format check';
    case FrameStatus.IncompletePayload:
      return 'record payload runs past the end of file';
    case FrameStatus.BadPayload:
      return 'record payload failed its checksum';
  }
}

/**
 * Returns the offset of the first fully valid frame starting in [from, end), or -1. Candidates
 * are found by their type byte (a native search), so zero-filled or random space is cheap.
 */
function findValidFrame(buf: Buffer, from: number, end: number, recordBytesMax: number): number {
  let typePos = from + typeOffset;
  while (typePos < end) {
    typePos = buf.indexOf(recordTypeFull, typePos);
    if (typePos === -1 || typePos >= end) return -1;
    const pos = typePos - typeOffset;
    if (checkFrame(buf, pos, end, recordBytesMax) === FrameStatus.Valid) return pos;
    typePos++;
  }
  return -1;
}

export interface RecordLogReadOptions {
  /** Truncate a torn tail away (ftruncate + fsync) so the file can be appended to. Default false. */
  readonly truncateTornTail?: boolean;
  /** Must be at least the writer's `recordBytesMax`. Default 64 MiB. */
  readonly recordBytesMax?: number;
}

export interface RecordLogReadResult {
  /** The payloads in file order, as views of one buffer holding the whole file (no copies). */
  readonly records: Buffer[];
  /** The file offset of each payload's first byte (for error messages about a payload's content). */
  readonly payloadOffsets: number[];
  /** The end of the last valid record: where the next record belongs. */
  readonly validEndOffset: number;
  /** Bytes of torn tail after `validEndOffset` (0 for a cleanly ended log); callers log this. */
  readonly tornBytes: number;
  /** The file's size as read, before any truncation. */
  readonly fileBytes: number;
  /** True when a torn tail was found and truncated away. */
  readonly truncated: boolean;
}

/**
 * Reads every record of a log. A damaged end of file (an incomplete header or payload, a record
 * failing its checksum, zero-filled space) after which no valid record follows is a torn tail:
 * the records before it are returned, with `validEndOffset` and `tornBytes`, and the tail is
 * truncated when `truncateTornTail` is set. A damaged record followed by any valid record is
 * mid-log corruption and throws CorruptionError naming the file and the damaged record's offset;
 * nothing is ever skipped. I/O failures throw StorageIOError. The whole file is read into memory
 * (logs are bounded by the memtable or manifest size).
 */
export function readRecordLog(fs: StorageFs, path: string, options: RecordLogReadOptions = {}): RecordLogReadResult {
  const recordBytesMax = options.recordBytesMax ?? recordBytesMaxDefault;
  validateRecordBytesMax(recordBytesMax);
  const buf = readWholeFile(fs, path);
  const end = buf.length;
  const records: Buffer[] = [];
  const payloadOffsets: number[] = [];
  let pos = 0;
  let status: FrameStatus = FrameStatus.Valid;
  while (pos < end) {
    status = checkFrame(buf, pos, end, recordBytesMax);
    if (status !== FrameStatus.Valid) break;
    const payloadStart = pos + recordHeaderBytes;
    const payloadEnd = payloadStart + buf.readUInt32LE(pos + lengthOffset);
    records.push(buf.subarray(payloadStart, payloadEnd));
    payloadOffsets.push(payloadStart);
    pos = payloadEnd;
  }
  if (pos < end) {
    throwIfMidLogCorruption(buf, path, pos, status, recordBytesMax);
  }
  const tornBytes = end - pos;
  if (tornBytes > 0 && options.truncateTornTail === true) {
    truncateFile(fs, path, pos);
  }
  return { records, payloadOffsets, validEndOffset: pos, tornBytes, fileBytes: end, truncated: tornBytes > 0 && options.truncateTornTail === true };
}

/**
 * Decides whether the damaged frame at `badPos` ends the log (a torn tail) or hides later
 * records (corruption). Where the header is intact its length is trusted, so the search starts
 * after the damaged record and bytes inside its payload cannot pose as a later record.
 */
function throwIfMidLogCorruption(buf: Buffer, path: string, badPos: number, status: FrameStatus, recordBytesMax: number): void {
  assert(status !== FrameStatus.Valid, 'a damaged frame is not valid');
  let searchFrom: number;
  if (status === FrameStatus.IncompletePayload) {
    return; // The intact header says this record runs past the end: nothing can follow it.
  } else if (status === FrameStatus.BadPayload) {
    searchFrom = badPos + recordHeaderBytes + buf.readUInt32LE(badPos + lengthOffset);
  } else {
    searchFrom = badPos + 1;
  }
  const nextValid = findValidFrame(buf, searchFrom, buf.length, recordBytesMax);
  if (nextValid !== -1) {
    throw new CorruptionError(path, badPos, `${describeFrameStatus(status)}, but a valid record follows at offset ${nextValid}`);
  }
}

function readWholeFile(fs: StorageFs, path: string): Buffer {
  const fd = openOrThrow(fs, path, 'r');
  try {
    const size = fs.fstatSizeSync(fd);
    const buf = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const n = fs.readSync(fd, buf, filled, size - filled, filled);
      if (n === 0) break; // The file shrank while we read: what we have is the file.
      filled += n;
    }
    return filled === size ? buf : buf.subarray(0, filled);
  } catch (err) {
    throw new StorageIOError('read', path, err);
  } finally {
    closeQuietly(fs, fd);
  }
}

function truncateFile(fs: StorageFs, path: string, length: number): void {
  const fd = openOrThrow(fs, path, 'r+');
  try {
    fs.ftruncateSync(fd, length);
    fs.fsyncSync(fd);
  } catch (err) {
    throw new StorageIOError('truncate torn tail of', path, err);
  } finally {
    closeQuietly(fs, fd);
  }
}
