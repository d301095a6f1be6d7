import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateBackup, validateCluster, validateScheduledBackup } from './validate.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

function documentsOf(file: string): unknown[] {
  return parseAllDocuments(readFileSync(join(repoRoot, 'examples', file), 'utf8')).map((document) => document.toJSON() as unknown);
}

describe('backup examples and validation', () => {
  it('accepts the backup, schedule and restore examples as they are', () => {
    const backups = documentsOf('backup-s3.yaml');
    expect(backups.length).toBe(2);
    for (const backup of backups) {
      const result = validateBackup(backup);
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
    for (const schedule of documentsOf('scheduled-backup.yaml')) {
      const result = validateScheduledBackup(schedule);
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
    const [restore] = documentsOf('cluster-restore.yaml');
    const result = validateCluster(restore);
    expect(result.ok ? [] : result.errors).toEqual([]);
    const [claim, cluster, volumeBackup] = documentsOf('backup-volume.yaml');
    expect((claim as { kind?: string }).kind).toBe('PersistentVolumeClaim');
    const mounting = validateCluster(cluster);
    expect(mounting.ok ? mounting.value.spec.backup?.volume?.claimName : mounting.errors).toBe('phantomdb-backups');
    const onVolume = validateBackup(volumeBackup);
    expect(onVolume.ok ? onVolume.value.spec.destination.volume?.claimName : onVolume.errors).toBe('phantomdb-backups');
  });

  it('names the field when a backup or schedule is wrong', () => {
    const base = { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomBackup', metadata: { name: 'b' } };
    const both = validateBackup({ ...base, spec: { cluster: 'db', destination: { s3: { bucket: 'bkt' }, volume: { claimName: 'c' } } } });
    expect(both.ok ? [] : both.errors.map((error) => error.message)).toEqual(['spec.destination exactly one of s3 or volume must be set (got an object)']);
    const type = validateBackup({ ...base, spec: { cluster: 'db', type: 'Differential', destination: { s3: { bucket: 'bkt' } } } });
    expect(type.ok ? [] : type.errors.map((error) => error.path)).toEqual(['spec.type']);
    const schedule = validateScheduledBackup({ ...base, kind: 'PhantomScheduledBackup', spec: { cluster: 'db', schedule: 'daily', destination: { s3: { bucket: 'bkt' } }, retention: {} } });
    const messages = schedule.ok ? [] : schedule.errors.map((error) => error.message);
    expect(messages.some((message) => message.includes('spec.schedule must be a cron schedule'))).toBe(true);
    expect(messages.some((message) => message.includes('spec.retention needs keepLast or maxAge'))).toBe(true);
  });
});
