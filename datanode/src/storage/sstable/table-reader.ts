/**
 * Reads an SSTable (layout in format.ts) with synchronous positional reads. The index block,
 * filter and properties are read and checked at open and kept; data blocks go through the shared
 * BlockCache and are checksum-verified whenever they are read from disk. Any bad checksum or
 * malformed block throws CorruptionError(path, blockOffset, detail): wrong data is never returned.
 */
import { assert } from '../../assert.ts';
import { ClosedError, CorruptionError, StorageIOError } from '../errors.ts';
import type { StorageFs } from '../fs.ts';
import type { InternalIterator } from '../iterator.ts';
import { maxSequence, type ValueKind } from '../keys.ts';
import { Block, BlockIterator, compareWithPrefix as sharedCompareWithPrefix, emptyBlock } from './block.ts';
import type { BlockCache, BlockCacheHandle } from './block-cache.ts';
import { BloomFilter } from './bloom.ts';
import {
  blockHandleBytes,
  blockTrailerBytes,
  type BlockHandle,
  checkBlockTrailer,
  decodeBlockHandle,
  decodeFooter,
  decodePropertiesBlock,
  type Footer,
  footerBytes,
} from './format.ts';

// Module-local copies for the get path (see block.ts: some loaders turn imports into getters).
const compareWithPrefix = sharedCompareWithPrefix;

export interface TableReaderOptions {
  /** Shared cache for data blocks; without one every data block access reads the file. */
  readonly cache?: BlockCache;
  /** Check CRCs of data blocks read from disk (default true). Metadata blocks are always checked. */
  readonly verifyChecksums?: boolean;
}

export interface TableProperties {
  readonly entries: number;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly dataSizeBytes: number;
  readonly dataBlockCount: number;
  readonly formatVersion: number;
  /** Smallest and largest internal keys. */
  readonly smallest: Buffer;
  readonly largest: Buffer;
}

/** The newest visible version of a key; `value` is an immutable view (empty for deletions). */
export interface TableGetResult {
  readonly seq: number;
  readonly kind: ValueKind;
  readonly value: Buffer;
}

/** The index block decoded at open into flat arrays: separator keys back to back, and handles. */
interface DecodedIndex {
  readonly count: number;
  /** Separator internal keys; key i is keys[keyStarts[i], keyStarts[i + 1]). */
  readonly keys: Buffer;
  readonly keyStarts: Uint32Array;
  readonly offsets: Float64Array;
  readonly sizes: Uint32Array;
}

export class TableReader {
  readonly properties: TableProperties;
  private readonly index: DecodedIndex;
  private readonly filter: BloomFilter | undefined;
  private readonly cache: BlockCache | undefined;
  private readonly verifyChecksums: boolean;
  /** End of the region blocks may occupy (the footer's offset). */
  private readonly blocksEnd: number;
  /** Cache handles per data block, so a warm get skips the cache's map lookup. */
  private readonly slots: (BlockCacheHandle | undefined)[];
  private closed = false;
  /** Reused by get(); get is synchronous, so it is never in use twice at once. */
  private readonly getIterator = new BlockIterator(emptyBlock);

  private constructor(
    private readonly fs: StorageFs,
    readonly path: string,
    readonly fileNumber: number,
    private readonly fd: number,
    readonly fileSize: number,
    options: TableReaderOptions,
  ) {
    this.cache = options.cache;
    this.verifyChecksums = options.verifyChecksums ?? true;
    if (fileSize < footerBytes) throw new CorruptionError(path, 0, `file of ${fileSize} bytes is shorter than a table footer`);
    this.blocksEnd = fileSize - footerBytes;
    const footer = decodeFooter(this.readExact(this.blocksEnd, footerBytes), path, this.blocksEnd);
    this.index = this.decodeIndex(this.readBlockFromFile(footer.indexHandle, true), footer);
    this.filter = this.readFilter(footer);
    const propertiesBlock = this.readRawBlock(footer.propertiesHandle, true);
    const keys = decodePropertiesBlock(propertiesBlock, path, footer.propertiesHandle.offset);
    this.properties = {
      entries: footer.entries,
      minSeq: footer.minSeq,
      maxSeq: footer.maxSeq,
      dataSizeBytes: footer.dataSizeBytes,
      dataBlockCount: footer.dataBlockCount,
      formatVersion: footer.formatVersion,
      smallest: keys.smallest,
      largest: keys.largest,
    };
    this.slots = new Array<BlockCacheHandle | undefined>(this.index.count).fill(undefined);
  }

