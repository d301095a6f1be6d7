/**
 * Test support: a sorted-array model of an internal iterator, random operation generators, and
 * a driver that replays the same operations on a real iterator and on the model, comparing
 * after each step. Shared by the memtable, merging, level and db iterator tests.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { InternalIterator } from './iterator.ts';
import { compareUserKeySeq, maxSequence, ValueKind } from './keys.ts';

export interface ModelEntry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly kind: ValueKind;
  readonly value: Buffer;
}

/** Runs per property; raise with PROPERTY_RUNS for long runs. */
export const propertyRuns = Number(process.env['PROPERTY_RUNS'] ?? 150);

export function compareEntries(a: ModelEntry, b: ModelEntry): number {
  return compareUserKeySeq(a.userKey, a.seq, b.userKey, b.seq);
}

/**
 * Keys from a tiny alphabet (so keys and prefixes collide), including 0x00 and 0xFF, both
 * shorter and longer than the memtable's six-byte numeric prefix, and occasionally long
 * enough (> 32 bytes) to take the native comparison path.
 */
export const keyArbitrary: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0xff), { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(0x00, 0x61, 0xff), { minLength: 30, maxLength: 40 }) },
).map((bytes) => Buffer.from(bytes));

/** Mostly small sequences (collisions across keys), sometimes near 2^53. */
export const seqArbitrary: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: maxSequence - 5, max: maxSequence }) },
);

export const kindArbitrary: fc.Arbitrary<ValueKind> = fc.constantFrom(ValueKind.Put, ValueKind.Put, ValueKind.Delete);

export interface RawEntry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly kind: ValueKind;
}

export const rawEntriesArbitrary = (maxLength: number): fc.Arbitrary<RawEntry[]> =>
  fc.array(fc.record({ userKey: keyArbitrary, seq: seqArbitrary, kind: kindArbitrary }), { maxLength });

