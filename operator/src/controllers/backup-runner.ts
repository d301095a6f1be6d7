/**
 * The seams between the backup controllers and the things that move bytes.
 *
 * `BackupRunner` makes the data nodes export every range as of one cluster timestamp and upload
 * it (datanode/src/backup's writer, driven on the nodes). The data node's admin call for this
 * does not exist yet (the multi-Raft node is being rebuilt), so the operator ships
 * `PendingDataNodeBackupRunner`, which fails every backup with PH_BACKUP_RUNNER_UNAVAILABLE and
 * says why: a backup is never reported as taken when it was not. Wiring the admin call is one
 * class implementing this interface.
 *
 * `BackupDestinations` opens a destination for the operator's own reads (verification after
 * upload, deletion by retention): S3 with the credentials from the named Secret, or a volume
 * the operator has mounted.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { type BackupStore, S3BackupStore, VolumeBackupStore } from '../../../datanode/src/backup/index.ts';
import { PhantomError } from '../../../datanode/src/errors.ts';
import type { BackupDestination, BackupType } from '../api/index.ts';

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
  override readonly name = 'BackupRunnerUnavailableError';
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

/** Opens destinations with credentials read from Secrets through the API. */
export class KubeBackupDestinations implements BackupDestinations {
  constructor(
    private readonly core: CoreV1Api,
    private readonly options: KubeBackupDestinationsOptions = {},
  ) {}

  async open(namespace: string, destination: BackupDestination): Promise<OpenedDestination> {
    if (destination.s3 !== undefined) {
      const s3 = destination.s3;
      let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
      if (s3.credentials !== undefined) {
        const secret = await this.core.readNamespacedSecret({ namespace, name: s3.credentials.secretName });
        const read = (key: string): string => {
          const value = secret.data?.[key];
          if (value === undefined) throw new BackupRunnerUnavailableError(`Secret ${namespace}/${s3.credentials?.secretName ?? ''} has no key ${key}`);
          return Buffer.from(value, 'base64').toString('utf8');
        };
        credentials = { accessKeyId: read(s3.credentials.accessKeyIdKey), secretAccessKey: read(s3.credentials.secretAccessKeyKey) };
      }
      const store = new S3BackupStore({
        bucket: s3.bucket,
        prefix: s3.prefix,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
        ...(credentials === undefined ? {} : { credentials }),
      });
      return { store, close: () => store.destroy() };
    }
    if (destination.volume !== undefined) {
      const root = this.options.volumeMountOf?.(namespace, destination.volume.claimName);
      if (root === undefined) {
        throw new BackupRunnerUnavailableError(`volume claim ${namespace}/${destination.volume.claimName} is not mounted in the operator; it is read through the data nodes, whose backup call is not available yet`);
      }
      return { store: new VolumeBackupStore(`${root.replace(/\/+$/, '')}${destination.volume.path === '/' ? '' : destination.volume.path}`), close: () => undefined };
    }
    throw new BackupRunnerUnavailableError('the destination names neither s3 nor volume');
  }
}
