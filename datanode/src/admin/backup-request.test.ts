/**
 * Validation of the admin Backup request before a node sees it: ids that name objects at the
 * destination, the type and its parent, and exactly one well-formed destination.
 */
import { describe, expect, it } from 'vitest';
import type { BackupRequest__Output } from '../../proto/generated/phantomdb/admin/v1/BackupRequest.ts';
import { backupManifestSchema, backupIdLengthMax } from '../backup/manifest.ts';
import { backupSpecOf } from './service.ts';

const s3 = { bucket: 'b', prefix: 'p', region: '', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, accessKeyId: 'id', secretAccessKey: 'secret' };
const base: BackupRequest__Output = { backupId: 'nightly-1', type: 'full', parentBackupId: '', volume: { path: '/backups' }, destination: 'volume' };

describe('Backup request validation', () => {
  it('turns a well-formed request into the backend spec', () => {
    expect(backupSpecOf(base)).toEqual({ backupId: 'nightly-1', type: 'full', destination: { kind: 'volume', path: '/backups' } });
    expect(backupSpecOf({ ...base, type: 'incremental', parentBackupId: 'nightly-0', volume: null, s3, destination: 's3' })).toEqual({
      backupId: 'nightly-1',
      type: 'incremental',
      parentBackupId: 'nightly-0',
      destination: { kind: 's3', bucket: 'b', prefix: 'p', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: { accessKeyId: 'id', secretAccessKey: 'secret' } },
    });
  });

  it('refuses ids the manifest cannot hold, before a backup runs (uppercase, too long), saying why', () => {
    expect(() => backupSpecOf({ ...base, backupId: 'Nightly-1' })).toThrow(
      expect.objectContaining({ code: 'PH_BAD_REQUEST', message: expect.stringMatching(/backup_id "Nightly-1" must be .*lowercase.*"nightly-1" would do/) as unknown }),
    );
    expect(() => backupSpecOf({ ...base, type: 'incremental', parentBackupId: 'Nightly-0' })).toThrow(expect.objectContaining({ code: 'PH_BAD_REQUEST', message: expect.stringMatching(/parent_backup_id/) as unknown }));
    expect(() => backupSpecOf({ ...base, backupId: 'a'.repeat(backupIdLengthMax + 1) })).toThrow(expect.objectContaining({ code: 'PH_BAD_REQUEST' }));
  });

  it.each(['nightly-1', 'a', '0.backup_x-y', 'a'.repeat(backupIdLengthMax)])('accepts %s, and a manifest of that id is valid', (backupId) => {
    const spec = backupSpecOf({ ...base, backupId });
    const manifest = {
      formatVersion: 1,
      clusterId: 'c',
      backupId: spec.backupId,
      type: 'full',
      backupTimestamp: '1700000000000.0',
      dataNodeVersion: '1.0.0',
      createdAt: new Date(0).toISOString(),
      ranges: [{ rangeId: 2, startKey: '', endKey: '', files: [{ objectKey: `${spec.backupId}/ranges/2/000000.sst`, sizeBytes: 1, sha256: '0'.repeat(64), entries: 1, smallestKey: '', largestKey: '' }] }],
      totalBytes: 1,
    };
    const parsed = backupManifestSchema.safeParse(manifest);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it.each([
    [{ backupId: '../escape' }, /backup_id/],
    [{ backupId: '' }, /backup_id/],
    [{ type: 'differential' }, /full.*incremental/],
    [{ type: 'incremental' }, /parent_backup_id/],
    [{ type: 'incremental', parentBackupId: 'nightly-1' }, /its own parent/],
    [{ parentBackupId: 'nightly-0' }, /full backup has no parent/],
    [{ volume: { path: 'relative' } }, /absolute/],
    [{ volume: null }, /no destination/],
    [{ volume: null, s3: { ...s3, bucket: '' } }, /bucket/],
    [{ volume: null, s3: { ...s3, secretAccessKey: '' } }, /both an access key id and a secret/],
  ])('refuses %o with PH_BAD_REQUEST', (change, message) => {
    expect(() => backupSpecOf({ ...base, ...change } as BackupRequest__Output)).toThrow(expect.objectContaining({ code: 'PH_BAD_REQUEST', message: expect.stringMatching(message) as unknown }));
  });
});
