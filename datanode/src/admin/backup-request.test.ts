/**
 * Validation of the admin Backup request before a node sees it: ids that name objects at the
 * destination, the type and its parent, and exactly one well-formed destination.
 */
import { describe, expect, it } from 'vitest';
import type { BackupRequest__Output } from '../../proto/generated/phantomdb/admin/v1/BackupRequest.ts';
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
