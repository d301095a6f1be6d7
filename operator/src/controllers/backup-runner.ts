/**
 * The seams between the backup controllers and the things that move bytes.
 *
 * `BackupRunner` makes the data nodes export every range as of one cluster timestamp and upload
 * it (datanode/src/backup's writer, driven on the nodes). `DataNodeBackupRunner` does it through
 * the data nodes' admin call (Backup/BackupStatus, answered by the meta range's leader, which
 * coordinates: datanode/src/node/backup-coordinator.ts). `PendingDataNodeBackupRunner` fails
 * every backup with PH_BACKUP_RUNNER_UNAVAILABLE (for tests of that path).
 *
 * `BackupDestinations` opens a destination for the operator's own reads (verification after
 * upload, deletion by retention): S3 with the credentials from the named Secret, or a volume
 * the operator has mounted.
 */
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { AdminConnector, BackupDestinationSpec, BackupProgressReport, BackupSpec } from '../admin-client/index.ts';
import { type BackupStore, S3BackupStore, VolumeBackupStore, s3StoreConfig } from '../../../datanode/src/backup/index.ts';
import { PhantomError } from '../../../datanode/src/errors.ts';
import type { BackupDestination, BackupType } from '../api/index.ts';
import { backupVolumeRefusal, podsWithoutClaim, volumeDestinationPath } from './backup-volume.ts';

export interface BackupJob {
  readonly namespace: string;
  readonly cluster: string;
  /** Name of the PhantomBackup. */
  readonly backupName: string;
  readonly backupId: string;
  readonly type: BackupType;
  /** For Incremental: the backup ID this one builds on. */
  readonly parentBackupId?: string;
  readonly destination: BackupDestination;
}

export type BackupJobState =
  | { readonly kind: 'running'; readonly rangesDone: number; readonly rangesTotal: number; readonly bytesDone: number }
  | { readonly kind: 'uploaded'; readonly backupTimestamp: string; readonly ranges: number; readonly sizeBytes: number }
  | { readonly kind: 'failed'; readonly message: string }
  /** The runner has no record of the job (for example the operator restarted): start it again. */
  | { readonly kind: 'unknown' };

export interface BackupRunner {
  /** Starts the job; starting a job that already runs or finished (same backupId) does nothing. */
  start(job: BackupJob): Promise<void>;
  state(job: BackupJob): Promise<BackupJobState>;
}

/** No way to make the data nodes export a backup. */
export class BackupRunnerUnavailableError extends PhantomError {
  readonly code = 'PH_BACKUP_RUNNER_UNAVAILABLE';
  override readonly name: string = 'BackupRunnerUnavailableError';
}

/**
 * The runner until the data node has its backup admin call: it refuses every job with a clear
 * message. PENDING: replace with a runner over the admin API (export ranges at a timestamp).
 */
export class PendingDataNodeBackupRunner implements BackupRunner {
  private static readonly message =
    "the data node's backup call (export every range at one cluster timestamp) is not available in this version; no backup was taken (PH_BACKUP_RUNNER_UNAVAILABLE)";

  async start(_job: BackupJob): Promise<void> {
    throw new BackupRunnerUnavailableError(PendingDataNodeBackupRunner.message);
  }

  async state(_job: BackupJob): Promise<BackupJobState> {
    return { kind: 'failed', message: PendingDataNodeBackupRunner.message };
  }
}

/**
 * The operator does not mount a volume destination's claim (it cannot: claims live in the
 * clusters' namespaces and are mounted by the data pods). Backups there are verified by the
 * data node that wrote them (it re-reads every object before reporting the backup uploaded).
 */
export class VolumeNotInOperatorError extends BackupRunnerUnavailableError {
  override readonly name = 'VolumeNotInOperatorError';
  constructor(
    readonly namespace: string,
    readonly claimName: string,
  ) {
    super(`volume claim ${namespace}/${claimName} is mounted by the data node pods, not by the operator, so the operator cannot read or delete backup files there`);
  }
}

