/**
 * Volume backup destinations: a PersistentVolumeClaim that a PhantomCluster mounts into every
 * data node pod (`spec.backup.volume.claimName`, at backupVolumeMountPath). Each range's leader
 * writes its own files, so every data node must reach the claim; a destination naming a claim
 * the cluster does not mount (or not in every pod yet) is refused with a message saying what to
 * change. Pure functions: the controllers read the cluster and pods, these decide.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { backupVolumeMountPath } from '../resources/statefulset.ts';

/** The claim a cluster spec mounts for backups (undefined: none), read defensively from an unvalidated object. */
export function mountedBackupClaim(clusterSpec: unknown): string | undefined {
  if (typeof clusterSpec !== 'object' || clusterSpec === null) return undefined;
  const backup = (clusterSpec as { backup?: unknown }).backup;
  if (typeof backup !== 'object' || backup === null) return undefined;
  const volume = (backup as { volume?: unknown }).volume;
  if (typeof volume !== 'object' || volume === null) return undefined;
  const claimName = (volume as { claimName?: unknown }).claimName;
  return typeof claimName === 'string' && claimName !== '' ? claimName : undefined;
}

/**
 * Why cluster `namespace/cluster` (spec `clusterSpec`) cannot write to or read from volume claim
 * `claimName`, or undefined when its spec mounts that claim.
 */
export function backupVolumeRefusal(namespace: string, cluster: string, clusterSpec: unknown, claimName: string): string | undefined {
  const mounted = mountedBackupClaim(clusterSpec);
  if (mounted === claimName) return undefined;
  const now = mounted === undefined ? 'it mounts no backup volume' : `it mounts claim ${mounted}`;
  return `PhantomCluster ${namespace}/${cluster} does not mount volume claim ${claimName} (${now}): set spec.backup.volume.claimName: ${claimName} on the cluster; its data pods then restart one at a time to mount it (with more than one data node the claim must be ReadWriteMany)`;
}

/** Names of the data pods that do not mount `claimName` (yet: the rollout that mounts it is not through them). */
export function podsWithoutClaim(pods: readonly V1Pod[], claimName: string): string[] {
  return pods
    .filter((pod) => !(pod.spec?.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claimName))
    .map((pod) => pod.metadata?.name ?? '(unnamed pod)')
    .sort();
}

/** The directory of a volume destination inside the data node containers. */
export function volumeDestinationPath(path: string): string {
  const inside = path === '/' ? '' : path.replace(/\/+$/, '');
  return `${backupVolumeMountPath}${inside}`;
}
