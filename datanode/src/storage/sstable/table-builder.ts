/**
 * Writes one SSTable (layout in format.ts). Entries arrive in strictly increasing internal order;
 * data blocks are cut at `blockSizeBytes`, and blocks are gathered in a write buffer so the file
 * sees a few large writes rather than one per block.
 */
import { assert } from '../../assert.ts';
import { StorageIOError } from '../errors.ts';
import type { StorageFs } from '../fs.ts';
import { compareInternalKeys, internalKeyTrailerBytes, maxSequence, ValueKind, writeTrailer } from '../keys.ts';
import { BlockBuilder, defaultRestartInterval } from './block.ts';
import { BloomFilterBuilder, defaultBitsPerKey } from './bloom.ts';
import {
  blockBytesMax,
  blockHandleBytes,
  blockTrailerBytes,
  type BlockHandle,
  encodeBlockHandle,
  encodeFooter,
  encodePropertiesBlock,
  footerBytes,
  tableFormatVersion,
  writeBlockTrailer,
} from './format.ts';

export interface TableBuilderOptions {
  /** Data blocks are cut once they reach this size (default 4 KiB). */
  readonly blockSizeBytes?: number;
  /** Entries between full (uncompressed-prefix) keys in data blocks (default 16). */
  readonly restartInterval?: number;
  /** Restart interval of the index block (default 1: every separator is a binary-search point). */
  readonly indexRestartInterval?: number;
  /** Bloom filter bits per user key (default 10); 0 writes no filter. */
  readonly bitsPerKey?: number;
  /** Size of the write buffer (default 256 KiB). */
  readonly writeBufferBytes?: number;
}

/** What the caller records about a finished table. Keys are fresh copies. */
export interface TableMeta {
  readonly fileSize: number;
  readonly entries: number;
  /** Smallest and largest internal keys. */
  readonly smallest: Buffer;
  readonly largest: Buffer;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly smallestUserKey: Buffer;
  readonly largestUserKey: Buffer;
}

const defaultBlockSizeBytes = 4 * 1024;
const defaultWriteBufferBytes = 256 * 1024;

type BuilderState = 'open' | 'finished' | 'failed' | 'abandoned';

/**
 * Returns a short internal key S with last <= S < next, for the index entry between two blocks.
 * When the user keys differ and `last`'s user key can be cut and bumped at the first differing
 * byte, S is that shorter user key with the largest trailer; otherwise S is `last` itself.
 */
export function shortestSeparator(last: Buffer, next: Buffer): Buffer {
  const lastUser = last.length - internalKeyTrailerBytes;
  const nextUser = next.length - internalKeyTrailerBytes;
  const limit = Math.min(lastUser, nextUser);
  let common = 0;
  while (common < limit && last[common] === next[common]) common++;
  if (common < limit) {
    const byte = last[common] as number;
    if (byte < 0xff && byte + 1 < (next[common] as number) && common + 1 < lastUser) {
      const separator = Buffer.allocUnsafe(common + 1 + internalKeyTrailerBytes);
      last.copy(separator, 0, 0, common);
      separator[common] = byte + 1;
      writeTrailer(separator, common + 1, maxSequence, ValueKind.Put);
      return separator;
    }
  }
  return Buffer.from(last);
}

export class TableBuilder {
  private readonly blockSizeBytes: number;
  private readonly dataBlock: BlockBuilder;
  private readonly indexBlock: BlockBuilder;
  private readonly filter: BloomFilterBuilder | undefined;
  private readonly writeBuffer: Buffer;
  private writeBufferUsed = 0;
  private readonly fd: number;
  private state: BuilderState = 'open';
  /** File offset of the next byte appended (buffered or written). */
  private offset = 0;
  private entries = 0;
  private minSeq = maxSequence;
  private maxSeq = 0;
  private dataBlockCount = 0;
  private dataSizeBytes = 0;
  private keyScratch = Buffer.allocUnsafe(256);
  private lastKey = Buffer.allocUnsafe(256);
  private lastKeyLength = 0;
  private smallest: Buffer | undefined = undefined;
  /** Handle of the last data block written, waiting for the next key to choose its separator. */
  private pendingHandle: BlockHandle | undefined = undefined;
  private readonly handleScratch = Buffer.alloc(blockHandleBytes);