export interface OpenedDestination {
  readonly store: BackupStore;
  close(): void;
}

export interface BackupDestinations {
  open(namespace: string, destination: BackupDestination): Promise<OpenedDestination>;
}

export interface KubeBackupDestinationsOptions {
  /** Where the operator has a volume destination's claim mounted, if it has (claim name → directory). */
  readonly volumeMountOf?: (namespace: string, claimName: string) => string | undefined;
}

type S3Destination = NonNullable<BackupDestination['s3']>;

/** The static credentials an S3 destination names (from its Secret), or undefined when it names none. */
export async function readS3Credentials(core: CoreV1Api, namespace: string, s3: S3Destination): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined> {
  if (s3.credentials === undefined) return undefined;
  const secretName = s3.credentials.secretName;
  const secret = await core.readNamespacedSecret({ namespace, name: secretName });
  const read = (key: string): string => {
    const value = secret.data?.[key];
    if (value === undefined) throw new BackupRunnerUnavailableError(`Secret ${namespace}/${secretName} has no key ${key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  };
  return { accessKeyId: read(s3.credentials.accessKeyIdKey), secretAccessKey: read(s3.credentials.secretAccessKeyKey) };
}

export interface DataNodeBackupRunnerOptions {
  readonly admin: AdminConnector;
  /** The admin addresses of the cluster's data node pods (empty: none running). */
  endpointsOf(namespace: string, cluster: string): Promise<readonly string[]>;
  /** The credentials an S3 destination names (readS3Credentials). */
  s3CredentialsOf(namespace: string, s3: S3Destination): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined>;
  /**
   * The cluster's spec and data pods, to check that every pod mounts a volume destination's
   * claim (backup-volume.ts). Absent: volume destinations are refused.
   */
  volumeMountsOf?(namespace: string, cluster: string): Promise<{ readonly clusterSpec: unknown; readonly pods: readonly V1Pod[] }>;
}

/** Deletes a backup's objects through the data nodes (a volume only the data pods mount). */
export interface DataNodeBackupDeleter {
  /** Answers how many objects were deleted; refuses (BackupRunnerUnavailableError) what the data pods cannot reach. */
  deleteBackup(namespace: string, cluster: string, destination: BackupDestination, backupId: string): Promise<number>;
}

/** Backups through the data nodes' admin API: the meta range's leader takes them (one timestamp, every range). */
export class DataNodeBackupRunner implements BackupRunner, DataNodeBackupDeleter {
  constructor(private readonly options: DataNodeBackupRunnerOptions) {}

  async deleteBackup(namespace: string, cluster: string, destination: BackupDestination, backupId: string): Promise<number> {
    const job: BackupJob = { namespace, cluster, backupName: backupId, backupId, type: 'Full', destination };
    const admin = await this.adminOf(job);
    if (admin.deleteBackup === undefined) throw new BackupRunnerUnavailableError('the admin connector cannot delete backups');
    return admin.deleteBackup(backupId, await this.destinationOf(job));
  }

  async start(job: BackupJob): Promise<void> {
    const admin = await this.adminOf(job);
    if (admin.backup === undefined) throw new BackupRunnerUnavailableError('the admin connector cannot start backups');
    const report = await admin.backup(await this.specOf(job));
    if (report.phase === 'FAILED') throw new BackupRunnerUnavailableError(`backup ${job.backupId} failed on the data nodes: ${report.message}`);
  }

  async state(job: BackupJob): Promise<BackupJobState> {
    const admin = await this.adminOf(job);
    if (admin.backupStatus === undefined) return { kind: 'failed', message: 'the admin connector cannot follow backups' };
    return jobStateOf(await admin.backupStatus(job.backupId));
  }

  private async adminOf(job: BackupJob): Promise<NonNullable<ReturnType<AdminConnector['forCluster']>>> {
    const endpoints = await this.options.endpointsOf(job.namespace, job.cluster);
    if (endpoints.length === 0) throw new BackupRunnerUnavailableError(`cluster ${job.namespace}/${job.cluster} has no data node pod with an address`);
    // The data node cluster id is the PhantomCluster's name (cluster-status.ts).
    return this.options.admin.forCluster(`${job.namespace}/${job.cluster}`, job.cluster, endpoints);
  }

  private async specOf(job: BackupJob): Promise<BackupSpec> {
    const type = job.type === 'Full' ? 'full' : 'incremental';
    if (type === 'incremental' && job.parentBackupId === undefined) throw new BackupRunnerUnavailableError(`incremental backup ${job.backupId} has no parent backup`);
    return { backupId: job.backupId, type, ...(type === 'incremental' && job.parentBackupId !== undefined ? { parentBackupId: job.parentBackupId } : {}), destination: await this.destinationOf(job) };
  }

  private async destinationOf(job: BackupJob): Promise<BackupDestinationSpec> {
    const { s3, volume } = job.destination;
    if (s3 !== undefined) {
      const credentials = await this.options.s3CredentialsOf(job.namespace, s3);
      return { kind: 's3', ...s3StoreConfig(s3, credentials) };
    }
    if (volume !== undefined) {
      if (this.options.volumeMountsOf === undefined) throw new BackupRunnerUnavailableError(`volume claim ${job.namespace}/${volume.claimName}: this runner cannot check the data pods' mounts; use an s3 destination`);
      const { clusterSpec, pods } = await this.options.volumeMountsOf(job.namespace, job.cluster);
      const refusal = backupVolumeRefusal(job.namespace, job.cluster, clusterSpec, volume.claimName);
      if (refusal !== undefined) throw new BackupRunnerUnavailableError(refusal);
      const missing = podsWithoutClaim(pods, volume.claimName);
      if (missing.length > 0) throw new BackupRunnerUnavailableError(`data pods ${missing.join(', ')} of PhantomCluster ${job.namespace}/${job.cluster} do not mount volume claim ${volume.claimName} yet (the rollout that mounts it has not replaced them); take the backup once the rollout is through`);
      return { kind: 'volume', path: volumeDestinationPath(volume.path) };
    }
    throw new BackupRunnerUnavailableError('the destination names neither s3 nor volume');
  }
}

