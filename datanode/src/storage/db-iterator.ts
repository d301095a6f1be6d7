import { assert } from '../assert.ts';
import { ClosedError } from './errors.ts';
import type { InternalIterator } from './iterator.ts';
import { ValueKind, maxSequence } from './keys.ts';

export interface DbIteratorOptions {
  /** Smallest user key shown (inclusive). */
  readonly lowerBound?: Buffer;
  /** User keys at or above this are not shown (exclusive). */
  readonly upperBound?: Buffer;
  /** Called once, by the first `close()`: the engine unpins the snapshot and version here. */
  readonly onClose?: () => void;
}

const Direction = { Forward: 0, Reverse: 1 } as const;
type Direction = (typeof Direction)[keyof typeof Direction];
const emptyBuffer = Buffer.alloc(0);

/** Hidden versions of one key stepped over one by one before the iterator seeks past the rest. */
const reseekAfterSkips = 8;

/**
 * The user-visible iterator over a snapshot: for each user key it shows the newest entry with
 * seq <= snapshotSeq, and nothing when that entry is a Delete. Keys are restricted to
 * [lowerBound, upperBound).
 *
 * It follows LevelDB's DBIter. Moving forward, the internal iterator sits ON the entry shown.
 * Moving backward, it sits just BEFORE all entries of the key shown (on the last entry of an
 * earlier key, or invalid), and the shown key and value are kept aside; that is what lets a
 * reverse step read each key's versions oldest-first in a single pass. Switching direction
 * re-positions the internal iterator accordingly.
 *
 * Keys and values returned stay valid after the iterator moves (the internal iterator
 * guarantees it for its buffers). Using the iterator after `close()` throws ClosedError.
 */
export class DbIterator {
  private readonly internal: InternalIterator;
  private readonly snapshotSeq: number;
  private readonly lowerBound: Buffer | undefined;
  private readonly upperBound: Buffer | undefined;
  private readonly onClose: (() => void) | undefined;
  private direction: Direction = Direction.Forward;
  private isValid = false;
  private closed = false;
  /** In reverse, the key and value shown. */
  private savedKey: Buffer = emptyBuffer;
  private savedValue: Buffer = emptyBuffer;

  constructor(internal: InternalIterator, snapshotSeq: number, options: DbIteratorOptions = {}) {
    assert(Number.isSafeInteger(snapshotSeq), `snapshot sequence ${snapshotSeq} is not a safe integer`);
    assert(snapshotSeq >= 0, `snapshot sequence ${snapshotSeq} is negative`);
    this.internal = internal;
    this.snapshotSeq = snapshotSeq;
    this.lowerBound = options.lowerBound;
    this.upperBound = options.upperBound;
    this.onClose = options.onClose;
  }

  valid(): boolean {
    return this.isValid;
  }

  /** The current user key. Requires valid(). */
  key(): Buffer {
    this.assertValid();
    return this.direction === Direction.Forward ? this.internal.userKey() : this.savedKey;
  }

  /** The current value. Requires valid(). */
  value(): Buffer {
    this.assertValid();
    return this.direction === Direction.Forward ? this.internal.value() : this.savedValue;
  }

  /** Positions at the first visible key (at or above lowerBound). */
  seekToFirst(): void {
    this.assertOpen();
    this.direction = Direction.Forward;
    if (this.lowerBound === undefined) this.internal.seekToFirst();
    else this.internal.seek(this.lowerBound, this.snapshotSeq);
    this.findNextVisible(undefined);
  }

  /** Positions at the last visible key (below upperBound). */
  seekToLast(): void {
    this.assertOpen();
    this.direction = Direction.Reverse;
    if (this.upperBound === undefined) this.internal.seekToLast();
    else this.internal.seekForPrev(this.upperBound, maxSequence);
    this.findPrevVisible();
  }

  /** Positions at the first visible key >= `key` (and >= lowerBound). */
  seek(key: Buffer): void {
    this.assertOpen();
    this.direction = Direction.Forward;
    const target = this.lowerBound !== undefined && key.compare(this.lowerBound) < 0 ? this.lowerBound : key;
    // Entries of `target` newer than the snapshot sort before (target, snapshotSeq): skipped.
    this.internal.seek(target, this.snapshotSeq);
    this.findNextVisible(undefined);
  }

