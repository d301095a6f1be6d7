import type { InternalIterator } from './iterator.ts';
import type { ValueKind } from './keys.ts';

/**
 * Presents an ingested table, whose entries were written with sequence 0 and hold each user key
 * at most once, as if every entry carried `globalSeq`: the sequence the engine assigned at
 * ingestion, which orders the whole file after everything written before it.
 */
export class GlobalSeqIterator implements InternalIterator {
  constructor(
    private readonly inner: InternalIterator,
    private readonly globalSeq: number,
  ) {}

  valid(): boolean {
    return this.inner.valid();
  }
  seekToFirst(): void {
    this.inner.seekToFirst();
  }
  seekToLast(): void {
    this.inner.seekToLast();
  }
  seek(userKey: Buffer, seq: number): void {
    // (k, g) >= (userKey, seq) iff k > userKey, or k == userKey and g <= seq.
    this.inner.seek(userKey, Number.MAX_SAFE_INTEGER);
    if (this.globalSeq > seq && this.inner.valid() && this.inner.userKey().equals(userKey)) this.inner.next();
  }
  seekForPrev(userKey: Buffer, seq: number): void {
    // (k, g) <= (userKey, seq) iff k < userKey, or k == userKey and g >= seq.
    this.inner.seekForPrev(userKey, 0);
    if (this.globalSeq < seq && this.inner.valid() && this.inner.userKey().equals(userKey)) this.inner.prev();
  }
  next(): void {
    this.inner.next();
  }
  prev(): void {
    this.inner.prev();
  }
  userKey(): Buffer {
    return this.inner.userKey();
  }
  seq(): number {
    return this.globalSeq;
  }
  kind(): ValueKind {
    return this.inner.kind();
  }
  value(): Buffer {
    return this.inner.value();
  }
}
