/**
 * `spec.bootstrap.fromBackup`: a new cluster that must start with the data of a backup.
 *
 * Before anything else is created, the operator resolves the backup (a PhantomBackup that
 * Completed, or a destination and backup ID), and writes what the data node needs to restore it
 * (its --restore-from JSON, S3 credentials included) into a Secret owned by the cluster. The
 * StatefulSet passes that Secret to the pods as PHANTOMDB_RESTORE_FROM; the pod that bootstraps
 * the cluster downloads, verifies and ingests the whole chain before its ranges serve
 * (datanode/src/node/restore.ts), and the other pods get the data by snapshots. A corrupt or
 * missing object stops that pod with a message naming the object, so the cluster never comes up
 * with part of the data.
 *
 * A backup on a volume is read by the bootstrapping pod from the claim the new cluster mounts
 * (`spec.backup.volume.claimName`, which must name the destination's claim).
 * A backup that cannot be resolved (not found, not Completed, or on a volume claim the new
 * cluster does not mount) fails the cluster before anything is created, with a clear status:
 * starting it empty would be a silently wrong restore. A cluster that already has its
 * StatefulSet is left to the other steps.
 */
import { setCondition } from './conditions.ts';
import { finish, proceed, validated, type Step } from './context.ts';
import { readS3Credentials } from './backup-runner.ts';
import { backupVolumeRefusal, volumeDestinationPath } from './backup-volume.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { backupDestinationSchema, type BackupDestination, type PhantomBackupStatus } from '../api/index.ts';
import { objectNames, ownedMeta, restoreSecretKey } from '../resources/index.ts';

export const restoreUnavailableReason = 'RestoreUnavailable';

type Context = Parameters<Step>[0];
type FromBackup = NonNullable<NonNullable<NonNullable<Context['cluster']>['spec']['bootstrap']>['fromBackup']>;

/** The backup cannot be restored as asked; the message says why. */
class RestoreRefused extends Error {}

async function hasStatefulSet(ctx: Context): Promise<boolean> {
  try {
    await ctx.deps.kinds.statefulSet.read(ctx.namespace, objectNames(validated(ctx)).statefulSet);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** The destination and backup ID to restore: from a Completed PhantomBackup, or as given. */
async function backupOf(ctx: Context, fromBackup: FromBackup): Promise<{ destination: BackupDestination; backupId: string }> {
  if (fromBackup.destination !== undefined) {
    const backupId = fromBackup.upToBackupId ?? fromBackup.backupId;
    if (backupId === undefined) throw new RestoreRefused('spec.bootstrap.fromBackup.backupId is required with destination');
    return { destination: fromBackup.destination, backupId };
  }
  const name = fromBackup.backupName ?? '';
  let object: { spec?: { destination?: unknown }; status?: PhantomBackupStatus };
  try {
    object = (await ctx.deps.custom.getNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', namespace: ctx.namespace, plural: 'phantombackups', name })) as typeof object;
  } catch (error) {
    if (isNotFound(error)) throw new RestoreRefused(`PhantomBackup ${ctx.namespace}/${name} does not exist`);
    throw error;
  }
  const backupId = fromBackup.upToBackupId ?? object.status?.backupId;
  if (object.status?.phase !== 'Completed' || backupId === undefined) throw new RestoreRefused(`PhantomBackup ${ctx.namespace}/${name} is ${object.status?.phase ?? 'not started'}, not Completed`);
  const parsed = backupDestinationSchema.safeParse(object.spec?.destination);
  if (!parsed.success) throw new RestoreRefused(`PhantomBackup ${ctx.namespace}/${name} has no valid destination`);
  return { destination: parsed.data, backupId };
}

/** The data node's --restore-from JSON for the backup. */
async function restoreSourceJson(ctx: Context, fromBackup: FromBackup): Promise<string> {
  const { destination, backupId } = await backupOf(ctx, fromBackup);
  if (destination.volume !== undefined) {
    // The bootstrapping data node reads the backup from the claim this cluster mounts.
    const cluster = validated(ctx);
    const refusal = backupVolumeRefusal(ctx.namespace, cluster.metadata.name, cluster.spec, destination.volume.claimName);
    if (refusal !== undefined) throw new RestoreRefused(refusal);
    return JSON.stringify({ backupId, volume: { path: volumeDestinationPath(destination.volume.path) } });
  }
  const s3 = destination.s3;
  if (s3 === undefined) throw new RestoreRefused('the destination names neither s3 nor volume');
  const credentials = await readS3Credentials(ctx.deps.core, ctx.namespace, s3);
  return JSON.stringify({
    backupId,
    s3: {
      bucket: s3.bucket,
      prefix: s3.prefix,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
      ...(credentials === undefined ? {} : credentials),
    },
  });
}

/** Fails a cluster whose backup cannot be restored, before anything is created. */
async function refuse(ctx: Context, source: string, why: string): Promise<ReturnType<Step>> {
  const message = `cannot start this cluster from ${source}: ${why}; nothing was created, so the cluster does not come up empty`;
  const generation = ctx.object.metadata.generation;
  ctx.status.phase = 'Failed';
  ctx.status.message = message;
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Degraded', status: 'True', reason: restoreUnavailableReason, message }, ctx.now, generation);
  if (generation !== undefined) ctx.status.observedGeneration = generation;
  await ctx.event('Warning', restoreUnavailableReason, message);
  // This status is the whole story for this pass; the summary describes clusters that run.
  ctx.cluster = undefined;
  return finish;
}

/**
 * Resolves the backup of a new cluster and writes the restore Secret the StatefulSet names;
 * fails the cluster (creating nothing) when the backup cannot be restored.
 */
export const prepareRestore: Step = async (ctx) => {
  const fromBackup = ctx.cluster?.spec.bootstrap?.fromBackup;
  if (fromBackup === undefined) return proceed;
  if (await hasStatefulSet(ctx)) return proceed;
  const cluster = validated(ctx);
  const source = fromBackup.backupName !== undefined ? `PhantomBackup ${fromBackup.backupName}` : `backup ${fromBackup.upToBackupId ?? fromBackup.backupId ?? ''}`;
  let json: string;
  try {
    json = await restoreSourceJson(ctx, fromBackup);
  } catch (error) {
    if (error instanceof RestoreRefused) return refuse(ctx, source, error.message);
    throw error;
  }
  const name = objectNames(cluster).restoreSecret;
  try {
    await ctx.deps.core.createNamespacedSecret({ namespace: ctx.namespace, body: { metadata: ownedMeta(cluster, name, 'restore'), stringData: { [restoreSecretKey]: json } } });
  } catch (error) {
    // Written by an earlier pass (spec.bootstrap is immutable, so it names the same backup).
    if (!isAlreadyExists(error)) throw error;
  }
  return proceed;
};
