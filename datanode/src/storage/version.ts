import { assert } from '../assert.ts';
import { CorruptionError } from './errors.ts';
import { compareInternalKeys, internalKeyUserKey } from './keys.ts';

/** An immutable SSTable as the engine knows it. */
export interface FileMeta {
  readonly number: number;
  readonly fileBytes: number;
  /** Smallest and largest internal keys in the file. */
  readonly smallest: Buffer;
  readonly largest: Buffer;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly entries: number;
  /**
   * Files ingested from outside carry one sequence number for all their entries (they were built
   * with sequence 0); readers substitute it.
   */
  readonly globalSeq?: number;
}

export function smallestUserKey(f: FileMeta): Buffer {
  return internalKeyUserKey(f.smallest);
}
export function largestUserKey(f: FileMeta): Buffer {
  return internalKeyUserKey(f.largest);
}

/** The sequence number that orders this file among L0 files (newest first). */
export function fileNewestSeq(f: FileMeta): number {
  return f.globalSeq ?? f.maxSeq;
}

/** One change to the set of live files, logged in the manifest. */
export interface VersionEdit {
  readonly logNumber?: number;
  readonly nextFileNumber?: number;
  readonly lastSequence?: number;
  readonly added?: readonly { readonly level: number; readonly file: FileMeta }[];
  readonly deleted?: readonly { readonly level: number; readonly number: number }[];
  /** A full snapshot (the first record of each manifest) rather than a delta. */
  readonly snapshot?: boolean;
}

/** An immutable set of live files per level. L0 newest first; L1+ sorted and non-overlapping. */
export class Version {
  constructor(readonly levels: readonly (readonly FileMeta[])[]) {}

  static empty(levelsMax: number): Version {
    return new Version(Array.from({ length: levelsMax }, () => []));
  }

  get levelsMax(): number {
    return this.levels.length;
  }

  files(level: number): readonly FileMeta[] {
    const files = this.levels[level];
    assert(files !== undefined, `level ${level} out of range`);
    return files;
  }

  allFiles(): FileMeta[] {
    return this.levels.flat();
  }

  levelBytes(level: number): number {
    let sum = 0;
    for (const f of this.files(level)) sum += f.fileBytes;
    return sum;
  }

  /** Files of `level` whose user-key range intersects [smallest, largest] (inclusive user keys). */
  overlapping(level: number, smallest: Buffer, largest: Buffer): FileMeta[] {
    return this.files(level).filter(
      (f) => Buffer.compare(largestUserKey(f), smallest) >= 0 && Buffer.compare(smallestUserKey(f), largest) <= 0,
    );
  }