  /** Creates (or truncates) the file at `path`. Throws StorageIOError when it cannot. */
  constructor(
    private readonly fs: StorageFs,
    readonly path: string,
    options: TableBuilderOptions = {},
  ) {
    this.blockSizeBytes = options.blockSizeBytes ?? defaultBlockSizeBytes;
    assert(this.blockSizeBytes >= 64, 'blockSizeBytes must be at least 64');
    assert(this.blockSizeBytes <= blockBytesMax / 2, 'blockSizeBytes too large');
    this.dataBlock = new BlockBuilder(options.restartInterval ?? defaultRestartInterval, this.blockSizeBytes * 2);
    this.indexBlock = new BlockBuilder(options.indexRestartInterval ?? 1, 64 * 1024);
    const bitsPerKey = options.bitsPerKey ?? defaultBitsPerKey;
    this.filter = bitsPerKey > 0 ? new BloomFilterBuilder(bitsPerKey) : undefined;
    const writeBufferBytes = options.writeBufferBytes ?? defaultWriteBufferBytes;
    assert(writeBufferBytes >= 4096, 'writeBufferBytes must be at least 4 KiB');
    this.writeBuffer = Buffer.allocUnsafe(writeBufferBytes);
    try {
      this.fd = fs.openSync(path, 'w');
    } catch (error) {
      throw new StorageIOError('open', path, error);
    }
  }

  /**
   * Adds an entry. (userKey, seq, kind) must sort strictly after the previous entry in internal
   * order (user key ascending, then seq descending); a violation is a caller bug and asserts.
   */
  add(userKey: Buffer, seq: number, kind: ValueKind, value: Buffer): void {
    assert(this.state === 'open', `add on a ${this.state} table builder`);
    const keyLength = userKey.length + internalKeyTrailerBytes;
    if (this.keyScratch.length < keyLength) this.keyScratch = Buffer.allocUnsafe(keyLength * 2);
    userKey.copy(this.keyScratch, 0);
    writeTrailer(this.keyScratch, userKey.length, seq, kind);
    const key = this.keyScratch.subarray(0, keyLength);
    const lastKey = this.lastKey.subarray(0, this.lastKeyLength);
    if (this.entries > 0) assert(compareInternalKeys(key, lastKey) > 0, 'table keys must strictly increase in internal order');
    if (this.pendingHandle !== undefined) {
      this.addIndexEntry(shortestSeparator(lastKey, key), this.pendingHandle);
      this.pendingHandle = undefined;
    }
    const newUserKey = this.entries === 0 || lastKey.compare(userKey, 0, userKey.length, 0, this.lastKeyLength - internalKeyTrailerBytes) !== 0;
    if (this.filter !== undefined && newUserKey) this.filter.addKey(userKey);
    this.dataBlock.add(key, value);
    if (this.entries === 0) this.smallest = Buffer.from(key);
    this.rememberLastKey(key);
    this.entries++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (this.dataBlock.estimatedSizeBytes() >= this.blockSizeBytes) this.flushDataBlock();
  }

  /**
   * fsyncs what has been written to the file so far (not the buffered tail), asynchronously. A
   * long build that syncs in steps never leaves a whole file's dirty pages for one fsync to flush
   * (which would hold up the node's log fsyncs on the same disk). Then call abandon() on failure.
   */
  async syncWritten(): Promise<void> {
    assert(this.state === 'open', `syncWritten on a ${this.state} table builder`);
    try {
      await this.fs.fsync(this.fd);
    } catch (error) {
      this.state = 'failed';
      throw new StorageIOError('fsync', this.path, error);
    }
  }

  /** Entries added so far. */
  entryCount(): number {
    return this.entries;
  }

  /** The file size if finished now (approximately: index and filter are estimated). */
  estimatedFileSizeBytes(): number {
    const filterBytes = this.filter?.estimatedSizeBytes() ?? 0;
    return this.offset + this.dataBlock.estimatedSizeBytes() + this.indexBlock.estimatedSizeBytes() + filterBytes + footerBytes;
  }

  /**
   * Writes the remaining blocks and the footer, fsyncs and closes the file. At least one entry
   * must have been added. Throws StorageIOError on a failed write or fsync (then call abandon()).
   */
  finish(): TableMeta {
    const meta = this.writeTail();
    this.runIo('fsync', () => {
      this.fs.fsyncSync(this.fd);
    });
    this.closeFile();
    this.state = 'finished';
    return meta;
  }

  /**
   * As finish(), with an asynchronous fsync so the event loop keeps running. `sync: false`
   * skips the fsync, for scratch files that are read once and deleted (backup exports): their
   * durability is the destination's business, and an fsync there only competes with the node's
   * Raft log fsyncs for the disk.
   */
  async finishAsync(options: { readonly sync?: boolean } = {}): Promise<TableMeta> {
    const meta = this.writeTail();
    try {
      if (options.sync !== false) await this.fs.fsync(this.fd);
    } catch (error) {
      this.state = 'failed';
      throw new StorageIOError('fsync', this.path, error);
    }
    this.closeFile();
    this.state = 'finished';
    return meta;
  }

