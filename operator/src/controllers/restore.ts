/**
 * `spec.bootstrap.fromBackup`: a new cluster that must start with the data of a backup.
 *
 * Restoring needs the data node to ingest the backup's files into its ranges (the restorer and
 * its RangeIngester seam exist in datanode/src/backup; the node's admin call does not yet). Until
 * it does, the operator refuses to create such a cluster: starting it empty would be a silently
 * wrong restore, the one outcome a restore must never have (issue 6 §3).
 *
 * A cluster that already has its StatefulSet (created before this step existed) is left to the
 * other steps, so that it is not frozen.
 */
import { setCondition } from './conditions.ts';
import { finish, proceed, validated, type Step } from './context.ts';
import { isNotFound } from '../kube/errors.ts';
import { objectNames } from '../resources/index.ts';

export const restoreUnavailableReason = 'RestoreUnavailable';

async function hasStatefulSet(ctx: Parameters<Step>[0]): Promise<boolean> {
  try {
    await ctx.deps.kinds.statefulSet.read(ctx.namespace, objectNames(validated(ctx)).statefulSet);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Stops a cluster that asks for a restore before anything is created, with a clear status. */
export const refuseRestoreUntilAvailable: Step = async (ctx) => {
  const fromBackup = ctx.cluster?.spec.bootstrap?.fromBackup;
  if (fromBackup === undefined) return proceed;
  if (await hasStatefulSet(ctx)) return proceed;
  const source = fromBackup.backupName !== undefined ? `PhantomBackup ${fromBackup.backupName}` : `backup ${fromBackup.backupId ?? ''}`;
  const message =
    `cannot start this cluster from ${source}: restoring needs the data node's backup ingest call, which is not available in this version ` +
    '(PH_BACKUP_RUNNER_UNAVAILABLE); nothing was created, so the cluster does not come up empty';
  const generation = ctx.object.metadata.generation;
  ctx.status.phase = 'Failed';
  ctx.status.message = message;
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Degraded', status: 'True', reason: restoreUnavailableReason, message }, ctx.now, generation);
  if (generation !== undefined) ctx.status.observedGeneration = generation;
  await ctx.event('Warning', restoreUnavailableReason, message);
  // This status is the whole story for this pass; the summary describes clusters that run.
  ctx.cluster = undefined;
  return finish;
};