  /** Index of the first file in sorted level `level` (≥1) whose largest user key is ≥ key. */
  findFile(level: number, userKey: Buffer): number {
    const files = this.files(level);
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const f = files[mid] as FileMeta;
      if (Buffer.compare(largestUserKey(f), userKey) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Applies an edit and returns the new version (this one is unchanged). */
  apply(edit: VersionEdit): Version {
    const levels = edit.snapshot ? this.levels.map(() => [] as FileMeta[]) : this.levels.map((l) => [...l]);
    for (const d of edit.deleted ?? []) {
      const files = levels[d.level];
      assert(files !== undefined, `edit deletes from level ${d.level} out of range`);
      const at = files.findIndex((f) => f.number === d.number);
      assert(at >= 0, `edit deletes file ${d.number} not in level ${d.level}`);
      files.splice(at, 1);
    }
    for (const a of edit.added ?? []) {
      const files = levels[a.level];
      assert(files !== undefined, `edit adds to level ${a.level} out of range`);
      files.push(a.file);
    }
    (levels[0] as FileMeta[]).sort((a, b) => fileNewestSeq(b) - fileNewestSeq(a) || b.number - a.number);
    for (let level = 1; level < levels.length; level++) {
      const files = levels[level] as FileMeta[];
      files.sort((a, b) => compareInternalKeys(a.smallest, b.smallest));
      for (let i = 1; i < files.length; i++) {
        const prev = files[i - 1] as FileMeta;
        const cur = files[i] as FileMeta;
        assert(
          Buffer.compare(largestUserKey(prev), smallestUserKey(cur)) < 0,
          `level ${level} files ${prev.number} and ${cur.number} overlap`,
        );
      }
    }
    return new Version(levels);
  }
}

interface FileJson {
  n: number;
  b: number;
  s: string;
  l: string;
  mi: number;
  ma: number;
  e: number;
  g?: number;
}
interface EditJson {
  log?: number;
  next?: number;
  last?: number;
  add?: { lv: number; f: FileJson }[];
  del?: { lv: number; n: number }[];
  snap?: boolean;
}

/** Encodes an edit as a manifest record (JSON: the manifest is small and human-inspectable). */
export function encodeEdit(edit: VersionEdit): Buffer {
  const json: EditJson = {};
  if (edit.logNumber !== undefined) json.log = edit.logNumber;
  if (edit.nextFileNumber !== undefined) json.next = edit.nextFileNumber;
  if (edit.lastSequence !== undefined) json.last = edit.lastSequence;
  if (edit.snapshot) json.snap = true;
  if (edit.added?.length) {
    json.add = edit.added.map(({ level, file }) => {
      const f: FileJson = {
        n: file.number,
        b: file.fileBytes,
        s: file.smallest.toString('hex'),
        l: file.largest.toString('hex'),
        mi: file.minSeq,
        ma: file.maxSeq,
        e: file.entries,
      };
      if (file.globalSeq !== undefined) f.g = file.globalSeq;
      return { lv: level, f };
    });
  }
  if (edit.deleted?.length) json.del = edit.deleted.map((d) => ({ lv: d.level, n: d.number }));
  return Buffer.from(JSON.stringify(json));
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes a manifest record; malformed records are corruption of `file` at `offset`. */
export function decodeEdit(payload: Buffer, file: string, offset: number): VersionEdit {
  const bad = (why: string): never => {
    throw new CorruptionError(file, offset, `malformed manifest record: ${why}`);
  };
  let json: EditJson;
  try {
    json = JSON.parse(payload.toString('utf8')) as EditJson;
  } catch {
    return bad('not JSON');
  }
  if (typeof json !== 'object' || json === null) return bad('not an object');
  for (const k of ['log', 'next', 'last'] as const) if (json[k] !== undefined && !isCount(json[k])) bad(`field ${k}`);
  const added = (json.add ?? []).map((a) => {
    const f = a.f;
    if (!isCount(a.lv) || typeof f !== 'object') return bad('added file');
    if (![f.n, f.b, f.mi, f.ma, f.e].every(isCount)) return bad(`added file ${String(f.n)} numbers`);
    if (typeof f.s !== 'string' || typeof f.l !== 'string' || f.s.length < 16 || f.l.length < 16) return bad(`added file ${f.n} keys`);
    const file: FileMeta = {
      number: f.n,
      fileBytes: f.b,
      smallest: Buffer.from(f.s, 'hex'),
      largest: Buffer.from(f.l, 'hex'),
      minSeq: f.mi,
      maxSeq: f.ma,
      entries: f.e,
      ...(f.g !== undefined ? { globalSeq: isCount(f.g) ? f.g : bad('globalSeq') } : {}),
    };
    return { level: a.lv, file };
  });
  const deleted = (json.del ?? []).map((d) => (isCount(d.lv) && isCount(d.n) ? { level: d.lv, number: d.n } : bad('deleted file')));
  return {
    ...(json.log !== undefined ? { logNumber: json.log } : {}),
    ...(json.next !== undefined ? { nextFileNumber: json.next } : {}),
    ...(json.last !== undefined ? { lastSequence: json.last } : {}),
    ...(json.snap ? { snapshot: true } : {}),
    added,
    deleted,
  };
}
