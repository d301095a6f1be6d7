import { describe, expect, it } from 'vitest';
import { BackupManifestInvalidError } from './errors.ts';
import { type BackupManifest, decodeManifest, encodeManifest, manifestKey } from './manifest.ts';

const valid: BackupManifest = {
  formatVersion: 1,
  clusterId: 'c-1',
  backupId: 'inc-2',
  type: 'incremental',
  backupTimestamp: '2000.00001',
  parent: { backupId: 'full-1', backupTimestamp: '1000.00000' },
  dataNodeVersion: '0.1.0',
  createdAt: '2026-11-26T05:00:00Z',
  ranges: [{ rangeId: 1, startKey: '', endKey: '6b', files: [{ objectKey: 'inc-2/ranges/1/000000.sst', sizeBytes: 10, sha256: 'a'.repeat(64), entries: 2, smallestKey: '61', largestKey: '62' }] }],
  totalBytes: 10,
};

function problemOf(manifest: unknown): string {
  try {
    decodeManifest(manifestKey('inc-2'), Buffer.from(JSON.stringify(manifest)));
  } catch (error) {
    expect(error).toBeInstanceOf(BackupManifestInvalidError);
    return (error as Error).message;
  }
  throw new Error('expected the manifest to be refused');
}

describe('backup manifest', () => {
  it('round-trips a valid manifest', () => {
    expect(decodeManifest(manifestKey('inc-2'), encodeManifest(valid))).toEqual(valid);
  });

  it('names what is wrong with an invalid one', () => {
    expect(problemOf({ ...valid, totalBytes: 11 })).toContain('totalBytes: is 11 but the files add up to 10');
    expect(problemOf({ ...valid, parent: undefined })).toContain('an incremental backup needs a parent');
    expect(problemOf({ ...valid, parent: { backupId: 'full-1', backupTimestamp: '3000.00000' } })).toContain('the parent must be older');
    expect(problemOf({ ...valid, backupTimestamp: 'yesterday' })).toContain('backupTimestamp');
    expect(problemOf({ ...valid, formatVersion: 2 })).toContain('format version 2 is not supported');
    const stray = { ...valid, ranges: [{ ...valid.ranges[0], files: [{ ...valid.ranges[0]?.files[0], objectKey: 'other/ranges/1/000000.sst' }] }] };
    expect(problemOf(stray)).toContain("outside the backup's folder");
  });

  it('refuses a manifest stored under another backup id, and text that is not JSON', () => {
    expect(() => decodeManifest(manifestKey('inc-3'), encodeManifest(valid))).toThrow(/belongs at inc-2\/manifest.json/);
    expect(() => decodeManifest(manifestKey('inc-2'), Buffer.from('{"formatVersion": 1,'))).toThrow(/not JSON/);
  });
});