  /** Closes and deletes the file. Allowed in any state except finished. */
  abandon(): void {
    assert(this.state !== 'finished', 'abandon after finish');
    if (this.state === 'abandoned') return;
    this.state = 'abandoned';
    try {
      this.fs.closeSync(this.fd);
    } catch {
      // The file is deleted next; a failed close leaves nothing to keep.
    }
    try {
      this.fs.unlinkSync(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageIOError('unlink', this.path, error);
    }
  }

  private writeTail(): TableMeta {
    assert(this.state === 'open', `finish on a ${this.state} table builder`);
    assert(this.entries > 0, 'finish on an empty table (abandon it instead)');
    const smallest = this.smallest;
    assert(smallest !== undefined, 'smallest key missing');
    if (!this.dataBlock.isEmpty()) this.flushDataBlock();
    const largest = Buffer.from(this.lastKey.subarray(0, this.lastKeyLength));
    if (this.pendingHandle !== undefined) {
      this.addIndexEntry(largest, this.pendingHandle);
      this.pendingHandle = undefined;
    }
    const filterHandle = this.filter === undefined ? { offset: 0, size: 0 } : this.appendBlock(this.filter.finish());
    const propertiesHandle = this.appendBlock(encodePropertiesBlock(smallest, largest));
    const indexHandle = this.appendBlock(this.indexBlock.finish());
    const footer = encodeFooter({
      indexHandle,
      filterHandle,
      propertiesHandle,
      entries: this.entries,
      minSeq: this.minSeq,
      maxSeq: this.maxSeq,
      dataSizeBytes: this.dataSizeBytes,
      dataBlockCount: this.dataBlockCount,
      formatVersion: tableFormatVersion,
    });
    this.append(footer);
    this.flushWriteBuffer();
    return {
      fileSize: this.offset,
      entries: this.entries,
      smallest,
      largest,
      minSeq: this.minSeq,
      maxSeq: this.maxSeq,
      smallestUserKey: smallest.subarray(0, smallest.length - internalKeyTrailerBytes),
      largestUserKey: largest.subarray(0, largest.length - internalKeyTrailerBytes),
    };
  }

  private rememberLastKey(key: Buffer): void {
    if (this.lastKey.length < key.length) this.lastKey = Buffer.allocUnsafe(key.length * 2);
    key.copy(this.lastKey, 0);
    this.lastKeyLength = key.length;
  }

  private addIndexEntry(separator: Buffer, handle: BlockHandle): void {
    encodeBlockHandle(this.handleScratch, 0, handle);
    this.indexBlock.add(separator, this.handleScratch);
  }

  private flushDataBlock(): void {
    const handle = this.appendBlock(this.dataBlock.finish());
    this.dataBlock.reset();
    this.dataBlockCount++;
    this.dataSizeBytes += handle.size + blockTrailerBytes;
    this.pendingHandle = handle;
  }

  /** Appends block contents and their trailer; returns the block's handle. */
  private appendBlock(contents: Buffer): BlockHandle {
    assert(contents.length <= blockBytesMax, `block of ${contents.length} bytes is too large`);
    const handle = { offset: this.offset, size: contents.length };
    this.append(contents);
    const trailer = Buffer.allocUnsafe(blockTrailerBytes);
    writeBlockTrailer(trailer, 0, contents);
    this.append(trailer);
    return handle;
  }

  private append(bytes: Buffer): void {
    if (this.writeBufferUsed + bytes.length > this.writeBuffer.length) this.flushWriteBuffer();
    if (bytes.length > this.writeBuffer.length) {
      this.writeAt(bytes, bytes.length);
    } else {
      bytes.copy(this.writeBuffer, this.writeBufferUsed);
      this.writeBufferUsed += bytes.length;
    }
    this.offset += bytes.length;
  }

  private flushWriteBuffer(): void {
    if (this.writeBufferUsed === 0) return;
    this.writeAt(this.writeBuffer, this.writeBufferUsed);
    this.writeBufferUsed = 0;
  }

  private writeAt(bytes: Buffer, length: number): void {
    this.runIo('write', () => {
      this.fs.writeAllSync(this.fd, bytes, 0, length, null);
    });
  }

  private runIo(operation: string, io: () => void): void {
    try {
      io();
    } catch (error) {
      this.state = 'failed';
      throw new StorageIOError(operation, this.path, error);
    }
  }

  private closeFile(): void {
    this.runIo('close', () => {
      this.fs.closeSync(this.fd);
    });
  }
}