/** A data node's progress report as the controller's job state. */
export function jobStateOf(report: BackupProgressReport): BackupJobState {
  switch (report.phase) {
    case 'RUNNING':
      return { kind: 'running', rangesDone: report.rangesDone, rangesTotal: report.rangesTotal, bytesDone: report.bytesDone };
    case 'COMPLETED':
      return { kind: 'uploaded', backupTimestamp: report.backupTimestamp, ranges: report.rangesTotal, sizeBytes: report.totalBytes };
    case 'FAILED':
      return { kind: 'failed', message: report.message };
    case 'UNKNOWN':
      return { kind: 'unknown' };
  }
}

/** Opens destinations with credentials read from Secrets through the API. */
export class KubeBackupDestinations implements BackupDestinations {
  constructor(
    private readonly core: CoreV1Api,
    private readonly options: KubeBackupDestinationsOptions = {},
  ) {}

  async open(namespace: string, destination: BackupDestination): Promise<OpenedDestination> {
    if (destination.s3 !== undefined) {
      const s3 = destination.s3;
      const credentials = await readS3Credentials(this.core, namespace, s3);
      const store = new S3BackupStore(s3StoreConfig(s3, credentials));
      return { store, close: () => store.destroy() };
    }
    if (destination.volume !== undefined) {
      const root = this.options.volumeMountOf?.(namespace, destination.volume.claimName);
      if (root === undefined) throw new VolumeNotInOperatorError(namespace, destination.volume.claimName);
      return { store: new VolumeBackupStore(`${root.replace(/\/+$/, '')}${destination.volume.path === '/' ? '' : destination.volume.path}`), close: () => undefined };
    }
    throw new BackupRunnerUnavailableError('the destination names neither s3 nor volume');
  }
}