/** Drops repeated (userKey, seq) pairs and gives each entry a distinct value. */
export function uniqueEntries(raw: readonly RawEntry[]): ModelEntry[] {
  const seen = new Set<string>();
  const out: ModelEntry[] = [];
  for (const entry of raw) {
    const id = `${entry.userKey.toString('hex')}/${entry.seq}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ ...entry, value: Buffer.from(`value-${out.length}`) });
  }
  return out;
}

export function sortedEntries(entries: readonly ModelEntry[]): ModelEntry[] {
  return [...entries].sort(compareEntries);
}

export type CursorOp =
  | { readonly op: 'seekToFirst' }
  | { readonly op: 'seekToLast' }
  | { readonly op: 'seek'; readonly userKey: Buffer; readonly seq: number }
  | { readonly op: 'seekForPrev'; readonly userKey: Buffer; readonly seq: number }
  | { readonly op: 'next' }
  | { readonly op: 'prev' };

export const cursorOpArbitrary: fc.Arbitrary<CursorOp | TargetedSeek> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ op: 'seekToFirst' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'seekToLast' } as const) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('seek' as const), userKey: keyArbitrary, seq: seqArbitrary }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('seekForPrev' as const), userKey: keyArbitrary, seq: seqArbitrary }),
  },
  { weight: 5, arbitrary: fc.constant({ op: 'next' } as const) },
  { weight: 5, arbitrary: fc.constant({ op: 'prev' } as const) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom('seek' as const, 'seekForPrev' as const),
      entryIndex: fc.nat(),
      seqDelta: fc.constantFrom(-1, 0, 0, 1),
    }),
  },
);

/**
 * A seek aimed at an existing entry (exact hits are otherwise rare): `entryIndex` picks an
 * entry of the sorted model, `seqDelta` moves the target just before, on or after it.
 */
export type TargetedSeek = {
  readonly op: 'seek' | 'seekForPrev';
  readonly entryIndex: number;
  readonly seqDelta: number;
};

/** Turns targeted seeks into plain ones against `sorted` (the first key when it is empty). */
export function resolveOp(op: CursorOp | TargetedSeek, sorted: readonly ModelEntry[]): CursorOp {
  if (!('entryIndex' in op)) return op;
  const entry = sorted[op.entryIndex % Math.max(1, sorted.length)];
  const userKey = entry?.userKey ?? Buffer.alloc(0);
  const seq = Math.min(maxSequence, Math.max(0, (entry?.seq ?? 0) + op.seqDelta));
  return { op: op.op, userKey, seq };
}

/** A cursor over a sorted array with the InternalIterator's positioning semantics. */
export class ModelCursor {
  private position = -1;

  constructor(private readonly entries: readonly ModelEntry[]) {}

  valid(): boolean {
    return this.position >= 0 && this.position < this.entries.length;
  }

  entry(): ModelEntry | undefined {
    return this.valid() ? this.entries[this.position] : undefined;
  }

  apply(op: CursorOp): void {
    switch (op.op) {
      case 'seekToFirst':
        this.position = 0;
        return;
      case 'seekToLast':
        this.position = this.entries.length - 1;
        return;
      case 'seek': {
        const target = { userKey: op.userKey, seq: op.seq };
        this.position = this.entries.findIndex((e) => compareUserKeySeq(e.userKey, e.seq, target.userKey, target.seq) >= 0);
        if (this.position === -1) this.position = this.entries.length;
        return;
      }
      case 'seekForPrev':
        this.position = this.entries.findLastIndex((e) => compareUserKeySeq(e.userKey, e.seq, op.userKey, op.seq) <= 0);
        return;
      case 'next':
        this.position++;
        return;
      case 'prev':
        this.position--;
        return;
    }
  }
}

export function applyToIterator(iterator: InternalIterator, op: CursorOp): void {
  switch (op.op) {
    case 'seekToFirst':
      iterator.seekToFirst();
      return;
    case 'seekToLast':
      iterator.seekToLast();
      return;
    case 'seek':
      iterator.seek(op.userKey, op.seq);
      return;
    case 'seekForPrev':
      iterator.seekForPrev(op.userKey, op.seq);
      return;
    case 'next':
      iterator.next();
      return;
    case 'prev':
      iterator.prev();
      return;
  }
}

export function describeEntry(entry: ModelEntry | undefined): string {
  if (entry === undefined) return 'invalid';
  return `${entry.userKey.toString('hex')}@${entry.seq}/${entry.kind}=${entry.value.toString()}`;
}

export function iteratorEntry(iterator: InternalIterator): ModelEntry | undefined {
  if (!iterator.valid()) return undefined;
  return { userKey: iterator.userKey(), seq: iterator.seq(), kind: iterator.kind(), value: iterator.value() };
}

/**
 * Replays `ops` on the iterator and on a model cursor over `sorted`, comparing after each.
 * next/prev are skipped while the model is not valid (calling them then is a contract breach).
 */
export function checkCursorOps(
  iterator: InternalIterator,
  sorted: readonly ModelEntry[],
  ops: readonly (CursorOp | TargetedSeek)[],
): void {
  const model = new ModelCursor(sorted);
  const trace: string[] = [];
  for (const rawOp of ops) {
    const op = resolveOp(rawOp, sorted);
    if ((op.op === 'next' || op.op === 'prev') && !model.valid()) continue;
    model.apply(op);
    applyToIterator(iterator, op);
    trace.push(op.op === 'seek' || op.op === 'seekForPrev' ? `${op.op}(${op.userKey.toString('hex')}, ${op.seq})` : op.op);
    expect(describeEntry(iteratorEntry(iterator)), trace.join(' ')).toBe(describeEntry(model.entry()));
  }
}

/** Full scans in both directions must list exactly `sorted`. */
export function checkFullScans(iterator: InternalIterator, sorted: readonly ModelEntry[]): void {
  const forward: string[] = [];
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) forward.push(describeEntry(iteratorEntry(iterator)));
  expect(forward).toEqual(sorted.map(describeEntry));
  const backward: string[] = [];
  for (iterator.seekToLast(); iterator.valid(); iterator.prev()) backward.push(describeEntry(iteratorEntry(iterator)));
  expect(backward).toEqual(sorted.map(describeEntry).reverse());
}
