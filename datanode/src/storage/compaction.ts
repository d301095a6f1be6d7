import { assert } from '../assert.ts';
import { ValueKind } from './keys.ts';
import type { EngineOptions } from './options.ts';
import { type FileMeta, type Version, largestUserKey, smallestUserKey } from './version.ts';

/** A compaction chosen by `pickCompaction`: inputs from `level` and overlapping `level + 1` files. */
export interface CompactionJob {
  readonly level: number;
  readonly outputLevel: number;
  readonly inputs: readonly FileMeta[];
  readonly nextInputs: readonly FileMeta[];
  /** A single file with nothing to merge: moved down by a manifest edit, no rewrite. */
  readonly trivialMove: boolean;
  readonly score: number;
}

/** Target size of level ≥ 1. */
export function levelTargetBytes(options: EngineOptions, level: number): number {
  assert(level >= 1, 'level 0 is sized by file count');
  return options.levelBaseBytes * options.levelSizeMultiplier ** (level - 1);
}

/** Compaction urgency per level: ≥ 1 means the level should be compacted. */
export function levelScores(version: Version, options: EngineOptions): number[] {
  const scores: number[] = [version.files(0).length / options.l0CompactionTriggerFiles];
  for (let level = 1; level < version.levelsMax - 1; level++) {
    scores.push(version.levelBytes(level) / levelTargetBytes(options, level));
  }
  return scores;
}

function keyRange(files: readonly FileMeta[]): { smallest: Buffer; largest: Buffer } {
  assert(files.length > 0, 'a range needs files');
  let smallest = smallestUserKey(files[0] as FileMeta);
  let largest = largestUserKey(files[0] as FileMeta);
  for (const f of files) {
    if (Buffer.compare(smallestUserKey(f), smallest) < 0) smallest = smallestUserKey(f);
    if (Buffer.compare(largestUserKey(f), largest) > 0) largest = largestUserKey(f);
  }
  return { smallest, largest };
}

/**
 * Chooses the most urgent compaction, skipping files already being compacted (`busy`). Level 0
 * compacts all its files at once (they overlap); deeper levels take one file, round-robin after
 * `compactPointers[level]` (the largest key of the previous pick), so the whole level is
 * rewritten over time. Returns undefined when no level needs work.
 */
export function pickCompaction(
  version: Version,
  options: EngineOptions,
  compactPointers: (Buffer | undefined)[],
  busy: ReadonlySet<number>,
  force = false,
): CompactionJob | undefined {
  const scores = levelScores(version, options);
  const order = scores.map((score, level) => ({ score, level })).sort((a, b) => b.score - a.score);
  for (const { score, level } of order) {
    if (score < 1 && !(force && version.files(level).length > 0)) continue;
    const job = jobForLevel(version, level, score, compactPointers, busy);
    if (job !== undefined) return job;
  }
  return undefined;
}

function jobForLevel(
  version: Version,
  level: number,
  score: number,
  compactPointers: (Buffer | undefined)[],
  busy: ReadonlySet<number>,
): CompactionJob | undefined {
  const files = version.files(level);
  let inputs: FileMeta[];
  if (level === 0) {
    inputs = [...files];
  } else {
    const pointer = compactPointers[level];
    const after = pointer === undefined ? undefined : files.find((f) => Buffer.compare(largestUserKey(f), pointer) > 0);
    const first = after ?? files[0];
    if (first === undefined) return undefined;
    inputs = [first];
  }
  if (inputs.length === 0 || inputs.some((f) => busy.has(f.number))) return undefined;
  const { smallest, largest } = keyRange(inputs);
  const nextInputs = version.overlapping(level + 1, smallest, largest);
  if (nextInputs.some((f) => busy.has(f.number))) return undefined;
  const trivialMove = level > 0 && inputs.length === 1 && nextInputs.length === 0;
  return { level, outputLevel: level + 1, inputs, nextInputs, trivialMove, score };
}

