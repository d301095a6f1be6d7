/**
 * A byte-bounded LRU cache of parsed blocks shared by all open tables, keyed by
 * (file number, block offset). Entries live in a doubly linked list (newest at the head) and in a
 * map per file, so `eraseFile` drops a deleted table's blocks without scanning the cache.
 *
 * Recency is tracked CLOCK-style (second chance): a hit only sets the entry's `referenced` flag,
 * and eviction moves referenced entries from the tail back to the head (clearing the flag) until
 * it finds an unreferenced one. That approximates LRU closely while keeping hits free of linked
 * list updates, which on a large cache cost several cache misses per lookup.
 */
import { assert } from '../../assert.ts';
import type { Block } from './block.ts';

export interface BlockCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly inserts: number;
  readonly evictions: number;
  readonly usageBytes: number;
  readonly capacityBytes: number;
  readonly entries: number;
}

/**
 * A cache entry. Tables may keep handles (e.g. one per data block) and re-check them with
 * `touch()`, which skips the map lookup; a handle goes dead when its entry is evicted or erased.
 */
export class BlockCacheHandle {
  /** @internal */ newer: BlockCacheHandle | undefined = undefined;
  /** @internal */ older: BlockCacheHandle | undefined = undefined;
  /** @internal */ referenced = false;
  /** @internal The block while cached; cleared on eviction so a stale handle pins no memory. */
  block: Block | undefined;
  constructor(
    readonly fileNumber: number,
    readonly offset: number,
    block: Block,
    readonly chargeBytes: number,
  ) {
    this.block = block;
  }
}
type CacheNode = BlockCacheHandle;

export class BlockCache {
  private readonly files = new Map<number, Map<number, CacheNode>>();
  /** Most recently used. */
  private head: CacheNode | undefined = undefined;
  /** Least recently used; evicted first. */
  private tail: CacheNode | undefined = undefined;
  private usage = 0;
  private count = 0;
  private hits = 0;
  private misses = 0;
  private inserts = 0;
  private evictions = 0;

  /** `capacityBytes` of 0 disables caching (every lookup misses). */
  constructor(readonly capacityBytes: number) {
    assert(Number.isSafeInteger(capacityBytes), 'cache capacity must be an integer');
    assert(capacityBytes >= 0, 'cache capacity must not be negative');
  }

  /** Returns the cached block and marks it recently used, or undefined (counted as a miss). */
  lookup(fileNumber: number, offset: number): Block | undefined {
    return this.lookupHandle(fileNumber, offset)?.block;
  }

  /** As lookup, returning the entry's handle for later `touch()` calls. */
  lookupHandle(fileNumber: number, offset: number): BlockCacheHandle | undefined {
    const node = this.files.get(fileNumber)?.get(offset);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    node.referenced = true;
    return node;
  }

  /**
   * The block of a handle obtained earlier, counted as a hit and marked recently used; undefined
   * (and not counted) when the entry has since been evicted or erased.
   */
  touch(handle: BlockCacheHandle): Block | undefined {
    const block = handle.block;
    if (block === undefined) return undefined;
    this.hits++;
    handle.referenced = true;
    return block;
  }

  /**
   * Caches `block` (replacing an entry for the same key) and evicts least recently used blocks
   * until usage fits the capacity. A block larger than the whole capacity is not cached.
   * Returns the new entry's handle, or undefined when the block was not cached.
   */
  insert(fileNumber: number, offset: number, block: Block, chargeBytes: number = block.chargeBytes): BlockCacheHandle | undefined {
    assert(chargeBytes >= 0, 'negative cache charge');
    if (chargeBytes > this.capacityBytes) return undefined;
    const existing = this.files.get(fileNumber)?.get(offset);
    if (existing !== undefined) this.removeNode(existing);
    // Make room before linking the new entry, so the sweep never evicts the block being added.
    this.evictDownTo(this.capacityBytes - chargeBytes);
    let perFile = this.files.get(fileNumber);
    if (perFile === undefined) {
      perFile = new Map();
      this.files.set(fileNumber, perFile);
    }
    const node = new BlockCacheHandle(fileNumber, offset, block, chargeBytes);
    perFile.set(offset, node);
    this.pushHead(node);
    this.usage += chargeBytes;
    this.count++;
    this.inserts++;
    return node;
  }

  /** Drops every block of `fileNumber` (call when a table file is deleted or its number reused). */
  eraseFile(fileNumber: number): void {
    const perFile = this.files.get(fileNumber);
    if (perFile === undefined) return;
    for (const node of perFile.values()) {
      this.unlink(node);
      node.block = undefined;
      this.usage -= node.chargeBytes;
      this.count--;
    }
    this.files.delete(fileNumber);
  }

  /** Drops everything (statistics are kept). */
  clear(): void {
    for (let node = this.head; node !== undefined; node = node.older) node.block = undefined;
    this.files.clear();
    this.head = undefined;
    this.tail = undefined;
    this.usage = 0;
    this.count = 0;
  }

  get usageBytes(): number {
    return this.usage;
  }

  stats(): BlockCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      inserts: this.inserts,
      evictions: this.evictions,
      usageBytes: this.usage,
      capacityBytes: this.capacityBytes,
      entries: this.count,
    };
  }

  private evictDownTo(usageBytesMax: number): void {
    while (this.usage > usageBytesMax) {
      const oldest = this.tail;
      assert(oldest !== undefined, 'cache usage without entries');
      if (oldest.referenced) {
        oldest.referenced = false;
        this.unlink(oldest);
        this.pushHead(oldest);
      } else {
        this.evict(oldest);
      }
    }
  }

  private evict(node: CacheNode): void {
    this.removeNode(node);
    this.evictions++;
  }

  private removeNode(node: CacheNode): void {
    const perFile = this.files.get(node.fileNumber);
    assert(perFile !== undefined, 'cached node without its file map');
    this.unlink(node);
    node.block = undefined;
    perFile.delete(node.offset);
    if (perFile.size === 0) this.files.delete(node.fileNumber);
    this.usage -= node.chargeBytes;
    this.count--;
  }

  private pushHead(node: CacheNode): void {
    node.older = this.head;
    node.newer = undefined;
    if (this.head !== undefined) this.head.newer = node;
    this.head = node;
    if (this.tail === undefined) this.tail = node;
  }

  private unlink(node: CacheNode): void {
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.head = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.tail = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }
}