  /**
   * Opens the table at `path` and reads its footer, index, filter and properties. Throws
   * CorruptionError when any of them is damaged (including a truncated file or a wrong magic
   * number or format version) and StorageIOError when the file cannot be read.
   */
  static open(fs: StorageFs, path: string, fileNumber: number, options: TableReaderOptions = {}): TableReader {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (error) {
      throw new StorageIOError('open', path, error);
    }
    try {
      let fileSize: number;
      try {
        fileSize = fs.fstatSizeSync(fd);
      } catch (error) {
        throw new StorageIOError('fstat', path, error);
      }
      return new TableReader(fs, path, fileNumber, fd, fileSize, options);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /**
   * The newest entry for `userKey` whose sequence is <= `seq`, or undefined when the table has
   * none. Deletions are returned with kind Delete.
   */
  get(userKey: Buffer, seq: number): TableGetResult | undefined {
    if (this.closed) throw new ClosedError(`table ${this.path}`);
    if (this.filter !== undefined && !this.filter.mayContain(userKey)) return undefined;
    const ordinal = this.findBlock(userKey, seq);
    if (ordinal >= this.index.count) return undefined;
    // A block's separator is >= its last key and < the next block's first key, and a user key
    // spanning two blocks gets its full last key as separator, so only this block can hold the
    // answer.
    const data = this.getIterator;
    data.reset(this.dataBlock(ordinal));
    data.seek(userKey, seq);
    if (!data.valid() || !data.userKeyEquals(userKey)) return undefined;
    return { seq: data.seq(), kind: data.kind(), value: data.value() };
  }

  /** False when the bloom filter proves `userKey` absent; true otherwise (or without a filter). */
  mayContain(userKey: Buffer): boolean {
    return this.filter === undefined || this.filter.mayContain(userKey);
  }

  /** A two-level iterator (index → data blocks) over every entry, in internal order. */
  iterator(): InternalIterator {
    this.checkOpen();
    return new TableIterator(this);
  }

  /**
   * The approximate file offset where entries for `userKey` start: the offset of the data block
   * that would hold it, or the data size when the key is beyond the table.
   */
  approximateOffsetOf(userKey: Buffer): number {
    this.checkOpen();
    const ordinal = this.findBlock(userKey, maxSequence);
    if (ordinal >= this.index.count) return this.properties.dataSizeBytes;
    return this.index.offsets[ordinal] as number;
  }

  /**
   * Reads every block from disk (bypassing the cache), checks every checksum and decodes every
   * entry. Throws CorruptionError naming the first damaged block.
   */
  verify(): void {
    const steps = this.verifyBlocks();
    while (steps.next().done !== true) {
      // every data block checked
    }
  }

  /**
   * `verify()` one data block at a time: yields the size of each data block once it is checked,
   * so that a caller checking a large table can give the event loop a turn between blocks.
   * Throws like `verify()`; the table is sound once the generator finishes.
   */
  *verifyBlocks(): Generator<number, void, undefined> {
    this.checkOpen();
    const footer = decodeFooter(this.readExact(this.blocksEnd, footerBytes), this.path, this.blocksEnd);
    const index = this.decodeIndex(this.readBlockFromFile(footer.indexHandle, true), footer);
    this.readFilter(footer);
    this.readRawBlock(footer.propertiesHandle, true);
    const dataIterator = new BlockIterator(emptyBlock);
    let entries = 0;
    for (let ordinal = 0; ordinal < index.count; ordinal++) {
      const handle = { offset: index.offsets[ordinal] as number, size: index.sizes[ordinal] as number };
      dataIterator.reset(this.readBlockFromFile(handle, true));
      for (dataIterator.seekToFirst(); dataIterator.valid(); dataIterator.next()) {
        dataIterator.kind();
        entries++;
      }
      yield handle.size;
    }
    if (entries !== footer.entries) throw new CorruptionError(this.path, this.blocksEnd, `table holds ${entries} entries, footer says ${footer.entries}`);
  }

  /** Closes the file. Cached blocks stay until evicted or `cache.eraseFile(fileNumber)`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.fs.closeSync(this.fd);
    } catch (error) {
      throw new StorageIOError('close', this.path, error);
    }
  }

  /** @internal Number of data blocks. */
  blockCount(): number {
    return this.index.count;
  }

  /**
   * @internal The ordinal of the first data block whose separator is >= (userKey, seq), or
   * blockCount() when there is none. Binary search that skips prefixes known to match.
   */
  findBlock(userKey: Buffer, seq: number): number {
    const { keys, keyStarts } = this.index;
    let low = 0;
    let high = this.index.count;
    let lowMatched = 0;
    let highMatched = 0;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const start = keyStarts[middle] as number;
      const known = lowMatched < highMatched ? lowMatched : highMatched;
      const order = compareWithPrefix(keys, start, (keyStarts[middle + 1] as number) - start, userKey, seq, known);
      if (order < 0) {
        low = middle + 1;
        lowMatched = -order - 1;
      } else {
        high = middle;
        highMatched = order === 0 ? userKey.length : order - 1;
      }
    }
    return low;
  }

  /** @internal Data block `ordinal`, from the cache or (checked) from the file. */
  dataBlock(ordinal: number): Block {
    if (this.closed) throw new ClosedError(`table ${this.path}`);
    const cache = this.cache;
    if (cache === undefined) return this.readDataBlock(ordinal);
    const slot = this.slots[ordinal];
    if (slot !== undefined) {
      const block = cache.touch(slot);
      if (block !== undefined) return block;
    }
    const offset = this.index.offsets[ordinal] as number;
    const handle = cache.lookupHandle(this.fileNumber, offset);
    if (handle?.block !== undefined) {
      this.slots[ordinal] = handle;
      return handle.block;
    }
    const block = this.readDataBlock(ordinal);
    this.slots[ordinal] = cache.insert(this.fileNumber, offset, block);
    return block;
  }

  private readDataBlock(ordinal: number): Block {
    const handle = { offset: this.index.offsets[ordinal] as number, size: this.index.sizes[ordinal] as number };
    return this.readBlockFromFile(handle, this.verifyChecksums);
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError(`table ${this.path}`);
  }

  /** Flattens the index block and checks that its handles are ordered and inside the file. */
  private decodeIndex(indexBlock: Block, footer: Footer): DecodedIndex {
    const corrupt = (detail: string): CorruptionError => new CorruptionError(this.path, footer.indexHandle.offset, detail);
    const iterator = new BlockIterator(indexBlock);
    const separators: Buffer[] = [];
    const handles: BlockHandle[] = [];
    let keyBytes = 0;
    let nextFree = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      if (iterator.valueSize() !== blockHandleBytes) throw corrupt('index entry value is not a block handle');
      const handle = decodeBlockHandle(indexBlock.data, iterator.valueOffset(), this.path, footer.indexHandle.offset);
      if (handle.offset < nextFree || handle.offset + handle.size + blockTrailerBytes > this.blocksEnd) {
        throw corrupt(`index entry ${handles.length} has a bad block handle (offset ${handle.offset}, size ${handle.size})`);
      }
      nextFree = handle.offset + handle.size + blockTrailerBytes;
      const separator = iterator.internalKey();
      separators.push(separator);
      handles.push(handle);
      keyBytes += separator.length;
    }
    if (handles.length !== footer.dataBlockCount) {
      throw corrupt(`index lists ${handles.length} data blocks, footer says ${footer.dataBlockCount}`);
    }
    const keys = Buffer.allocUnsafeSlow(keyBytes);
    const keyStarts = new Uint32Array(handles.length + 1);
    const offsets = new Float64Array(handles.length);
    const sizes = new Uint32Array(handles.length);
    let position = 0;
    for (let i = 0; i < handles.length; i++) {
      const separator = separators[i] as Buffer;
      const handle = handles[i] as BlockHandle;
      keyStarts[i] = position;
      separator.copy(keys, position);
      position += separator.length;
      offsets[i] = handle.offset;
      sizes[i] = handle.size;
    }
    keyStarts[handles.length] = position;
    return { count: handles.length, keys, keyStarts, offsets, sizes };
  }