/** What a compaction needs from the engine, so that the merge itself is a plain loop. */
export interface CompactionContext {
  /** Every entry with a sequence at or below this is visible to all readers (no snapshot older). */
  readonly smallestSnapshot: number;
  /** True when no level below the output level holds `userKey` (a tombstone can then be dropped). */
  isBaseLevelForKey(userKey: Buffer): boolean;
  /** MVCC version GC, when enabled: the length of `userKey`'s MVCC prefix and whether its version is at or below the GC threshold. */
  readonly mvcc?: {
    prefixLength(userKey: Buffer): number | undefined;
    atOrBelowThreshold(userKey: Buffer): boolean;
    /** Whether a version's value is a deletion tombstone (absent: tombstones are kept like values). */
    isTombstone?(value: Buffer): boolean;
    /** Whether no level below the output level can hold any version of the MVCC prefix `prefix`. */
    noDeeperVersions?(prefix: Buffer): boolean;
  };
}

/** Decides, entry by entry in internal order, which entries a compaction keeps. */
export class CompactionFilter {
  private currentKey: Buffer | undefined;
  private lastSeqForKey = Number.MAX_SAFE_INTEGER;
  /** The MVCC prefix whose newest version at or below the GC threshold has been kept. */
  private gcPrefix: Buffer | undefined;
  /** The rest of the current user key's entries are dropped (its newest entry was collected). */
  private dropRestOfKey = false;
  droppedEntries = 0;
  collectedVersions = 0;

  constructor(private readonly ctx: CompactionContext) {}

  /**
   * Returns 'keep', 'drop', or 'tombstone' (write a Delete in place of this entry: an MVCC
   * version was collected but older copies of the key may exist in deeper levels).
   */
  decide(userKey: Buffer, seq: number, kind: ValueKind, value?: Buffer): 'keep' | 'drop' | 'tombstone' {
    const { smallestSnapshot } = this.ctx;
    const firstOfKey = this.currentKey === undefined || !this.currentKey.equals(userKey);
    if (firstOfKey) {
      this.currentKey = userKey;
      this.lastSeqForKey = Number.MAX_SAFE_INTEGER;
      this.dropRestOfKey = false;
    }
    let verdict: 'keep' | 'drop' | 'tombstone' = 'keep';
    if (this.dropRestOfKey) {
      verdict = 'drop';
    } else if (this.lastSeqForKey <= smallestSnapshot) {
      // A newer entry for this key is visible to every reader: this one is shadowed.
      verdict = 'drop';
    } else if (kind === ValueKind.Delete && seq <= smallestSnapshot && this.ctx.isBaseLevelForKey(userKey)) {
      verdict = 'drop';
    } else if (firstOfKey && this.ctx.mvcc !== undefined) {
      verdict = this.decideMvcc(userKey, seq, kind, value);
    }
    this.lastSeqForKey = seq;
    if (verdict !== 'keep') this.droppedEntries++;
    return verdict;
  }

  private decideMvcc(userKey: Buffer, seq: number, kind: ValueKind, value: Buffer | undefined): 'keep' | 'drop' | 'tombstone' {
    const mvcc = this.ctx.mvcc;
    assert(mvcc !== undefined, 'mvcc context');
    const prefixLength = mvcc.prefixLength(userKey);
    if (prefixLength === undefined) {
      this.gcPrefix = undefined;
      return 'keep';
    }
    const samePrefix =
      this.gcPrefix !== undefined &&
      this.gcPrefix.length === prefixLength &&
      userKey.compare(this.gcPrefix, 0, prefixLength, 0, prefixLength) === 0;
    if (samePrefix && seq <= this.ctx.smallestSnapshot) {
      // An older version below the GC threshold, shadowed by the kept one for every allowed read.
      this.collectedVersions++;
      this.dropRestOfKey = true;
      return this.ctx.isBaseLevelForKey(userKey) ? 'drop' : 'tombstone';
    }
    if (!samePrefix) this.gcPrefix = undefined;
    if (kind === ValueKind.Put && seq <= this.ctx.smallestSnapshot && mvcc.atOrBelowThreshold(userKey)) {
      this.gcPrefix = userKey.subarray(0, prefixLength);
      // The newest version at or below the threshold is a deletion: every allowed read (at or
      // above the threshold) sees the key absent with or without it, once no older version can
      // remain anywhere (the older ones in this merge go as garbage, and no deeper level holds
      // any). Otherwise it stays, or an older version would show through.
      if (value !== undefined && mvcc.isTombstone?.(value) === true && mvcc.noDeeperVersions?.(this.gcPrefix) === true) {
        this.collectedVersions++;
        this.dropRestOfKey = true;
        return 'drop';
      }
    }
    return 'keep';
  }
}
