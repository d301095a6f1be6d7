import { assert } from '../assert.ts';
import type { InternalIterator } from './iterator.ts';
import { compareUserKeySeq, type ValueKind } from './keys.ts';

const Direction = { Forward: 0, Reverse: 1 } as const;
type Direction = (typeof Direction)[keyof typeof Direction];
const emptyKey = Buffer.alloc(0);

/**
 * Merges several internal iterators (memtables, level-0 tables, levels) into one stream in
 * internal order, in either direction.
 *
 * The valid children sit in a binary heap ordered by their current entry: a min-heap while
 * moving forward, a max-heap while moving backward. Ties between children at the same
 * (userKey, seq) — which the engine never produces, sequence numbers being unique — are broken
 * by child index (lower index first going forward), so the order stays total and the reverse
 * walk mirrors the forward one.
 *
 * Direction switches follow LevelDB's merging iterator: to turn around at the current entry E,
 * every other child is re-positioned just past E in the new direction (seek / seekForPrev to
 * E, then one step if it landed on E itself and sorts on the wrong side of it), and the heap is
 * rebuilt. A switch costs one seek per child; steps in a steady direction cost O(log children).
 */
export class MergingIterator implements InternalIterator {
  private readonly children: readonly InternalIterator[];
  /** Child indexes of the valid children, heap-ordered for `direction`. */
  private readonly heap: Int32Array;
  private heapSize = 0;
  /** Each child's current entry, cached so heap comparisons make no calls. */
  private readonly childKeys: Buffer[];
  private readonly childSeqs: Float64Array;
  private direction: Direction = Direction.Forward;

  constructor(children: readonly InternalIterator[]) {
    this.children = children;
    this.heap = new Int32Array(children.length);
    this.childKeys = children.map(() => emptyKey);
    this.childSeqs = new Float64Array(children.length);
  }

  valid(): boolean {
    return this.heapSize > 0;
  }

  seekToFirst(): void {
    for (const child of this.children) child.seekToFirst();
    this.rebuildHeap(Direction.Forward);
  }

  seekToLast(): void {
    for (const child of this.children) child.seekToLast();
    this.rebuildHeap(Direction.Reverse);
  }

  seek(userKey: Buffer, seq: number): void {
    for (const child of this.children) child.seek(userKey, seq);
    this.rebuildHeap(Direction.Forward);
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    for (const child of this.children) child.seekForPrev(userKey, seq);
    this.rebuildHeap(Direction.Reverse);
  }

  next(): void {
    this.assertValid();
    if (this.direction !== Direction.Forward) this.turnForward();
    this.advanceTop();
  }

  prev(): void {
    this.assertValid();
    if (this.direction !== Direction.Reverse) this.turnReverse();
    this.advanceTop();
  }

  userKey(): Buffer {
    return this.current().userKey();
  }

  seq(): number {
    return this.current().seq();
  }

  kind(): ValueKind {
    return this.current().kind();
  }

  value(): Buffer {
    return this.current().value();
  }

  private assertValid(): void {
    assert(this.heapSize > 0, 'merging iterator used while not valid');
  }

  private current(): InternalIterator {
    this.assertValid();
    return this.child(this.heap[0] ?? 0);
  }

  private child(index: number): InternalIterator {
    const child = this.children[index];
    assert(child !== undefined, `merging iterator: no child ${index}`);
    return child;
  }

  /** Re-positions every child but the current one just after the current entry. */
  private turnForward(): void {
    const currentIndex = this.heap[0] ?? 0;
    const key = this.childKeys[currentIndex] ?? emptyKey;
    const seq = this.childSeqs[currentIndex] ?? 0;
    for (let index = 0; index < this.children.length; index++) {
      if (index === currentIndex) continue;
      const child = this.child(index);
      child.seek(key, seq);
      // A child at the very same entry with a lower index sorts before the current one.
      if (index < currentIndex && child.valid() && compareUserKeySeq(child.userKey(), child.seq(), key, seq) === 0) {
        child.next();
      }
    }
    this.rebuildHeap(Direction.Forward);
  }

  /** Re-positions every child but the current one just before the current entry. */
  private turnReverse(): void {
    const currentIndex = this.heap[0] ?? 0;
    const key = this.childKeys[currentIndex] ?? emptyKey;
    const seq = this.childSeqs[currentIndex] ?? 0;
    for (let index = 0; index < this.children.length; index++) {
      if (index === currentIndex) continue;
      const child = this.child(index);
      child.seekForPrev(key, seq);
      if (index > currentIndex && child.valid() && compareUserKeySeq(child.userKey(), child.seq(), key, seq) === 0) {
        child.prev();
      }
    }
    this.rebuildHeap(Direction.Reverse);
  }

  /** Steps the top child in the current direction and restores the heap. */
  private advanceTop(): void {
    const top = this.heap[0] ?? 0;
    const child = this.child(top);
    if (this.direction === Direction.Forward) child.next();
    else child.prev();
    if (child.valid()) {
      this.cacheEntry(top, child);
    } else {
      this.heapSize--;
      this.heap[0] = this.heap[this.heapSize] ?? 0;
    }
    if (this.heapSize > 1) this.siftDown(0);
  }

  private rebuildHeap(direction: Direction): void {
    this.direction = direction;
    this.heapSize = 0;
    for (let index = 0; index < this.children.length; index++) {
      const child = this.child(index);
      if (!child.valid()) continue;
      this.cacheEntry(index, child);
      this.heap[this.heapSize++] = index;
    }
    for (let position = (this.heapSize >> 1) - 1; position >= 0; position--) this.siftDown(position);
  }

  private cacheEntry(index: number, child: InternalIterator): void {
    this.childKeys[index] = child.userKey();
    this.childSeqs[index] = child.seq();
  }

  /** Whether child `a` comes out of the heap before child `b` in the current direction. */
  private before(a: number, b: number): boolean {
    let order = compareUserKeySeq(
      this.childKeys[a] ?? emptyKey,
      this.childSeqs[a] ?? 0,
      this.childKeys[b] ?? emptyKey,
      this.childSeqs[b] ?? 0,
    );
    if (order === 0) order = a - b;
    return this.direction === Direction.Forward ? order < 0 : order > 0;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const size = this.heapSize;
    let position = start;
    const moving = heap[position] ?? 0;
    while (true) {
      const left = 2 * position + 1;
      if (left >= size) break;
      const right = left + 1;
      let best = left;
      if (right < size && this.before(heap[right] ?? 0, heap[left] ?? 0)) best = right;
      const bestChild = heap[best] ?? 0;
      if (!this.before(bestChild, moving)) break;
      heap[position] = bestChild;
      position = best;
    }
    heap[position] = moving;
  }
}