  /** Positions at the last visible key <= `key` (and < upperBound). */
  seekForPrev(key: Buffer): void {
    this.assertOpen();
    this.direction = Direction.Reverse;
    if (this.upperBound !== undefined && key.compare(this.upperBound) >= 0) {
      this.internal.seekForPrev(this.upperBound, maxSequence);
    } else {
      // (key, 0) is the last possible entry of `key`: every version of it is included.
      this.internal.seekForPrev(key, 0);
    }
    this.findPrevVisible();
  }

  next(): void {
    this.assertOpen();
    this.assertValid();
    let shownKey: Buffer;
    if (this.direction === Direction.Reverse) {
      // The internal iterator is before the shown key's entries: step onto them, then past them.
      this.direction = Direction.Forward;
      shownKey = this.savedKey;
      if (this.internal.valid()) this.internal.next();
      else this.internal.seekToFirst();
    } else {
      shownKey = this.internal.userKey();
      this.internal.next();
    }
    this.findNextVisible(shownKey);
  }

  prev(): void {
    this.assertOpen();
    this.assertValid();
    if (this.direction === Direction.Forward) {
      // Step back over the newer-than-snapshot entries of the shown key, to just before it.
      const shownKey = this.internal.userKey();
      do {
        this.internal.prev();
      } while (this.internal.valid() && this.internal.userKey().compare(shownKey) >= 0);
      this.direction = Direction.Reverse;
    }
    this.findPrevVisible();
  }

  /** Releases the iterator; runs `onClose` the first time. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.isValid = false;
    this.onClose?.();
  }

  /**
   * Moving forward from the internal position, stops on the first entry that is the newest
   * visible version of its key and a Put, skipping keys <= `skipKey` (already shown or deleted).
   */
  private findNextVisible(skipKey: Buffer | undefined): void {
    const internal = this.internal;
    let skipUpTo = skipKey;
    let skipped = 0;
    while (internal.valid()) {
      const userKey = internal.userKey();
      if (this.upperBound !== undefined && userKey.compare(this.upperBound) >= 0) break;
      if (internal.seq() > this.snapshotSeq) {
        internal.next();
        continue;
      }
      if (skipUpTo !== undefined && userKey.compare(skipUpTo) <= 0) {
        // Older versions of a key shown or deleted. A key overwritten thousands of times (a
        // range's applied index, until a compaction) would be stepped over entry by entry: after
        // a few, one seek past all of them, to (key, 0), the last place a version of it can sort.
        if (++skipped >= reseekAfterSkips && userKey.equals(skipUpTo)) {
          skipped = 0;
          internal.seek(skipUpTo, 0);
          if (internal.valid() && internal.userKey().equals(skipUpTo)) internal.next();
          continue;
        }
        internal.next();
        continue;
      }
      skipped = 0;
      if (internal.kind() === ValueKind.Put) {
        this.isValid = true;
        return;
      }
      // A visible Delete hides this key's older versions.
      skipUpTo = userKey;
      internal.next();
    }
    this.isValid = false;
  }

  /**
   * Moving backward, reads each key's visible versions oldest first and keeps the last (the
   * newest); stops once it has a Put and reaches an earlier key, leaving the internal iterator
   * on that earlier key's entry.
   */
  private findPrevVisible(): void {
    const internal = this.internal;
    let haveValue = false;
    for (; internal.valid(); internal.prev()) {
      const userKey = internal.userKey();
      if (this.upperBound !== undefined && userKey.compare(this.upperBound) >= 0) continue;
      if (this.lowerBound !== undefined && userKey.compare(this.lowerBound) < 0) break;
      if (internal.seq() > this.snapshotSeq) continue;
      if (haveValue && userKey.compare(this.savedKey) < 0) break;
      if (internal.kind() === ValueKind.Put) {
        haveValue = true;
        this.savedKey = userKey;
        this.savedValue = internal.value();
      } else {
        haveValue = false;
      }
    }
    this.isValid = haveValue;
    if (!haveValue) {
      this.savedKey = emptyBuffer;
      this.savedValue = emptyBuffer;
    }
  }

  private assertValid(): void {
    assert(this.isValid, 'db iterator used while not valid');
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('iterator');
  }
}
