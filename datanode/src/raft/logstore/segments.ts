/**
 * Segment file names. Segments are numbered from 1 upwards and only ever deleted from the oldest
 * end, so the files present always form one contiguous run of numbers.
 */
import * as nodePath from 'node:path';
import { CorruptionError, StorageIOError } from '../../storage/errors.ts';
import type { StorageFs } from '../../storage/fs.ts';

const segmentNamePattern = /^raftlog-(\d{6,})\.seg$/;

export function segmentFileName(segment: number): string {
  return `raftlog-${String(segment).padStart(6, '0')}.seg`;
}

export function segmentPath(dir: string, segment: number): string {
  return nodePath.join(dir, segmentFileName(segment));
}

/**
 * The segment numbers in `dir`, ascending. Other files are ignored. Throws CorruptionError when
 * the numbers have a gap (a segment that replay needs is missing), StorageIOError when the
 * directory cannot be listed.
 */
export function listSegments(fs: StorageFs, dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new StorageIOError('list', dir, err);
  }
  const segments: number[] = [];
  for (const name of names) {
    const match = segmentNamePattern.exec(name);
    if (match?.[1] !== undefined) segments.push(Number(match[1]));
  }
  segments.sort((a, b) => a - b);
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1] ?? 0;
    const current = segments[i] ?? 0;
    if (current !== previous + 1) {
      throw new CorruptionError(segmentPath(dir, previous + 1), 0, `segment missing between ${segmentFileName(previous)} and ${segmentFileName(current)}`);
    }
  }
  return segments;
}
