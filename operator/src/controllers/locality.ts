/**
 * Copies the topology labels of the Kubernetes node each data node pod runs on (the cluster's
 * `spec.topologyKeys`, by default topology.kubernetes.io/region and /zone) onto the pod as
 * annotations. The pod mounts its annotations through the downward API
 * (PHANTOMDB_TOPOLOGY_FILE, resources/statefulset.ts) and the data node re-reads that file at
 * every liveness heartbeat, so its locality reaches the placement driver without the data node
 * needing any access to the Kubernetes API.
 */
import { PatchStrategy, setHeaderOptions, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { proceed, validated, type Step } from './context.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * The annotations to merge into `pod` so that it carries `node`'s values of `keys`, or undefined
 * when it already does. A key the node lacks is removed from the pod (null in a merge patch), so a
 * pod rescheduled onto an unlabelled node does not keep a stale zone.
 */
export function localityAnnotationsPatch(pod: V1Pod, node: V1Node, keys: readonly string[]): Record<string, string | null> | undefined {
  const labels = node.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  const patch: Record<string, string | null> = {};
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined && annotations[key] !== value) patch[key] = value;
    if (value === undefined && annotations[key] !== undefined) patch[key] = null;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** Annotates every scheduled data node pod with its node's topology labels (best effort: a failure is retried at the next reconcile). */
export const annotateLocality: Step = async (ctx) => {
  const cluster = validated(ctx);
  const keys = cluster.spec.topologyKeys;
  if (keys.length === 0) return proceed;
  const nodes = new Map<string, Promise<V1Node | undefined>>();
  const nodeNamed = (name: string): Promise<V1Node | undefined> => {
    let node = nodes.get(name);
    if (node === undefined) {
      node = ctx.deps.core.readNode({ name }).catch((err: unknown) => {
        ctx.deps.log(`${ctx.key}: cannot read node ${name} for its topology labels: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      nodes.set(name, node);
    }
    return node;
  };
  await Promise.all(
    ctx.pods.map(async (pod) => {
      const podName = pod.metadata?.name;
      const nodeName = pod.spec?.nodeName;
      if (podName === undefined || nodeName === undefined || nodeName === '' || pod.metadata?.deletionTimestamp !== undefined) return;
      const node = await nodeNamed(nodeName);
      const patch = node === undefined ? undefined : localityAnnotationsPatch(pod, node, keys);
      if (patch === undefined) return;
      try {
        await ctx.deps.core.patchNamespacedPod({ namespace: ctx.namespace, name: podName, body: { metadata: { annotations: patch } } }, mergePatch);
        ctx.deps.log(`${ctx.key}: pod ${podName} annotated with the topology of node ${nodeName}: ${JSON.stringify(patch)}`);
      } catch (err) {
        ctx.deps.log(`${ctx.key}: cannot annotate pod ${podName} with its locality (retried): ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  return proceed;
};