  private readFilter(footer: Footer): BloomFilter | undefined {
    if (footer.filterHandle.size === 0) return undefined;
    const contents = this.readRawBlock(footer.filterHandle, true);
    const filter = BloomFilter.parse(contents);
    if (filter === undefined) throw new CorruptionError(this.path, footer.filterHandle.offset, 'malformed filter block');
    return filter;
  }

  private readBlockFromFile(handle: BlockHandle, verifyChecksum: boolean): Block {
    return new Block(this.readRawBlock(handle, verifyChecksum), this.path, handle.offset);
  }

  /** Reads a block and its trailer, checks the trailer, returns the contents. */
  private readRawBlock(handle: BlockHandle, verifyChecksum: boolean): Buffer {
    this.checkOpen();
    const { offset, size } = handle;
    if (offset < 0 || offset + size + blockTrailerBytes > this.blocksEnd) {
      throw new CorruptionError(this.path, offset, `block handle (offset ${offset}, size ${size}) outside the file's ${this.blocksEnd} block bytes`);
    }
    const raw = this.readExact(offset, size + blockTrailerBytes);
    checkBlockTrailer(raw, this.path, offset, verifyChecksum);
    return raw.subarray(0, size);
  }

  private readExact(position: number, length: number): Buffer {
    const buffer = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = this.fs.readSync(this.fd, buffer, done, length - done, position + done);
      } catch (error) {
        throw new StorageIOError('read', this.path, error);
      }
      if (n === 0) throw new CorruptionError(this.path, position, `file truncated: read ${done} of ${length} bytes`);
      done += n;
    }
    return buffer;
  }
}

