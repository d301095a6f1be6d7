/**
 * Volume growth: when spec.storage.size is above what a data node's PersistentVolumeClaim asks
 * for, ask for the new size on every claim (the StatefulSet's volumeClaimTemplates are immutable,
 * so the claims themselves are patched) — but only when their StorageClass allows expansion
 * (`allowVolumeExpansion: true`). Otherwise, and for a size below the current one (volumes never
 * shrink), the VolumeExpansion condition says so and nothing changes. The resize itself is done
 * by the storage driver; the condition stays True until every claim reports the new capacity.
 * Idempotent (patching a claim to the size it asks for changes nothing), so it needs no journal.
 */
import { PatchStrategy, setHeaderOptions, type V1PersistentVolumeClaim, type V1StorageClass } from '@kubernetes/client-node';
import { quantityToNumber } from '../api/index.ts';
import { isNotFound } from '../kube/errors.ts';
import { objectNames } from '../resources/index.ts';
import { conditionOf, setCondition } from './conditions.ts';
import { proceed, validated, type ReconcileContext, type Step } from './context.ts';

const defaultClassAnnotation = 'storageclass.kubernetes.io/is-default-class';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function expansion(ctx: ReconcileContext, status: 'True' | 'False', reason: string, message: string): boolean {
  const changed = conditionOf(ctx.status.conditions, 'VolumeExpansion')?.reason !== reason;
  ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'VolumeExpansion', status, reason, message }, ctx.now, ctx.object.metadata.generation);
  return changed;
}

function requested(claim: V1PersistentVolumeClaim): number {
  const size = claim.spec?.resources?.requests?.['storage'];
  return size === undefined ? 0 : quantityToNumber(size);
}

function capacity(claim: V1PersistentVolumeClaim): number | undefined {
  const size = claim.status?.capacity?.['storage'];
  return size === undefined ? undefined : quantityToNumber(size);
}

/** The StorageClass of a claim: its own, or the cluster's default; undefined when there is none. */
async function storageClassOf(ctx: ReconcileContext, claim: V1PersistentVolumeClaim): Promise<V1StorageClass | undefined> {
  const name = claim.spec?.storageClassName;
  if (name !== undefined && name !== '') {
    try {
      return await ctx.deps.storage.readStorageClass({ name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
  const classes = await ctx.deps.storage.listStorageClass();
  return classes.items.find((candidate) => candidate.metadata?.annotations?.[defaultClassAnnotation] === 'true');
}

/** The claims of the cluster's data nodes (`data-<cluster>-<ordinal>`). */
async function dataClaims(ctx: ReconcileContext): Promise<V1PersistentVolumeClaim[]> {
  const cluster = validated(ctx);
  const prefix = `data-${objectNames(cluster).statefulSet}-`;
  const claims = await ctx.deps.core.listNamespacedPersistentVolumeClaim({ namespace: ctx.namespace });
  return claims.items.filter((claim) => {
    const name = claim.metadata?.name ?? '';
    return name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length));
  });
}

export const expandVolumes: Step = async (ctx) => {
  if (ctx.status.operation !== undefined) return proceed;
  const cluster = validated(ctx);
  const size = String(cluster.spec.storage.size);
  const wanted = quantityToNumber(cluster.spec.storage.size);
  const claims = await dataClaims(ctx);
  const larger = claims.filter((claim) => requested(claim) > wanted);
  if (larger.length > 0) {
    if (expansion(ctx, 'False', 'ShrinkNotSupported', `spec.storage.size ${size} is below what ${larger.length} volume(s) already have; volumes never shrink`)) {
      await ctx.event('Warning', 'VolumeShrinkRefused', `spec.storage.size ${size} is below the size of ${larger.length} existing volume(s); volumes never shrink`);
    }
    return proceed;
  }
  const smaller = claims.filter((claim) => requested(claim) < wanted);
  if (smaller.length === 0) {
    const resizing = claims.filter((claim) => (capacity(claim) ?? wanted) < wanted);
    if (resizing.length > 0) expansion(ctx, 'True', 'Resizing', `${resizing.length} volume(s) wait for the storage driver to reach ${size}`);
    else if (conditionOf(ctx.status.conditions, 'VolumeExpansion') !== undefined || claims.length > 0) expansion(ctx, 'False', 'Expanded', `every volume asks for ${size}`);
    return proceed;
  }
  const first = smaller[0];
  const storageClass = first === undefined ? undefined : await storageClassOf(ctx, first);
  if (storageClass === undefined) {
    if (expansion(ctx, 'False', 'StorageClassNotFound', `cannot grow the volumes to ${size}: their StorageClass (${first?.spec?.storageClassName ?? 'the default one'}) does not exist`)) {
      await ctx.event('Warning', 'VolumeExpansionImpossible', `Cannot grow the volumes to ${size}: their StorageClass does not exist`);
    }
    return proceed;
  }
  const className = storageClass.metadata?.name ?? '';
  if (storageClass.allowVolumeExpansion !== true) {
    const message = `StorageClass ${className} does not allow volume expansion (allowVolumeExpansion is not true): the volumes stay at their size; spec.storage.size ${size} applies to new volumes only`;
    if (expansion(ctx, 'False', 'ExpansionNotSupported', message)) await ctx.event('Warning', 'VolumeExpansionNotSupported', message);
    return proceed;
  }
  for (const claim of smaller) {
    const name = claim.metadata?.name ?? '';
    await ctx.deps.core.patchNamespacedPersistentVolumeClaim({ namespace: ctx.namespace, name, body: { spec: { resources: { requests: { storage: size } } } } }, mergePatch);
    await ctx.event('Normal', 'VolumeExpanding', `Asked for ${size} on PersistentVolumeClaim ${name} (StorageClass ${className} allows expansion)`);
  }
  expansion(ctx, 'True', 'Expanding', `growing ${smaller.length} volume(s) to ${size}`);
  return proceed;
};
