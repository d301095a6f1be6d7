/**
 * Volume backup destinations: the cluster must mount the destination's claim in every data pod
 * (spec.backup.volume.claimName, at /var/lib/phantomdb-backup); the runner refuses otherwise with
 * a message that says what to change, and hands the data nodes the path inside their pods.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { AdminConnector, BackupSpec, ClusterAdmin } from '../admin-client/index.ts';
import { backupDestinationSchema } from '../api/index.ts';
import { DataNodeBackupRunner } from './backup-runner.ts';
import { backupVolumeRefusal, mountedBackupClaim, podsWithoutClaim, volumeDestinationPath } from './backup-volume.ts';

const withClaim = (name: string, claimName: string): V1Pod => ({ metadata: { name }, spec: { containers: [], volumes: [{ name: 'data' }, { name: 'backup', persistentVolumeClaim: { claimName } }] } });
const withoutClaim = (name: string): V1Pod => ({ metadata: { name }, spec: { containers: [], volumes: [{ name: 'data' }] } });

describe('volume destinations', () => {
  it('are allowed only for the claim the cluster spec mounts, with a message naming what to set', () => {
    expect(mountedBackupClaim({ backup: { volume: { claimName: 'backups' } } })).toBe('backups');
    expect(mountedBackupClaim({})).toBeUndefined();
    expect(mountedBackupClaim(undefined)).toBeUndefined();
    expect(backupVolumeRefusal('ns', 'db', { backup: { volume: { claimName: 'backups' } } }, 'backups')).toBeUndefined();
    expect(backupVolumeRefusal('ns', 'db', {}, 'backups')).toMatch(/PhantomCluster ns\/db does not mount volume claim backups \(it mounts no backup volume\): set spec\.backup\.volume\.claimName: backups/);
    expect(backupVolumeRefusal('ns', 'db', { backup: { volume: { claimName: 'other' } } }, 'backups')).toMatch(/\(it mounts claim other\)/);
  });

  it('name the pods that do not mount the claim yet, and map a destination path into the pods', () => {
    expect(podsWithoutClaim([withClaim('db-0', 'backups'), withoutClaim('db-2'), withClaim('db-1', 'other')], 'backups')).toEqual(['db-1', 'db-2']);
    expect(volumeDestinationPath('/')).toBe('/var/lib/phantomdb-backup');
    expect(volumeDestinationPath('/nightly/')).toBe('/var/lib/phantomdb-backup/nightly');
  });
});

/** An admin connector that records the backup calls it gets. */
function recordingAdmin(calls: BackupSpec[], deletions: string[] = []): AdminConnector {
  const admin: Pick<ClusterAdmin, 'backup' | 'deleteBackup'> = {
    backup: (spec) => {
      calls.push(spec);
      return Promise.resolve({ backupId: spec.backupId, phase: 'RUNNING', backupTimestamp: '', rangesDone: 0, rangesTotal: 1, bytesDone: 0, totalBytes: 0, verified: false, message: '' });
    },
    deleteBackup: (backupId, destination) => {
      deletions.push(`${backupId} ${destination.kind === 'volume' ? destination.path : destination.bucket}`);
      return Promise.resolve(2);
    },
  };
  return { forCluster: () => admin as ClusterAdmin, release: () => undefined, close: () => undefined };
}

describe('DataNodeBackupRunner with a volume destination', () => {
  const job = { namespace: 'ns', cluster: 'db', backupName: 'v', backupId: 'v-1', type: 'Full' as const, destination: backupDestinationSchema.parse({ volume: { claimName: 'backups', path: '/nightly' } }) };
  const mounted = { backup: { volume: { claimName: 'backups' } } };

  it('refuses while the cluster or some of its pods do not mount the claim, and starts nothing', async () => {
    const calls: BackupSpec[] = [];
    const runner = (clusterSpec: unknown, pods: V1Pod[]) =>
      new DataNodeBackupRunner({ admin: recordingAdmin(calls), endpointsOf: () => Promise.resolve(['127.0.0.1:1']), s3CredentialsOf: () => Promise.resolve(undefined), volumeMountsOf: () => Promise.resolve({ clusterSpec, pods }) });
    await expect(runner({}, [withoutClaim('db-0')]).start(job)).rejects.toThrow(/does not mount volume claim backups/);
    await expect(runner(mounted, [withClaim('db-0', 'backups'), withoutClaim('db-1')]).start(job)).rejects.toThrow(/data pods db-1 of PhantomCluster ns\/db do not mount volume claim backups yet/);
    const noMounts = new DataNodeBackupRunner({ admin: recordingAdmin(calls), endpointsOf: () => Promise.resolve(['127.0.0.1:1']), s3CredentialsOf: () => Promise.resolve(undefined) });
    await expect(noMounts.start(job)).rejects.toThrow(/cannot check the data pods' mounts/);
    expect(calls).toEqual([]);
  });

  it('hands the data nodes the destination as a path inside their pods once every pod mounts the claim', async () => {
    const calls: BackupSpec[] = [];
    const runner = new DataNodeBackupRunner({
      admin: recordingAdmin(calls),
      endpointsOf: () => Promise.resolve(['127.0.0.1:1']),
      s3CredentialsOf: () => Promise.resolve(undefined),
      volumeMountsOf: () => Promise.resolve({ clusterSpec: mounted, pods: [withClaim('db-0', 'backups'), withClaim('db-1', 'backups')] }),
    });
    await runner.start(job);
    expect(calls).toEqual([{ backupId: 'v-1', type: 'full', destination: { kind: 'volume', path: '/var/lib/phantomdb-backup/nightly' } }]);
  });
  it('deletes a backup through the data nodes at the path inside their pods, and not while a pod lacks the claim', async () => {
    const deletions: string[] = [];
    const runner = (pods: V1Pod[]) =>
      new DataNodeBackupRunner({ admin: recordingAdmin([], deletions), endpointsOf: () => Promise.resolve(['127.0.0.1:1']), s3CredentialsOf: () => Promise.resolve(undefined), volumeMountsOf: () => Promise.resolve({ clusterSpec: mounted, pods }) });
    expect(await runner([withClaim('db-0', 'backups')]).deleteBackup('ns', 'db', job.destination, 'old-1')).toBe(2);
    await expect(runner([withClaim('db-0', 'backups'), withoutClaim('db-1')]).deleteBackup('ns', 'db', job.destination, 'old-2')).rejects.toThrow(/db-1/);
    expect(deletions).toEqual(['old-1 /var/lib/phantomdb-backup/nightly']);
  });
});