/**
 * Iterates a table: the decoded index picks a data block, a block iterator walks it, and stepping
 * off either end of a data block moves to the neighbouring block.
 */
class TableIterator implements InternalIterator {
  /** Ordinal of the data block in `data`, -1 when unpositioned. */
  private ordinal = -1;
  private readonly data = new BlockIterator(emptyBlock);

  constructor(private readonly table: TableReader) {}

  valid(): boolean {
    return this.ordinal >= 0 && this.data.valid();
  }

  seekToFirst(): void {
    if (this.load(0)) this.data.seekToFirst();
    this.skipForward();
  }

  seekToLast(): void {
    if (this.load(this.table.blockCount() - 1)) this.data.seekToLast();
    this.skipBackward();
  }

  seek(userKey: Buffer, seq: number): void {
    if (this.load(this.table.findBlock(userKey, seq))) this.data.seek(userKey, seq);
    this.skipForward();
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    // The block holding the first entry >= target; the answer is in it or in the one before.
    const ordinal = Math.min(this.table.findBlock(userKey, seq), this.table.blockCount() - 1);
    if (this.load(ordinal)) this.data.seekForPrev(userKey, seq);
    this.skipBackward();
  }

  next(): void {
    assert(this.valid(), 'next on an invalid table iterator');
    this.data.next();
    this.skipForward();
  }

  prev(): void {
    assert(this.valid(), 'prev on an invalid table iterator');
    this.data.prev();
    this.skipBackward();
  }

  userKey(): Buffer {
    assert(this.valid(), 'userKey on an invalid table iterator');
    return this.data.userKey();
  }

  seq(): number {
    assert(this.valid(), 'seq on an invalid table iterator');
    return this.data.seq();
  }

  kind(): ValueKind {
    assert(this.valid(), 'kind on an invalid table iterator');
    return this.data.kind();
  }

  value(): Buffer {
    assert(this.valid(), 'value on an invalid table iterator');
    return this.data.value();
  }

  /** Points `data` at block `ordinal`; false (and unpositioned) when out of range. */
  private load(ordinal: number): boolean {
    if (ordinal < 0 || ordinal >= this.table.blockCount()) {
      this.ordinal = -1;
      return false;
    }
    this.ordinal = ordinal;
    this.data.reset(this.table.dataBlock(ordinal));
    return true;
  }

  private skipForward(): void {
    while (this.ordinal >= 0 && !this.data.valid()) {
      if (this.load(this.ordinal + 1)) this.data.seekToFirst();
    }
  }

  private skipBackward(): void {
    while (this.ordinal >= 0 && !this.data.valid()) {
      if (this.load(this.ordinal - 1)) this.data.seekToLast();
    }
  }
}
