import { assert } from '../assert.ts';
import type { InternalIterator } from './iterator.ts';
import type { ValueKind } from './keys.ts';

/**
 * A file of a sorted level as the level iterator sees it. Bounds are user keys and inclusive.
 * Neighbouring files may share a boundary user key (the newer versions of that key in the
 * earlier file, the older ones in the later file), as compaction output splits do.
 */
export interface LevelFile {
  readonly smallestUserKey: Buffer;
  readonly largestUserKey: Buffer;
  /** Opens the file's iterator; called lazily, at most once per positioning onto the file. */
  open(): InternalIterator;
}

/**
 * Concatenates the iterators of a level's files, which are sorted and do not overlap (except
 * for a shared boundary user key, see LevelFile). Only the file under the cursor is open; seeks
 * binary-search the file bounds. Moving onto a neighbour file opens it anew (the previous
 * file's iterator is dropped), except when the cursor returns to the file already open.
 */
export class LevelIterator implements InternalIterator {
  private readonly files: readonly LevelFile[];
  private fileIndex = -1;
  private fileIterator: InternalIterator | undefined;

  constructor(files: readonly LevelFile[]) {
    for (let i = 0; i < files.length; i++) {
      const file = fileAt(files, i);
      assert(file.smallestUserKey.compare(file.largestUserKey) <= 0, `level file ${i}: smallest key above largest`);
      const next = files[i + 1];
      if (next !== undefined) {
        assert(file.largestUserKey.compare(next.smallestUserKey) <= 0, `level files ${i} and ${i + 1} overlap`);
      }
    }
    this.files = files;
  }

  valid(): boolean {
    return this.fileIterator !== undefined && this.fileIterator.valid();
  }

  seekToFirst(): void {
    if (!this.openFile(0)) return;
    this.openIterator().seekToFirst();
    this.skipExhaustedForward();
  }

  seekToLast(): void {
    if (!this.openFile(this.files.length - 1)) return;
    this.openIterator().seekToLast();
    this.skipExhaustedBackward();
  }

  seek(userKey: Buffer, seq: number): void {
    // The first file whose largest key is >= userKey; later files may still start with userKey
    // (older versions), so each following file is sought too rather than started at its first.
    for (let index = this.firstFileEndingAtOrAfter(userKey); this.openFile(index); index++) {
      const iterator = this.openIterator();
      iterator.seek(userKey, seq);
      if (iterator.valid()) return;
    }
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    for (let index = this.lastFileStartingAtOrBefore(userKey); this.openFile(index); index--) {
      const iterator = this.openIterator();
      iterator.seekForPrev(userKey, seq);
      if (iterator.valid()) return;
    }
  }

  next(): void {
    this.assertValid();
    this.openIterator().next();
    this.skipExhaustedForward();
  }

  prev(): void {
    this.assertValid();
    this.openIterator().prev();
    this.skipExhaustedBackward();
  }

  userKey(): Buffer {
    this.assertValid();
    return this.openIterator().userKey();
  }

  seq(): number {
    this.assertValid();
    return this.openIterator().seq();
  }

  kind(): ValueKind {
    this.assertValid();
    return this.openIterator().kind();
  }

  value(): Buffer {
    this.assertValid();
    return this.openIterator().value();
  }

  private assertValid(): void {
    assert(this.valid(), 'level iterator used while not valid');
  }

  private openIterator(): InternalIterator {
    assert(this.fileIterator !== undefined, 'level iterator: no file open');
    return this.fileIterator;
  }

  /** Opens file `index` (reusing it if already open); false, leaving nothing open, when out of range. */
  private openFile(index: number): boolean {
    if (index < 0 || index >= this.files.length) {
      this.fileIndex = -1;
      this.fileIterator = undefined;
      return false;
    }
    if (index !== this.fileIndex || this.fileIterator === undefined) {
      this.fileIterator = fileAt(this.files, index).open();
      this.fileIndex = index;
    }
    return true;
  }

  /** While the open file is exhausted, moves to the start of the next one (skipping empty files). */
  private skipExhaustedForward(): void {
    while (this.fileIterator !== undefined && !this.fileIterator.valid()) {
      if (!this.openFile(this.fileIndex + 1)) return;
      this.openIterator().seekToFirst();
    }
  }

  private skipExhaustedBackward(): void {
    while (this.fileIterator !== undefined && !this.fileIterator.valid()) {
      if (!this.openFile(this.fileIndex - 1)) return;
      this.openIterator().seekToLast();
    }
  }

  private firstFileEndingAtOrAfter(userKey: Buffer): number {
    let low = 0;
    let high = this.files.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (fileAt(this.files, middle).largestUserKey.compare(userKey) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private lastFileStartingAtOrBefore(userKey: Buffer): number {
    let low = 0;
    let high = this.files.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (fileAt(this.files, middle).smallestUserKey.compare(userKey) <= 0) low = middle + 1;
      else high = middle;
    }
    return low - 1;
  }
}

function fileAt(files: readonly LevelFile[], index: number): LevelFile {
  const file = files[index];
  assert(file !== undefined, `level file ${index} out of range`);
  return file;
}
